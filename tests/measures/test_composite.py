"""Spec tests for MNCM Optimal Diabetes Care: all-or-none over five components, each boundary
strict (HbA1c < 8.0%, BP < 140/90), statin and antiplatelet exceptions, and one group per component."""

from __future__ import annotations

from datetime import date

import pytest
from spec_world import World, run

from p4pkit.model.codes import CPT, ICD10CM, LOINC, RXNORM, SNOMED

YEAR_2025 = "2025-01-01:2025-12-31"
HBA1C, SYSTOLIC, DIASTOLIC = (LOINC, "4548-4"), (LOINC, "8480-6"), (LOINC, "8462-4")
TOBACCO, NON_SMOKER, SMOKER = (LOINC, "72166-2"), (SNOMED, "8392000"), (SNOMED, "77176002")
ATORVASTATIN, ASPIRIN = (RXNORM, "83367"), (RXNORM, "1191")
CONTRAINDICATED = (SNOMED, "183932001")


def diabetic(w: World, pid: str, a1c=7.0, bp=(130, 80), statin=True, tobacco=NON_SMOKER, born=date(1960, 6, 15), died=None) -> World:
    """A patient with diabetes and an office visit in 2025 who meets every goal unless told otherwise."""
    w.patient(pid, born, died).event(pid, "condition", (ICD10CM, "E11.9"), date(2019, 3, 1))
    w.encounter(f"{pid}-visit", pid, "ambulatory", date(2025, 5, 1), type_code=(CPT, "99213"))
    if a1c is not None:
        w.event(pid, "observation", HBA1C, date(2025, 5, 1), a1c)
    w.event(pid, "observation", SYSTOLIC, date(2025, 5, 1), bp[0]).event(pid, "observation", DIASTOLIC, date(2025, 5, 1), bp[1])
    if statin:
        w.event(pid, "medication", ATORVASTATIN, date(2025, 1, 10), end=date(2025, 12, 31))
    return w.event(pid, "observation", TOBACCO, date(2025, 5, 1), value_code=tobacco)


@pytest.fixture(scope="module")
def results():
    w = World()
    diabetic(w, "all_met")
    diabetic(w, "a1c_8_0", a1c=8.0)
    diabetic(w, "a1c_7_9", a1c=7.9)
    diabetic(w, "no_a1c", a1c=None)
    diabetic(w, "sbp_140", bp=(140, 80))
    diabetic(w, "dbp_90", bp=(130, 90))
    diabetic(w, "no_statin", statin=False)
    diabetic(w, "statin_contraindicated", statin=False)
    w.event("statin_contraindicated", "medication", ATORVASTATIN, date(2025, 2, 1), negated=True, reason=CONTRAINDICATED)
    diabetic(w, "smoker", tobacco=SMOKER)
    diabetic(w, "ivd_no_aspirin").event("ivd_no_aspirin", "condition", (ICD10CM, "I25.10"), date(2022, 1, 1))
    diabetic(w, "ivd_aspirin").event("ivd_aspirin", "condition", (ICD10CM, "I25.10"), date(2022, 1, 1))
    w.event("ivd_aspirin", "medication", ASPIRIN, date(2025, 1, 10), end=date(2025, 12, 31))
    diabetic(w, "died", died=date(2025, 6, 1))
    diabetic(w, "aged76", born=date(1948, 6, 1))  # 76 on 1 January 2025
    return run(w, "MNCM_ODC", YEAR_2025)


def _numerators(results, group: int) -> dict[str, int]:
    return {r["patient_id"]: r["numerator"] for r in results.to_pylist() if r["group_index"] == group}


def test_all_or_none(results):
    assert _numerators(results, 0) == {
        "all_met": 1, "a1c_8_0": 0, "a1c_7_9": 1, "no_a1c": 0, "sbp_140": 0, "dbp_90": 0, "no_statin": 0,
        "statin_contraindicated": 1, "smoker": 0, "ivd_no_aspirin": 0, "ivd_aspirin": 1, "died": 0,
    }


def test_exclusion_and_age(results):
    rows = {r["patient_id"]: r for r in results.to_pylist() if r["group_index"] == 0}
    assert "aged76" not in rows
    assert rows["died"]["exclusion_reason"] == "died"


@pytest.mark.parametrize(
    ("group", "failing"),
    [
        (1, {"a1c_8_0", "no_a1c"}),
        (2, {"sbp_140", "dbp_90"}),
        (3, {"no_statin"}),
        (4, {"smoker"}),
        (5, {"ivd_no_aspirin"}),
    ],
)
def test_each_component_group_fails_only_its_own_patients(results, group, failing):
    numerators = _numerators(results, group)
    assert {p for p, n in numerators.items() if n == 0} == failing | {"died"}
