"""Plurality of visits with the most-recent-visit tie break (world in attribution_world.py)."""

from __future__ import annotations

from datetime import date

import pytest
from attribution_world import YEAR_2025, by_patient, store_fixture

from p4pkit.attribution import plurality_of_visits

D = date
VISITS = [
    # A: three visits with C1, two with C2 -> C1.
    ("A", "C1", "ambulatory", D(2025, 1, 10)),
    ("A", "C1", "ambulatory", D(2025, 2, 10)),
    ("A", "C1", "virtual", D(2025, 3, 10)),
    ("A", "C2", "ambulatory", D(2025, 4, 10)),
    ("A", "C2", "ambulatory", D(2025, 9, 10)),
    # B: two each with C1 (last 1 March) and C6 (last 1 May) -> C6, seen most recently.
    ("B", "C1", "ambulatory", D(2025, 2, 1)),
    ("B", "C1", "ambulatory", D(2025, 3, 1)),
    ("B", "C6", "ambulatory", D(2025, 4, 1)),
    ("B", "C6", "home", D(2025, 5, 1)),
    # C: only a cardiologist; D: only an inpatient stay; F: a visit in the previous year.
    ("C", "C3", "ambulatory", D(2025, 6, 1)),
    ("D", "C1", "inpatient", D(2025, 6, 1)),
    ("F", "C1", "ambulatory", D(2024, 12, 31)),
]
PATIENTS = ["A", "B", "C", "D", "E", "F"]


store = store_fixture(PATIENTS, visits=VISITS)


@pytest.fixture(scope="module")
def rows(store):
    return by_patient(plurality_of_visits(store, YEAR_2025))


def test_most_visits_wins(rows):
    a = rows["A"]
    assert (a["entity_id"], a["entity_type"], a["clinician_id"], a["step"]) == ("C1", "clinician", "C1", "plurality")
    assert a["reason"] == "plurality of primary-care visits: 3 of 5 visits, clinician C1"


def test_tie_goes_to_the_most_recent_visit(rows):
    b = rows["B"]
    assert b["entity_id"] == "C6"
    assert b["reason"].endswith("2 of 4 visits, clinician C6; tied with 1 other(s), most recent visit (2025-05-01) decides")


def test_organization_level_counts_visits_of_the_whole_practice(store):
    rows = by_patient(plurality_of_visits(store, YEAR_2025, entity="organization"))
    assert (rows["A"]["entity_id"], rows["A"]["entity_type"], rows["A"]["clinician_id"]) == ("P1", "practice", "C1")
    assert rows["A"]["reason"] == "plurality of primary-care visits: 3 of 5 visits, practice P1, clinician C1"


def test_aco_level_follows_parent_links(store):
    rows = by_patient(plurality_of_visits(store, YEAR_2025, entity="aco"))
    assert (rows["A"]["entity_id"], rows["B"]["entity_id"]) == ("ACO1", "ACO2")


def test_unattributed_patients_say_why(rows):
    expected = "unattributed: no primary-care visits from 2025-01-01 to 2025-12-31"
    assert {p: rows[p]["reason"] for p in "CDEF"} == dict.fromkeys("CDEF", expected)
    assert all(rows[p]["entity_id"] is None for p in "CDEF")


def test_specialist_visits_count_when_asked(store):
    rows = by_patient(plurality_of_visits(store, YEAR_2025, primary_care_only=False))
    assert (rows["C"]["entity_id"], rows["C"]["reason"]) == ("C3", "plurality of visits: 1 of 1 visits, clinician C3")
    assert rows["D"]["entity_id"] is None


SAME_DAY = [
    # G: one visit each with C1 and C2 on the same day: the smallest id decides, and the reason says so.
    ("G", "C2", "ambulatory", D(2025, 7, 1)),
    ("G", "C1", "ambulatory", D(2025, 7, 1)),
]
same_day_store = store_fixture(["G"], visits=SAME_DAY)


def test_tie_on_the_same_day_goes_to_the_smallest_id(same_day_store):
    g = by_patient(plurality_of_visits(same_day_store, YEAR_2025))["G"]
    assert g["entity_id"] == "C1"
    assert g["reason"] == (
        "plurality of primary-care visits: 1 of 2 visits, clinician C1; tied with 1 other(s), "
        "also on the most recent visit (2025-07-01): the smallest entity id decides"
    )
