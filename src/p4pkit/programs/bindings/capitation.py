"""Capitation with a quality withhold on patient-level data (NY Medicaid VBP Level 3).

Per participating entity (performance period):

- members: patients attributed to it;
- member-months: their months of payer enrollment in the period by the HEDIS member-month
  convention (enrolled on the first day of the month; `measures.observations.MemberMonths`, the
  same count the TCOC_PMPM measure divides by);
- quality score: the mean direction-adjusted shrunken rate of the program's measures, in percent
  (`inputs.quality_percent`, the score the shared-savings binding gates on).

`programs/capitation.py` then settles: PMPM × member-months paid, the program's withhold
percentage held back and returned in proportion to the quality score (score/100 of the withhold).
The ledger records capitation, withhold and withhold return for each entity.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from p4pkit.measures.observations import MemberMonths
from p4pkit.measures.runner import CompileContext
from p4pkit.programs import capitation as model
from p4pkit.programs.bindings import ModelOutput, scores_frame
from p4pkit.programs.bindings.inputs import program_ledger, quality_percent
from p4pkit.programs.context import RunContext
from p4pkit.programs.money import to_decimal


def member_months(ctx: RunContext) -> pd.DataFrame:
    """entity_id, members, member_months of the participants' attributed patients (performance period)."""
    months = MemberMonths(("payer",)).values(CompileContext(ctx.store, ctx.periods["performance"]))
    months = ctx.store.backend.to_pyarrow(months).to_pandas().rename(columns={"value": "months"})
    people = ctx.attributed("performance")
    people = people[people.entity_id.isin(ctx.participants)].merge(months, on="patient_id", how="left")
    grouped = people.groupby("entity_id").agg(members=("patient_id", "size"), member_months=("months", "sum"))
    return grouped.reset_index()


def bind(ctx: RunContext) -> ModelOutput:
    scoring = ctx.program.scoring
    members = member_months(ctx)
    quality = quality_percent(ctx)
    members["quality_score"] = members.entity_id.map(quality).fillna(0.0).clip(0, 100)
    settled = model.settle(members, pmpm=to_decimal(scoring.pmpm), quality_withhold_percent=to_decimal(scoring.quality_withhold_percent))
    ledger = program_ledger(ctx)
    for entry in model.ledger_entries(settled).itertuples(index=False):
        ledger.add(entry.entity_id, entry.amount, entry.kind, entry.reason)
    ledger.check()
    rows = []
    for m, s in zip(members.itertuples(index=False), settled.itertuples(index=False), strict=True):
        detail = (
            f"{m.members} members, {m.member_months:.0f} member-months x {ctx.program.currency} {scoring.pmpm} = "
            f"{s.capitation:,.2f}; withhold {s.withheld:,.2f}, returned {s.returned:,.2f} at quality {m.quality_score:.1f}%"
        )
        rows.append({"entity_id": m.entity_id, "component": "total", "value": m.member_months, "points": np.nan,
                     "max_points": np.nan, "score": float(s.net), "tier": "capitated", "detail": detail})
        rows.append({"entity_id": m.entity_id, "component": "quality", "value": m.quality_score, "points": np.nan,
                     "max_points": np.nan, "score": m.quality_score, "tier": "withhold returned" if s.returned else "withhold kept",
                     "detail": ""})
    return ModelOutput(scores_frame(rows), ledger)
