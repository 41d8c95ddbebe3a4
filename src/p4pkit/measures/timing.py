"""Measurement periods, anchors and windows: the calendar side of the measure language.

eCQM timing phrases ("during day of", "overlaps day of", "ends on or before end of", "the year
before the measurement period", "October 1 two years prior") compare days, so windows resolve to
closed intervals of `datetime.date` in Python before any query is built. The engines then only see
date literals, which keeps the compiled expressions portable across backends.

An age is calendar arithmetic too: `age_in_years_at` is shared by measure criteria, supplemental
data and the coding-intensity strata so that they agree on when a birthday counts.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date

import ibis

from p4pkit.errors import UserError


@dataclass(frozen=True)
class Period:
    """A measurement period: a closed interval of days (eCQM default: one calendar year)."""

    start: date
    end: date

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise UserError(f"measurement period ends ({self.end}) before it starts ({self.start})")

    @classmethod
    def parse(cls, text: str) -> Period:
        """`2025-01-01:2025-12-31` -> Period; a mistake says what the format is, or which date is not one."""
        parts = text.split(":")
        if len(parts) != 2:
            raise UserError(
                f"period '{text}' is not START:END", hint="Write the period as YYYY-MM-DD:YYYY-MM-DD, e.g. 2025-01-01:2025-12-31."
            )
        days = []
        for name, part in zip(("start", "end"), parts):
            try:
                days.append(date.fromisoformat(part.strip()))
            except ValueError as error:
                raise UserError(f"period '{text}': the {name} '{part.strip()}' is not a date ({error})",
                                hint="Write dates as YYYY-MM-DD, e.g. 2025-01-01:2025-12-31.") from None
        return cls(*days)


def shift(day: date, years: int = 0, months: int = 0, days: int = 0) -> date:
    """Calendar arithmetic as CQL does it: whole months first, clamping to the month's last day.

    (CQL `-` on DateTime with a year/month quantity keeps the day of month and truncates to the
    last valid day, e.g. 2024-02-29 - 1 year = 2023-02-28.)
    """
    total = day.year * 12 + (day.month - 1) + years * 12 + months
    year, month = divmod(total, 12)
    month += 1
    clamped = date(year, month, min(day.day, calendar.monthrange(year, month)[1]))
    return date.fromordinal(clamped.toordinal() + days)


def age_in_years_at(birth_date: ibis.DateValue, day: date) -> ibis.IntegerValue:
    """Age in whole years on `day` of a patient born on `birth_date` (CQL `AgeInYearsAt`): the
    difference of the years, less one while that year's birthday is still to come. A 29 February
    birthday comes on 1 March in a year without one (on 28 February the patient is still the younger
    age). Only year/month/day parts compared with a Python day, which every engine reads alike; a
    null birth date gives a null age."""
    birthday_pending = (birth_date.month() > day.month) | ((birth_date.month() == day.month) & (birth_date.day() > day.day))
    return day.year - birth_date.year() - birthday_pending.cast("int64")


@dataclass(frozen=True)
class Anchor:
    """A day relative to the measurement period: its start or end, shifted, optionally pinned to a
    month and day (`month_day=(10, 1)` with `years=-2` is "October 1 two years prior")."""

    base: str = "start"
    years: int = 0
    months: int = 0
    days: int = 0
    month_day: tuple[int, int] | None = None

    def resolve(self, period: Period) -> date:
        if self.base not in ("start", "end"):
            raise ValueError(f"anchor base must be 'start' or 'end', not {self.base!r}")
        day = shift(period.start if self.base == "start" else period.end, self.years, self.months, self.days)
        if self.month_day is not None:
            day = date(day.year, *self.month_day)
        return day


START = Anchor("start")
END = Anchor("end")


@dataclass(frozen=True)
class Window:
    """A closed interval of days between two anchors."""

    start: Anchor = START
    end: Anchor = END

    def resolve(self, period: Period) -> tuple[date, date]:
        return self.start.resolve(period), self.end.resolve(period)


MEASUREMENT_PERIOD = Window()


def lookback(years: int = 0, months: int = 0) -> Window:
    """The measurement period extended back by `years`/`months` (e.g. "during the measurement
    period or the year prior")."""
    return Window(Anchor("start", years=-years, months=-months), END)
