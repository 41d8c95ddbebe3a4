"""Gaming checks on a hand-built world of four practices with 100 patients each.

Every practice lists 50 high-risk patients (hypertension and diabetes recorded in 2022) and 50
others. In the window 2024-2025:
- P1 removes 20 of its high-risk patients, the others one each (deregistration);
- P2 records 20 of its high-risk patients' HbA1c checks as not done with a reason, the others one;
- P3 gives 30 patients a new COPD code with nothing behind it, the others two; P4 also records
  ten new diabetes diagnoses, each backed by an HbA1c of 7%, which do not count.
"""

from __future__ import annotations

from datetime import date, datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from p4pkit.measures.timing import Period
from p4pkit.model import codes
from p4pkit.model.schemas import conform
from p4pkit.safeguards.coding import coding_intensity_flags
from p4pkit.safeguards.deselection import deregistration_flags
from p4pkit.safeguards.gaming import denominator_shift_flags, exception_flags, gaming_flags, measure_exception_flags
from p4pkit.store import Store

PRACTICES = ("P1", "P2", "P3", "P4")
WINDOW = Period(date(2024, 1, 1), date(2025, 12, 31))
REMOVED = {"P1": 20, "P2": 1, "P3": 1, "P4": 1}
EXCEPTED = {"P1": 1, "P2": 20, "P3": 1, "P4": 1}
UPCODED = {"P1": 2, "P2": 2, "P3": 30, "P4": 2}


def _event(rows: list, patient: str, system: str, code: str, day: date, kind: str, value=None, negated=False):
    rows.append({"event_id": f"E{len(rows)}", "patient_id": patient, "kind": kind, "code_system": system, "code": code,
                 "start": datetime.combine(day, datetime.min.time()), "value_num": value, "negated": negated,
                 "negation_reason_system": codes.SNOMED if negated else None, "negation_reason_code": "183932001" if negated else None})


@pytest.fixture(scope="module")
def store():
    patients, lists, events = [], [], []
    for practice in PRACTICES:
        for i in range(100):
            pid = f"{practice}-{i:03d}"
            high = i < 50
            patients.append(pid)
            removed = high and i < REMOVED[practice]
            lists.append({"enrollment_id": f"L-{pid}", "patient_id": pid, "kind": "practice_list", "organization_id": practice,
                          "start_date": date(2020, 1, 1), "end_date": date(2024, 6, 1) if removed else None,
                          "end_reason": "removed_by_practice" if removed else None})
            if high:
                _event(events, pid, codes.ICD10CM, "I10", date(2022, 1, 1), "condition")
                _event(events, pid, codes.ICD10CM, "E11.9", date(2022, 1, 1), "condition")
                not_done = i < EXCEPTED[practice]
                _event(events, pid, codes.LOINC, "4548-4", date(2024, 3, 1), "observation", None if not_done else 7.5, not_done)
            elif i - 50 < UPCODED[practice]:
                _event(events, pid, codes.ICD10CM, "J44.9", date(2024, 9, 1), "condition")
            elif practice == "P4" and i >= 90:
                _event(events, pid, codes.ICD10CM, "E11.9", date(2024, 9, 1), "condition")
                _event(events, pid, codes.LOINC, "4548-4", date(2024, 9, 1), "observation", 7.0)
    with Store() as s:
        s.replace_tables({
            "organizations": conform("organizations", {"organization_id": list(PRACTICES), "name": list(PRACTICES), "kind": ["practice"] * 4}),
            "patients": conform("patients", {"patient_id": patients, "birth_date": [date(1950, 1, 1)] * len(patients), "sex": ["female"] * len(patients)}),
            "enrollments": conform("enrollments", {k: [row[k] for row in lists] for k in lists[0]}),
            "events": conform("events", {k: [row[k] for row in events] for k in events[0]}),
        })
        yield s


def _by_entity(flags: pd.DataFrame) -> pd.DataFrame:
    return flags.set_index("entity_id")


def test_deregistration_flags_the_practice_removing_high_risk_patients(store):
    flags = _by_entity(deregistration_flags(store, WINDOW))
    assert flags["flagged"].to_dict() == {"P1": True, "P2": False, "P3": False, "P4": False}
    assert flags.loc["P1", "statistic"] == pytest.approx(20 / 50)
    assert flags.loc["P2", "peer_rate"] == pytest.approx(3 / 150)
    assert flags.loc["P1", "evidence"].endswith("other patients: 0 of 50 removed")


def test_exception_reporting_flags_the_practice_excepting_high_risk_patients(store):
    flags = _by_entity(exception_flags(store, WINDOW))
    assert flags["flagged"].to_dict() == {"P1": False, "P2": True, "P3": False, "P4": False}
    assert flags.loc["P2", "count"] == 20
    assert flags.loc["P4", "size"] == 60  # 50 high-risk checks and ten HbA1c results behind new diagnoses


def test_coding_intensity_counts_unbacked_new_diagnoses_only(store):
    flags = _by_entity(coding_intensity_flags(store, WINDOW))
    assert flags["flagged"].to_dict() == {"P1": False, "P2": False, "P3": True, "P4": False}
    assert flags["count"].to_dict() == {"P1": 2, "P2": 2, "P3": 30, "P4": 2}  # P4's ten backed diagnoses left out
    assert flags.loc["P1", "peer_rate"] == pytest.approx(6 / 300)


def test_gaming_flags_stacks_the_three_checks(store):
    flags = gaming_flags(store, WINDOW)
    assert list(flags.columns) == ["entity_id", "check", "statistic", "limit", "flagged", "evidence"]
    flagged = flags[flags["flagged"]]
    assert sorted(zip(flagged["check"], flagged["entity_id"])) == [
        ("coding_intensity", "P3"), ("deregistration_high_risk", "P1"), ("exception_reporting", "P2")
    ]


def test_measure_exclusions_and_exceptions_per_measure(store):
    n = 100
    entities = pa.table({"patient_id": [f"p{i}" for i in range(4 * n)], "entity_id": [f"E{i // n}" for i in range(4 * n)]})
    excepted = np.zeros(4 * n, dtype=np.int8)
    excepted[:40] = 1  # E0: 40 of 100
    excepted[[100, 200, 300]] = 1  # one each elsewhere
    results = pa.table({
        "measure_id": ["M1"] * (4 * n), "patient_id": entities["patient_id"], "denominator": np.ones(4 * n, dtype=np.int8),
        "denominator_exclusion": np.zeros(4 * n, dtype=np.int8), "denominator_exception": excepted,
    })
    flags = _by_entity(measure_exception_flags(store, results, entities))
    assert flags["flagged"].to_dict() == {"E0": True, "E1": False, "E2": False, "E3": False}
    assert set(flags["check"]) == {"exclusions_exceptions:M1"}


def test_denominator_shift_by_hand():
    # Lists grow 10% everywhere; peers' registers grow with them except S, whose register halves.
    before = pd.DataFrame({"entity_id": ["A", "B", "C", "S"], "denominator": [100, 100, 100, 100], "list_size": [1000] * 4})
    after = pd.DataFrame({"entity_id": ["A", "B", "C", "S"], "denominator": [110, 110, 110, 50], "list_size": [1100] * 4})
    flags = _by_entity(denominator_shift_flags(before, after))
    peer_change = 380 / 440  # observed after / list-scaled before
    expected = 110 * peer_change
    assert flags.loc["S", "statistic"] == pytest.approx((50 - expected) / np.sqrt(expected))
    assert flags["flagged"].to_dict() == {"A": False, "B": False, "C": False, "S": True}
