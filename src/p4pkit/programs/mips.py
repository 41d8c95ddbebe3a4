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

from collections.abc import Mapping, Sequence
from decimal import Decimal

import numpy as np
import pandas as pd

from p4pkit.errors import Problem, UserError
from p4pkit.programs.money import allocate, round_money, to_decimal
from p4pkit.programs.tables import require_columns

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


CUT_KEYS = (10, 20, 30, 40, 50, 60, 70, 80, 90)


def decile_points_array(rates: np.ndarray, cuts: np.ndarray, inverse: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Deciles and achievement points of many rates, each against its own benchmark.

    `rates` (n), `cuts` (n × 9: the 10th … 90th percentiles), `inverse` (n, bool).
    Direct measures: decile d (2-10) starts, inclusive, at the 10(d-1)th percentile; decile 1 starts at
    0. Inverse measures mirror this: decile d starts at the (110-10d)th percentile and runs down, decile
    1 starts at 100. Points are d plus the rate's linear position inside its decile (d.0 up to, not
    including, d+1); decile 10 earns a flat 10. Empty deciles (equal cut points) are skipped.
    Source: qpp-measures-data benchmarks-schema (deciles/percentiles); 42 CFR 414.1380(b)(1)(i).
    """
    rates = np.asarray(rates, dtype=float)
    cuts = np.asarray(cuts, dtype=float).reshape(len(rates), 9)
    inverse = np.asarray(inverse, dtype=bool)
    # Negating rate and cut points turns "lower is better" into the direct case; starts ascend.
    direct_starts = np.column_stack([np.zeros(len(rates)), cuts])
    inverse_starts = np.column_stack([np.full(len(rates), -100.0), -cuts[:, ::-1]])
    starts = np.where(inverse[:, None], inverse_starts, direct_starts)
    value = np.where(inverse, -rates, rates)
    decile = 1 + (starts[:, 1:] <= value[:, None]).sum(axis=1)
    rows = np.arange(len(rates))
    low = starts[rows, decile - 1]
    high = starts[rows, np.minimum(decile, 9)]
    with np.errstate(divide="ignore", invalid="ignore"):
        # value < high inside deciles 1-9: the rate is below the next decile's start.
        fraction = np.clip((value - low) / (high - low), 0.0, None)
    points = np.where(decile == 10, 10.0, decile + fraction)
    return decile, points


def decile_points(rate: float, percentiles: Mapping[int, float], inverse: bool) -> tuple[int, float]:
    """(decile, achievement points) of one rate against one benchmark; see `decile_points_array`."""
    decile, points = decile_points_array(np.array([rate]), np.array([[percentiles[k] for k in CUT_KEYS]]),
                                         np.array([inverse]))
    return int(decile[0]), float(points[0])


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
    columns = ("entity_id", "measure_id", "submission_method", "numerator", "denominator", "reported", "eligible")
    require_columns(results, "quality results", columns)
    if benchmarks.duplicated(["measure_id", "submission_method"]).any():
        raise UserError("benchmarks hold more than one record per measure and submission method",
                        hint="Pass the benchmarks of a single performance year.")
    bench_columns = ["metric_type", "is_inverse", "is_topped_out_by_program", *(f"p{k}" for k in CUT_KEYS)]
    table = results[list(columns)].astype({"measure_id": str}).merge(
        benchmarks[["measure_id", "submission_method", *bench_columns]],
        on=["measure_id", "submission_method"], how="left", validate="many_to_one", indicator=True)
    denominator = table["denominator"].astype(float)
    table["rate"] = 100.0 * table["numerator"] / denominator.where(denominator > 0)
    table["data_completeness"] = (table["reported"] / table["eligible"].where(table["eligible"] > 0)).fillna(0.0)
    has_benchmark = table.pop("_merge").eq("both").to_numpy()
    complete = table["data_completeness"].to_numpy() >= completeness_threshold
    enough = denominator.to_numpy() >= case_minimum
    scored = has_benchmark & complete & enough
    refused = table.loc[scored & ~table["metric_type"].isin(PROPORTION_METRICS).to_numpy()]
    if len(refused):
        first = refused.iloc[0]
        raise UserError(f"measure {first.measure_id} ({first.submission_method}) is a {first.metric_type} measure",
                        hint="Only proportion measures are scored against deciles here.")
    decile, points = decile_points_array(table["rate"].fillna(0.0).to_numpy(),
                                         table[[f"p{k}" for k in CUT_KEYS]].fillna(0.0).to_numpy(),
                                         table["is_inverse"].fillna(False).to_numpy(dtype=bool))
    capped = scored & table["is_topped_out_by_program"].fillna(False).to_numpy(dtype=bool) & (points > topped_out_cap)
    floor = 3.0 if small_practice else 0.0
    table["decile"] = pd.Series(decile, index=table.index, dtype="Int64").where(scored)
    table["points"] = np.where(scored, np.where(capped, topped_out_cap, points), floor)
    table["rule"] = np.select(
        [~has_benchmark, ~complete, ~enough, capped],
        ["no benchmark", "below data completeness", "below case minimum", "topped-out cap"],
        default="benchmark",
    )
    return table[[*columns, "rate", "data_completeness", "decile", "points", "rule"]]


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

