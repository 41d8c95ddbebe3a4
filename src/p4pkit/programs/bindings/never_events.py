"""Never events on patient-level data: listed conditions acquired in hospital, or serious reportable
events, found on stays and recovered from the hospital.

Per stay admitted in the performance period at a participating hospital (`stays.py`):

- diagnoses: ICD-10-CM codes recorded as conditions or on claim lines of the stay, with the
  present-on-admission indicator derived from dates (`stays.stay_diagnoses`: the canonical model has
  no POA field); with `present_on_admission_logic: false` every listed code is unpaid whatever its
  timing (the POA indicator is treated as blank);
- paid amount: the paid amounts of the stay's claim lines (allowed where paid is missing);
- amount without the condition: what the stay would have paid without it. No grouper re-prices stays
  here, so it is the median paid amount (to the cent, half up) of the period's stays in the same DRG
  that carry no listed code (no such stay: the stay's own amount, so nothing is denied).

`programs/never_events.py` flags the listed codes (the CMS HAC list subset and the surgical serious
reportable events, `event_list: cms_hac_poa`) and computes each stay's denial; the ledger records one
recovery per hospital and kind of denial, so no stay or patient is named.
"""

from __future__ import annotations

from statistics import median

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa

from p4pkit.errors import UserError
from p4pkit.model.schemas import MONEY
from p4pkit.programs import never_events as model
from p4pkit.programs.bindings import ModelOutput, scores_frame
from p4pkit.programs.bindings.inputs import program_ledger
from p4pkit.programs.bindings.stays import stay_diagnoses, stays
from p4pkit.programs.context import RunContext
from p4pkit.programs.money import round_money, to_decimal

EVENT_LISTS = ("cms_hac_poa",)


def _amounts(ctx: RunContext, diagnoses: ibis.Table) -> pd.DataFrame:
    """encounter_id, entity_id, paid_amount, amount_without_hac for the participants' stays."""
    frame = stays(ctx)
    frame = frame[frame.hospital_id.isin(ctx.participants)]
    listed = set(ctx.store.backend.to_pyarrow(model.flag_diagnoses(diagnoses).select("encounter_id").distinct()).column(0).to_pylist())
    clean = frame[~frame.encounter_id.isin(listed)]
    typical = clean.groupby("drg_code").paid.agg(lambda v: round_money(median(v)))
    without = [typical.get(drg, paid) if pd.notna(drg) else paid for drg, paid in zip(frame.drg_code, frame.paid, strict=True)]
    return pd.DataFrame({"encounter_id": frame.encounter_id, "entity_id": frame.hospital_id,
                         "paid_amount": frame.paid, "amount_without_hac": without})


def bind(ctx: RunContext) -> ModelOutput:
    scoring = ctx.program.scoring
    if scoring.event_list not in EVENT_LISTS:
        raise UserError(f"unknown never-events list '{scoring.event_list}'",
                        hint=f"Use one of: {', '.join(EVENT_LISTS)} (the lists in programs/never_events.py).")
    diagnoses = stay_diagnoses(ctx)
    if not scoring.present_on_admission_logic:
        diagnoses = diagnoses.mutate(poa=ibis.literal(""))
    amounts = _amounts(ctx, diagnoses)
    schema = pa.schema([("encounter_id", pa.string()), ("entity_id", pa.string()),
                        ("paid_amount", MONEY), ("amount_without_hac", MONEY)])
    encounters = ibis.memtable(pa.Table.from_pandas(amounts, schema=schema, preserve_index=False))
    denied = ctx.store.backend.to_pyarrow(model.denials(diagnoses, encounters)).to_pandas()
    denied["kind"] = np.where(denied.reason.str.startswith("serious"), "serious reportable event", "hospital-acquired condition")
    ledger = program_ledger(ctx)
    rows = []
    stays_per_hospital = amounts.groupby("entity_id").size()
    for (hospital, kind), group in denied.groupby(["entity_id", "kind"]):
        total = sum(group.denied_amount, to_decimal(0))
        categories = "; ".join(sorted({c for r in group.reason for c in r.split(": ", 1)[1].split("; ")}))
        ledger.add(hospital, total, "recovery", f"{len(group)} stay(s) with a {kind} not paid for ({categories})")
    for hospital, count in stays_per_hospital.items():
        mine = denied[denied.entity_id == hospital]
        total = sum(mine.denied_amount, to_decimal(0))
        rows.append({"entity_id": hospital, "component": "total", "value": float(len(mine)), "points": np.nan, "max_points": np.nan,
                     "score": float(total), "tier": "recovered" if total > 0 else "none",
                     "detail": f"{len(mine)} of {count} stays with a listed event not paid for: {total:,.2f} recovered"})
    ledger.check()
    return ModelOutput(scores_frame(rows), ledger)
