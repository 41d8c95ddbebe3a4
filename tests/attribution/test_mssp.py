"""42 CFR 425.402 two-step assignment on tiny hand-worked claims (world in attribution_world.py)."""

from __future__ import annotations

from datetime import date

from p4pkit.attribution import ATTRIBUTION_SCHEMA, mssp_two_step

import pytest
from attribution_world import YEAR_2025, by_patient, store_fixture

D = date
CLAIMS = [
    # A, step 1: ACO1 (C1) 99213 $100 + 99214 $150 vs non-ACO P3 (C2) $200; the cardiology visit is step-2 only.
    ("A", "C1", "99213", "100.00", D(2025, 2, 1)),
    ("A", "C1", "99214", "150.00", D(2025, 5, 1)),
    ("A", "C2", "99215", "200.00", D(2025, 7, 1)),
    ("A", "C3", "99214", "900.00", D(2025, 8, 1)),
    # B, step 2: no primary-care physician; cardiologist (ACO1) $300 vs endocrinologist (ACO2) $120.
    ("B", "C3", "99214", "300.00", D(2025, 3, 1)),
    ("B", "C5", "99213", "120.00", D(2025, 4, 1)),
    # C, tie at $100: ACO1 on 1 March, ACO2 on 1 June -> the most recent service decides.
    ("C", "C1", "99213", "100.00", D(2025, 3, 1)),
    ("C", "C6", "G0439", "100.00", D(2025, 6, 1)),
    # D: plurality at the non-ACO practice P3.
    ("D", "C2", "99214", "200.00", D(2025, 3, 1)),
    ("D", "C1", "99213", "100.00", D(2025, 4, 1)),
    # E, step 2 only through a nurse practitioner: no physician service at ACO2 (pre-step fails).
    ("E", "C4", "99213", "90.00", D(2025, 3, 1)),
    # G: an ECG is not a primary-care service; H: a visit outside the period.
    ("G", "C1", "93000", "40.00", D(2025, 3, 1)),
    ("H", "C1", "99213", "100.00", D(2024, 12, 31)),
]
PATIENTS = ["A", "B", "C", "D", "E", "F", "G", "H"]


store = store_fixture(PATIENTS, claims=CLAIMS)


@pytest.fixture(scope="module")
def table(store):
    return mssp_two_step(store, YEAR_2025)


@pytest.fixture(scope="module")
def rows(table):
    return by_patient(table)


def test_step_one_plurality_of_primary_care_physician_charges(rows):
    a = rows["A"]
    assert (a["entity_id"], a["entity_type"], a["clinician_id"], a["step"]) == ("ACO1", "aco", "C1", "step 1")
    assert a["reason"] == (
        "step 1 (primary-care physicians): plurality of primary-care allowed charges: "
        "2 of 3 services' charges, $250.00 of $450.00, aco ACO1, clinician C1"
    )


def test_step_two_falls_back_to_specialists(rows):
    b = rows["B"]
    assert (b["entity_id"], b["clinician_id"], b["step"]) == ("ACO1", "C3", "step 2")
    assert "step 2 (specialists, NPs and PAs)" in b["reason"]
    assert "1 of 2 services' charges, $300.00 of $420.00" in b["reason"]


def test_tie_goes_to_most_recent_service(rows):
    c = rows["C"]
    assert (c["entity_id"], c["clinician_id"]) == ("ACO2", "C6")
    assert c["reason"].endswith("$100.00 of $200.00, aco ACO2, clinician C6; tied with 1 other(s), most recent primary-care service (2025-06-01) decides")


def test_plurality_outside_any_aco_leaves_patient_unassigned(rows):
    d = rows["D"]
    assert d["entity_id"] is None and d["step"] is None
    assert "$200.00 of $300.00, practice P3" in d["reason"]
    assert d["reason"].endswith("not assigned: the plurality is outside any ACO")


def test_pre_step_needs_a_physician_service(rows):
    e = rows["E"]
    assert e["entity_id"] is None
    assert e["reason"].endswith("no primary-care service there was by a physician (42 CFR 425.402(b)(1))")


def test_nurse_practitioners_in_step_one_when_switched_on(store):
    e = by_patient(mssp_two_step(store, YEAR_2025, nonphysicians_in_step_one=True))["E"]
    # Moving NPs into step 1 does not lift the physician pre-step.
    assert e["entity_id"] is None and e["reason"].startswith("step 1 (primary-care physicians)")


def test_no_primary_care_services_have_the_default_reason(rows):
    expected = "unassigned: no primary-care services by physicians, NPs or PAs from 2025-01-01 to 2025-12-31"
    assert [rows[p]["reason"] for p in ("F", "G", "H")] == [expected] * 3


def test_contract_shape_one_row_per_patient(table):
    assert table.schema == ATTRIBUTION_SCHEMA
    assert table.column("patient_id").to_pylist() == PATIENTS
    assert set(table.column("rule").to_pylist()) == {"mssp_two_step"}
    assert set(table.column("period_start").to_pylist()) == {date(2025, 1, 1)}


def test_organization_level_assigns_to_the_practice(store):
    rows = by_patient(mssp_two_step(store, YEAR_2025, entity="organization"))
    # At practice level the non-ACO practice P3 can win: D goes to P3, A to P1 ($250 of $450).
    assert (rows["A"]["entity_id"], rows["A"]["entity_type"]) == ("P1", "practice")
    assert (rows["D"]["entity_id"], rows["D"]["step"]) == ("P3", "step 1")
