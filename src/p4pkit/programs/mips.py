"""MIPS (Merit-based Incentive Payment System): quality points, category scores, final score, payment.

Tables are pandas DataFrames with one row per entity (a TIN, TIN/NPI or APM entity), or per entity ×
measure for quality results. Rates are percentages (0-100) as in the CMS benchmark files.

Sources: 42 CFR 414.1380 (scoring) and 414.1405 (payment adjustment); SSA §1848(q)(6) (the linear
sliding scales and the budget-neutrality scaling factor, up to 3); 42 CFR 414.1330(b) (quality 30% of
the final score from MIPS payment year 2024, i.e. performance year 2022); the qpp-measures-data
benchmark schema (percentiles, `isInverse`, `isToppedOutByProgram` → 7-point cap).
`docs/programs/mips.md` lists which rules were confirmed in a primary source and which are still [K].
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from decimal import Decimal

import pandas as pd

from p4pkit.errors import Problem, UserError
from p4pkit.programs.money import allocate, round_money, to_decimal

CATEGORIES = ("quality", "cost", "improvement_activities", "promoting_interoperability")

# Category weights (percent) for performance years 2022 onwards, and the redistribution when
# categories are re-weighted to zero; keyed by the set of categories that ARE scored.
# Source: 42 CFR 414.1380(c)(1)-(2) and the PY2022+ redistribution table in the QPP final rules [K].
REDISTRIBUTED_WEIGHTS: dict[frozenset[str], dict[str, int]] = {
    frozenset(CATEGORIES): {"quality": 30, "cost": 30, "improvement_activities": 15, "promoting_interoperability": 25},
    frozenset({"quality", "improvement_activities", "promoting_interoperability"}):
        {"quality": 55, "improvement_activities": 15, "promoting_interoperability": 30},
    frozenset({"quality", "cost", "improvement_activities"}):
        {"quality": 55, "cost": 30, "improvement_activities": 15},
    frozenset({"cost", "improvement_activities", "promoting_interoperability"}):
        {"cost": 55, "improvement_activities": 15, "promoting_interoperability": 30},
    frozenset({"quality", "cost", "promoting_interoperability"}):
        {"quality": 45, "cost": 30, "promoting_interoperability": 25},
    frozenset({"quality", "improvement_activities"}): {"quality": 85, "improvement_activities": 15},
    frozenset({"improvement_activities", "promoting_interoperability"}):
        {"improvement_activities": 50, "promoting_interoperability": 50},
    frozenset({"quality", "promoting_interoperability"}): {"quality": 70, "promoting_interoperability": 30},
    frozenset({"cost", "improvement_activities"}): {"cost": 50, "improvement_activities": 50},
    frozenset({"quality", "cost"}): {"quality": 70, "cost": 30},
    frozenset({"cost", "promoting_interoperability"}): {"cost": 70, "promoting_interoperability": 30},
}

# Small practices (15 or fewer clinicians) have their own redistribution when Promoting
# Interoperability is re-weighted (automatic for them since PY2022) [S eyefinity small-practice page; K].
SMALL_PRACTICE_WEIGHTS: dict[frozenset[str], dict[str, int]] = {
    frozenset({"quality", "cost", "improvement_activities"}):
        {"quality": 40, "cost": 30, "improvement_activities": 30},
    frozenset({"quality", "improvement_activities"}): {"quality": 50, "improvement_activities": 50},
}

PROPORTION_METRICS = frozenset(
    {"singlePerformanceRate", "multiPerformanceRate", "registrySinglePerformanceRate",
     "registryMultiPerformanceRate", "cahps"}
)


def decile_points(rate: float, percentiles: Mapping[int, float], inverse: bool) -> tuple[int, float]:
    """(decile, achievement points) of one performance rate against one benchmark.

    Direct measures: decile d (2-10) starts, inclusive, at the 10(d-1)th percentile; decile 1 starts at
    0. Inverse measures mirror this: decile d starts at the (110-10d)th percentile and runs down, decile
    1 starts at 100. Points are d plus the rate's linear position inside its decile (d.0 up to, not
    including, d+1); decile 10 earns a flat 10. Empty deciles (equal cut points) are skipped.
    Source: qpp-measures-data benchmarks-schema (deciles/percentiles); 42 CFR 414.1380(b)(1)(i).
    """
    cuts = [float(percentiles[k]) for k in (10, 20, 30, 40, 50, 60, 70, 80, 90)]
    if inverse:
        # Negating rate and cut points turns "lower is better" into the direct case.
        value, starts = -rate, [-100.0] + [-c for c in reversed(cuts)]
    else:
        value, starts = rate, [0.0] + cuts
    decile = 1
    for d in range(2, 11):
        if value >= starts[d - 1]:
            decile = d
    if decile == 10:
        return 10, 10.0
    low, high = starts[decile - 1], starts[decile]
    fraction = max((value - low) / (high - low), 0.0)  # value < high: it is below the next decile
    return decile, decile + fraction


def measure_points(
    results: pd.DataFrame,
    benchmarks: pd.DataFrame,
    *,
    small_practice: bool = False,
    completeness_threshold: float = 0.75,
    case_minimum: int = 20,
    topped_out_cap: float = 7.0,
) -> pd.DataFrame:
    """Achievement points per entity × measure, with the rule that decided them.

    `results` columns: entity_id, measure_id, submission_method, numerator (performance met),
    denominator (performance met + not met), reported (cases reported), eligible (eligible population).
    `benchmarks`: one performance year as read by `p4pkit.cms.mips.load_benchmarks`.

    Rules (PY2023 on, 42 CFR 414.1380(b)(1)): data completeness (reported / eligible) of at least 75%
    and at least 20 cases are needed for benchmark scoring; failing either, or with no benchmark, the
    measure earns 0 points (3 for small practices). Measures topped out two years running
    (`isToppedOutByProgram`) are capped at 7 points.
    """
    require_columns(results, "quality results",
                     ("entity_id", "measure_id", "submission_method", "numerator", "denominator", "reported", "eligible"))
    keyed = benchmarks.set_index(["measure_id", "submission_method"])
    if not keyed.index.is_unique:
        raise UserError("benchmarks hold more than one record per measure and submission method",
                        hint="Pass the benchmarks of a single performance year.")
    floor = 3.0 if small_practice else 0.0
    out = []
    for row in results.itertuples(index=False):
        rate = 100.0 * row.numerator / row.denominator if row.denominator else math.nan
        completeness = row.reported / row.eligible if row.eligible else 0.0
        key = (str(row.measure_id), row.submission_method)
        decile, points, rule = None, floor, ""
        if key not in keyed.index:
            rule = "no benchmark"
        elif completeness < completeness_threshold:
            rule = "below data completeness"
        elif row.denominator < case_minimum:
            rule = "below case minimum"
        else:
            bench = keyed.loc[key]
            if bench["metric_type"] not in PROPORTION_METRICS:
                raise UserError(f"measure {key[0]} ({key[1]}) is a {bench['metric_type']} measure",
                                hint="Only proportion measures are scored against deciles here.")
            percentiles = {k: bench[f"p{k}"] for k in (10, 20, 30, 40, 50, 60, 70, 80, 90)}
            decile, points = decile_points(rate, percentiles, bool(bench["is_inverse"]))
            rule = "benchmark"
            if bench["is_topped_out_by_program"] and points > topped_out_cap:
                points, rule = topped_out_cap, "topped-out cap"
        out.append({**row._asdict(), "rate": rate, "data_completeness": completeness,
                    "decile": decile, "points": points, "rule": rule})
    return pd.DataFrame(out)


def quality_category_score(
    points: pd.DataFrame, *, required_measures: int = 6, small_practice: bool = False, bonus_points: float = 6.0
) -> pd.DataFrame:
    """Quality category score (0-100) per entity from its measure points.

    Score = 100 × (sum of the best `required_measures` measure points + small-practice bonus)
    / (10 × required_measures), capped at 100; missing measures count 0.
    Source: 42 CFR 414.1380(b)(1) (quality performance category score; small practice bonus of 6 points
    added to the numerator from PY2023) [K for the bonus amount].
    """
    require_columns(points, "measure points", ("entity_id", "points"))
    rows = []
    for entity_id, group in points.groupby("entity_id", sort=True):
        best = group["points"].nlargest(required_measures)
        bonus = bonus_points if small_practice else 0.0
        score = min(100.0, 100.0 * (best.sum() + bonus) / (10.0 * required_measures))
        rows.append({"entity_id": entity_id, "measures_counted": len(best),
                     "achievement_points": float(best.sum()), "bonus_points": bonus, "quality_score": score})
    return pd.DataFrame(rows)


def category_weights(scored: Sequence[str], *, small_practice: bool = False) -> dict[str, int]:
    """Category weights (percent) given the categories that are scored (not re-weighted to zero)."""
    unknown = set(scored) - set(CATEGORIES)
    if unknown:
        raise UserError(f"unknown MIPS categories: {sorted(unknown)}", hint=f"Use {', '.join(CATEGORIES)}.")
    key = frozenset(scored)
    if small_practice and key in SMALL_PRACTICE_WEIGHTS:
        return dict(SMALL_PRACTICE_WEIGHTS[key])
    return dict(REDISTRIBUTED_WEIGHTS[key])


def final_scores(categories: pd.DataFrame, *, performance_threshold: float = 75.0,
                 small_practice: bool = False) -> pd.DataFrame:
    """Final score (0-100) per entity.

    `categories` columns: entity_id, one column per category with a score from 0 to 100 (missing/NaN =
    re-weighted to zero), optional complex_patient_bonus. Final score = Σ score × weight/100 over scored
    categories, with weights redistributed per `REDISTRIBUTED_WEIGHTS`, plus the complex patient bonus,
    capped at 100 (small practices use `SMALL_PRACTICE_WEIGHTS` where it applies). An entity scored
    in fewer than two categories gets a final score equal to the performance threshold (a neutral
    adjustment). Source: 42 CFR 414.1380(c) [K for the redistribution].
    """
    require_columns(categories, "category scores", ("entity_id",))
    rows = []
    for record in categories.to_dict("records"):
        scored = [c for c in CATEGORIES if c in record and not pd.isna(record[c])]
        problems = [Problem("category scores", None, c, f"score {record[c]} is outside 0-100 for entity row")
                    for c in scored if not 0 <= record[c] <= 100]
        if problems:
            raise UserError("category scores must be between 0 and 100", problems)
        bonus = float(record.get("complex_patient_bonus", 0.0) or 0.0)
        if len(scored) < 2:
            score, weights = performance_threshold, {}
        else:
            weights = category_weights(scored, small_practice=small_practice)
            score = min(100.0, sum(record[c] * weights[c] / 100.0 for c in scored) + bonus)
        rows.append({"entity_id": record["entity_id"], "final_score": score,
                     **{f"weight_{c}": weights.get(c, 0) for c in CATEGORIES}})
    return pd.DataFrame(rows)


def payment_adjustments(
    scores: pd.DataFrame,
    *,
    performance_threshold: float = 75.0,
    max_adjustment: Decimal = Decimal("0.09"),
    max_scaling_factor: Decimal = Decimal(3),
) -> pd.DataFrame:
    """Payment adjustment factor and amount per entity, budget neutral across the table.

    `scores` columns: entity_id, final_score, allowed_charges (the Part B allowed charges the factor
    applies to). SSA §1848(q)(6) and 42 CFR 414.1405:
      FS >= PT:          factor = SF × X × (FS − PT)/(100 − PT)
      PT/4 < FS < PT:    factor = −X × (PT − FS)/(PT − PT/4)   (linear from −X at PT/4 to 0 at PT)
      FS <= PT/4:        factor = −X
    The scaling factor SF (0 < SF ≤ 3) makes the positive amounts equal the negative amounts. Negative
    amounts are rounded to the cent one by one; their total is then split over the positive entities
    with `allocate`, so the books balance to the cent. If SF would exceed 3 it is capped and the
    positive side pays less than the negative side collects (as the statute allows).
    """
    require_columns(scores, "final scores", ("entity_id", "final_score", "allowed_charges"))
    problems = [Problem("final scores", i, "final_score", f"{fs} is not a score between 0 and 100")
                for i, fs in enumerate(scores["final_score"], start=1) if not 0 <= fs <= 100]
    problems += [Problem("final scores", i, "allowed_charges", "must be a non-negative amount")
                 for i, c in enumerate(scores["allowed_charges"], start=1) if pd.isna(c) or to_decimal(c) < 0]
    if problems:
        raise UserError("MIPS payment adjustments need valid final scores and allowed charges", problems)
    pt = to_decimal(performance_threshold)
    quarter = pt / 4
    charges = [to_decimal(c) for c in scores["allowed_charges"]]
    finals = [to_decimal(float(s)) for s in scores["final_score"]]
    unscaled = []
    for fs in finals:
        if fs >= pt:
            unscaled.append(max_adjustment * (fs - pt) / (100 - pt) if pt < 100 else Decimal(0))
        elif fs > quarter:
            unscaled.append(-max_adjustment * (pt - fs) / (pt - quarter))
        else:
            unscaled.append(-max_adjustment)
    negatives = [round_money(c * f) if f < 0 else Decimal("0.00") for c, f in zip(charges, unscaled)]
    collected = -sum(negatives, Decimal(0))
    base_positive = [c * f if f > 0 else Decimal(0) for c, f in zip(charges, unscaled)]
    base_total = sum(base_positive, Decimal(0))
    scaling = min(collected / base_total, max_scaling_factor) if base_total > 0 else Decimal(0)
    pot = round_money(base_total * scaling)
    positives = allocate(pot, base_positive) if base_total > 0 else [Decimal("0.00")] * len(charges)
    amounts = [p if f > 0 else n for p, n, f in zip(positives, negatives, unscaled)]
    factors = [f * scaling if f > 0 else f for f in unscaled]
    return pd.DataFrame({
        "entity_id": scores["entity_id"].to_list(),
        "final_score": scores["final_score"].to_list(),
        "adjustment_factor": factors,
        "amount": amounts,
        "scaling_factor": [scaling] * len(charges),
    })


def require_columns(table: pd.DataFrame, name: str, columns: Sequence[str]) -> None:
    """Raise `UserError` naming every required column missing from an input table (shared by the
    entity-level program models in this package)."""
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise UserError(f"{name}: missing column(s) {', '.join(missing)}",
                        [Problem(name, None, c, "required column is missing") for c in missing])
