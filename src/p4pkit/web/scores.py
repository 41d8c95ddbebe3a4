"""The numbers behind the portal's pages: clinicians' scores against their peers, care gaps, a payment
preview, and the public report cards.

Rates and intervals are the measure summaries' (`measures.summary.summarise`: eCQM proportion
scoring with Wilson 95% intervals). Public report cards follow the publication rules used across
p4pkit: an entity is shown only with a performance denominator of at least `min_denominator`
(default 30) and a reliability of at least `min_reliability` (default 0.7; Adams, RAND TR-653, in
its beta-binomial form `risk.shrinkage.shrink`), and every count is passed through
`reports.suppression.suppress_measure_table` (CMS cell-size suppression: no count of 1 to 10, with
complementary suppression against the total).
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from p4pkit.measures.definition import Measure
from p4pkit.measures.summary import summarise
from p4pkit.programs.money import allocate
from p4pkit.programs.peer_comparison import compare
from p4pkit.programs.qof import threshold_points
from p4pkit.reports.suppression import suppress_measure_table
from p4pkit.risk.reliability import meets_publication_rules
from p4pkit.risk.shrinkage import shrink
from p4pkit.web.data import PortalData

DECILES = tuple(range(10, 100, 10))
#: Payment preview settings for the demo program: a fixed pool shared in proportion to QOF-style
#: points, each measure worth up to 10 points between the peers' 20th and 80th percentile.
PREVIEW_POOL = Decimal("100000.00")
PREVIEW_MAX_POINTS = 10.0
PREVIEW_THRESHOLDS = (20, 80)


def measure_label(measure_id: str, group_index: int, measure: Measure) -> str:
    """`CMS122`, or `CMS138.2` for the second population group of a multi-group measure."""
    return measure_id if len(measure.groups) == 1 else f"{measure_id}.{group_index + 1}"


def lower_is_better(measure: Measure) -> bool:
    """Inverse measures (improvement notation "decrease", e.g. CMS122 poor glycemic control)."""
    return measure.improvement_notation == "decrease"


def clinician_scores(data: PortalData) -> pd.DataFrame:
    """Counts, rate and Wilson interval per measure group and clinician."""
    return summarise(data.results, by=["clinician_id"]).to_pandas()


def peer_deciles(scores: pd.DataFrame) -> dict[tuple[str, int], list[float]]:
    """The 10th to 90th percentiles of clinicians' rates per measure group (clinicians with a rate)."""
    deciles = {}
    for (measure_id, group), rows in scores.groupby(["measure_id", "group_index"]):
        rates = rows["rate"].dropna().to_numpy(float)
        if rates.size:
            deciles[(measure_id, int(group))] = [float(v) for v in np.percentile(rates, DECILES)]
    return deciles


def gap_mask(results: pa.Table, measures: dict[str, Measure]) -> pa.ChunkedArray:
    """True for a patient counted in the performance denominator whose care missed the measure's aim:
    not in the numerator of a positive measure, or in the numerator of an inverse one."""
    eligible = pc.and_(
        pc.equal(results["denominator"], 1),
        pc.and_(pc.equal(results["denominator_exclusion"], 0), pc.equal(results["denominator_exception"], 0)),
    )
    inverse = pc.is_in(results["measure_id"], pa.array([m for m, d in measures.items() if lower_is_better(d)], pa.string()))
    missed = pc.if_else(inverse, pc.equal(results["numerator"], 1), pc.equal(results["numerator"], 0))
    return pc.and_(eligible, missed)


def clinician_gaps(data: PortalData, clinician_id: str, measure_id: str | None = None) -> pa.Table:
    """The clinician's patients with a care gap, with the evidence the runner used (event ids and dates)."""
    rows = data.results.filter(pc.equal(data.results["clinician_id"], clinician_id))
    if measure_id is not None:
        rows = rows.filter(pc.equal(rows["measure_id"], measure_id))
    rows = rows.filter(gap_mask(rows, data.measures))
    return rows.select(["measure_id", "group_index", "patient_id", "numerator", "evidence_event_ids", "evidence_dates"])


def payment_preview(scores: pd.DataFrame, measures: dict[str, Measure], pool: Decimal = PREVIEW_POOL) -> pd.DataFrame:
    """Points and share of the pool per clinician, before review closes.

    Points per measure follow QOF's linear scale (`programs.qof.threshold_points`): none at or below
    the lower threshold, all at or above the upper, linear between; here the thresholds are the
    peers' 20th and 80th percentiles of achievement (1 - rate for inverse measures). The pool is
    split in proportion to total points with `programs.money.allocate`, so shares add up to the pool.
    """
    parts = []
    for (measure_id, _group), rows in scores.dropna(subset=["rate"]).groupby(["measure_id", "group_index"]):
        achievement = rows["rate"].to_numpy(float)
        if lower_is_better(measures[measure_id]):
            achievement = 1 - achievement
        low, high = np.percentile(achievement, PREVIEW_THRESHOLDS)
        points = (
            np.where(achievement > low, PREVIEW_MAX_POINTS, 0.0)
            if high <= low
            else threshold_points(achievement, low, high, PREVIEW_MAX_POINTS)
        )
        parts.append(pd.DataFrame({"clinician_id": rows["clinician_id"].to_numpy(), "points": points}))
    if not parts:
        return pd.DataFrame({"clinician_id": [], "points": [], "payment": []})
    totals = pd.concat(parts).groupby("clinician_id", as_index=False)["points"].sum().sort_values("clinician_id")
    weights = totals["points"].round(6).tolist()
    totals["payment"] = allocate(pool, weights) if sum(weights) > 0 else [Decimal("0.00")] * len(totals)
    return totals.reset_index(drop=True)


def report_cards(
    data: PortalData, min_denominator: int = 30, min_reliability: float = 0.7
) -> dict[tuple[str, int], pd.DataFrame]:
    """Per (measure id, group index): the public table of practices, already suppressed and safe to show as is.

    Columns: entity_id (the practice), numerator, denominator, rate, lower, upper, tier, suppressed; the last
    row is the total over all practices (including those not shown), with their pooled rate. Tier compares the practice's
    interval with the all-practice rate (`programs.peer_comparison.compare`): "better", "worse" or
    "not different", in the measure's direction. Proportion measures only: their counts are patients.
    """
    summary = summarise(data.results, by=["organization_id"]).to_pandas()
    summary = summary[(summary["scoring"] == "proportion") & summary["organization_id"].notna()]
    cards = {}
    for (measure_id, group), rows in summary.groupby(["measure_id", "group_index"]):
        rows = rows[rows["performance_denominator"] > 0]
        if rows.empty:
            continue
        measure = data.measures[measure_id]
        table = pd.DataFrame({
            "entity_id": rows["organization_id"].to_numpy(),
            "numerator": rows["numerator"].to_numpy(int),
            "denominator": rows["performance_denominator"].to_numpy(int),
        })
        overall = table["numerator"].sum() / table["denominator"].sum()
        compared = compare(table, reference_rate=overall, higher_is_better=not lower_is_better(measure))
        table["rate"], table["lower"], table["upper"] = compared["rate"], compared["ci_low"], compared["ci_high"]
        table["tier"] = compared["flag"]
        table["publishable"] = meets_publication_rules(
            table["denominator"], _reliability(table), min_denominator, min_reliability
        )
        published = suppress_measure_table(
            table, entity="entity_id", derived=("rate", "lower", "upper", "tier"), publishable="publishable",
            total_label="All practices",
        )
        total = published.index[-1]
        if not published.loc[total, "suppressed"]:
            # Shown numerator over shown denominator: the all-practice rate reveals nothing more.
            published.loc[total, "rate"] = overall
        cards[(measure_id, int(group))] = published
    return cards


def _reliability(table: pd.DataFrame) -> np.ndarray:
    """Beta-binomial reliability n / (n + a + b); zero when there are too few practices to fit a prior."""
    if len(table) < 2:
        return np.zeros(len(table))
    return shrink(table["numerator"].to_numpy(float), table["denominator"].to_numpy(float)).reliability
