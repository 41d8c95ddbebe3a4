"""Hospital Value-Based Purchasing (HVBP) scoring: from measure rates to the Total Performance Score.

Source: 42 CFR 412.160 (definitions), 412.165 (scoring) and `reference/methodologies.md` §1, which
re-derives every step on the FY2024 CMS files. All rates are first put on a "higher is better" scale:
for lower-is-better measures (HAI SIRs, MSPB, COMP-HIP-KNEE) the performance rate, baseline rate,
achievement threshold (AT), benchmark (BM) and floor are negated, then one set of formulas applies.

* Achievement points (§412.165(a)(2),(4)): 10 if P ≥ BM; 0 if P < AT; otherwise
  ⌊9·(P − AT)/(BM − AT) + 0.5⌉ bounded to 1..9 (⌊·⌉ = round half up).
* Improvement points (§412.165(a)(3)): 0 if P ≤ the hospital's own baseline B (tested first, so a
  hospital at the benchmark that got worse earns none); 9 if P ≥ BM; otherwise
  ⌊10·(P − B)/(BM − B) − 0.5⌉ bounded to 0..9.
* Measure (HCAHPS: dimension) score = max(achievement, improvement).
* HCAHPS consistency points: r = min over dimensions of (P − floor)/(AT − floor); 20 if r ≥ 1,
  0 if r ≤ 0, otherwise ⌊20·r − 0.5⌉. The Person and Community Engagement domain = Σ dimension
  scores (0–80) + consistency (0–20).
* Other domains (§412.165(b)(2),(3)): 100 · Σ measure scores / (10 · number of scored measures),
  computed only when the hospital has the domain's minimum number of scored measures (§412.165(b)(1)).
* TPS (§412.165(b)(4),(5)): Σ domain score × weight, the weights re-normalised proportionally over
  the domains the hospital has; a TPS needs at least 3 of the 4 domains. FY2024 weights: 25% each.

Performance standards, when not given, come from baseline-period rates (§412.160): AT = median,
BM = mean of the top decile (the best ⌈n/10⌉ hospitals), HCAHPS floor = the worst hospital.

Combined measures (the Combined SSI, which CMS builds from HAI-3 and HAI-4 weighted by predicted
infections the public files lack) enter as given measure scores.

Hospital-level tables are small (thousands of rows), so the model is vectorised numpy over pandas
frames rather than an Ibis expression; nothing here touches patient-level data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import pandas as pd

from p4pkit.errors import Problem, UserError
from p4pkit.programs.money import allocate, round_money, to_decimal

# Rates are published with at most 6 decimals; this nudge only undoes binary representation error
# so that an exact .5 (e.g. 9·0.5 + 0.5 = 5.0 computed as 4.999…) rounds up as the rule says.
TIE_TOLERANCE = 1e-9


@dataclass(frozen=True)
class Domain:
    """One HVBP domain: its weight in the TPS and how many scored measures it needs.

    `consistency` marks the HCAHPS-style domain: dimension scores are summed and consistency points
    added, instead of normalising to a percentage of the points available.
    """

    name: str
    weight: float
    min_measures: int
    consistency: bool = False


# FY2022 onward (incl. FY2024): four domains at 25% each (FY2024 IPPS final rule; methodologies.md §1).
FY2024_DOMAINS: tuple[Domain, ...] = (
    Domain("clinical_outcomes", 0.25, 2),
    Domain("person_and_community_engagement", 0.25, 8, consistency=True),
    Domain("safety", 0.25, 2),
    Domain("efficiency_and_cost_reduction", 0.25, 1),
)
MIN_DOMAINS_FOR_TPS = 3
# 42 CFR 412.160, "applicable percent": the share of base-operating DRG payments withheld.
APPLICABLE_PERCENT_FY2017_ON = Decimal("0.02")


def _round_half_up(values: np.ndarray) -> np.ndarray:
    return np.floor(values + 0.5 + TIE_TOLERANCE)


def achievement_points(performance, threshold, benchmark) -> np.ndarray:
    """Achievement points 0–10 per 42 CFR 412.165(a)(2),(4); inputs already higher-is-better. NaN in → NaN out."""
    p, at, bm = (np.asarray(x, dtype=float) for x in (performance, threshold, benchmark))
    with np.errstate(divide="ignore", invalid="ignore"):
        between = np.clip(_round_half_up(9 * (p - at) / (bm - at) + 0.5), 1, 9)
    points = np.where(p >= bm, 10.0, np.where(p < at, 0.0, between))
    return np.where(np.isnan(p) | np.isnan(at) | np.isnan(bm), np.nan, points)


def improvement_points(performance, baseline, benchmark) -> np.ndarray:
    """Improvement points 0–9 per 42 CFR 412.165(a)(3); inputs already higher-is-better. NaN in → NaN out."""
    p, b, bm = (np.asarray(x, dtype=float) for x in (performance, baseline, benchmark))
    with np.errstate(divide="ignore", invalid="ignore"):
        between = np.clip(_round_half_up(10 * (p - b) / (bm - b) - 0.5), 0, 9)
    points = np.where(p <= b, 0.0, np.where(p >= bm, 9.0, between))
    return np.where(np.isnan(p) | np.isnan(b) | np.isnan(bm), np.nan, points)


def consistency_points(lowest_ratio) -> np.ndarray:
    """HCAHPS consistency points 0–20 from r = min over dimensions of (P − floor)/(AT − floor).

    Source: HVBP scoring methodology (methodologies.md §1, re-derived on 2,467/2,467 FY2024 hospitals).
    """
    r = np.asarray(lowest_ratio, dtype=float)
    between = np.clip(_round_half_up(20 * r - 0.5), 0, 20)
    points = np.where(r >= 1, 20.0, np.where(r <= 0, 0.0, between))
    return np.where(np.isnan(r), np.nan, points)


def performance_standards(baseline: pd.DataFrame, lower_is_better: Mapping[str, bool]) -> pd.DataFrame:
    """Achievement threshold, benchmark and floor per measure from baseline-period hospital rates.

    `baseline` has columns measure_id and rate (one row per hospital). Per 42 CFR 412.160 the
    achievement threshold is the median; the benchmark is the mean of the top decile, taken here as
    the best ⌈n/10⌉ hospitals; the floor (used for HCAHPS) is the worst hospital's rate. "Best" and
    "worst" follow each measure's direction. §412.160 sets the Efficiency and Cost Reduction
    standards (MSPB) from the performance period instead: pass those rates for that domain.
    """
    rows = []
    for measure_id, rates in baseline.dropna(subset=["rate"]).groupby("measure_id", sort=True):
        sign = -1.0 if lower_is_better.get(measure_id, False) else 1.0
        values = np.sort(sign * rates["rate"].to_numpy(dtype=float))
        top = values[-int(np.ceil(len(values) / 10)) :]
        rows.append(
            {
                "measure_id": measure_id,
                "achievement_threshold": sign * float(np.median(values)),
                "benchmark": sign * float(top.mean()),
                "floor": sign * float(values[0]),
            }
        )
    return pd.DataFrame(rows, columns=["measure_id", "achievement_threshold", "benchmark", "floor"])


def score_measures(rates: pd.DataFrame, standards: pd.DataFrame) -> pd.DataFrame:
    """Achievement, improvement and measure score for every hospital × measure with a performance rate.

    `rates`: entity_id, measure_id, performance_rate, baseline_rate (NaN when the hospital has no
    baseline: it then earns achievement points only) and optionally `cases`.
    `standards`: measure_id, domain, lower_is_better, achievement_threshold, benchmark, optional
    floor (HCAHPS) and optional min_cases (rows below it are not scored, §412.165(a)(1)).
    The result also carries `consistency_ratio` = (P − floor)/(AT − floor) where a floor is given.
    """
    _check_measures_known(rates, standards, "rates")
    merged = rates.merge(standards, on="measure_id", how="inner", validate="many_to_one")
    merged = merged[merged["performance_rate"].notna()]
    if "cases" in merged and "min_cases" in merged:
        merged = merged[~(merged["cases"] < merged["min_cases"])]
    sign = np.where(merged["lower_is_better"].astype(bool), -1.0, 1.0)
    p = sign * merged["performance_rate"].to_numpy(dtype=float)
    at = sign * merged["achievement_threshold"].to_numpy(dtype=float)
    bm = sign * merged["benchmark"].to_numpy(dtype=float)
    b = sign * merged["baseline_rate"].to_numpy(dtype=float)
    achievement = achievement_points(p, at, bm)
    improvement = improvement_points(p, b, bm)
    floor = sign * merged["floor"].to_numpy(dtype=float) if "floor" in merged else np.full(len(p), np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = (p - floor) / (at - floor)
    return pd.DataFrame(
        {
            "entity_id": merged["entity_id"].to_numpy(),
            "measure_id": merged["measure_id"].to_numpy(),
            "domain": merged["domain"].to_numpy(),
            "achievement_points": achievement,
            "improvement_points": improvement,
            "measure_score": np.fmax(achievement, improvement),
            "consistency_ratio": ratio,
        }
    )


def domain_scores(measure_scores: pd.DataFrame, domains: Sequence[Domain] = FY2024_DOMAINS) -> pd.DataFrame:
    """Unweighted domain scores (0–100) per hospital, for domains meeting their minimum measure count.

    `measure_scores`: entity_id, domain, measure_score, and consistency_ratio for consistency domains
    (as returned by `score_measures`, plus any given combined-measure scores). Long result:
    entity_id, domain, score, measures, and for consistency domains the two parts of the score,
    base_score (Σ dimension scores) and consistency_points.
    """
    scored = measure_scores[measure_scores["measure_score"].notna()]
    frames = []
    for domain in domains:
        rows = scored[scored["domain"] == domain.name]
        grouped = rows.groupby("entity_id", sort=True)
        summary = grouped.agg(total=("measure_score", "sum"), measures=("measure_score", "size"))
        summary["base_score"] = np.nan
        summary["consistency_points"] = np.nan
        if domain.consistency:
            lowest = grouped["consistency_ratio"].min().reindex(summary.index)
            summary["base_score"] = summary["total"]
            summary["consistency_points"] = consistency_points(lowest.to_numpy())
            summary["score"] = summary["base_score"] + summary["consistency_points"]
        else:
            summary["score"] = 100 * summary["total"] / (10 * summary["measures"])
        summary = summary[summary["measures"] >= domain.min_measures].reset_index().assign(domain=domain.name)
        frames.append(summary[["entity_id", "domain", "score", "measures", "base_score", "consistency_points"]])
    return pd.concat(frames, ignore_index=True)


def total_performance_score(
    scores: pd.DataFrame, domains: Sequence[Domain] = FY2024_DOMAINS, min_domains: int = MIN_DOMAINS_FOR_TPS
) -> pd.DataFrame:
    """Wide table: entity_id, each domain's unweighted and weighted score, total_performance_score.

    Weights are re-normalised over the domains each hospital has (§412.165(b)(4); QualityNet
    scoring page); hospitals with fewer than `min_domains` domains get no TPS (NaN).
    """
    weights = pd.Series({d.name: d.weight for d in domains})
    wide = scores.pivot(index="entity_id", columns="domain", values="score").reindex(columns=weights.index)
    present = wide.notna()
    normalised = present.mul(weights, axis=1).div(present.mul(weights, axis=1).sum(axis=1), axis=0)
    weighted = wide * normalised
    tps = weighted.sum(axis=1, min_count=1).where(present.sum(axis=1) >= min_domains)
    result = wide.add_suffix("_score").join(weighted.add_suffix("_weighted_score"))
    result["total_performance_score"] = tps
    return result.reset_index()


def hvbp_scores(
    rates: pd.DataFrame,
    standards: pd.DataFrame,
    given_scores: pd.DataFrame | None = None,
    domains: Sequence[Domain] = FY2024_DOMAINS,
) -> pd.DataFrame:
    """Rates and standards → per-hospital domain scores and TPS (see `total_performance_score`).

    `given_scores` (entity_id, measure_id, measure_score) carries measures scored elsewhere, such as
    the Combined SSI; their measure_id must appear in `standards` to give their domain.
    """
    measures = score_measures(rates, standards)
    if given_scores is not None:
        _check_measures_known(given_scores, standards, "given_scores")
        given = given_scores.merge(standards[["measure_id", "domain"]], on="measure_id", how="inner")
        measures = pd.concat([measures, given[["entity_id", "measure_id", "domain", "measure_score"]]], ignore_index=True)
    return total_performance_score(domain_scores(measures, domains), domains)


def _check_measures_known(table: pd.DataFrame, standards: pd.DataFrame, name: str) -> None:
    unknown = sorted(set(table["measure_id"]) - set(standards["measure_id"]))
    if unknown:
        raise UserError(
            f"{name} name measures that have no performance standard",
            [Problem(name, None, "measure_id", f"'{m}' is not in the standards table") for m in unknown],
            hint="Add the measure to the standards (with its domain and direction) or drop its rows.",
        )


def exchange_function(hospitals: pd.DataFrame, withhold: Decimal = APPLICABLE_PERCENT_FY2017_ON) -> pd.DataFrame:
    """Value-based incentive payments from the linear exchange function, budget neutral to the cent.

    Source: 42 CFR 412.160 ("applicable percent": 2.0% from FY2017) and 412.162(b),(c); methodologies.md §1.
    `hospitals`: entity_id, total_performance_score (0–100), base_operating_drg_payments (≥ 0).
    Each hospital's base-operating DRG payments are reduced by the withhold; the incentive
    percentage is withhold × TPS/100 × slope, with the slope solved so that Σ incentive payments
    equals Σ withheld:  slope = Σ_h base_h·withhold / Σ_h base_h·withhold·TPS_h/100.
    The per-discharge adjustment factor is 1 + incentive% − withhold.

    Amounts are Decimal: each withheld amount is rounded half-up to the cent, and the pool of
    rounded withholds is split over hospitals in proportion to base_h·TPS_h with
    `programs.money.allocate`, so the payments sum to the pool exactly.
    """
    problems = _exchange_input_problems(hospitals)
    if problems:
        raise UserError("cannot compute HVBP incentive payments", problems)
    base = [to_decimal(v) for v in hospitals["base_operating_drg_payments"]]
    tps = [to_decimal(float(v)) for v in hospitals["total_performance_score"]]
    weights = [b * t / 100 for b, t in zip(base, tps, strict=True)]
    if sum(weights, Decimal(0)) == 0:
        raise UserError(
            "cannot solve the HVBP exchange-function slope: every hospital has a TPS of 0 or no payments",
            hint="At least one hospital needs a positive TPS and positive base-operating DRG payments.",
        )
    slope = sum(base, Decimal(0)) / sum(weights, Decimal(0))
    withheld = [round_money(b * withhold) for b in base]
    incentives = allocate(sum(withheld, Decimal(0)), weights)
    incentive_percent = [withhold * t / 100 * slope for t in tps]
    return pd.DataFrame(
        {
            "entity_id": hospitals["entity_id"].to_numpy(),
            "total_performance_score": hospitals["total_performance_score"].to_numpy(dtype=float),
            "base_operating_drg_payments": base,
            "withheld": withheld,
            "incentive_payment": incentives,
            "net_change": [i - w for i, w in zip(incentives, withheld, strict=True)],
            "incentive_percent": incentive_percent,
            "adjustment_factor": [1 + pct - withhold for pct in incentive_percent],
            "slope": [slope] * len(base),
        }
    )


def _exchange_input_problems(hospitals: pd.DataFrame) -> list[Problem]:
    problems = []
    for row, (tps, base) in enumerate(
        zip(hospitals["total_performance_score"], hospitals["base_operating_drg_payments"], strict=True), start=1
    ):
        if pd.isna(tps) or not 0 <= float(tps) <= 100:
            problems.append(Problem("hospitals", row, "total_performance_score", "must be a number from 0 to 100"))
        if pd.isna(base) or to_decimal(base) < 0:
            problems.append(Problem("hospitals", row, "base_operating_drg_payments", "must be an amount ≥ 0"))
    return problems
