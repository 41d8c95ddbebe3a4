"""Hospital of stay: most inpatient stays at a hospital, ties to the most recent stay, then the smallest id."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from attribution_world import YEAR_2025, by_patient

from p4pkit.attribution import attribute
from p4pkit.model.schemas import conform
from p4pkit.store import Store

D = date
STAYS = [
    # patient, hospital (organization on the encounter), class, admission day
    ("A", "H1", "inpatient", D(2025, 1, 5)),
    ("A", "H1", "inpatient", D(2025, 3, 5)),
    ("A", "H2", "inpatient", D(2025, 9, 5)),
    # B: one stay at each, H2 later -> H2.
    ("B", "H1", "inpatient", D(2025, 2, 1)),
    ("B", "H2", "inpatient", D(2025, 6, 1)),
    # C: both on the same day -> the smaller id, H1.
    ("C", "H2", "inpatient", D(2025, 4, 1)),
    ("C", "H1", "inpatient", D(2025, 4, 1)),
    # D: an ED visit only; E: a stay at a practice (not a hospital); F: a stay the year before.
    ("D", "H1", "emergency", D(2025, 5, 1)),
    ("E", "P1", "inpatient", D(2025, 5, 1)),
    ("F", "H1", "inpatient", D(2024, 12, 30)),
]


@pytest.fixture(scope="module")
def store():
    patients = sorted({s[0] for s in STAYS})
    store = Store()
    store.replace_tables(
        {
            "organizations": conform("organizations", {"organization_id": ["H1", "H2", "P1"], "name": ["H1", "H2", "P1"],
                                                       "kind": ["hospital", "hospital", "practice"]}),
            "patients": conform("patients", {"patient_id": patients, "birth_date": [D(1950, 1, 1)] * len(patients),
                                             "sex": ["male"] * len(patients)}),
            "encounters": conform(
                "encounters",
                {
                    "encounter_id": [f"S{i}" for i in range(len(STAYS))],
                    "patient_id": [s[0] for s in STAYS],
                    "organization_id": [s[1] for s in STAYS],
                    "encounter_class": [s[2] for s in STAYS],
                    "start": [datetime.combine(s[3], datetime.min.time()) for s in STAYS],
                },
            ),
        }
    )
    with store:
        yield store


@pytest.fixture(scope="module")
def rows(store):
    return by_patient(attribute(store, "hospital_of_stay", YEAR_2025))


def test_most_stays_win(rows):
    assert (rows["A"]["entity_id"], rows["A"]["entity_type"], rows["A"]["step"]) == ("H1", "hospital", "plurality")
    assert rows["A"]["reason"] == "hospital of most stays: 2 of 3 stays at hospital H1"


def test_a_tie_goes_to_the_most_recent_stay_then_the_smallest_id(rows):
    assert rows["B"]["entity_id"] == "H2"
    assert rows["B"]["reason"].endswith("tied with 1 other(s), most recent stay (2025-06-01) decides")
    assert rows["C"]["entity_id"] == "H1"
    assert rows["C"]["reason"].endswith("the smallest entity id decides")


def test_emergency_visits_practices_and_other_years_do_not_count(rows):
    for patient in "DEF":
        assert rows[patient]["entity_id"] is None
        assert rows[patient]["reason"] == "unattributed: no hospital stay from 2025-01-01 to 2025-12-31"


def test_emergency_visits_count_when_the_program_says_so(store):
    rows = by_patient(attribute(store, "hospital_of_stay", YEAR_2025, encounter_classes=["inpatient", "emergency"]))
    assert rows["D"]["entity_id"] == "H1"
