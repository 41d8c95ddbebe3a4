"""The run context: everything a scoring model needs, computed once from a program file and a store.

A run follows the house plan's one-way flow: attribution (who answers for each patient), measures
(patient results in the baseline and performance periods), per-entity summaries, then the
statistical safeguards every model should see — empirical-Bayes shrinkage and reliability for
proportion measures, whether each entity clears the program's publication floors and payment
floors, and the risk adjustment or social-risk peer grouping the program file declares for each
measure. Scoring models (`programs/bindings/`) read this context and never recompute it, so every
model in a run sees the same attribution and the same measured performance.

Payment floors (`payment.min_denominator`, `payment.min_reliability`) are applied here, once, for
every model: `RunContext.measure` leaves an entity out of a measure in the performance period
when its performance denominator or reliability is below them, so no binding can pay, penalise or
rank it on that measure; `entity_measures.meets_payment_floors` records the test for every row.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from p4pkit.attribution import attribute
from p4pkit.errors import UserError
from p4pkit.measures import Period, run_measures, summarise
from p4pkit.programs.schema import Program
from p4pkit.risk.adjust import adjusted_rates, social_risk_peer_groups
from p4pkit.risk.features import patient_features, with_hcc
from p4pkit.risk.reliability import meets_publication_rules
from p4pkit.risk.shrinkage import rank_uncertainty, shrink
from p4pkit.store import Store

PERIODS = ("baseline", "performance")


@dataclass
class RunContext:
    """Attribution, patient results and entity summaries for both periods of one program."""

    program: Program
    store: Store
    periods: dict[str, Period]
    attribution: dict[str, pa.Table]
    patient_results: pa.Table
    entity_measures: pd.DataFrame
    participants: frozenset[str]

    def measure(self, measure_id: str, period: str = "performance", floors: bool = True) -> pd.DataFrame:
        """The entity summary of one measure in one period (first population group).

        In the performance period, entities below the program's payment floors are left out (with
        `floors`, the default): this is where the floors apply for every binding. Baseline rows set
        standards (thresholds, benchmarks, starting rates) and are never floored; `floors=False`
        gives every row, for inputs that are not scores (QOF registers, for instance)."""
        table = self.entity_measures
        rows = table[(table.measure_id == measure_id) & (table.period == period) & (table.group_index == 0)]
        if floors and period == "performance":
            rows = rows[rows.meets_payment_floors]
        return rows

    def below_floors(self) -> pd.DataFrame:
        """entity_id, measure_id, cases and reliability of the performance-period rows the payment
        floors leave out (first population group); empty when the program sets no floors."""
        table = self.entity_measures
        rows = table[(table.period == "performance") & (table.group_index == 0) & ~table.meets_payment_floors]
        return rows[["entity_id", "measure_id", "performance_denominator", "reliability"]].rename(columns={"performance_denominator": "cases"})

    def meets_payment_floors(self, cases: object, reliability: object = np.nan) -> np.ndarray:
        """Whether counts clear the program's payment floors; an unknown (NaN) reliability is judged on
        the denominator alone, as the publication rule judges it."""
        return _payment_floors(self.program, cases, reliability)

    def scored_rate(self, measure_id: str, period: str = "performance", shrunk: bool = False) -> pd.Series:
        """The rate a model should score, per entity: the risk-adjusted rate where the program
        adjusts the measure, else (with `shrunk`) the empirical-Bayes rate, else the observed rate."""
        rows = self.measure(measure_id, period).set_index("entity_id")
        rate = rows.adjusted_rate
        if shrunk:
            rate = rate.fillna(rows.shrunk_rate)
        return rate.fillna(rows.rate)

    @property
    def patients_attributed(self) -> int:
        """How many patients have an entity in the performance period."""
        return int(pc.sum(pc.is_valid(self.attribution["performance"]["entity_id"])).as_py() or 0)

    def attributed(self, period: str = "performance") -> pd.DataFrame:
        """Attributed patients (patient_id, entity_id) in a period.

        Filtered in Arrow before pandas: at 10M patients the unattributed majority would otherwise
        become millions of Python strings only to be dropped."""
        table = self.attribution[period]
        return table.filter(pc.is_valid(table["entity_id"])).select(["patient_id", "entity_id"]).to_pandas()


def _period(program: Program, name: str) -> Period:
    window = getattr(program.dates, name)
    return Period(window.start, window.end)


def _attribution(program: Program, store: Store, period: Period) -> pa.Table:
    rule = program.attribution.model_dump(exclude_none=True)
    name = rule.pop("rule")
    return attribute(store, name, period, **rule)


def _with_entities(results: pa.Table, attribution: pa.Table, period: str) -> pa.Table:
    """Patient results with the patient's attributed entity; unattributed patients are dropped."""
    entities = attribution.filter(pc.is_valid(attribution["entity_id"]))
    position = pc.index_in(results["patient_id"], value_set=entities["patient_id"])
    # (a lookup rather than Table.join: Arrow joins cannot carry the list-typed evidence columns)
    kept = pc.is_valid(position)
    results = results.filter(kept).append_column("entity_id", pc.take(entities["entity_id"], position.filter(kept)))
    return results.append_column("period", pa.array([period] * results.num_rows, pa.string()))


RANK_COLUMNS = ("rank_median", "rank_lower", "rank_upper", "p_worst_quartile")


def _add_shrinkage(
    summary: pd.DataFrame, min_denominator: int, min_reliability: float | None, higher_is_better: dict[str, bool]
) -> pd.DataFrame:
    """Shrunken rate, credible interval, reliability, rank uncertainty and the publication flag,
    per measure and period.

    Only proportion measures with at least two entities are shrunk; other rows keep NaN and are
    publishable on the denominator floor alone. Ranks (1 = best, in the measure's direction) come
    from posterior draws of the true rates (`risk.shrinkage.rank_uncertainty`): the median rank, its
    95% interval and the probability that the entity truly belongs in the worst quartile, the
    question a penalty on the worst quarter turns on (issue #5), in the performance period only;
    entities with no eligible patient are not ranked.
    """
    summary = summary.copy()
    for column in ("shrunk_rate", "shrunk_lower", "shrunk_upper", "reliability", *RANK_COLUMNS):
        summary[column] = np.nan
    keys = ["measure_id", "group_index", "period"]
    for (measure_id, _, period), rows in summary[summary.scoring == "proportion"].groupby(keys):
        eligible = rows.performance_denominator.to_numpy(float)
        if (eligible > 0).sum() < 2:
            continue
        fitted = shrink(rows.numerator.to_numpy(float), eligible)
        summary.loc[rows.index, "shrunk_rate"] = fitted.shrunk
        summary.loc[rows.index, "shrunk_lower"] = fitted.lower
        summary.loc[rows.index, "shrunk_upper"] = fitted.upper
        summary.loc[rows.index, "reliability"] = fitted.reliability
        if period != "performance":  # ranks answer who is paid or penalised, which only the performance period decides
            continue
        ranked = rows[eligible > 0]
        ranks = rank_uncertainty(ranked.numerator.to_numpy(float), ranked.performance_denominator.to_numpy(float),
                                 higher_is_better.get(measure_id, True), prior=fitted.prior)
        # Fewer than four ranked entities have no worst quartile: no probability of being in it.
        worst = ranks.prob_worst_quartile if len(ranked) >= 4 else np.full(len(ranked), np.nan)
        for column, values in zip(RANK_COLUMNS, (ranks.median_rank, ranks.rank_lower, ranks.rank_upper, worst)):
            summary.loc[ranked.index, column] = values
    reliability = summary.reliability.fillna(1.0).to_numpy()
    summary["publishable"] = meets_publication_rules(
        summary.performance_denominator.to_numpy(), reliability, min_denominator, min_reliability or 0.0
    )
    return summary


def _payment_floors(program: Program, cases: object, reliability: object) -> np.ndarray:
    payment = program.payment
    reliability = np.nan_to_num(np.asarray(reliability, dtype=float), nan=1.0)
    return meets_publication_rules(np.asarray(cases), reliability, payment.min_denominator or 0, payment.min_reliability or 0.0)


def check_peer_groups(groups: int, entities: int, where: str) -> None:
    """Refuse more social-risk peer groups than entities: some groups would be empty and every entity its own peer."""
    if groups > entities:
        raise UserError(
            f"{where}: {groups} social-risk peer groups for {entities} entities",
            hint=f"Give social_risk.peer_groups at most {entities} (better, few enough that each group holds several entities).",
        )


def _eligible(results: pa.Table, measure_id: str, period: str) -> pd.DataFrame:
    """Eligible patients of a measure's first group in a period, with the 0/1 outcome."""
    rows = results.filter(
        pc.and_(pc.and_(pc.equal(results["measure_id"], measure_id), pc.equal(results["group_index"], 0)), pc.equal(results["period"], period))
    )
    frame = rows.select(["patient_id", "entity_id", "denominator", "denominator_exclusion", "denominator_exception", "numerator", "scoring", "numerator_value"]).to_pandas()
    frame = frame[(frame.denominator == 1) & (frame.denominator_exclusion == 0) & (frame.denominator_exception == 0)]
    return frame.assign(outcome=frame.numerator.astype(int))[["patient_id", "entity_id", "outcome", "scoring", "numerator_value"]]


def _risk_adjust(program: Program, store: Store, periods: dict[str, Period], results: pa.Table, attribution: dict[str, pa.Table], summary: pd.DataFrame) -> pd.DataFrame:
    """Add the adjusted rates and peer groups each measure's program entry asks for.

    Only measures with a 0/1 outcome per eligible patient are adjusted; a measure scored on
    observations (counts, amounts) keeps its unadjusted rate and says so in `adjustment`.
    """
    summary = summary.copy()
    for column in ("expected", "adjusted_ratio", "adjusted_rate", "adjusted_lower", "adjusted_upper", "social_risk_share"):
        summary[column] = np.nan
    summary["peer_group"] = pd.array([pd.NA] * len(summary), dtype="Int64")
    summary["adjustment"] = "none"
    features: dict[str, pd.DataFrame] = {}
    for measure in program.measures:
        method, social = measure.risk_adjustment.method, measure.social_risk
        covariates = measure.model_covariates  # checked when the program file was loaded
        adjusting = bool(covariates)
        if not adjusting and social.adjustment != "peer_grouping":
            continue
        for name, period in periods.items():
            if name not in features:
                features[name] = patient_features(store, period.end)
            if "hcc" in covariates and "hcc" not in features[name]:
                features[name] = with_hcc(store, features[name], period.start, period.end)
            where = (summary.measure_id == measure.id) & (summary.period == name) & (summary.group_index == 0)
            if social.adjustment == "peer_grouping":
                people = attribution[name].select(["patient_id", "entity_id"]).to_pandas().dropna()
                check_peer_groups(social.peer_groups, people.entity_id.nunique(), f"measure {measure.id} ({name} period)")
                groups = social_risk_peer_groups(people, features[name], social.peer_groups).set_index("entity_id")
                entities = summary.loc[where, "entity_id"]
                summary.loc[where, "peer_group"] = entities.map(groups.peer_group).astype("Int64").to_numpy()
                summary.loc[where, "social_risk_share"] = entities.map(groups.social_risk_share).to_numpy()
            if not adjusting:
                continue
            eligible = _eligible(results, measure.id, name)
            if eligible.empty or eligible.numerator_value.notna().any():
                summary.loc[where, "adjustment"] = "not adjusted: no 0/1 outcome per patient"
                continue
            table = adjusted_rates(eligible, features[name], method, covariates).set_index("entity_id")
            entities = summary.loc[where, "entity_id"]
            for column in ("expected", "adjusted_ratio", "adjusted_rate", "adjusted_lower", "adjusted_upper"):
                summary.loc[where, column] = entities.map(table[column]).to_numpy()
            summary.loc[where, "adjustment"] = f"{method} on {', '.join(covariates) or 'no covariates'}"
    return summary


def build_context(program: Program, store: Store) -> RunContext:
    """Attribute, measure and summarise both periods of `program` over `store`."""
    measure_ids = [m.id for m in program.measures]
    periods = {name: _period(program, name) for name in PERIODS}
    attribution, parts = {}, []
    for name, period in periods.items():
        attribution[name] = _attribution(program, store, period)
        results = run_measures(store, measure_ids, period)
        parts.append(_with_entities(results, attribution[name], name))
    patient_results = pa.concat_tables(parts)
    if patient_results.num_rows == 0:
        raise UserError(
            f"program '{program.id}' measured nobody",
            hint="Check that the data cover the baseline and performance periods and that attribution assigns patients.",
        )
    summary = summarise(patient_results, by=["entity_id", "period"]).to_pandas()
    directions = {m.id: m.direction == "higher_is_better" for m in program.measures}
    entity_measures = _add_shrinkage(summary, program.publication.min_denominator, program.publication.min_reliability, directions)
    entity_measures = _risk_adjust(program, store, periods, patient_results, attribution, entity_measures)
    entity_measures["meets_payment_floors"] = _payment_floors(program, entity_measures.performance_denominator, entity_measures.reliability)
    attributed = set(attribution["performance"]["entity_id"].drop_null().to_pylist())
    listed = program.participants.entities
    participants = frozenset(attributed if listed is None else set(listed) & attributed)
    return RunContext(program, store, periods, attribution, patient_results, entity_measures, participants)

