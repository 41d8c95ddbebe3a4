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

Risk adjustment: where the program file risk-adjusts an indicator (`risk_adjustment` on the
measure), the achieved count A is the adjusted one, adjusted rate × (B − C)
(`inputs.scored_counts`): the patients the practice would have brought to target with the
average case mix, so that QOF's own achievement 100 × A / (B − C) is the risk-adjusted rate.
Eligible patients, PCAs, the register and the list size stay as measured, so the prevalence
factor and CPI are unchanged; percentile thresholds are taken over the baseline's adjusted
achievements. A lower-is-better indicator scores (B − C) minus the (adjusted) events.

Payment floors (`payment.min_denominator`, `payment.min_reliability`): a practice below them on an
indicator earns no points on it (`RunContext.measure` leaves it out) and its entity score says
so; its register still counts towards the programme-wide prevalence, as every practice's does.
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pandas as pd

from p4pkit.errors import UserError
from p4pkit.programs import qof
from p4pkit.programs.bindings import ModelOutput, scores_frame
from p4pkit.programs.bindings.inputs import scored_counts
from p4pkit.programs.context import RunContext
from p4pkit.programs.ledger import Ledger
from p4pkit.programs.money import to_decimal


def _achievement_inputs(ctx: RunContext, period: str) -> pd.DataFrame:
    """practice_id, indicator_code, numerator (achieved: adjusted where the program adjusts the
    indicator), eligible, pcas, register, observed (the measured numerator, direction applied) and
    adjustment (what was done), for the practices scored on each indicator."""
    rows = []
    for measure in ctx.program.measures:
        summary = scored_counts(ctx, measure, period)
        pcas = summary.exclusions + summary.exceptions
        achieved, observed = summary.scored_numerator, summary.numerator.astype(float)
        if measure.direction == "lower_is_better":
            achieved, observed = summary.performance_denominator - achieved, summary.performance_denominator - observed
        rows.append(
            pd.DataFrame(
                {
                    "practice_id": summary.entity_id,
                    "indicator_code": measure.id,
                    "numerator": achieved.astype(float),
                    "eligible": summary.denominator.astype(int),
                    "pcas": pcas.astype(int),
                    "register": summary.initial_population.astype(int),
                    "observed": observed.astype(float),
                    "adjustment": summary.adjustment.where(summary.adjusted, ""),
                }
            )
        )
    return pd.concat(rows, ignore_index=True)


def _registers(ctx: RunContext) -> pd.DataFrame:
    """practice_id, group_code, register of every participating practice for every indicator, payment
    floors or not: a register is a count of patients, not a score, and the programme-wide prevalence
    is taken over all practices."""
    parts = []
    for measure in ctx.program.measures:
        rows = ctx.measure(measure.id, "performance", floors=False)
        parts.append(pd.DataFrame({"practice_id": rows.entity_id, "group_code": measure.id, "register": rows.initial_population.astype(int)}))
    registers = pd.concat(parts, ignore_index=True)
    return registers[registers.practice_id.isin(ctx.participants)]


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


def _floors(program) -> str:
    payment = program.payment
    parts = [f"{payment.min_denominator} patients" if payment.min_denominator is not None else "",
             f"reliability {payment.min_reliability:g}" if payment.min_reliability is not None else ""]
    return ", ".join(p for p in parts if p)


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
    points = qof.score_indicators(inputs[["practice_id", "indicator_code", "numerator", "eligible", "pcas"]], catalogue, thresholds)
    attributed = ctx.attributed("performance")
    list_sizes = attributed.groupby("entity_id").size().rename("list_size").reset_index().rename(columns={"entity_id": "practice_id"})
    apdf = qof.prevalence_factors(_registers(ctx), list_sizes[list_sizes.practice_id.isin(ctx.participants)])
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
    merged = merged.merge(inputs[["practice_id", "indicator_code", "eligible", "pcas", "observed", "adjustment"]], on=["practice_id", "indicator_code"])
    rows = []
    for r in merged.itertuples(index=False):
        detail = (
            f"{r.indicator_code}: {'risk-adjusted ' if r.adjustment else ''}achievement {r.achievement:.1f}% (thresholds {r.lower:.0f}-{r.upper:.0f}%), "
            f"{r.points:.2f} of {r.max_points:.0f} points, CPI {float(r.cpi):.3f}, APDF {float(r.apdf):.3f}"
        )
        if r.adjustment:
            performance = r.eligible - r.pcas
            observed = 100 * r.observed / performance if performance > 0 else 0.0
            detail += f"; observed achievement {observed:.1f}%, adjusted by {r.adjustment}"
        ledger.add(r.practice_id, r.amount, "bonus", detail)
        rows.append(
            {"entity_id": r.practice_id, "component": r.indicator_code, "value": r.achievement, "points": r.points,
             "max_points": r.max_points, "score": float(r.amount), "tier": "paid" if r.amount > 0 else "no points", "detail": detail}
        )
    floored = ctx.below_floors()
    floored = floored[floored.entity_id.isin(ctx.participants)]
    weights = {m.id: float(m.weight) for m in program.measures}
    for r in floored.itertuples(index=False):
        reliability = "unknown" if pd.isna(r.reliability) else f"{r.reliability:.2f}"
        rows.append(
            {"entity_id": r.entity_id, "component": r.measure_id, "value": np.nan, "points": 0.0, "max_points": weights[r.measure_id], "score": 0.0,
             "tier": "below payment floors",
             "detail": f"{r.measure_id}: not scored: {r.cases} eligible patients, reliability {reliability}, below the payment floors "
                       f"({_floors(program)})"}
        )
    # an indicator below the floors counts in the practice's total with no points and no money
    left_out = pd.DataFrame({"practice_id": floored.entity_id, "points": 0.0, "max_points": floored.measure_id.map(weights), "amount": Decimal(0)})
    totals = pd.concat([merged[["practice_id", "points", "max_points", "amount"]], left_out], ignore_index=True) if len(left_out) else merged
    totals = totals.groupby("practice_id").agg(points=("points", "sum"), max_points=("max_points", "sum"), amount=("amount", "sum"))
    for practice, t in totals.iterrows():
        rows.append(
            {"entity_id": practice, "component": "total", "value": np.nan, "points": t.points, "max_points": t.max_points,
             "score": float(Decimal(t.amount)), "tier": "paid" if t.amount > 0 else "no points",
             "detail": f"{t.points:.2f} of {t.max_points:.0f} points, {program.currency} {Decimal(t.amount):,.2f}"}
        )
    ledger.check()
    return ModelOutput(scores_frame(rows), ledger)
