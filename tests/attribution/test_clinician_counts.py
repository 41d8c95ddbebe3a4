"""Distinct clinicians per patient (the "two primary-care physicians and five specialists" question)."""

from __future__ import annotations

from datetime import date

from attribution_world import YEAR_2025, store_fixture

from p4pkit.attribution import clinician_count_summary, clinicians_per_patient

D = date
VISITS = [
    ("A", "C1", "ambulatory", D(2025, 1, 5)),
    ("A", "C3", "ambulatory", D(2025, 2, 5)),
    ("B", "C1", "ambulatory", D(2025, 3, 5)),
    ("B", "C1", "ambulatory", D(2025, 4, 5)),
    ("C", "C6", "ambulatory", D(2025, 1, 5)),
    ("C", "C3", "inpatient", D(2025, 2, 5)),
    ("C", "C5", "ambulatory", D(2025, 3, 5)),
    ("D", "C1", "ambulatory", D(2024, 3, 5)),  # outside the period: D was not seen
]
CLAIMS = [
    ("A", "C2", "99213", "80.00", D(2025, 5, 1)),
    ("A", "C5", "99214", "120.00", D(2025, 6, 1)),
    ("A", "C1", "99213", "80.00", D(2025, 1, 5)),  # the same clinician seen twice counts once
    ("C", "C4", "99213", "70.00", D(2025, 7, 1)),  # a nurse practitioner outside primary care
]
CONDITIONS = [
    ("A", "E11.9"), ("A", "E11.65"), ("A", "I10"), ("A", "N18.3"),  # 3 categories: E11, I10, N18
    ("B", "I10"),
    ("C", "E11.9"), ("C", "I50.9"), ("C", "J44.9"),
]


store = store_fixture(["A", "B", "C", "D"], claims=CLAIMS, visits=VISITS, conditions=CONDITIONS)


def test_counts_per_patient(store):
    rows = {r["patient_id"]: r for r in clinicians_per_patient(store, YEAR_2025).to_pylist()}
    assert set(rows) == {"A", "B", "C"}
    counts = {p: (r["primary_care_clinicians"], r["specialists"], r["clinicians"], r["condition_categories"], r["complex"]) for p, r in rows.items()}
    assert counts == {"A": (2, 2, 4, 3, True), "B": (1, 0, 1, 1, False), "C": (1, 3, 4, 3, True)}


def test_medians_overall_and_for_complex_patients(store):
    summary = {r["group"]: r for r in clinician_count_summary(store, YEAR_2025).to_pylist()}
    everyone, complex_ = summary["all patients seen"], summary["complex patients"]
    assert (everyone["patients"], everyone["median_primary_care"], everyone["median_specialists"], everyone["median_clinicians"]) == (3, 1.0, 2.0, 4.0)
    assert (complex_["patients"], complex_["median_primary_care"], complex_["median_specialists"]) == (2, 1.5, 2.5)


def test_complex_threshold_is_a_parameter(store):
    summary = {r["group"]: r for r in clinician_count_summary(store, YEAR_2025, complex_min_conditions=1).to_pylist()}
    assert summary["complex patients"]["patients"] == 3
