"""Gaming checks over runs and years, each flag with its evidence.

Pay-for-performance invites ways of scoring better without caring better (Doran et al., "Exclusion
of patients from pay-for-performance targets by English physicians", NEJM 2008;359:274-284; the
ACP and AMA principles in `../shared/seeds/`). Each check returns a flag table with the columns
`funnel.FLAG_COLUMNS` (entity_id, check, statistic, limit, flagged, evidence), so checks can be
stacked and shown to reviewers together:

- `exception_flags`: care processes recorded as "not done" with a reason (exception reporting),
  per practice against peers on a funnel plot;
- `measure_exception_flags`: the same from a measure run: exclusions plus exceptions over the
  denominator, per entity and measure;
- `denominator_shift_flags`: a measure's denominator shrinking or growing from one year to the next
  by more than the list size explains;
- `deselection.deregistration_flags`: high-risk patients removed from lists;
- `coding.coding_intensity_flags`: unbacked new diagnoses (risk-score growth);
- `gaming_flags`: the store-based checks for one window, stacked.
"""

from __future__ import annotations

from collections.abc import Sequence

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa
from scipy import stats

from p4pkit.measures.timing import Period
from p4pkit.model import codes
from p4pkit.safeguards.coding import coding_intensity_flags
from p4pkit.safeguards.deselection import HBA1C, SYSTOLIC, deregistration_flags, registered_on
from p4pkit.safeguards.funnel import FLAG_COLUMNS, funnel_chart, funnel_flags
from p4pkit.store import Store


def exception_counts(store: Store, window: Period, loinc_codes: Sequence[str] = (HBA1C, SYSTOLIC)) -> pd.DataFrame:
    """Per practice: patients on its list at the window start with any record (done or not done) of
    the care processes `loinc_codes` in the window (`size`), and how many had one recorded as not
    done with a reason (`count`)."""
    start, end = ibis.literal(window.start), ibis.literal(window.end)
    events = store.table("events")
    records = events.filter(
        (events.code_system == codes.LOINC) & events.code.isin(list(loinc_codes))
        & (events.start.date() >= start) & (events.start.date() <= end)
    )
    per_patient = records.group_by("patient_id").aggregate(
        excepted=(records.negated & records.negation_reason_code.notnull()).cast("int64").max()
    )
    lists = registered_on(store, window.start)
    joined = lists.join(per_patient, "patient_id").select(entity_id=lists.organization_id, excepted=per_patient.excepted)
    table = joined.group_by("entity_id").aggregate(size=joined.count(), count=joined.excepted.sum())
    return store.backend.to_pyarrow(table.order_by("entity_id")).to_pandas()


def exception_flags(store: Store, window: Period, loinc_codes: Sequence[str] = (HBA1C, SYSTOLIC)) -> pd.DataFrame:
    """Flag practices recording the care processes as "not done" more often than peers (3-SD funnel).

    Overdispersion-adjusted: honest practices differ in how many patients decline a test, so their
    rates vary beyond binomial chance and plain binomial limits flag honest practices too often."""
    return funnel_flags(
        exception_counts(store, window, loinc_codes),
        "exception_reporting",
        overdispersion=True,
        describe=f"patients with a record of LOINC {', '.join(loinc_codes)} between {window.start} and {window.end} "
        "had one recorded as not done with a reason",
    )


def measure_exception_flags(store: Store, results: pa.Table, entities: pa.Table) -> pd.DataFrame:
    """Per measure, flag entities whose exclusions plus exceptions take more of the denominator than peers'.

    `results` is the long table of `measures.run_measures`; `entities` maps `patient_id` to
    `entity_id` (e.g. attribution's output). The check is named `exclusions_exceptions:<measure_id>`.
    """
    joined = ibis.memtable(results.select(["measure_id", "patient_id", "denominator", "denominator_exclusion", "denominator_exception"])).join(
        ibis.memtable(entities.select(["patient_id", "entity_id"])).filter(lambda t: t.entity_id.notnull()), "patient_id"
    )
    table = joined.group_by(["measure_id", "entity_id"]).aggregate(
        size=joined.denominator.cast("int64").sum(),
        count=(joined.denominator_exclusion + joined.denominator_exception).cast("int64").sum(),
    )
    counts = store.backend.to_pyarrow(table.order_by(["measure_id", "entity_id"])).to_pandas()
    parts = [
        funnel_flags(group, f"exclusions_exceptions:{measure}", describe=f"patients in the {measure} denominator were excluded or excepted")
        for measure, group in counts.groupby("measure_id", sort=True)
    ]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=list(FLAG_COLUMNS))


def denominator_shift_flags(before: pd.DataFrame, after: pd.DataFrame, check: str = "denominator_shift", sigmas: float = 3.0) -> pd.DataFrame:
    """Flag entities whose denominator moved between two years by more than list size and peers explain.

    `before` and `after` have one row per entity: `entity_id`, `denominator`, `list_size`. The
    expected denominator is last year's scaled by the entity's list growth and by the peers' change
    in denominator per listed patient (indirect standardisation); the observed count is treated as
    Poisson around it, z = (observed - expected) / sqrt(expected), and |z| > 3 is flagged (a
    shrinking register is the usual sign of deselection or miscoding; a jump, of case finding or
    upcoding).
    """
    both = before.merge(after, on="entity_id", suffixes=("_before", "_after"))
    both = both[(both["denominator_before"] > 0) & (both["list_size_before"] > 0)].reset_index(drop=True)
    scaled = both["denominator_before"] * both["list_size_after"] / both["list_size_before"]
    peer_change = both["denominator_after"].sum() / scaled.sum()
    expected = scaled * peer_change
    z = (both["denominator_after"] - expected) / np.sqrt(expected)
    share = 2 * stats.norm.sf(sigmas)
    evidence = [
        f"denominator {int(b)} -> {int(a)} while the list went {int(lb)} -> {int(la)}; expected {e:.1f} "
        f"with the peers' change ({peer_change - 1:+.1%} per listed patient); z = {zz:.2f} "
        f"(two-sided {sigmas:g}-SD limit, {share:.2%} of honest entities by chance)"
        for b, a, lb, la, e, zz in zip(
            both["denominator_before"], both["denominator_after"], both["list_size_before"], both["list_size_after"], expected, z
        )
    ]
    return pd.DataFrame(
        {"entity_id": both["entity_id"].astype(str), "check": check, "statistic": z, "limit": sigmas,
         "flagged": np.abs(z) > sigmas, "evidence": evidence}
    )


def gaming_flags(store: Store, window: Period) -> pd.DataFrame:
    """Exception reporting, deregistration of high-risk patients and coding intensity for one window,
    stacked in one flag table (columns `FLAG_COLUMNS`)."""
    parts = [exception_flags(store, window), deregistration_flags(store, window), coding_intensity_flags(store, window)]
    return pd.concat([p[list(FLAG_COLUMNS)] for p in parts], ignore_index=True)


def gaming_section(ctx):
    """The run report's gaming and deselection section (`reports.html.Section`).

    From the run itself: exclusions plus exceptions per entity and measure against peers (funnel
    limits at 3 SD), and each measure's denominator moving between the baseline and performance
    periods beyond what list size explains; from the store, for the performance period: exception
    records, removals of high-risk patients from lists, and unbacked new diagnoses.
    """
    from p4pkit.reports.html import Section

    performance = ctx.periods["performance"]
    results = ctx.patient_results.filter(pa.compute.equal(ctx.patient_results["period"], "performance"))
    exclusions = measure_exception_flags(ctx.store, results, ctx.attribution["performance"])
    flags = [exclusions, gaming_flags(ctx.store, performance)]
    sizes = {
        period: ctx.attributed(period).groupby("entity_id").size().rename("list_size")
        for period in ("baseline", "performance")
    }
    measures = ctx.entity_measures[ctx.entity_measures.group_index == 0]
    for measure_id, rows in measures.groupby("measure_id"):
        before, after = (
            rows[rows.period == period].set_index("entity_id")[["denominator"]].join(sizes[period], how="inner").reset_index()
            for period in ("baseline", "performance")
        )
        if len(before) >= 3 and len(after) >= 3:
            flags.append(denominator_shift_flags(before, after, check=f"denominator_shift:{measure_id}"))
    table = pd.concat([f[list(FLAG_COLUMNS)] for f in flags if len(f)], ignore_index=True)
    flagged = table[table.flagged]
    charts = [
        funnel_chart(group, f"{check}: rate against size")
        for check, group in exclusions.groupby("check")
        if {"peer_rate", "size"} <= set(group.columns) and len(group) > 1
    ]
    text = (
        f"{len(flagged)} of {len(table)} entity checks are beyond their 3-SD control limits."
        if len(table)
        else "No check could be computed for this run."
    )
    return Section(
        "Gaming and deselection",
        text=text,
        charts=charts,
        tables=[flagged.round(4) if len(flagged) else pd.DataFrame({"flags": ["none beyond the limits"]})],
        note="A flag is a reason to look, with its evidence, not a finding of gaming (Doran et al., NEJM 2008). "
        "Checks: exclusions and exceptions per measure; denominators shifting beyond list growth; exception records; "
        "practice removals of high-risk patients; unbacked new diagnoses.",
    )
