"""Equity monitoring: who gains and who loses from a program, by deprivation, ethnicity and social risk.

Pay-for-performance can widen the gaps it means to close. Penalties fell most often on the
providers of the poor: safety-net hospitals under the Hospital Readmissions Reduction Program
(Joynt and Jha, "Characteristics of hospitals receiving penalties under the HRRP", JAMA
2013;309(4):342-343) and under Hospital Value-Based Purchasing (Gilman et al., "Safety-net hospitals
more likely than other hospitals to fare poorly under Medicare's value-based purchasing", Health
Affairs 2015;34(3):398-405), and clinicians with socially at-risk caseloads under MIPS (Johnston et
al., Health Affairs 2020;39(9):1504-1512). This module measures the same thing on a run.

Definitions (all on the performance period of a run):

- *Measure strata*: for each proportion measure and population group, numerator and performance
  denominator (denominator less exclusions and exceptions) of the attributed patients in each
  deprivation quintile (1 = most deprived), ethnicity, and social-risk flag; missing values form
  the stratum "unknown".
- *Deprived share* of an entity: the share of its attributed patients in deprivation quintile 1.
- *Net payment* of an entity: money paid to it (bonus, withhold return, shared savings,
  capitation) less money taken (withhold, penalty, shared loss, recovery), from the run's ledger
  entries; entities with no entry have 0. Its *penalty* is its net loss, max(0, -net).
- *Payment per patient by stratum*: each entity's net payment shared equally over its attributed
  patients, then averaged over the patients of a stratum: the money that follows a patient.
- *Gradient*: the ordinary least-squares slope of net payment per patient on deprived share across
  entities, with a 95% t interval (`scipy.stats.linregress`). A negative slope means money flows
  away from entities that serve deprived patients.
- *Concentration*: the entities whose deprived share is at or above the 80th percentile of all
  entities' shares (linear interpolation; the "most-deprived-serving fifth") bear a share of all
  penalties; the concentration ratio divides it by their share of attributed patients. A ratio of 1
  means penalties follow patients; the finding is a WARN at `CONCENTRATION_WARN` (1.25: a quarter more
  than their share of patients) or above. The threshold is a judgment, not a published standard:
  Joynt and Jha (2013) found 44% of safety-net hospitals penalised against 30% of the others, a ratio
  near 1.5, and a warning should come before a disparity of that size. Spearman's rank correlation
  of penalty per patient with deprived share is reported beside it.

Patient-level work is written as Ibis expressions, so it runs unchanged on another backend; the
per-entity statistics (tens to thousands of rows) use pandas and SciPy. Tables meant for
publication go through `p4pkit.reports.suppression` (`publishable_measure_strata`,
`publishable_payment_strata`).
"""

from __future__ import annotations

from dataclasses import dataclass

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa
from scipy import stats

from p4pkit.programs.ledger import PAID_KINDS
from p4pkit.reports.suppression import CellTable, is_small, suppress_measure_table

STRATIFIERS = ("deprivation_quintile", "ethnicity", "social_risk")
MOST_DEPRIVED_QUINTILE = 1
TOP_FIFTH_PERCENTILE = 80
CONCENTRATION_WARN = 1.25
UNKNOWN = "unknown"


def _stratum(patients: ibis.Table, by: str) -> ibis.Value:
    """The stratum label of a patient: the stratifier as text, missing values as 'unknown'."""
    column = patients[by]
    if by == "social_risk":
        label = column.cases((True, "yes"), (False, "no"), else_=UNKNOWN)
    else:
        label = column.cast("string")
    return label.fill_null(UNKNOWN)


def with_counts(results: ibis.Table) -> ibis.Table:
    """Patient results with `counted` (1 when in the performance denominator: in the denominator,
    neither excluded nor excepted) and `met` (1 when counted and in the numerator)."""
    eligible = (results.denominator == 1) & (results.denominator_exclusion == 0) & (results.denominator_exception == 0)
    return results.mutate(counted=eligible.cast("int64"), met=(eligible & (results.numerator == 1)).cast("int64"))


def measure_strata(patient_measures: ibis.Table, patients: ibis.Table, by: str, period: str = "performance") -> pd.DataFrame:
    """Numerator, performance denominator and rate of each proportion measure by stratum of `by`.

    `patient_measures` is a run's `patient_measures` table (patient results with entity and period),
    `patients` the canonical patients table.
    """
    results = with_counts(patient_measures.filter((patient_measures.period == period) & (patient_measures.scoring == "proportion")))
    labelled = patients.select("patient_id", stratum=_stratum(patients, by))
    joined = results.left_join(labelled, "patient_id")
    joined = joined.mutate(stratum=joined.stratum.fill_null(UNKNOWN))
    summary = (
        joined.group_by(["measure_id", "group_index", "stratum"])
        .aggregate(numerator=joined.met.sum(), denominator=joined.counted.sum())
        .to_pandas()
    )
    summary.insert(2, "stratifier", by)
    summary["rate"] = summary.numerator / summary.denominator.where(summary.denominator > 0)
    return summary.sort_values(["measure_id", "group_index", "stratum"], ignore_index=True)


def all_measure_strata(patient_measures: ibis.Table, patients: ibis.Table, period: str = "performance") -> pd.DataFrame:
    """`measure_strata` for every stratifier in `STRATIFIERS`, one long table."""
    return pd.concat([measure_strata(patient_measures, patients, by, period) for by in STRATIFIERS], ignore_index=True)


def entity_deprivation(attribution: ibis.Table, patients: ibis.Table, period: str = "performance") -> pd.DataFrame:
    """Per entity: attributed patients, how many are in the most deprived quintile, the share, and how
    many have a known quintile at all (with none, deprivation cannot be judged)."""
    attributed = attribution.filter((attribution.period == period) & attribution.entity_id.notnull())
    joined = attributed.select("patient_id", "entity_id").left_join(
        patients.select("patient_id", "deprivation_quintile"), "patient_id"
    )
    deprived = (joined.deprivation_quintile == MOST_DEPRIVED_QUINTILE).fill_null(False).cast("int64")
    table = (
        joined.group_by("entity_id")
        .aggregate(
            patients=joined.count(),
            deprived_patients=deprived.sum(),
            known_deprivation=joined.deprivation_quintile.notnull().cast("int64").sum(),
        )
        .order_by("entity_id")
        .to_pandas()
    )
    table["deprived_share"] = table.deprived_patients / table.patients
    return table


def net_payments(payments: pd.DataFrame) -> pd.DataFrame:
    """Per entity: paid, taken and net (paid - taken) from ledger entries, as floats in currency units."""
    signs = np.where(payments.kind.isin(PAID_KINDS), 1.0, -1.0)
    amounts = payments.amount.astype(float)
    frame = pd.DataFrame(
        {"entity_id": payments.entity_id, "paid": np.where(signs > 0, amounts, 0.0), "taken": np.where(signs < 0, amounts, 0.0)}
    )
    totals = frame.groupby("entity_id", as_index=False)[["paid", "taken"]].sum()
    totals["net"] = totals.paid - totals.taken
    return totals


def entity_equity_table(deprivation: pd.DataFrame, payments: pd.DataFrame) -> pd.DataFrame:
    """Every attributed entity with its deprived share, net payment, payment per patient and penalty."""
    money = net_payments(payments)
    table = deprivation.merge(money, on="entity_id", how="left").fillna({"paid": 0.0, "taken": 0.0, "net": 0.0})
    table["net_per_patient"] = table.net / table.patients
    table["penalty"] = (-table.net).clip(lower=0.0) + 0.0  # + 0.0: no negative zeros
    table["penalty_per_patient"] = table.penalty / table.patients
    return table


def payment_strata(attribution: ibis.Table, patients: ibis.Table, entities: pd.DataFrame, by: str, period: str = "performance") -> pd.DataFrame:
    """Mean payment per patient by stratum of `by`: each entity's net payment shared over its patients."""
    per_patient = ibis.memtable(entities[["entity_id", "net_per_patient"]])
    attributed = attribution.filter((attribution.period == period) & attribution.entity_id.notnull())
    labelled = patients.select("patient_id", stratum=_stratum(patients, by))
    joined = attributed.select("patient_id", "entity_id").join(per_patient, "entity_id").left_join(labelled, "patient_id")
    joined = joined.mutate(stratum=joined.stratum.fill_null(UNKNOWN))
    table = (
        joined.group_by("stratum")
        .aggregate(patients=joined.count(), payment=joined.net_per_patient.sum())
        .order_by("stratum")
        .to_pandas()
    )
    table.insert(0, "stratifier", by)
    table["payment_per_patient"] = table.payment / table.patients
    return table


def payments_by_deprived_share(entities: pd.DataFrame, groups: int = 5) -> pd.DataFrame:
    """Entities in `groups` equal-count groups by deprived share (1 = serving the fewest deprived
    patients), with their patients, money paid and taken, net and net per patient."""
    ranked = entities.deprived_share.rank(method="first")
    labels = pd.qcut(ranked, min(groups, len(entities)), labels=False) + 1
    grouped = entities.assign(group=labels).groupby("group", as_index=False).agg(
        entities=("entity_id", "size"),
        deprived_share_min=("deprived_share", "min"),
        deprived_share_max=("deprived_share", "max"),
        patients=("patients", "sum"),
        paid=("paid", "sum"),
        taken=("taken", "sum"),
        net=("net", "sum"),
        penalty=("penalty", "sum"),
    )
    grouped["net_per_patient"] = grouped.net / grouped.patients
    return grouped


@dataclass(frozen=True)
class Gradient:
    """OLS slope of net payment per patient on deprived share, with its 95% interval."""

    slope: float
    lower: float
    upper: float
    entities: int


def payment_gradient(entities: pd.DataFrame, confidence: float = 0.95) -> Gradient:
    """The slope of net payment per patient on deprived share across entities (see module notes)."""
    x, y = entities.deprived_share.to_numpy(float), entities.net_per_patient.to_numpy(float)
    if len(x) < 3 or np.ptp(x) == 0:
        return Gradient(float("nan"), float("nan"), float("nan"), len(x))
    fit = stats.linregress(x, y)
    half = stats.t.ppf(0.5 + confidence / 2, len(x) - 2) * fit.stderr
    return Gradient(float(fit.slope), float(fit.slope - half), float(fit.slope + half), len(x))


@dataclass(frozen=True)
class Concentration:
    """How far penalties concentrate on the entities serving the most deprived patients."""

    top_fifth_entities: int
    penalty_share: float
    patient_share: float
    ratio: float
    spearman: float
    total_penalty: float

    @property
    def warn(self) -> bool:
        return self.total_penalty > 0 and self.ratio >= CONCENTRATION_WARN


def penalty_concentration(entities: pd.DataFrame) -> Concentration:
    """Penalty share of the most-deprived-serving fifth over its patient share (module notes)."""
    total_penalty = float(entities.penalty.sum())
    cut = np.percentile(entities.deprived_share.to_numpy(float), TOP_FIFTH_PERCENTILE)
    top = entities.deprived_share >= cut
    patient_share = float(entities.patients[top].sum() / entities.patients.sum())
    penalty_share = float(entities.penalty[top].sum() / total_penalty) if total_penalty > 0 else 0.0
    varied = entities.penalty_per_patient.nunique() > 1 and entities.deprived_share.nunique() > 1
    rho = float(stats.spearmanr(entities.deprived_share, entities.penalty_per_patient).statistic) if varied else float("nan")
    ratio = penalty_share / patient_share if patient_share > 0 else float("nan")
    return Concentration(int(top.sum()), penalty_share, patient_share, ratio, rho, total_penalty)


def publishable_measure_strata(strata: pd.DataFrame) -> pd.DataFrame:
    """Measure strata as they may be published: small cells and what reveals them hidden, per
    measure, group and stratifier, with an 'All patients' total row each (CMS cell suppression)."""
    parts = []
    for (measure, group, by), rows in strata.groupby(["measure_id", "group_index", "stratifier"], sort=True):
        shown = suppress_measure_table(rows[["stratum", "numerator", "denominator", "rate"]], entity="stratum", derived=("rate",), total_label="All patients")
        parts.append(shown.assign(measure_id=measure, group_index=group, stratifier=by))
    columns = ["measure_id", "group_index", "stratifier", "stratum", "numerator", "denominator", "rate", "suppressed"]
    return pd.concat(parts, ignore_index=True)[columns] if parts else pd.DataFrame(columns=columns)


def publishable_payment_strata(strata: pd.DataFrame) -> pd.DataFrame:
    """Payment strata as they may be published: strata of 1 to 10 patients hidden (count and mean),
    plus whatever else makes them derivable from the stratifier's total."""
    parts = []
    for by, rows in strata.groupby("stratifier", sort=True):
        rows = rows.reset_index(drop=True)
        cells = CellTable({i: int(n) for i, n in enumerate(rows.patients)} | {"total": int(rows.patients.sum())})
        cells.constraints.append((tuple(range(len(rows))), "total"))
        cells.hide([i for i, n in enumerate(rows.patients) if is_small(n)])
        cells.protect()
        hidden = [i in cells.hidden for i in range(len(rows))]
        shown = rows.assign(patients=rows.patients.astype("Int64"), suppressed=hidden)
        shown.loc[hidden, ["patients", "payment", "payment_per_patient"]] = pd.NA
        parts.append(shown.assign(stratifier=by))
    return pd.concat(parts, ignore_index=True) if parts else strata.assign(suppressed=False)


@dataclass(frozen=True)
class EquityResult:
    """Everything the equity monitor computes on one run; the `*_published` tables are suppressed."""

    entities: pd.DataFrame
    measure_strata_published: pd.DataFrame
    payment_strata_published: pd.DataFrame
    by_deprived_share: pd.DataFrame
    gradient: Gradient
    concentration: Concentration


def equity_of_run(patient_measures: ibis.Table, attribution: ibis.Table, patients: ibis.Table, payments: pd.DataFrame) -> EquityResult:
    """The equity monitor over a run's patient results, attribution and ledger entries."""
    entities = entity_equity_table(entity_deprivation(attribution, patients), payments)
    strata = pd.concat([payment_strata(attribution, patients, entities, by) for by in STRATIFIERS], ignore_index=True)
    return EquityResult(
        entities,
        publishable_measure_strata(all_measure_strata(patient_measures, patients)),
        publishable_payment_strata(strata),
        payments_by_deprived_share(entities),
        payment_gradient(entities),
        penalty_concentration(entities),
    )


def equity_section(ctx, payments: pd.DataFrame):
    """The run report's equity section (`reports.html.Section`) from a run context and its ledger entries."""
    from p4pkit.reports.html import Section

    if not ctx.store.has_table("patients"):
        return Section("Equity", text="Not computed: the data hold no patients table.")
    results = ctx.patient_results.drop_columns([c for c in ("evidence_event_ids", "evidence_dates") if c in ctx.patient_results.column_names])
    # Stays Arrow (a row per patient and period; pandas would make tens of millions of strings at 10M).
    attribution = pa.concat_tables(
        [table.select(["patient_id", "entity_id"]).append_column("period", pa.repeat(period, table.num_rows)) for period, table in ctx.attribution.items()]
    )
    result = equity_of_run(ibis.memtable(results), ibis.memtable(attribution), ctx.store.table("patients"), payments)
    g, c = result.gradient, result.concentration
    text = (
        f"Net payment per patient changes by {g.slope:.2f} (95% CI {g.lower:.2f} to {g.upper:.2f}) from an entity with no patients "
        f"in the most deprived quintile to one with all ({g.entities} entities). The {c.top_fifth_entities} entities serving the most "
        f"deprived patients bear {c.penalty_share:.0%} of penalties with {c.patient_share:.0%} of patients"
        + (f" (ratio {c.ratio:.2f}; a warning at {CONCENTRATION_WARN})." if c.total_penalty > 0 else "; no entity lost money.")
    )
    return Section(
        "Equity",
        text=text,
        tables=[result.by_deprived_share.round(4), result.payment_strata_published.round(4), result.measure_strata_published.round(4)],
        note="Groups of entities by their share of patients in the most deprived quintile (1 = fewest); payment per patient by stratum; "
        "measure rates by deprivation quintile, ethnicity and social risk. Strata of 1 to 10 patients, and cells that would reveal them, are suppressed.",
    )
