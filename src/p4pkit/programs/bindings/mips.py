"""MIPS on patient-level data: clinicians (or groups) scored on the program's eCQMs, adjusted budget-neutrally.

From the run context, per participating entity (performance period):

- quality results per measure: performance met (numerator) and performance denominator (eligible
  patients less exclusions and exceptions); reported = eligible = the measure's denominator, since
  an eCQM computed over the whole record reports every eligible patient (data completeness 100%).
  Where the program risk-adjusts a measure, performance met is the adjusted count, adjusted rate ×
  performance denominator (`inputs.scored_counts`), so the decile is taken on the adjusted rate,
  in the baseline benchmarks as in the performance year;
- payment floors (`payment.min_denominator`, `payment.min_reliability`): a measure below them is
  left out for that entity (`RunContext.measure`) and the quality category is taken over
  min(6, the measures left), so the entity is neither credited nor docked for it; an entity with
  no measure left has no final score and no adjustment;
- benchmarks: the qpp-measures-data shape (p10 … p90 of entity performance rates, `isInverse` for
  lower-is-better measures), computed from the baseline period's rates of the entities that meet the
  case minimum — the benchmark year is PY − 2 (42 CFR 414.1380(b)(1)(i)); the real QPP benchmarks
  apply only to national submissions, not to a synthetic population's rates. No measure is topped out;
- the other categories: the program file's `given_category_scores`, the same for every entity; a
  category not given is re-weighted to zero;
- allowed charges: claim lines with service in the period rendered by the entity's clinicians
  (`inputs.rendered_allowed`), the stand-in for the Part B charges the adjustment applies to.

`programs/mips.py` does the rest: decile points (case minimum, data completeness), the quality
category score over the best `min(6, number of measures)` measures, the final score with the
PY2022+ weights and redistribution, the adjustment factor with the scaling factor solved for budget
neutrality. Negative adjustments are penalties, positive ones bonuses; the books net to zero
unless the scaling factor hits its cap of 3, where the statute lets bonuses fall short.
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pandas as pd

from p4pkit.errors import UserError
from p4pkit.programs import mips as model
from p4pkit.programs.bindings import ModelOutput, scores_frame
from p4pkit.programs.bindings.inputs import program_ledger, rendered_allowed, scored_counts
from p4pkit.programs.context import RunContext
from p4pkit.programs.money import to_decimal

SUBMISSION = "electronicHealthRecord"
REQUIRED_MEASURES = 6  # 42 CFR 414.1335(a)(1): six quality measures


def _results(ctx: RunContext, period: str) -> pd.DataFrame:
    """Quality results per entity × measure; `numerator` is the adjusted count where the program
    adjusts the measure (`adjusted` True), else performance met as measured."""
    parts = []
    for measure in ctx.program.measures:
        rows = scored_counts(ctx, measure, period)
        parts.append(pd.DataFrame({
            "entity_id": rows.entity_id, "measure_id": measure.id, "submission_method": SUBMISSION,
            "numerator": rows.scored_numerator.astype(float if rows.adjusted.any() else int),
            "denominator": rows.performance_denominator.astype(int),
            "reported": rows.denominator.astype(int), "eligible": rows.denominator.astype(int), "adjusted": rows.adjusted,
        }))
    return pd.concat(parts, ignore_index=True)


def _required(ctx: RunContext, entities: pd.Series) -> pd.Series:
    """Measures the quality category counts per entity: min(6, the program's measures less those
    the payment floors left out for the entity)."""
    left_out = ctx.below_floors().groupby("entity_id").size()
    return entities.map(lambda e: min(REQUIRED_MEASURES, len(ctx.program.measures) - int(left_out.get(e, 0))))


def _benchmarks(ctx: RunContext) -> pd.DataFrame:
    """Deciles of the baseline entities' performance rates (percent), one row per measure that has any."""
    baseline = _results(ctx, "baseline")
    baseline = baseline[baseline.denominator >= ctx.program.scoring.case_minimum]
    rows = []
    for measure in ctx.program.measures:
        rates = 100 * baseline.numerator[baseline.measure_id == measure.id] / baseline.denominator[baseline.measure_id == measure.id]
        if rates.empty:
            continue
        cuts = np.percentile(rates.to_numpy(float), model.CUT_KEYS)
        rows.append({"measure_id": measure.id, "submission_method": SUBMISSION, "metric_type": "singlePerformanceRate",
                     "is_inverse": measure.direction == "lower_is_better", "is_topped_out_by_program": False,
                     **{f"p{k}": float(c) for k, c in zip(model.CUT_KEYS, cuts, strict=True)}})
    columns = ["measure_id", "submission_method", "metric_type", "is_inverse", "is_topped_out_by_program", *(f"p{k}" for k in model.CUT_KEYS)]
    return pd.DataFrame(rows, columns=columns)


def _check_weights(ctx: RunContext) -> None:
    scoring = ctx.program.scoring
    expected = model.REDISTRIBUTED_WEIGHTS[frozenset(model.CATEGORIES)]
    if {k: float(v) for k, v in scoring.category_weights.items()} != {k: float(v) for k, v in expected.items()}:
        raise UserError("MIPS category weights differ from the PY2022+ weights the model redistributes",
                        hint=f"Use category_weights: {expected} (42 CFR 414.1380(c)).")
    unknown = sorted(set(scoring.given_category_scores) - set(model.CATEGORIES) | set(scoring.given_category_scores) & {"quality"})
    if unknown:
        raise UserError(f"given_category_scores cannot score {', '.join(unknown)}",
                        hint="Quality comes from the measures; give only cost, improvement_activities or promoting_interoperability.")


def bind(ctx: RunContext) -> ModelOutput:
    scoring = ctx.program.scoring
    _check_weights(ctx)
    results = _results(ctx, "performance")
    results = results[results.entity_id.isin(ctx.participants)]
    points = model.measure_points(results.drop(columns="adjusted"), _benchmarks(ctx), completeness_threshold=scoring.data_completeness,
                                  case_minimum=scoring.case_minimum, topped_out_cap=scoring.topped_out_cap)
    risk_adjusted = results.set_index(["entity_id", "measure_id"]).adjusted
    required = _required(ctx, points.entity_id)
    parts = [model.quality_category_score(points[required == r], required_measures=r) for r in sorted(required.unique())]
    if not parts:  # no entity has a measure left to score (every one below the payment floors)
        ledger = program_ledger(ctx)
        ledger.check()
        return ModelOutput(scores_frame([]), ledger)
    quality = pd.concat(parts, ignore_index=True).sort_values("entity_id", kind="stable").reset_index(drop=True)
    required_of = dict(zip(points.entity_id, required, strict=True))
    categories = quality[["entity_id", "quality_score"]].rename(columns={"quality_score": "quality"})
    for category, value in scoring.given_category_scores.items():
        categories[category] = float(value)
    finals = model.final_scores(categories, performance_threshold=scoring.performance_threshold)
    allowed = rendered_allowed(ctx)
    finals["allowed_charges"] = [allowed.get(e, Decimal(0)) for e in finals.entity_id]
    adjusted = model.payment_adjustments(
        finals, performance_threshold=scoring.performance_threshold,
        max_adjustment=to_decimal(scoring.max_adjustment_percent) / 100, max_scaling_factor=to_decimal(scoring.max_scaling_factor),
    )
    scaling = adjusted.scaling_factor.iloc[0] if len(adjusted) else Decimal(0)
    ledger = program_ledger(ctx, budget_neutral=0 < scaling < to_decimal(scoring.max_scaling_factor))
    rows = []
    for r in points.itertuples(index=False):
        rate = "no rate" if pd.isna(r.rate) else f"{r.rate:.1f}%"
        if risk_adjusted.get((r.entity_id, r.measure_id), False):
            counts = f"risk-adjusted {r.numerator:.2f}/{r.denominator}"
        else:
            counts = f"{r.numerator}/{r.denominator}"
        rows.append({"entity_id": r.entity_id, "component": r.measure_id, "value": r.rate, "points": r.points, "max_points": 10.0,
                     "score": r.points, "tier": r.rule,
                     "detail": f"{r.measure_id}: {counts} = {rate}, decile {r.decile}, {r.points:.2f} points ({r.rule})"})
    table = adjusted.merge(finals[["entity_id", "allowed_charges"]], on="entity_id").merge(categories, on="entity_id")
    for r in table.itertuples(index=False):
        kind = "penalty" if r.amount < 0 else "bonus"
        factor = 100 * float(r.adjustment_factor)
        reason = f"MIPS final score {r.final_score:.2f}: adjustment {factor:+.3f}% of allowed charges {r.allowed_charges:,.2f}"
        ledger.add(r.entity_id, abs(r.amount), kind, reason)
        tier = "penalised" if r.amount < 0 else "bonus" if r.amount > 0 else "neutral"
        rows.append({"entity_id": r.entity_id, "component": "quality", "value": r.quality, "points": np.nan, "max_points": 100.0,
                     "score": r.quality, "tier": "", "detail": f"quality category {r.quality:.2f} from the best {required_of[r.entity_id]} measures"})
        rows.append({"entity_id": r.entity_id, "component": "total", "value": factor, "points": np.nan, "max_points": 100.0,
                     "score": r.final_score, "tier": tier, "detail": f"{reason}, scaling factor {float(scaling):.4f}"})
    ledger.check()
    return ModelOutput(scores_frame(rows), ledger)
