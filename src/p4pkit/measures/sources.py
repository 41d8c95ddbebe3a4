"""Sources: the typed rows a criterion ranges over (clinical events, encounters), as Ibis tables.

Every source compiles to the same row shape, so timing and aggregation building blocks work on any
of them:

    patient_id, event_id, start_date, end_date, value_num, value_code_system, value_code, status

`start_date`/`end_date` are the interval the measure logic compares (QI-Core's `toInterval()`,
`prevalenceInterval()` or the medication request period), already cut to days, because every
timing phrase the 2025 eCQMs use is "day of" precision.

Which FHIR statuses count as "performed" or "active" follows the eCQM `Status` library (version
1.8.000) used by the 2025 QI-Core measures; a status filter is only applied when the source
recorded a status, the same way a missing status does not disqualify a CQL retrieve.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import ibis

# A (system URI, code) pair: codes always travel with their system.
Code = tuple[str, str]

# QI-Core Observation profiles land in these canonical event kinds.
OBSERVATION_KINDS = ("observation", "assessment", "diagnostic_report")
# "Open ended" for a condition still active: the far end of time, as a day.
OPEN_END = date(9999, 12, 31)
# Condition clinical statuses under which the prevalence period runs on while no abatement is
# recorded (QICoreCommon `prevalenceInterval()`).
ONGOING_CONDITION_STATUSES = ("active", "recurrence", "relapse")


def _allowed_codes(ctx, valuesets: tuple[str, ...], codes: tuple[Code, ...]) -> ibis.Table:
    """(vs_system, vs_code) rows of the value sets and direct codes a criterion accepts."""
    parts = []
    if valuesets:
        vs = ctx.valuesets
        chosen = vs.filter(vs.valueset_oid.isin(valuesets)).select(vs_system=vs.system, vs_code=vs.code)
        parts.append(chosen.cast({"vs_system": "string", "vs_code": "string"}))
    if codes:
        parts.append(
            ibis.memtable({"vs_system": [c[0] for c in codes], "vs_code": [c[1] for c in codes]}).cast(
                {"vs_system": "string", "vs_code": "string"}
            )
        )
    if not parts:
        raise ValueError("a coded source needs at least one value set or code")
    allowed = parts[0]
    for part in parts[1:]:
        allowed = allowed.union(part)
    return allowed.distinct()


def coded(ctx, table: ibis.Table, system: str, code: str, valuesets: tuple[str, ...], codes: tuple[Code, ...]) -> ibis.Table:
    """Rows of `table` whose (system, code) columns fall in the value sets or direct codes."""
    allowed = _allowed_codes(ctx, valuesets, codes)
    return table.semi_join(allowed, [table[system] == allowed.vs_system, table[code] == allowed.vs_code])


def _with_status(table: ibis.Table, statuses: tuple[str, ...]) -> ibis.Table:
    if not statuses:
        return table
    return table.filter(table.status.isnull() | table.status.isin(statuses))


@dataclass(frozen=True)
class Events:
    """Clinical events (rows of `events`) of some kinds, coded in value sets or direct codes.

    categories / intents: the FHIR category or request intent the event must carry, checked when
    the source records one. body_sites: (system, code) pairs the body site must match (CMS125
    reads a mastectomy's laterality from it).
    interval: "event" (start..end, a point when end is missing), "prevalence" (a condition's
    onset..abatement, open ended while active, as QICoreCommon `prevalenceInterval()`), or
    "medication" (start + days of supply - 1, as CumulativeMedicationDuration's request period
    when no refills are recorded) or "authored" (the day a request was authored, `authoredOn`,
    falling back to its start).
    """

    kinds: tuple[str, ...]
    valuesets: tuple[str, ...] = ()
    codes: tuple[Code, ...] = ()
    statuses: tuple[str, ...] = ()
    interval: str = "event"
    value_in: tuple[str, ...] = ()
    value_codes: tuple[Code, ...] = ()
    has_value: bool = False
    negated: bool = False
    negation_reasons: tuple[str, ...] = ()
    not_in_encounter_classes: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    intents: tuple[str, ...] = ()
    body_sites: tuple[Code, ...] = ()

    def rows(self, ctx) -> ibis.Table:
        return ctx.reused(self, lambda: self._rows(ctx))

    def _rows(self, ctx) -> ibis.Table:
        ev = ctx.events
        ev = ev.filter(ev.kind.isin(self.kinds), ev.negated == self.negated)
        # Status library checks on category and intent: a record from a source without them
        # (claims, CSV) is not held to them.
        if self.categories:
            ev = ev.filter(ev.category.isnull() | ev.category.isin(self.categories))
        if self.intents:
            ev = ev.filter(ev.intent.isnull() | ev.intent.isin(self.intents))
        if self.body_sites:
            ev = coded(ctx, ev, "body_site_system", "body_site_code", (), self.body_sites)
        ev = coded(ctx, ev, "code_system", "code", self.valuesets, self.codes)
        ev = _with_status(ev, self.statuses)
        if self.value_in or self.value_codes:
            ev = coded(ctx, ev, "value_code_system", "value_code", self.value_in, self.value_codes)
        if self.has_value:
            ev = ev.filter(ev.value_num.notnull() | ev.value_code.notnull())
        if self.negation_reasons:
            ev = coded(ctx, ev, "negation_reason_system", "negation_reason_code", self.negation_reasons, ())
        if self.not_in_encounter_classes:
            enc = ctx.encounters
            bad = enc.filter(enc.encounter_class.isin(self.not_in_encounter_classes)).select(bad_id=enc.encounter_id)
            ev = ev.anti_join(bad, ev.encounter_id == bad.bad_id)
        start = ev.start.date()
        end = ev.end.date()
        if self.interval == "prevalence":
            ongoing = ev.status.isnull() | ev.status.isin(ONGOING_CONDITION_STATUSES)
            end = ibis.coalesce(end, ibis.ifelse(ongoing, ibis.date(OPEN_END), start))
        elif self.interval == "medication":
            supplied = start + ev.days_supply.cast("int64").as_interval("D") - ibis.interval(days=1)
            end = ibis.coalesce(end, ibis.ifelse(ev.days_supply > 0, supplied, start))
        elif self.interval == "authored":
            start = ibis.coalesce(ev.recorded.date(), start)
            end = start
        elif self.interval == "event":
            end = ibis.coalesce(end, start)
        else:
            raise ValueError(f"unknown interval kind {self.interval!r}")
        return ev.select(
            "patient_id",
            "event_id",
            start_date=start,
            end_date=end.cast("date"),
            value_num=ev.value_num,
            value_code_system=ev.value_code_system,
            value_code=ev.value_code,
            status=ev.status,
        )


@dataclass(frozen=True)
class Encounters:
    """Encounters whose type is in value sets or direct codes (QI-Core `[Encounter: "..."]`),
    optionally only those discharged with one of `discharge_codes` (hospitalization
    dischargeDisposition)."""

    valuesets: tuple[str, ...] = ()
    codes: tuple[Code, ...] = ()
    statuses: tuple[str, ...] = ("finished",)
    discharge_codes: tuple[str, ...] = ()

    def rows(self, ctx) -> ibis.Table:
        return ctx.reused(self, lambda: self._rows(ctx))

    def _rows(self, ctx) -> ibis.Table:
        enc = coded(ctx, ctx.encounters, "type_system", "type_code", self.valuesets, self.codes)
        enc = _with_status(enc, self.statuses)
        if self.discharge_codes:
            enc = enc.filter(enc.discharge_disposition.isin(self.discharge_codes))
        start = enc.start.date()
        return enc.select(
            "patient_id",
            event_id=enc.encounter_id,
            start_date=start,
            end_date=ibis.coalesce(enc.end.date(), start),
            value_num=ibis.null("float64"),
            value_code_system=ibis.null("string"),
            value_code=ibis.null("string"),
            status=enc.status,
        )
