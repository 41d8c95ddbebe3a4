"""Changes made for 1M-10M patient runs keep results unchanged."""

from __future__ import annotations

import datetime as dt

import ibis
import pyarrow as pa

from p4pkit.risk.hcc import gather_inputs
from p4pkit.store import Store
from p4pkit.synth import generate


def test_hcc_inputs_for_chosen_patients_are_those_patients_inputs_from_the_whole_population(tmp_path):
    generate(300, 4, tmp_path / "data")
    with Store() as store:
        store.attach_parquet(tmp_path / "data")
        everyone = gather_inputs(store, dt.date(2025, 1, 1), dt.date(2025, 12, 31), 2025)
        chosen = sorted(p.patient_id for p in everyone)[::7]
        wanted = ibis.memtable(pa.table({"patient_id": chosen}))
        some = gather_inputs(store, dt.date(2025, 1, 1), dt.date(2025, 12, 31), 2025, patients=wanted)
    assert len(chosen) > 30 and any(p.diagnoses for p in some)
    assert some == [p for p in everyone if p.patient_id in set(chosen)]
