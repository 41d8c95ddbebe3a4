"""UK list-based attribution: the practice a patient is registered with on the reference date."""

from __future__ import annotations

from datetime import date

import pytest
from attribution_world import Period, by_patient, store_fixture

from p4pkit.attribution import registration

D = date
QOF_YEAR = Period(D(2023, 4, 1), D(2024, 3, 31))
REGISTRATIONS = [
    ("A", "P1", D(2019, 4, 1), None, None),
    # B moved from P1 to P3 in January: on 31 March B is P3's.
    ("B", "P1", D(2015, 1, 1), D(2024, 1, 15), "moved"),
    ("B", "P3", D(2024, 1, 20), None, None),
    # C left in February and registered nowhere else.
    ("C", "P1", D(2010, 1, 1), D(2024, 2, 1), "moved"),
    # D registers only after the reference date.
    ("D", "P2", D(2024, 5, 1), None, None),
    # F is on two open lists: the later registration wins.
    ("F", "P1", D(2020, 1, 1), None, None),
    ("F", "P2", D(2023, 6, 1), None, None),
    # G's registration ends on the reference date itself: still registered that day.
    ("G", "P3", D(2018, 1, 1), D(2024, 3, 31), "died"),
]
PATIENTS = ["A", "B", "C", "D", "E", "F", "G"]


store = store_fixture(PATIENTS, registrations=REGISTRATIONS)


@pytest.fixture(scope="module")
def rows(store):
    return by_patient(registration(store, QOF_YEAR))


def test_registered_on_the_reference_date(rows):
    assert {p: rows[p]["entity_id"] for p in "ABFG"} == {"A": "P1", "B": "P3", "F": "P2", "G": "P3"}
    assert rows["A"]["reason"] == "registered with practice P1 since 2019-04-01 (reference date 2024-03-31)"
    assert rows["A"]["step"] == "registration" and rows["A"]["entity_type"] == "practice"


def test_registration_ended_before_the_reference_date(rows):
    c = rows["C"]
    assert c["entity_id"] is None
    assert c["reason"] == "unattributed: registration with practice P1 ended 2024-02-01 (moved), before the reference date 2024-03-31"


def test_registration_starting_later_and_no_registration(rows):
    assert rows["D"]["reason"] == "unattributed: registration with practice P2 starts 2024-05-01, after the reference date 2024-03-31"
    assert rows["E"]["reason"] == "unattributed: no practice registration (reference date 2024-03-31)"


def test_explicit_reference_date(store):
    rows = by_patient(registration(store, QOF_YEAR, reference_date=D(2023, 12, 31)))
    # On 31 December B was still P1's and C was still registered.
    assert (rows["B"]["entity_id"], rows["C"]["entity_id"], rows["F"]["entity_id"]) == ("P1", "P1", "P2")
