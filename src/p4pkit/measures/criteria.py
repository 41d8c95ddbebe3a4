"""Criteria: the typed building blocks of a measure, each compiled to an Ibis "evidence" table.

A criterion has two views, both Ibis tables any backend runs:

- `members(ctx)`: the patients who meet it (`patient_id`; a leaf's may repeat). Population flags need only
  this, so `and`/`or`/`not` are set operations on patient sets (semi joins, distinct unions, anti
  joins) and never copy their parts' event rows.
- `evidence_for(ctx, patients)`: rows (patient_id, event_id, event_date), the events that show the
  criterion for the given patients among its members. The runner asks for it only for each
  patient's decisive population, so evidence is gathered once, at the end, for the rows reported.

A leaf criterion (one timed source and a test on its rows) compiles its evidence for everyone
(`compile`, computed once per run) and its members are the patients in that evidence; a fact about
the patient (age, sex, `not`) has members but no events, so no evidence.

The timing relations are the eCQM (CQL) interval operators at day precision, on closed intervals
[start_date, end_date] (CQL "Interval[...]" with "day of"):

- during W:          start >= W.start and end <= W.end        (CQL `during day of`)
- overlaps W:        start <= W.end and end >= W.start         (CQL `overlaps day of`)
- starts during W:   W.start <= start <= W.end                 (CQL `starts during day of`)
- ends during W:     W.start <= end <= W.end                   (CQL `ends during day of`)
- starts by A:       start <= A                                (CQL `starts on or before end of`)
- ends by A:         end <= A                                  (CQL `ends on or before end of`)
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Protocol

import ibis

from p4pkit.measures.sources import OPEN_END, Events, coded
from p4pkit.measures.timing import END, MEASUREMENT_PERIOD, Anchor, Window, age_in_years_at

EVIDENCE = ibis.schema({"patient_id": "string", "event_id": "string", "event_date": "date"})
RELATIONS = ("during", "overlaps", "starts_during", "ends_during", "starts_by", "ends_by")


class Source(Protocol):
    def rows(self, ctx) -> ibis.Table: ...


class Criterion:
    """Base of every building block. The defaults serve a leaf: `compile` gives the evidence rows
    of every patient who meets it, cached per context (`evidence`), so a block shared by several
    measures (hospice, frailty) computes once per run; its members and the evidence of chosen
    patients are read from those rows. Patient facts and and/or/not override `members` and
    `evidence_for` instead."""

    def compile(self, ctx) -> ibis.Table:
        raise NotImplementedError

    def evidence(self, ctx) -> ibis.Table:
        return ctx.cached(self, lambda: self.compile(ctx))

    def members(self, ctx) -> ibis.Table:
        """The patients who meet the criterion (a patient may repeat: callers test membership)."""
        return self.evidence(ctx).select("patient_id")

    def evidence_for(self, ctx, patients: ibis.Table) -> ibis.Table | None:
        """Evidence rows of `patients` (a table with `patient_id`) who meet the criterion; None
        when the criterion never has events."""
        return self.evidence(ctx).semi_join(patients, "patient_id")

    def __and__(self, other: Criterion) -> Criterion:
        return AllOf((self, other))

    def __or__(self, other: Criterion) -> Criterion:
        return AnyOf((self, other))

    def __invert__(self) -> Criterion:
        return Not(self)


def _evidence(table: ibis.Table, date_column: str = "end_date") -> ibis.Table:
    """Evidence rows dated by `date_column`; an interval still open (an active condition's runs to
    the far end of time, `sources.OPEN_END`) is dated by its start, the day a reader can check."""
    day = table[date_column]
    if date_column == "end_date":
        day = ibis.ifelse(day == ibis.date(OPEN_END), table.start_date, day)
    return table.select("patient_id", "event_id", event_date=day).cast(EVIDENCE)


class PatientFact(Criterion):
    """A criterion about the patient, not their events (age, sex, `not`): `who(ctx)` gives the
    patients who meet it; it has no evidence events. Not cached: a filter or anti join of the
    patients table costs less to repeat than to store."""

    def who(self, ctx) -> ibis.Table:
        raise NotImplementedError

    def members(self, ctx) -> ibis.Table:
        return self.who(ctx).select("patient_id")

    def evidence_for(self, ctx, patients: ibis.Table) -> None:
        return None


def stacked(tables: list[ibis.Table]) -> ibis.Table:
    """The union (all rows) of one or more tables of the same columns."""
    result = tables[0]
    for table in tables[1:]:
        result = result.union(table, distinct=False)
    return result


def _evidence_of(parts, ctx, patients: ibis.Table) -> ibis.Table | None:
    found = [e for e in (part.evidence_for(ctx, patients) for part in parts) if e is not None]
    return stacked(found) if found else None


@dataclass(frozen=True)
class Timed:
    """Rows of a source that stand in one timing relation to a window (or, for `starts_by` and
    `ends_by`, to an anchor day)."""

    source: Source
    relation: str = "during"
    window: Window = MEASUREMENT_PERIOD
    anchor: Anchor = END

    def rows(self, ctx) -> ibis.Table:
        return ctx.reused(self, lambda: self._rows(ctx))

    def _rows(self, ctx) -> ibis.Table:
        rows = self.source.rows(ctx)
        lo, hi = (ibis.date(d) for d in self.window.resolve(ctx.period))
        day = ibis.date(self.anchor.resolve(ctx.period))
        start, end = rows.start_date, rows.end_date
        conditions = {
            "during": (start >= lo) & (end <= hi),
            "overlaps": (start <= hi) & (end >= lo),
            "starts_during": (start >= lo) & (start <= hi),
            "ends_during": (end >= lo) & (end <= hi),
            "starts_by": start <= day,
            "ends_by": end <= day,
        }
        if self.relation not in conditions:
            raise ValueError(f"unknown timing relation {self.relation!r}; use one of {RELATIONS}")
        return rows.filter(conditions[self.relation])


@dataclass(frozen=True)
class Exists(Criterion):
    """At least one row of a timed source (CQL `exists`)."""

    rows: Timed

    def compile(self, ctx) -> ibis.Table:
        return _evidence(self.rows.rows(ctx))


@dataclass(frozen=True)
class AtLeast(Criterion):
    """At least `n` distinct rows (CQL `Count(...) >= n`, e.g. two qualifying visits)."""

    n: int
    rows: Timed

    def compile(self, ctx) -> ibis.Table:
        rows = self.rows.rows(ctx)
        counts = rows.group_by("patient_id").aggregate(n_rows=rows.event_id.nunique())
        enough = counts.filter(counts.n_rows >= self.n)
        return _evidence(rows.semi_join(enough, "patient_id"))


def _most_recent(rows: ibis.Table, order: str) -> ibis.Table:
    """The last row per patient by `order` date (ties broken by event id, for repeatability)."""
    window = ibis.window(group_by="patient_id", order_by=[ibis.desc(order), ibis.desc("event_id")])
    ranked = rows.mutate(recency=ibis.row_number().over(window))
    return ranked.filter(ranked.recency == 0).drop("recency")


@dataclass(frozen=True)
class MostRecent(Criterion):
    """The patient's most recent row (CQL `Last(... sort by ...)`) meets a value condition.

    `order` is the date the spec sorts by ("start_date" for `sort by start of effective`,
    "end_date" for `effective.latest()`); the value must be coded in `value_in` (value set OIDs)
    or equal one of `value_codes`.
    """

    rows: Timed
    order: str = "start_date"
    value_in: tuple[str, ...] = ()
    value_codes: tuple[tuple[str, str], ...] = ()

    def compile(self, ctx) -> ibis.Table:
        last = _most_recent(self.rows.rows(ctx), self.order)
        if self.value_in or self.value_codes:
            last = coded(ctx, last, "value_code_system", "value_code", self.value_in, self.value_codes)
        return _evidence(last, self.order)


@dataclass(frozen=True)
class LowestOnMostRecentDay(Criterion):
    """The lowest numeric reading on the most recent day with a reading, compared to a threshold.

    As the eCQMs define it (CMS122 "Lowest Glycemic Status Assessment Reading on Most Recent Day",
    CMS165 "Lowest Systolic Reading on Most Recent Blood Pressure Day"): the most recent day is the
    latest `end_date` among the rows, restricted to days that also have a row in each of
    `same_day_as` (CMS165's systolic and diastolic readings must share the day); then the lowest
    value that day is compared with `threshold` using `op` ("<", "<=", ">" or ">="; QOF targets
    such as "58 mmol/mol or less" are inclusive). Readings without a numeric
    value sort lowest (CQL sorts nulls first, and `value as Quantity` is null for a coded value):
    a reading with no value at all on the most recent day meets the criterion when
    `missing_counts` (CMS122 "without result") and fails it otherwise; a coded value (no number)
    fails any numeric comparison.
    """

    rows: Timed
    op: str
    threshold: float
    same_day_as: tuple[Timed, ...] = ()
    missing_counts: bool = False

    def compile(self, ctx) -> ibis.Table:
        # The rows of the most recent day do not depend on the threshold, so measures comparing
        # the same readings with different thresholds (CMS165, QOF, MNCM blood pressure) share them.
        on_day = ctx.cached(_MostRecentDay(self.rows, self.same_day_as), lambda: self._on_most_recent_day(ctx))
        summary = on_day.group_by("patient_id").aggregate(
            lowest=on_day.value_num.min(),
            missing=(on_day.value_num.isnull() & on_day.value_code.isnull()).any(),
            not_numeric=on_day.value_num.isnull().any(),
        )
        compare = {
            "<": summary.lowest < self.threshold,
            "<=": summary.lowest <= self.threshold,
            ">": summary.lowest > self.threshold,
            ">=": summary.lowest >= self.threshold,
        }
        if self.op not in compare:
            raise ValueError(f"op must be one of {sorted(compare)}, not {self.op!r}")
        met = ibis.cases(
            (summary.missing, self.missing_counts), (summary.not_numeric, False), else_=compare[self.op].fill_null(False)
        )
        passing = summary.filter(met)
        return _evidence(on_day.semi_join(passing, "patient_id"))

    def _on_most_recent_day(self, ctx) -> ibis.Table:
        rows = _readings(self.rows, ctx)
        days = rows.select("patient_id", day=rows.end_date)
        for other in self.same_day_as:
            theirs = _readings(other, ctx)
            days = days.semi_join(theirs, [days.patient_id == theirs.patient_id, days.day == theirs.end_date])
        latest = days.group_by("patient_id").aggregate(recent_day=days.day.max())
        on_day = rows.join(latest, [rows.patient_id == latest.patient_id, rows.end_date == latest.recent_day])
        return on_day.select(*rows.columns)


def _readings(timed: Timed, ctx) -> ibis.Table:
    """The rows of a timed source computed once per run: paired readings (systolic and diastolic)
    are each read by both of the pair's most-recent-day blocks, and their sources can be costly
    (CMS165 drops readings taken in acute stays by joining encounters)."""
    return ctx.cached(_Readings(timed), lambda: timed.rows(ctx))


@dataclass(frozen=True)
class _Readings:
    """Cache key of a timed source's rows (see `_readings`)."""

    rows: Timed


@dataclass(frozen=True)
class _MostRecentDay:
    """Cache key of the rows on a patient's most recent day (see `LowestOnMostRecentDay`)."""

    rows: Timed
    same_day_as: tuple[Timed, ...]


@dataclass(frozen=True)
class LatestAfter(Criterion):
    """The patient's latest row of `rows` is later than their latest row of `unless`, or they have
    no `unless` row at all: the QOF register rule "latest diagnosis code after the latest resolved
    code" (NHS England QOF business rules, register rulesets), where a later re-diagnosis puts a
    resolved patient back on the register."""

    rows: Timed
    unless: Timed

    def compile(self, ctx) -> ibis.Table:
        rows = self.rows.rows(ctx)
        latest = rows.group_by("patient_id").aggregate(last=rows.start_date.max())
        undone = self.unless.rows(ctx)
        cancelled = undone.group_by("patient_id").aggregate(cancelled=undone.start_date.max()).rename(u_patient="patient_id")
        both = latest.left_join(cancelled, latest.patient_id == cancelled.u_patient)
        current = both.filter(both.cancelled.isnull() | (both.last > both.cancelled))
        return _evidence(rows.semi_join(current, "patient_id"))


@dataclass(frozen=True)
class CumulativeDays(Criterion):
    """At least `days` distinct days covered by the rows' intervals inside the window
    (CumulativeMedicationDuration: overlapping supply periods are collapsed, not double counted,
    before the covered days are summed)."""

    rows: Timed
    days: int
    window: Window = MEASUREMENT_PERIOD

    def compile(self, ctx) -> ibis.Table:
        rows = self.rows.rows(ctx)
        lo, hi = (ibis.date(d) for d in self.window.resolve(ctx.period))
        clipped = rows.mutate(
            s=ibis.greatest(rows.start_date, lo), e=ibis.least(rows.end_date, hi)
        ).filter(lambda t: t.s <= t.e)
        order = ["s", "e", "event_id"]
        upto = ibis.window(group_by="patient_id", order_by=order, preceding=None, following=0)
        # Gaps and islands: a row opens a new island when it starts after every earlier row ended.
        reached = clipped.mutate(upto=clipped.e.max().over(upto))
        reached = reached.mutate(before=reached.upto.lag().over(group_by="patient_id", order_by=order))
        islands = reached.mutate(opens=(reached.before.isnull() | (reached.s > reached.before)).cast("int64"))
        numbered = islands.mutate(island=islands.opens.sum().over(upto))
        spans = numbered.group_by(["patient_id", "island"]).aggregate(s=numbered.s.min(), e=numbered.e.max())
        spans = spans.mutate(covered=(spans.e.delta(spans.s, unit="day") + 1))
        totals = spans.group_by("patient_id").aggregate(covered=spans.covered.sum())
        enough = totals.filter(totals.covered >= self.days)
        return _evidence(rows.semi_join(enough, "patient_id"))


@dataclass(frozen=True)
class AgeAt(PatientFact):
    """Age in whole years on an anchor day is within [low, high] (CQL `AgeInYearsAt(date from
    end of "Measurement Period")`: birthdays not yet reached that year do not count)."""

    low: int = 0
    high: int = 200
    anchor: Anchor = END

    def who(self, ctx) -> ibis.Table:
        p = ctx.patients
        age = age_in_years_at(p.birth_date, self.anchor.resolve(ctx.period))
        return p.filter((age >= self.low) & (age <= self.high))


@dataclass(frozen=True)
class SexIs(PatientFact):
    """Administrative sex (canonical vocabulary: female, male, other, unknown)."""

    sex: str

    def who(self, ctx) -> ibis.Table:
        p = ctx.patients
        return p.filter(p.sex == self.sex)


@dataclass(frozen=True)
class AnyOf(Criterion):
    """Meets at least one (CQL `or`); evidence from every part met."""

    parts: tuple[Criterion, ...]

    def members(self, ctx) -> ibis.Table:
        return ctx.cached(_Members(self), lambda: stacked([part.members(ctx) for part in self.parts]).distinct())

    def evidence_for(self, ctx, patients: ibis.Table) -> ibis.Table | None:
        return _evidence_of(self.parts, ctx, patients)


@dataclass(frozen=True)
class AllOf(Criterion):
    """Meets every part (CQL `and`); evidence from all parts."""

    parts: tuple[Criterion, ...]

    def members(self, ctx) -> ibis.Table:
        def build() -> ibis.Table:
            everyone = self.parts[0].members(ctx)
            for part in self.parts[1:]:
                everyone = everyone.semi_join(part.members(ctx), "patient_id")
            return everyone.distinct()

        return ctx.cached(_Members(self), build)

    def evidence_for(self, ctx, patients: ibis.Table) -> ibis.Table | None:
        return _evidence_of(self.parts, ctx, patients.semi_join(self.members(ctx), "patient_id"))


@dataclass(frozen=True)
class Not(PatientFact):
    """Does not meet the part (CQL `not exists`)."""

    part: Criterion

    def who(self, ctx) -> ibis.Table:
        return ctx.patients.anti_join(self.part.members(ctx), "patient_id")


@dataclass(frozen=True)
class _Members:
    """Cache key of a composite criterion's patient set (see `AnyOf`, `AllOf`)."""

    criterion: Criterion


@dataclass(frozen=True)
class NotDone(Criterion):
    """A "not done" record with an accepted reason, in time: QI-Core negation rationale (the
    event's `negated` flag with a negation reason coded in one of `reasons`), e.g. a denominator
    exception for a screening not performed for a medical reason."""

    rows: Timed
    reasons: tuple[str, ...]

    def compile(self, ctx) -> ibis.Table:
        if not isinstance(self.rows.source, Events):
            raise TypeError("NotDone needs an Events source: only events record negation")
        negated = replace(self.rows.source, negated=True, negation_reasons=self.reasons)
        return _evidence(replace(self.rows, source=negated).rows(ctx))
