"""Observations: a number per patient (FHIR `measure-observation`), for measures that are not shares
of patients.

Ratio measures (ED visits per 1,000 member-years), continuous-variable measures (cost per member
per month) and outcome measures counted in episodes (readmitted index stays) sum a numerator
observation and a denominator observation over patients. Each observation compiles to an Ibis
table (patient_id, value) with at most one row per patient; a patient without a row observes 0.

Member time follows the HEDIS "member months" convention (NCQA HEDIS General Guidelines, member
months and years): a member counts one month for each calendar month of the period in which the
member is enrolled on the first day of the month (the snapshot day), and a member-year is twelve
member-months. A month is counted once however many overlapping enrollments cover it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Protocol

import ibis

from p4pkit.measures.criteria import PatientFact, Timed
from p4pkit.measures.sources import OPEN_END

VALUES = ibis.schema({"patient_id": "string", "value": "float64"})


class Observation(Protocol):
    def values(self, ctx) -> ibis.Table: ...


def observed(observation: Observation, ctx) -> ibis.Table:
    """The observation's (patient_id, value) table, compiled once per run."""
    return ctx.cached(observation, lambda: observation.values(ctx).cast(VALUES))


def month_starts(start: date, end: date) -> list[date]:
    """The first days of the calendar months that begin inside [start, end]."""
    first = date(start.year, start.month, 1)
    if first < start:
        first = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    days = []
    while first <= end:
        days.append(first)
        first = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return days


def _month_number(day: ibis.DateValue) -> ibis.IntegerValue:
    """Months since year 0 (consecutive calendar months differ by one)."""
    return day.year().cast("int64") * 12 + day.month().cast("int64") - 1


@dataclass(frozen=True)
class MemberMonths:
    """Member-months in the measurement period from `enrollments` of the given kinds ("payer" for
    health-plan members, "practice_list" for registered patients), divided by `per` (12 gives
    member-years)."""

    kinds: tuple[str, ...] = ("payer",)
    per: float = 1.0

    def values(self, ctx) -> ibis.Table:
        if self.per != 1.0:
            # Months are counted once per run and scaled: the count is the costly part (a
            # cross join of enrollments with the month starts), shared by member-months and -years.
            months = observed(MemberMonths(self.kinds), ctx)
            return months.select("patient_id", value=months.value / self.per)
        starts = month_starts(ctx.period.start, ctx.period.end)
        enrollments = ctx.table("enrollments")
        enrollments = enrollments.filter(enrollments.kind.isin(self.kinds))
        if not starts:
            return enrollments.filter(ibis.literal(False)).select("patient_id", value=ibis.literal(0.0))
        # Each enrollment covers a run of snapshot days: from the first month start on or after its
        # start to the month start of its end (that day is never after the end), within the period.
        ends = ibis.coalesce(enrollments.end_date, ibis.date(OPEN_END))
        first = _month_number(enrollments.start_date) + (enrollments.start_date.day() > 1).cast("int64")
        spans = enrollments.select(
            "patient_id",
            "start_date",
            end_date=ends,
            first=ibis.greatest(first, _month_number(ibis.date(starts[0]))),
            last=ibis.least(_month_number(ends), _month_number(ibis.date(starts[-1]))),
        )
        spans = spans.filter(spans.first <= spans.last)
        # A patient with one covering enrollment (nearly everyone) counts its run by arithmetic;
        # only patients with several, which may overlap, have their months matched one by one.
        per_patient = spans.group_by("patient_id").aggregate(n=spans.count(), months=(spans.last - spans.first + 1).sum())
        single = per_patient.filter(per_patient.n == 1).select("patient_id", value=per_patient.months.cast("float64"))
        several = spans.semi_join(per_patient.filter(per_patient.n > 1), "patient_id")
        snapshots = ibis.memtable({"month_start": starts}).cast({"month_start": "date"})
        covered = several.cross_join(snapshots)
        covered = covered.filter((covered.start_date <= covered.month_start) & (covered.end_date >= covered.month_start))
        counts = covered.group_by("patient_id").aggregate(months=covered.month_start.nunique())
        return single.union(counts.select("patient_id", value=counts.months.cast("float64")), distinct=False)


@dataclass(frozen=True)
class CountOf:
    """How many distinct rows of a timed source a patient has (e.g. ED visits in the period)."""

    rows: Timed

    def values(self, ctx) -> ibis.Table:
        rows = self.rows.rows(ctx)
        counts = rows.group_by("patient_id").aggregate(n=rows.event_id.nunique())
        return counts.select("patient_id", value=counts.n.cast("float64"))


@dataclass(frozen=True)
class AllowedAmounts:
    """The sum of claim-line allowed amounts with a service start day in the measurement period
    (total cost of care counts every service, medical and pharmacy, that reached a claim)."""

    def values(self, ctx) -> ibis.Table:
        lines = ctx.table("claim_lines")
        lo, hi = ibis.date(ctx.period.start), ibis.date(ctx.period.end)
        lines = lines.filter((lines.service_start >= lo) & (lines.service_start <= hi))
        totals = lines.group_by("patient_id").aggregate(total=lines.allowed_amount.sum())
        return totals.select("patient_id", value=totals.total.cast("float64"))


@dataclass(frozen=True)
class Observed(PatientFact):
    """The patient's observation is at least `minimum` (e.g. at least one member-month: the
    population of a per-member rate)."""

    observation: Observation
    minimum: float = 1.0

    def who(self, ctx) -> ibis.Table:
        values = observed(self.observation, ctx)
        return values.filter(values.value >= self.minimum)
