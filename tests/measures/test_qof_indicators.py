"""Spec tests for the QOF-style indicators: registers, the inclusive targets at their exact
boundaries, and Personalised Care Adjustments removing patients from the denominator.

QOF year 2024/25: the period is 1 April 2024 - 31 March 2025 and the achievement date 31 March 2025.
"""

from __future__ import annotations

from datetime import date

import pytest
from spec_world import World, results_by_patient, run

from p4pkit.measures import summarise
from p4pkit.measures.library import qof_dm_hba1c58
from p4pkit.model import units
from p4pkit.model.codes import ICD10CM, LOINC, SNOMED

QOF_YEAR = "2024-04-01:2025-03-31"
HBA1C = (LOINC, "4548-4")
SYSTOLIC, DIASTOLIC = (LOINC, "8480-6"), (LOINC, "8462-4")
CONTRAINDICATED = (SNOMED, "183932001")  # eCQM Medical Reason: procedure contraindicated
REFUSED = (SNOMED, "105480006")  # refusal of treatment by patient


def mmol(value: float) -> float:
    """An IFCC HbA1c as ingest stores it (%), by the same conversion ingest uses."""
    return units.to_canonical(value, "59261-8", "mmol/mol")


def on_register(world: World, pid: str, code, born=date(1960, 6, 15), registered=date(2010, 1, 1), diagnosed=date(2015, 5, 1)):
    return world.patient(pid, born).registered(pid, registered).event(pid, "condition", code, diagnosed)


def test_threshold_is_58_mmol_per_mol_in_percent():
    assert qof_dm_hba1c58.HBA1C_TARGET_PERCENT == pytest.approx(0.09148 * 58 + 2.152)
    assert qof_dm_hba1c58.HBA1C_TARGET_PERCENT == pytest.approx(7.45784)


@pytest.fixture(scope="module")
def diabetes():
    w = World()
    dm = (ICD10CM, "E11.9")
    for pid in ("at58", "at59", "latest_counts", "frail", "unsuitable", "dissent", "met_with_dissent", "old_test", "no_test"):
        on_register(w, pid, dm)
    w.event("at58", "observation", HBA1C, date(2024, 10, 1), mmol(58))
    w.event("at59", "observation", HBA1C, date(2024, 10, 1), mmol(59))
    w.event("latest_counts", "observation", HBA1C, date(2024, 6, 1), mmol(50))
    w.event("latest_counts", "observation", HBA1C, date(2025, 2, 1), mmol(70))
    w.event("frail", "observation", (SNOMED, "925831000000107"), date(2024, 9, 1))
    w.event("frail", "observation", HBA1C, date(2024, 10, 1), mmol(80))
    w.event("unsuitable", "observation", HBA1C, date(2024, 11, 1), negated=True, reason=CONTRAINDICATED)
    w.event("dissent", "observation", HBA1C, date(2024, 11, 1), negated=True, reason=REFUSED)
    w.event("met_with_dissent", "observation", HBA1C, date(2024, 11, 1), negated=True, reason=REFUSED)
    w.event("met_with_dissent", "observation", HBA1C, date(2024, 12, 1), mmol(48))
    w.event("old_test", "observation", HBA1C, date(2024, 3, 31), mmol(40))  # the day before the 12 months
    # Register edges: resolved, resolved then re-diagnosed, left the practice, too young.
    on_register(w, "resolved", dm).event("resolved", "observation", (SNOMED, "315051004"), date(2020, 1, 1))
    on_register(w, "rediagnosed", dm).event("rediagnosed", "observation", (SNOMED, "315051004"), date(2018, 1, 1))
    w.event("rediagnosed", "condition", dm, date(2021, 3, 1))
    w.patient("left", date(1960, 1, 1)).registered("left", date(2010, 1, 1), date(2025, 1, 1)).event("left", "condition", dm, date(2015, 1, 1))
    on_register(w, "aged16", dm, born=date(2008, 6, 1))
    # PCAs by date: diagnosed in the last 3 months, registered in the last 3 months.
    on_register(w, "new_diagnosis", dm, diagnosed=date(2025, 1, 1))
    on_register(w, "diagnosed_just_before", dm, diagnosed=date(2024, 12, 31))
    on_register(w, "new_registration", dm, registered=date(2025, 1, 15))
    return run(w, "QOF_DM_HBA1C58", QOF_YEAR)


def _rows(table, group: int = 0) -> dict[str, dict]:
    return {r["patient_id"]: r for r in table.to_pylist() if r["group_index"] == group}


def test_diabetes_register(diabetes):
    rows = _rows(diabetes)
    assert "resolved" not in rows and "left" not in rows and "aged16" not in rows
    assert "rediagnosed" in rows


def test_hba1c_boundary_58_passes_59_fails(diabetes):
    rows = _rows(diabetes)
    assert rows["at58"]["numerator"] == 1
    assert rows["at59"]["numerator"] == 0 and rows["at59"]["denominator_exception"] == 0
    assert rows["latest_counts"]["numerator"] == 0
    assert rows["old_test"]["numerator"] == 0
    assert rows["no_test"]["numerator"] == 0


def test_frailty_excludes_and_pcas_except(diabetes):
    rows = _rows(diabetes)
    assert rows["frail"]["exclusion_reason"] == "moderate or severe frailty"
    expected = {
        "unsuitable": "PCA: patient unsuitable",
        "dissent": "PCA: informed dissent",
        "new_diagnosis": "PCA: diagnosed in the last 3 months",
        "new_registration": "PCA: registered in the last 3 months",
    }
    assert {pid: rows[pid]["exception_reason"] for pid in expected} == expected
    assert rows["diagnosed_just_before"]["denominator_exception"] == 0
    # QOF order: a patient who meets the target counts even with a PCA recorded.
    assert rows["met_with_dissent"]["numerator"] == 1 and rows["met_with_dissent"]["denominator_exception"] == 0


def test_diabetes_achievement(diabetes):
    (summary,) = summarise(diabetes).to_pylist()
    # 13 on the register, 1 frail excluded, 4 PCAs: QOF's A / (B - C) = 2 / (13 - 5).
    assert (summary["initial_population"], summary["exclusions"], summary["exceptions"], summary["numerator"]) == (13, 1, 4, 2)
    assert summary["performance_denominator"] == 8
    assert summary["rate"] == pytest.approx(2 / 8)


def test_hypertension_140_90_inclusive_and_age_limit():
    w = World()
    hyp = (ICD10CM, "I10")
    for pid in ("at140_90", "sys141", "dia91", "same_day", "dissent"):
        on_register(w, pid, hyp)
    on_register(w, "aged80", hyp, born=date(1944, 6, 1))
    for pid, sbp, dbp in (("at140_90", 140, 90), ("sys141", 141, 90), ("dia91", 140, 91), ("same_day", 150, 95), ("same_day", 138, 85), ("dissent", 150, 95), ("aged80", 120, 70)):
        w.event(pid, "observation", SYSTOLIC, date(2024, 9, 1), sbp).event(pid, "observation", DIASTOLIC, date(2024, 9, 1), dbp)
    w.event("dissent", "observation", (SNOMED, "716771000000106"), date(2024, 10, 1))
    rows = results_by_patient(w, "QOF_HYP_BP140", QOF_YEAR)
    assert "aged80" not in rows
    assert {pid: r["numerator"] for pid, r in rows.items()} == {"at140_90": 1, "sys141": 0, "dia91": 0, "same_day": 1, "dissent": 0}
    assert rows["dissent"]["exception_reason"] == "PCA: informed dissent"


def test_asthma_review_register_from_age_6_and_pca_codes():
    w = World()
    asthma = (ICD10CM, "J45.909")
    for pid in ("reviewed", "not_reviewed", "unsuitable"):
        on_register(w, pid, asthma)
    on_register(w, "aged5", asthma, born=date(2019, 6, 1))
    w.event("reviewed", "procedure", (SNOMED, "394700004"), date(2024, 7, 1))
    w.event("aged5", "procedure", (SNOMED, "394700004"), date(2024, 7, 1))
    w.event("unsuitable", "observation", (SNOMED, "717291000000103"), date(2024, 7, 1))
    rows = results_by_patient(w, "QOF_AST_REVIEW", QOF_YEAR)
    assert sorted(rows) == ["not_reviewed", "reviewed", "unsuitable"]
    assert rows["reviewed"]["numerator"] == 1 and rows["not_reviewed"]["numerator"] == 0
    assert rows["unsuitable"]["exception_reason"] == "PCA: patient unsuitable"


def test_copd_review_and_invitation_pca_needs_two_invitations():
    w = World()
    copd = (ICD10CM, "J44.9")
    for pid in ("reviewed", "two_invitations", "one_invitation", "resolved"):
        on_register(w, pid, copd)
    w.event("reviewed", "procedure", (SNOMED, "394703002"), date(2025, 3, 31))
    w.event("two_invitations", "communication", (SNOMED, "716241000000106"), date(2024, 6, 1))
    w.event("two_invitations", "communication", (SNOMED, "717021000000106"), date(2024, 8, 1))
    w.event("one_invitation", "communication", (SNOMED, "716241000000106"), date(2024, 6, 1))
    w.event("resolved", "observation", (SNOMED, "941201000000103"), date(2023, 1, 1))
    rows = results_by_patient(w, "QOF_COPD_REVIEW", QOF_YEAR)
    assert sorted(rows) == ["one_invitation", "reviewed", "two_invitations"]
    assert rows["reviewed"]["numerator"] == 1
    assert rows["two_invitations"]["exception_reason"] == "PCA: did not respond to invitations"
    assert rows["one_invitation"]["denominator_exception"] == 0
