"""Run measures over a store: the long patient x measure x group results table.

`run_measures` computes each building block of the requested measures once (a temporary table on
DuckDB, a checkpoint on Spark) and then one query per population group over those blocks. Each row
is one patient in a group's initial population,
with 0/1 population memberships nested as eCQM proportion scoring nests them (see
`definition.Group`), the first matching exclusion/exception reason in declaration order, and the
evidence (event and encounter ids with their dates) behind the decisive population.

Measures that observe a number per patient (ratio, continuous-variable, episode-counted outcome;
see `definition.Group`) also fill `numerator_value` (the numerator observation, for patients in
the denominator and not excluded; 0 when nothing was observed) and `denominator_value` (the
denominator observation, for patients in the performance denominator). Both are null for
proportion measures. `scoring` and `rate_multiplier` repeat the measure's metadata on every row so
`summary.summarise` can score the long table on its own.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from pathlib import Path

import ibis
import pyarrow as pa

from p4pkit.errors import UserError
from p4pkit.measures.criteria import EVIDENCE, Criterion, stacked
from p4pkit.measures.definition import Group, Measure
from p4pkit.measures.observations import Observation, observed
from p4pkit.measures.timing import Period
from p4pkit.model import valuesets
from p4pkit.progress import Progress, quiet
from p4pkit.store import Store

RESULTS_SCHEMA = pa.schema(
    [
        pa.field("measure_id", pa.string(), nullable=False),
        pa.field("group_index", pa.int32(), nullable=False),
        pa.field("patient_id", pa.string(), nullable=False),
        pa.field("period_start", pa.date32(), nullable=False),
        pa.field("period_end", pa.date32(), nullable=False),
        pa.field("initial_population", pa.int8(), nullable=False),
        pa.field("denominator", pa.int8(), nullable=False),
        pa.field("denominator_exclusion", pa.int8(), nullable=False),
        pa.field("denominator_exception", pa.int8(), nullable=False),
        pa.field("numerator", pa.int8(), nullable=False),
        pa.field("exclusion_reason", pa.string()),
        pa.field("exception_reason", pa.string()),
        pa.field("evidence_event_ids", pa.list_(pa.string()), nullable=False),
        pa.field("evidence_dates", pa.list_(pa.date32()), nullable=False),
        pa.field("scoring", pa.string(), nullable=False),
        pa.field("numerator_value", pa.float64()),
        pa.field("denominator_value", pa.float64()),
        pa.field("rate_multiplier", pa.float64(), nullable=False),
    ]
)


class CompileContext:
    """What criteria compile against: the period, the canonical tables as Ibis expressions, and a
    cache so a building block shared by several measures becomes one sub-expression."""

    def __init__(
        self, store: Store, period: Period, valueset_dir: str | Path | None = None, *, materialise: bool = False
    ):
        for name in ("patients", "events", "encounters"):
            if not store.has_table(name):
                raise UserError(f"the store has no '{name}' table", hint="Load canonical tables first (p4p load).")
        self.period = period
        self._store = store
        self.patients = store.table("patients")
        self.events = store.table("events")
        self.encounters = store.table("encounters")
        # Value sets: the store's table when the user loaded one (`model.valuesets.load_valuesets`),
        # else the packaged ones in memory, so a run never writes to the store it reads; a
        # `valueset_dir` adds to or overrides the packaged value sets.
        if valueset_dir is None and store.has_table(valuesets.TABLE):
            self.valuesets = store.table(valuesets.TABLE)
        else:
            self.valuesets = ibis.memtable(valuesets.valueset_table(valueset_dir))
        self._cache: dict[Criterion, ibis.Table] = {}
        self._reused: dict[object, ibis.Table] = {}
        self._materialise = materialise
        self._scratch: list[str] = []

    def table(self, name: str) -> ibis.Table:
        """Another canonical table (enrollments, claim_lines), for measures that need it."""
        if not self._store.has_table(name):
            raise UserError(f"the store has no '{name}' table", hint="Load canonical tables first (p4p load).")
        return self._store.table(name)

    def cached(self, criterion: object, build: Callable[[], ibis.Table]) -> ibis.Table:
        """One sub-expression per building block (criterion, observation or other frozen key),
        computed once (`computed_once`)."""
        if criterion not in self._cache:
            self._cache[criterion] = self.computed_once(build())
        return self._cache[criterion]

    def computed_once(self, table: ibis.Table) -> ibis.Table:
        """`table` as a relation later queries read without recomputing it. On Spark always
        (`Store.materialise`): Spark inlines every use of an expression into one plan tree, and
        planning the inlined tree of a single eCQM took minutes; over materialised blocks it takes
        seconds. On DuckDB with `materialise=True` (a temporary table), else the expression itself."""
        if self._store.engine == "spark":
            return self._store.materialise(table)
        return self._materialised(table) if self._materialise else table

    def reused(self, key: object, build: Callable[[], ibis.Table]) -> ibis.Table:
        """The same expression for an equal source or timed source, built once per context
        (building Ibis expressions costs time too; these are not materialised)."""
        if key not in self._reused:
            self._reused[key] = build()
        return self._reused[key]

    def _materialised(self, table: ibis.Table) -> ibis.Table:
        """DuckDB, `materialise=True`: the block computed once into a temporary table. Ibis's SQL
        compiler rewrites a graph in time that grows much faster than the graph (merging nested
        selects scores each candidate over its whole subtree), so one expression holding every
        measure took longer to compile than to run; blocks that later blocks and groups read as
        plain tables keep every compiled query small, and a block shared by measures runs once."""
        name = f"p4p_block_{uuid.uuid4().hex}"
        created = self._store.backend.create_table(name, table, temp=True)
        self._scratch.append(name)
        return created

    def release(self) -> None:
        """Drop the temporary tables of materialised blocks (the names need no quoting)."""
        while self._scratch:
            self._store.backend.raw_sql(f"DROP TABLE IF EXISTS {self._scratch.pop()}")


def _member(table: ibis.Table, criterion: Criterion, ctx: CompileContext) -> ibis.Value:
    return table.patient_id.isin(criterion.members(ctx).patient_id)


def _first_reason(table: ibis.Table, reasoned, ctx: CompileContext) -> ibis.Value:
    if not reasoned:
        return ibis.null("string")
    return ibis.cases(*[(_member(table, r.criterion, ctx), r.reason) for r in reasoned], else_=ibis.null("string"))


def _with_observation(table: ibis.Table, observation: Observation | None, name: str, ctx: CompileContext) -> ibis.Table:
    """`table` with column `name`: the patient's observed value (0 when none), null without an observation."""
    if observation is None:
        return table.mutate(**{name: ibis.null("float64")})
    values = observed(observation, ctx).rename(o_patient="patient_id")
    joined = table.left_join(values, table.patient_id == values.o_patient)
    return joined.mutate(**{name: joined.value.fill_null(0.0)}).drop("o_patient", "value")


def _group_results(measure: Measure, index: int, group: Group, ctx: CompileContext) -> ibis.Table:
    """Population flags, reasons and evidence for one group (rows: its initial population)."""
    ip = ctx.patients.select("patient_id").semi_join(group.initial_population.members(ctx), "patient_id")
    den = _member(ip, group.denominator, ctx) if group.denominator is not None else ibis.literal(True)
    flags = ip.mutate(den=den)
    flags = flags.mutate(excl_reason=ibis.ifelse(flags.den, _first_reason(flags, group.exclusions, ctx), None))
    flags = flags.mutate(excl=flags.excl_reason.notnull())
    flags = flags.mutate(num=flags.den & ~flags.excl & _member(flags, group.numerator, ctx))
    flags = flags.mutate(
        exc_reason=ibis.ifelse(flags.den & ~flags.excl & ~flags.num, _first_reason(flags, group.exceptions, ctx), None)
    )
    flags = flags.mutate(exc=flags.exc_reason.notnull())
    flags = flags.mutate(
        decisive=ibis.cases(
            (flags.excl, "exclusion"), (flags.num, "numerator"), (flags.exc, "exception"), else_="initial_population"
        )
    )
    # The flags are read once per role below and again for the output: computed once.
    flags = ctx.computed_once(flags)
    roles = [("initial_population", group.initial_population), ("numerator", group.numerator)]
    roles += [("exclusion", r.criterion) for r in group.exclusions] + [("exception", r.criterion) for r in group.exceptions]
    found = []
    for role, criterion in roles:
        decided = flags.filter(flags.decisive == role).select("patient_id")
        rows = criterion.evidence_for(ctx, decided)
        if rows is not None:
            found.append(rows)
    if not found:  # every population is a fact about the patient (age, enrollment): no events
        found.append(ctx.patients.select("patient_id", event_id=ibis.null("string"), event_date=ibis.null("date")).cast(EVIDENCE).limit(0))
    kept = stacked(found)
    kept = kept.filter(kept.event_id.notnull()).select("patient_id", "event_id", "event_date").distinct()
    # Evidence in (date, id) order: sorting collected (date, id) structs instead of an ordered
    # collect, which Spark cannot compile; both engines order structs field by field.
    pairs = kept.group_by("patient_id").aggregate(
        pairs=ibis.struct({"day": kept.event_date, "id": kept.event_id}).collect().sort()
    )
    lists = pairs.select(
        l_patient=pairs.patient_id,
        evidence_event_ids=pairs.pairs.map(lambda p: p.id),
        evidence_dates=pairs.pairs.map(lambda p: p.day),
    )
    joined = flags.left_join(lists, flags.patient_id == lists.l_patient)
    joined = _with_observation(joined, group.numerator_observation, "num_value", ctx)
    joined = _with_observation(joined, group.denominator_observation, "den_value", ctx)
    counted = joined.den & ~joined.excl
    as_int = lambda flag: flag.cast("int8")  # noqa: E731
    return joined.select(
        measure_id=ibis.literal(measure.id),
        group_index=ibis.literal(index, "int32"),
        patient_id=joined.patient_id,
        period_start=ibis.date(ctx.period.start),
        period_end=ibis.date(ctx.period.end),
        initial_population=ibis.literal(1, "int8"),
        denominator=as_int(joined.den),
        denominator_exclusion=as_int(joined.excl),
        denominator_exception=as_int(joined.exc),
        numerator=as_int(joined.num),
        exclusion_reason=joined.excl_reason,
        exception_reason=joined.exc_reason,
        # Patients without evidence get empty lists in the query itself (no pass over the result).
        evidence_event_ids=joined.evidence_event_ids.fill_null(ibis.literal([], type="array<string>")),
        evidence_dates=joined.evidence_dates.fill_null(ibis.literal([], type="array<date>")),
        scoring=ibis.literal(measure.scoring),
        numerator_value=ibis.ifelse(counted, joined.num_value, ibis.null("float64")),
        denominator_value=ibis.ifelse(counted & ~joined.exc, joined.den_value, ibis.null("float64")),
        rate_multiplier=ibis.literal(measure.rate_multiplier, "float64"),
    )


def resolve_measures(measure_ids: Iterable[str | Measure]) -> list[Measure]:
    """Library measures by id (case-insensitive) or `Measure` objects as given, each once (a measure
    named twice would count every patient twice); an unknown id is a user mistake naming the known
    ones."""
    from p4pkit.measures.library import LIBRARY

    resolved: dict[str, Measure] = {}
    for item in measure_ids:
        if isinstance(item, Measure):
            measure = item
        elif item.strip().upper() in LIBRARY:
            measure = LIBRARY[item.strip().upper()]
        else:
            raise UserError(f"unknown measure '{item}'", hint=f"Known measures: {', '.join(sorted(LIBRARY))}.")
        if resolved.setdefault(measure.id, measure) is not measure:
            raise UserError(f"two different measures have the id '{measure.id}'", hint="Give each measure its own id.")
    return list(resolved.values())


def run_measures(
    store: Store,
    measure_ids: Iterable[str | Measure],
    period: Period | str,
    valueset_dir: str | Path | None = None,
    on_progress: Progress = quiet,
) -> pa.Table:
    """The long patient x measure x group table (schema `RESULTS_SCHEMA`), one row per patient in
    each group's initial population. `measure_ids` names library measures ("CMS122") or passes
    `Measure` objects; `valueset_dir` adds or overrides value sets for this run. The store is only
    read. `on_progress(step, done, total)` is called before each population group (a group builds
    the blocks it needs, so the groups are the run's units of work) and once at the end."""
    if isinstance(period, str):
        period = Period.parse(period)
    measures = resolve_measures(measure_ids)
    ctx = CompileContext(store, period, valueset_dir, materialise=True)
    try:
        # Rows in (measure_id, group_index, patient_id) order: groups in that order here, each
        # group's rows sorted by patient in its own query. Sorting one union of every group on
        # three keys moved every row's evidence lists through one large sort; per group the
        # sorts are smaller and so are the queries Ibis compiles.
        groups = sorted(((m.id, i, g, m) for m in measures for i, g in enumerate(m.groups)), key=lambda p: p[:2])
        tables = []
        for done, (measure_id, i, g, m) in enumerate(groups):
            on_progress(f"{measure_id} group {i}", done, len(groups))  # group_index, as the results and summaries number groups
            tables.append(store.backend.to_pyarrow(_group_results(m, i, g, ctx).order_by("patient_id")).cast(RESULTS_SCHEMA))
        on_progress("measures done", len(groups), len(groups))
    finally:
        ctx.release()
    return pa.concat_tables(tables) if tables else RESULTS_SCHEMA.empty_table()
