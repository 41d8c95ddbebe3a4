"""Never-events binding: the harms written into a copy of the world (bindings_world.harmed_store) are found,
told apart by present-on-admission timing, and recovered at the amount worked by hand from the claims."""

from __future__ import annotations

import json
from decimal import ROUND_HALF_UP, Decimal
from statistics import median

import duckdb
import pandas as pd
import pytest
from bindings_world import harmed_store, harmed_stays, run

STAYS_2025 = """
    select e.encounter_id, e.organization_id as hospital, e.drg_code,
           sum(coalesce(c.paid_amount, c.allowed_amount)) as paid
    from encounters e join organizations o on o.organization_id = e.organization_id and o.kind = 'hospital'
    left join claim_lines c using (encounter_id)
    where e.encounter_class = 'inpatient' and year(e.start) = 2025
    group by all
"""


@pytest.fixture(scope="module")
def out():
    return run("never-events", harmed_store())


def test_the_synthetic_world_alone_has_no_never_events():
    assert json.loads((run("never-events") / "ledger.json").read_text())["entries"] == 0


def test_harms_acquired_in_hospital_are_recovered_at_the_amount_worked_by_hand(out):
    with duckdb.connect(str(harmed_store()), read_only=True) as con:
        stays = con.sql(STAYS_2025).to_arrow_table().to_pandas()  # amounts stay Decimal
        listed = {r[0] for r in con.execute("select encounter_id from events where event_id like 'HARM%'").fetchall()}
    harmed = set(harmed_stays())
    clean = stays[~stays.encounter_id.isin(listed)]
    typical = {drg: median(group.paid) for drg, group in clean.groupby("drg_code")}
    denied = Decimal(0)
    for stay in stays[stays.encounter_id.isin(harmed)].itertuples():
        without = Decimal(typical[stay.drg_code]).quantize(Decimal("0.01"), ROUND_HALF_UP) if stay.drg_code in typical else stay.paid
        denied += max(Decimal(0), stay.paid - without)
    hospital = stays[stays.encounter_id.isin(harmed)].hospital.iloc[0]
    payments = pd.read_parquet(out / "payments.parquet")
    assert denied > 0
    assert payments.entity_id.unique().tolist() == [hospital]
    assert set(payments.kind) == {"recovery"}
    assert sum(payments.amount, Decimal(0)) == denied
    reason = payments.reason.iloc[0]
    assert reason.startswith(f"{len(harmed)} stay(s) with a hospital-acquired condition not paid for")
    assert "foreign object retained after surgery" in reason and "vascular catheter-associated infection" in reason
    assert not any(stay in reason for stay in harmed)


def test_a_listed_code_present_on_admission_is_paid(out):
    scores = pd.read_parquet(out / "entity_scores.parquet").set_index("entity_id")
    with duckdb.connect(str(harmed_store()), read_only=True) as con:
        (hospital,) = con.execute(
            "select e.organization_id from events v join encounters e using (encounter_id) where v.event_id like 'HARMPOA%'"
        ).fetchone()
    assert scores.tier[hospital] == "none" and scores.score[hospital] == 0
