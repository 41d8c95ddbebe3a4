"""ROSP on patient-level data: the program's measures are the indicators, doctors (or practices) the entities.

From the run context, per participating entity and indicator:

- rate: the observed performance rate in percent (performance period), and the starting rate: the
  same entity's rate in the baseline period (none for an entity new in the performance period,
  which is then paid for attainment only);
- patients: the indicator's performance denominator, scored only from the measure's
  `min_denominator` up (ROSP's minimum number of patients per indicator; 1 when not given);
- patientèle: the patients attributed to the entity in the performance period.

Targets: `thresholds` written as baseline percentiles (ROSP: intermediate p30, final p80 since
avenant 6) are taken over the baseline rates of the entities meeting the indicator's minimum;
fixed thresholds are the intermediate and final targets themselves (in percent). Then
`programs/rosp.py` does the arithmetic: achievement between targets, points × patientèle / the
reference panel (800), € per point. ROSP never claws back: every ledger entry is a bonus.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from p4pkit.errors import UserError
from p4pkit.programs import rosp as model
from p4pkit.programs.bindings import ModelOutput, scores_frame
from p4pkit.programs.bindings.inputs import entity_rates, program_ledger
from p4pkit.programs.context import RunContext
from p4pkit.programs.money import to_decimal
from p4pkit.programs.schema import Measure


def _rates(ctx: RunContext, measure: Measure, period: str) -> pd.DataFrame:
    table = entity_rates(ctx, measure, period)
    return table.assign(indicator_id=measure.id, rate=100 * table.rate).rename(columns={"entity_id": "doctor_id"})


def _targets(measure: Measure, baseline: pd.DataFrame, min_patients: int) -> tuple[float, float]:
    limits = measure.thresholds
    if limits is None or limits.upper == "top_decile_mean":
        raise UserError(f"ROSP indicator {measure.id} needs intermediate and final targets",
                        hint="Write thresholds: {method: baseline_percentile, lower: 30, upper: 80} (avenant 6).")
    if limits.method == "fixed":
        return float(limits.lower), float(limits.upper)
    eligible = baseline[baseline.patients >= min_patients]
    if eligible.empty:
        raise UserError(f"no baseline rate of {measure.id} to set ROSP targets from",
                        hint="Check that the baseline period has data, or give fixed thresholds.")
    targets = model.targets_from_baseline(eligible, {measure.id: measure.direction == "lower_is_better"},
                                          intermediate_percentile=limits.lower, final_percentile=float(limits.upper))
    return float(targets.intermediate_target.iloc[0]), float(targets.final_target.iloc[0])


def bind(ctx: RunContext) -> ModelOutput:
    program, scoring = ctx.program, ctx.program.scoring
    indicators, rates = [], []
    for measure in program.measures:
        min_patients = measure.min_denominator or 1
        baseline = _rates(ctx, measure, "baseline").rename(columns={"cases": "patients"})
        intermediate, final = _targets(measure, baseline, min_patients)
        indicators.append({"indicator_id": measure.id, "points": float(measure.weight), "min_patients": min_patients,
                           "intermediate_target": intermediate, "final_target": final,
                           "lower_is_better": measure.direction == "lower_is_better"})
        current = _rates(ctx, measure, "performance").rename(columns={"cases": "patients"})
        current = current[current.doctor_id.isin(ctx.participants)]
        start = baseline.set_index("doctor_id").rate
        rates.append(current.assign(start_rate=current.doctor_id.map(start)))
    indicators = pd.DataFrame(indicators)
    rates = pd.concat(rates, ignore_index=True)
    attributed = ctx.attributed("performance")
    panels = attributed[attributed.entity_id.isin(ctx.participants)].groupby("entity_id").size()
    panels = panels.rename("patientele").rename_axis("doctor_id").reset_index()
    points = model.score(rates[["doctor_id", "indicator_id", "rate", "start_rate", "patients"]], indicators, panels,
                         reference_panel=scoring.reference_panel)
    paid = model.payments(points, value_per_point=to_decimal(scoring.value_per_point))
    ledger = program_ledger(ctx, upside_only=True, funded=to_decimal(program.funding.supplemental_pool or 0))
    merged = points.merge(rates, on=["doctor_id", "indicator_id"]).merge(indicators, on="indicator_id").merge(panels, on="doctor_id")
    rows = []
    for r in merged.itertuples(index=False):
        start = "no baseline" if pd.isna(r.start_rate) else f"start {r.start_rate:.1f}%"
        detail = (
            f"{r.indicator_id}: {r.rate:.1f}% of {r.patients} patients ({start}; targets {r.intermediate_target:.1f}% / "
            f"{r.final_target:.1f}%), achievement {r.achievement:.3f} x {r.points:g} points x {r.patientele}/{scoring.reference_panel}"
        )
        rows.append({"entity_id": r.doctor_id, "component": r.indicator_id, "value": r.rate, "points": r.earned_points,
                     "max_points": r.points * r.patientele / scoring.reference_panel, "score": r.achievement,
                     "tier": "scored" if r.scored else "too few patients", "detail": detail})
    for t in paid.itertuples(index=False):
        ledger.add(t.doctor_id, t.amount, "bonus", f"ROSP {t.points:.2f} points x {program.currency} {scoring.value_per_point}")
        rows.append({"entity_id": t.doctor_id, "component": "total", "value": np.nan, "points": t.points, "max_points": np.nan,
                     "score": float(t.amount), "tier": "paid" if t.amount > 0 else "no points",
                     "detail": f"{t.points:.2f} points, {program.currency} {t.amount:,.2f}"})
    ledger.check()
    return ModelOutput(scores_frame(rows), ledger)
