"""Tiny readable worlds for measure spec tests: rows written as short tuples, turned into canonical
tables in an in-memory store, and a helper that runs one measure and returns rows by patient."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

import pyarrow as pa

from p4pkit.measures import run_measures
from p4pkit.model.schemas import conform
from p4pkit.store import Store


@dataclass
class World:
    """Rows of a small world; `add_*` methods append and return self for chaining."""

    patients: list[tuple] = field(default_factory=list)  # (id, birth date, death date or None)
    enrollments: list[tuple] = field(default_factory=list)  # (patient, kind, start, end or None)
    encounters: list[tuple] = field(default_factory=list)  # (id, patient, class, (system, code) or None, start, end, disposition)
    events: list[dict] = field(default_factory=list)
    claims: list[tuple] = field(default_factory=list)  # (patient, service day, allowed "12.34")

    def patient(self, pid: str, born: date = date(1960, 6, 15), died: date | None = None) -> World:
        self.patients.append((pid, born, died))
        return self

    def enrolled(self, pid: str, start: date, end: date | None = None, kind: str = "payer") -> World:
        self.enrollments.append((pid, kind, start, end))
        return self

    def registered(self, pid: str, start: date, end: date | None = None) -> World:
        return self.enrolled(pid, start, end, kind="practice_list")

    def encounter(self, eid, pid, klass, start, end=None, type_code=None, disposition=None) -> World:
        self.encounters.append((eid, pid, klass, type_code, start, end, disposition))
        return self

    def event(self, pid, kind, code, day, value=None, value_code=None, negated=False, reason=None, end=None, status=None) -> World:
        """`code`, `value_code` and `reason` are (system, code) pairs."""
        self.events.append(
            dict(pid=pid, kind=kind, code=code, day=day, value=value, value_code=value_code, negated=negated, reason=reason, end=end, status=status)
        )
        return self

    def claim(self, pid: str, day: date, allowed: str) -> World:
        self.claims.append((pid, day, allowed))
        return self

    def store(self) -> Store:
        store = Store()
        at = lambda d: None if d is None else datetime(d.year, d.month, d.day, 9, 0)  # noqa: E731
        ev = self.events
        store.replace_tables(
            {
                "organizations": conform("organizations", {"organization_id": ["P1", "PAY1"], "name": ["P1", "PAY1"], "kind": ["practice", "payer"]}),
                "patients": conform(
                    "patients",
                    {
                        "patient_id": [p[0] for p in self.patients],
                        "birth_date": [p[1] for p in self.patients],
                        "sex": ["female"] * len(self.patients),
                        "death_date": [p[2] for p in self.patients],
                    },
                ),
                "enrollments": conform(
                    "enrollments",
                    {
                        "enrollment_id": [f"N{i}" for i in range(len(self.enrollments))],
                        "patient_id": [e[0] for e in self.enrollments],
                        "kind": [e[1] for e in self.enrollments],
                        "organization_id": ["P1" if e[1] == "practice_list" else "PAY1" for e in self.enrollments],
                        "start_date": [e[2] for e in self.enrollments],
                        "end_date": [e[3] for e in self.enrollments],
                    },
                ),
                "encounters": conform(
                    "encounters",
                    {
                        "encounter_id": [e[0] for e in self.encounters],
                        "patient_id": [e[1] for e in self.encounters],
                        "encounter_class": [e[2] for e in self.encounters],
                        "type_system": [e[3][0] if e[3] else None for e in self.encounters],
                        "type_code": [e[3][1] if e[3] else None for e in self.encounters],
                        "start": [at(e[4]) for e in self.encounters],
                        "end": [at(e[5]) for e in self.encounters],
                        "discharge_disposition": [e[6] for e in self.encounters],
                        "status": ["finished"] * len(self.encounters),
                    },
                ),
                "events": conform(
                    "events",
                    {
                        "event_id": [f"V{i}" for i in range(len(ev))],
                        "patient_id": [e["pid"] for e in ev],
                        "kind": [e["kind"] for e in ev],
                        "code_system": [e["code"][0] for e in ev],
                        "code": [e["code"][1] for e in ev],
                        "start": [at(e["day"]) for e in ev],
                        "end": [at(e["end"]) for e in ev],
                        "value_num": [e["value"] for e in ev],
                        "value_code_system": [e["value_code"][0] if e["value_code"] else None for e in ev],
                        "value_code": [e["value_code"][1] if e["value_code"] else None for e in ev],
                        "status": [e["status"] or ("active" if e["kind"] in ("condition", "medication") else "final") for e in ev],
                        "negated": [e["negated"] for e in ev],
                        "negation_reason_system": [e["reason"][0] if e["reason"] else None for e in ev],
                        "negation_reason_code": [e["reason"][1] if e["reason"] else None for e in ev],
                    },
                ),
                "claim_lines": conform(
                    "claim_lines",
                    {
                        "claim_id": [f"K{i}" for i in range(len(self.claims))],
                        "line_number": [1] * len(self.claims),
                        "patient_id": [c[0] for c in self.claims],
                        "service_start": [c[1] for c in self.claims],
                        "allowed_amount": [Decimal(c[2]) for c in self.claims],
                    },
                ),
            }
        )
        return store


def results_by_patient(world: World, measure_id: str, period: str, group: int = 0) -> dict[str, dict]:
    """Run one measure on the world; the group's rows keyed by patient id."""
    with world.store() as store:
        table = run_measures(store, [measure_id], period)
    rows = table.filter(pa.compute.equal(table["group_index"], group)).to_pylist()
    return {row["patient_id"]: row for row in rows}


def run(world: World, measure_id: str, period: str) -> pa.Table:
    """The full long results table of one measure on the world."""
    with world.store() as store:
        return run_measures(store, [measure_id], period)
