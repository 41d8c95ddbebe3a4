"""FHIR R4 data types read into canonical values: instants, codes, quantities, references.

Each reader takes the raw JSON value and returns a plain Python value, or raises `BadValue` with
a reason a user can act on; the caller adds where it happened (file, row, FHIR path). The JSON
types of the values have been checked before (`shapes`), so readers judge only their content.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache
from decimal import Decimal

from p4pkit.model.codes import KNOWN, canonical_system

QICORE = "http://hl7.org/fhir/us/qicore/StructureDefinition/"
# QI-Core 4.1.1: a "not done" record may name a whole value set instead of one code
# (`code.extension:notDoneValueSet`). Such events carry this URI as code_system and the value set's
# canonical URL as code, so measures can match them against the value set they cite.
NOT_DONE_VALUESET = QICORE + "qicore-notDoneValueSet"


class BadValue(ValueError):
    """A FHIR element whose value cannot be read; the message says why. `at` is the path of the
    unreadable part below the element the reader was given (`start` of a Period), if any."""

    def __init__(self, reason: str, at: str = ""):
        super().__init__(reason)
        self.at = at


def instant(value: object) -> dt.datetime | None:
    """A FHIR date, dateTime or instant as naive UTC wall time (the canonical timestamp).

    FHIR allows reduced precision (YYYY, YYYY-MM, YYYY-MM-DD); those mean the start of the
    year, month or day. A time with an offset is converted to UTC; a date is taken as a UTC day.
    """
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadValue(f"expected a FHIR dateTime string, got {value!r}")
    text = value.strip()
    try:
        if len(text) == 4:
            return dt.datetime(int(text), 1, 1)
        if len(text) == 7:
            return dt.datetime(int(text[:4]), int(text[5:7]), 1)
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        raise BadValue(f"{value!r} is not a FHIR dateTime (YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm:ss+zz:zz)") from None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return parsed


def day(value: object) -> dt.date | None:
    """A FHIR date (or the day of a dateTime) as a calendar day."""
    moment = instant(value)
    return None if moment is None else moment.date()


def period(value: dict | None) -> tuple[dt.datetime | None, dt.datetime | None]:
    """(start, end) of a FHIR Period, either side may be missing; an unreadable side is a
    `BadValue` at `start` or `end`."""
    if not value:
        return None, None
    return _side(value, "start"), _side(value, "end")


def _side(value: dict, side: str) -> dt.datetime | None:
    try:
        return instant(value.get(side))
    except BadValue as error:
        raise BadValue(str(error), side) from None


def timing(resource: dict, stem: str) -> tuple[dt.datetime | None, dt.datetime | None]:
    """(start, end) of a choice element `<stem>[x]`: DateTime, Instant, Period or Date. Problems
    stay at `<stem>[x]`; for a Period the reason says which side was unreadable."""
    for suffix in ("DateTime", "Instant", "Date"):
        if resource.get(f"{stem}{suffix}") is not None:
            return instant(resource[f"{stem}{suffix}"]), None
    try:
        return period(resource.get(f"{stem}Period"))
    except BadValue as error:
        raise BadValue(f"{stem}Period.{error.at}: {error}") from None


# One shared string per code system: a bulk export repeats the same few URIs millions of times.
_system = lru_cache(maxsize=1024)(canonical_system)


def coding(concept: dict | None) -> tuple[str, str] | None:
    """The (system, code) of a CodeableConcept: the first coding from a known code system, else
    the first coding that has both; a QI-Core not-done value set when the concept names one."""
    if not concept:
        return None
    pairs = [
        (_system(c["system"]), str(c["code"]))
        for c in concept.get("coding", ())
        if c.get("system") and c.get("code") is not None
    ]
    for pair in pairs:
        if pair[0] in KNOWN:
            return pair
    if pairs:
        return pairs[0]
    for ext in concept.get("extension", ()):
        if ext.get("url") == NOT_DONE_VALUESET:
            url = ext.get("valueCanonical") or ext.get("valueUri")
            if url:
                return NOT_DONE_VALUESET, url
    return None


def code_of(concept: dict | None) -> str | None:
    """Just the code of a CodeableConcept (for status-like concepts whose system is fixed), from its
    first coding that has one, with or without a system."""
    for c in (concept or {}).get("coding", ()):
        if c.get("code") is not None:
            return str(c["code"])
    return None


def first_code(concepts: list | None) -> tuple[str, str] | None:
    """The (system, code) of the first concept in a list that has one (e.g. reasonCode)."""
    for concept in concepts or ():
        pair = coding(concept)
        if pair is not None:
            return pair
    return None


def extension(element: dict, name: str, key: str = "extension") -> dict | None:
    """The first extension (or modifierExtension) whose URL ends with `name`."""
    for ext in element.get(key, ()):
        if ext.get("url", "").endswith("/" + name):
            return ext
    return None


def number(value: object) -> float | None:
    """A FHIR decimal as a float."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        raise BadValue(f"expected a number, got {value!r}")
    return float(value)


# UCUM and common spellings of time units, in days (CumulativeMedicationDuration converts
# expectedSupplyDuration "to days"; a month is 30 days and a year 365 in its ToDaily table).
DAYS_PER_UNIT = {
    "s": 1 / 86400,
    "min": 1 / 1440,
    "h": 1 / 24,
    "d": 1.0,
    "day": 1.0,
    "days": 1.0,
    "wk": 7.0,
    "week": 7.0,
    "weeks": 7.0,
    "mo": 30.0,
    "month": 30.0,
    "months": 30.0,
    "a": 365.0,
    "year": 365.0,
    "years": 365.0,
}


def days(quantity: dict | None) -> float | None:
    """A duration Quantity in days (UCUM `d`, `wk`, `mo`, `a`, ... and their spelled-out forms)."""
    if not quantity or quantity.get("value") is None:
        return None
    unit = str(quantity.get("code") or quantity.get("unit") or "d").strip().lower()
    if unit not in DAYS_PER_UNIT:
        raise BadValue(f"unknown time unit {unit!r}; use a UCUM unit such as 'd', 'wk', 'mo' or 'a'")
    return number(quantity["value"]) * DAYS_PER_UNIT[unit]


@dataclass(frozen=True, slots=True)
class Ref:
    """A FHIR reference still to be resolved to a canonical id once every input has been read.

    `where` is (file, row, FHIR path) for the problem raised if it resolves to nothing.
    """

    target: str
    text: str
    where: tuple[str, int | None, str]


def reference(value: dict | None, target: str, where: tuple[str, int | None, str]) -> Ref | None:
    """A Reference element pointing at a `target` resource type, kept for later resolution."""
    if not value or not value.get("reference"):
        return None
    return Ref(target, value["reference"], where)


def reference_type(value: dict | None) -> str | None:
    """The resource type a reference names (`Organization/1` → Organization), when it says."""
    if not value or not value.get("reference"):
        return None
    text = value["reference"].split("?", 1)[0].rstrip("/")
    parts = text.split("/")
    return parts[-2] if len(parts) >= 2 else (parts[0] if "?" in value["reference"] else None)
