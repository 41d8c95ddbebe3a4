"""Tiny canonical tables for spec tests: patients and events written as short readable rows."""

from __future__ import annotations

from datetime import date, datetime

from p4pkit.model.codes import LOINC
from p4pkit.model.schemas import conform
from p4pkit.store import Store


def day(text: str) -> datetime:
    return datetime.fromisoformat(text)


def store_with(patients: list[tuple[str, str, str]], events: list[dict], encounters: list[dict] = ()) -> Store:
    """patients: (id, birth date, sex); events: dicts with at least patient_id, code, start."""
    store = Store()
    store.replace_tables(
        {
            "patients": conform(
                "patients",
                {
                    "patient_id": [p[0] for p in patients],
                    "birth_date": [date.fromisoformat(p[1]) for p in patients],
                    "sex": [p[2] for p in patients],
                },
            ),
            "events": conform(
                "events",
                {
                    "event_id": [e.get("event_id", f"e{i}") for i, e in enumerate(events)],
                    "patient_id": [e["patient_id"] for e in events],
                    "kind": [e.get("kind", "observation") for e in events],
                    "code_system": [e.get("code_system", LOINC) for e in events],
                    "code": [e["code"] for e in events],
                    "start": [day(e["start"]) for e in events],
                    "end": [day(e["end"]) if e.get("end") else None for e in events],
                    "value_num": [e.get("value_num") for e in events],
                    "value_code_system": [e.get("value_code_system") for e in events],
                    "value_code": [e.get("value_code") for e in events],
                    "status": [e.get("status") for e in events],
                    "negated": [e.get("negated", False) for e in events],
                    "negation_reason_system": [e.get("negation_reason_system") for e in events],
                    "negation_reason_code": [e.get("negation_reason_code") for e in events],
                    "days_supply": [e.get("days_supply") for e in events],
                },
            ),
            "encounters": conform(
                "encounters",
                {
                    "encounter_id": [e["encounter_id"] for e in encounters],
                    "patient_id": [e["patient_id"] for e in encounters],
                    "encounter_class": [e.get("encounter_class", "ambulatory") for e in encounters],
                    "type_system": [e.get("type_system") for e in encounters],
                    "type_code": [e.get("type_code") for e in encounters],
                    "start": [day(e["start"]) for e in encounters],
                    "end": [day(e["end"]) if e.get("end") else None for e in encounters],
                },
            ),
        }
    )
    return store
