"""A tiny readable world for attribution spec tests: two ACOs, four practices, six clinicians.

    ACO1 (aco) ─┬─ P1 practice: C1 family physician
                └─ P2 practice: C3 cardiologist
    ACO2 (aco) ─── P4 practice: C4 nurse practitioner, C5 endocrinologist, C6 internist
    P3 practice (no ACO):        C2 family physician
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import NamedTuple

import pytest

from p4pkit.model import codes
from p4pkit.model.schemas import conform
from p4pkit.store import Store

ORGANIZATIONS = [
    # organization_id, kind, parent_id
    ("ACO1", "aco", None),
    ("ACO2", "aco", None),
    ("P1", "practice", "ACO1"),
    ("P2", "practice", "ACO1"),
    ("P3", "practice", None),
    ("P4", "practice", "ACO2"),
]
CLINICIANS = [
    # clinician_id, role, specialty, primary_care, organization_id
    ("C1", "physician", "Family Medicine", True, "P1"),
    ("C2", "physician", "Family Medicine", True, "P3"),
    ("C3", "physician", "Cardiology", False, "P2"),
    ("C4", "nurse_practitioner", "Nurse Practitioner", False, "P4"),
    ("C5", "physician", "Endocrinology", False, "P4"),
    ("C6", "physician", "Internal Medicine", True, "P4"),
]


class Period(NamedTuple):
    """Stands in for `p4pkit.measures.timing.Period`: attribution reads only `start` and `end`."""

    start: date
    end: date


YEAR_2025 = Period(date(2025, 1, 1), date(2025, 12, 31))


def build_store(
    patients: list[str],
    claims: list[tuple] = (),
    visits: list[tuple] = (),
    registrations: list[tuple] = (),
    conditions: list[tuple] = (),
) -> Store:
    """An in-memory store holding the world above plus the given rows.

    claims: (patient, clinician, code, allowed, service date); visits: (patient, clinician, class,
    date); registrations: (patient, practice, start, end, end_reason); conditions: (patient, ICD-10 code).
    """
    store = Store()
    store.replace_tables(
        {
            "organizations": conform(
                "organizations",
                {
                    "organization_id": [o[0] for o in ORGANIZATIONS],
                    "name": [o[0] for o in ORGANIZATIONS],
                    "kind": [o[1] for o in ORGANIZATIONS],
                    "parent_id": [o[2] for o in ORGANIZATIONS],
                },
            ),
            "clinicians": conform(
                "clinicians",
                {
                    "clinician_id": [c[0] for c in CLINICIANS],
                    "role": [c[1] for c in CLINICIANS],
                    "specialty": [c[2] for c in CLINICIANS],
                    "primary_care": [c[3] for c in CLINICIANS],
                    "organization_id": [c[4] for c in CLINICIANS],
                },
            ),
            "patients": conform(
                "patients",
                {"patient_id": patients, "birth_date": [date(1950, 1, 1)] * len(patients), "sex": ["female"] * len(patients)},
            ),
            "claim_lines": conform(
                "claim_lines",
                {
                    "claim_id": [f"K{i}" for i in range(len(claims))],
                    "line_number": [1] * len(claims),
                    "patient_id": [c[0] for c in claims],
                    "rendering_clinician_id": [c[1] for c in claims],
                    "code_system": [codes.HCPCS if c[2].startswith("G") else codes.CPT for c in claims],
                    "code": [c[2] for c in claims],
                    "allowed_amount": [Decimal(str(c[3])) for c in claims],
                    "service_start": [c[4] for c in claims],
                },
            ),
            "encounters": encounters_table(visits),
            "enrollments": conform(
                "enrollments",
                {
                    "enrollment_id": [f"R{i}" for i in range(len(registrations))],
                    "patient_id": [r[0] for r in registrations],
                    "kind": ["practice_list"] * len(registrations),
                    "organization_id": [r[1] for r in registrations],
                    "start_date": [r[2] for r in registrations],
                    "end_date": [r[3] for r in registrations],
                    "end_reason": [r[4] for r in registrations],
                },
            ),
            "events": conform(
                "events",
                {
                    "event_id": [f"V{i}" for i in range(len(conditions))],
                    "patient_id": [c[0] for c in conditions],
                    "kind": ["condition"] * len(conditions),
                    "code_system": [codes.ICD10CM] * len(conditions),
                    "code": [c[1] for c in conditions],
                    "start": [datetime(2024, 6, 1)] * len(conditions),
                    "negated": [False] * len(conditions),
                },
            ),
        }
    )
    return store


def encounters_table(visits: list[tuple]):
    """Encounters from (patient, clinician, class, date) tuples, each at 09:00 on its day."""
    return conform(
        "encounters",
        {
            "encounter_id": [f"E{i}" for i in range(len(visits))],
            "patient_id": [v[0] for v in visits],
            "clinician_id": [v[1] for v in visits],
            "encounter_class": [v[2] for v in visits],
            "start": [datetime.combine(v[3], datetime.min.time()).replace(hour=9) for v in visits],
        },
    )


def by_patient(table) -> dict[str, dict]:
    return {row["patient_id"]: row for row in table.to_pylist()}


def store_fixture(patients: list[str], **rows: list[tuple]):
    """A module-scoped `store` fixture over `build_store(patients, **rows)`, closed after the module."""

    @pytest.fixture(scope="module")
    def store():
        with build_store(patients, **rows) as opened:
            yield opened

    return store
