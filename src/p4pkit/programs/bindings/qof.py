"""QOF on patient-level data: the program's measures are the indicators, practices the entities.

From the run context, per participating practice and indicator (performance period):
numerator A, eligible patients B (the measure's denominator) and PCAs C (its exclusions plus
exceptions: Personalised Care Adjustments), the register (the measure's initial population) and
the list size (patients attributed by registration). The program file gives each indicator's
maximum points (`weight`) and thresholds; thresholds written as baseline percentiles are turned
into achievement values from the baseline period's practice achievements. Then `programs/qof.py`
does the arithmetic: points between thresholds, £ per point × CPI × APDF. A lower-is-better
indicator is scored on the share of eligible patients without the event.

Every indicator forms its own register group, so the prevalence factor compares each practice's
register for that indicator with the programme-wide prevalence.
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pandas as pd

from p4pkit.errors import UserError
from p4pkit.programs import qof
from p4pkit.programs.bindings import ModelOutput, scores_frame
from p4pkit.programs.context import RunContext
from p4pkit.programs.ledger import Ledger
from p4pkit.programs.money import to_decimal


def _achievement_inputs(ctx: RunContext, period: str) -> pd.DataFrame:
    rows = []
    for measure in ctx.program.measures:
        summary = ctx.measure(measure.id, period)
        pcas = summary.exclusions + summary.exceptions
        achieved = summary.numerator
        if measure.direction == "lower_is_better":
            achieved = summary.denominator - pcas - summary.numerator
        rows.append(
            pd.DataFrame(
                {
                    "practice_id": summary.entity_id,
                    "indicator_code": measure.id,
                    "numerator": achieved.astype(int),
                    "eligible": summary.denominator.astype(int),
                    "pcas": pcas.astype(int),
                    "register": summary.initial_population.astype(int),
                }
            )
        )
    return pd.concat(rows, ignore_index=True)


def _thresholds(ctx: RunContext) -> pd.DataFrame:
    """Lower and upper thresholds in percent achievement, fixed or from baseline percentiles."""
    baseline = None
    rows = []
    for measure in ctx.program.measures:
        limits = measure.thresholds
        if limits is None:
            raise UserError(f"QOF indicator {measure.id} has no thresholds", hint="Give thresholds: {method: fixed, lower: 40, upper: 90}.")
        if limits.method == "fixed":
            lower, upper = limits.lower, limits.upper
        else:
            if baseline is None:
                baseline = _achievement_inputs(ctx, "baseline")
            rows_b = baseline[baseline.indicator_code == measure.id]
            eligible = (rows_b.eligible - rows_b.pcas).where(lambda e: e > 0)
            achieved = (100 * rows_b.numerator / eligible).dropna().to_numpy()
            if achieved.size == 0:
                raise UserError(f"no baseline achievement for {measure.id} to set percentile thresholds")
            lower = float(np.percentile(achieved, limits.lower))
            upper = float(np.mean(np.sort(achieved)[-max(1, achieved.size // 10):])) if limits.upper == "top_decile_mean" else float(np.percentile(achieved, limits.upper))
        rows.append({"indicator_code": measure.id, "lower": float(lower), "upper": float(upper)})
    return pd.DataFrame(rows)


def bind(ctx: RunContext) -> ModelOutput:
    program, scoring = ctx.program, ctx.program.scoring
    inputs = _achievement_inputs(ctx, "performance")
    inputs = inputs[inputs.practice_id.isin(ctx.participants)]
    catalogue = pd.DataFrame(
        {
            "indicator_code": [m.id for m in program.measures],
            "group_code": [m.id for m in program.measures],
            "domain_code": "CL",
            "max_points": [float(m.weight) for m in program.measures],
            "is_register": False,
            "is_manual": False,
            "prevalence_adjusted": scoring.prevalence_adjustment,
        }
    )
    thresholds = _thresholds(ctx)
    points = qof.score_indicators(inputs, catalogue, thresholds)
    attributed = ctx.attributed("performance")
    list_sizes = attributed.groupby("entity_id").size().rename("list_size").reset_index().rename(columns={"entity_id": "practice_id"})
    registers = inputs.rename(columns={"indicator_code": "group_code"})[["practice_id", "group_code", "register"]]
    apdf = qof.prevalence_factors(registers, list_sizes[list_sizes.practice_id.isin(ctx.participants)])
    paid = qof.payments(
        points,
        list_sizes,
        apdf,
        value_per_point=to_decimal(scoring.value_per_point),
        national_average_list_size=scoring.national_average_list_size,
    )
    ledger = Ledger(
        program=program.id,
        upside_only=not program.payment.downside,
        funded=to_decimal(program.funding.supplemental_pool or 0),
        participants=ctx.participants,
    )
    merged = points.merge(paid[["practice_id", "indicator_code", "cpi", "apdf", "amount"]], on=["practice_id", "indicator_code"])
    merged = merged.merge(thresholds, on="indicator_code")
    rows = []
    for r in merged.itertuples(index=False):
        detail = (
            f"{r.indicator_code}: achievement {r.achievement:.1f}% (thresholds {r.lower:.0f}-{r.upper:.0f}%), "
            f"{r.points:.2f} of {r.max_points:.0f} points, CPI {float(r.cpi):.3f}, APDF {float(r.apdf):.3f}"
        )
        ledger.add(r.practice_id, r.amount, "bonus", detail)
        rows.append(
            {"entity_id": r.practice_id, "component": r.indicator_code, "value": r.achievement, "points": r.points,
             "max_points": r.max_points, "score": float(r.amount), "tier": "paid" if r.amount > 0 else "no points", "detail": detail}
        )
    totals = merged.groupby("practice_id").agg(points=("points", "sum"), max_points=("max_points", "sum"), amount=("amount", "sum"))
    for practice, t in totals.iterrows():
        rows.append(
            {"entity_id": practice, "component": "total", "value": np.nan, "points": t.points, "max_points": t.max_points,
             "score": float(Decimal(t.amount)), "tier": "paid" if t.amount > 0 else "no points",
             "detail": f"{t.points:.2f} of {t.max_points:.0f} points, {program.currency} {Decimal(t.amount):,.2f}"}
        )
    ledger.check()
    return ModelOutput(scores_frame(rows), ledger)
