"""Each switchable behaviour leaves its trace when on, is recorded in truth/, and leaves none when off."""

from __future__ import annotations

import pandas as pd
import pytest

from p4pkit.model import codes
from p4pkit.synth import BEHAVIOURS, generate, targets

PROGRAM_START = pd.Timestamp("2024-01-01")


CHRONIC_CODES = {*targets.DIAGNOSIS_CODES.values(), *targets.CKD_STAGE_CODES, *targets.UPCODE_CODES}


def condition_codes_explained_by_truth(world) -> pd.Series:
    """For each chronic-condition diagnosis event: is its code one the patient's TRUE conditions would produce?"""
    events = world["events"].query("kind == 'condition'")
    events = events[events["code"].isin(CHRONIC_CODES)]
    truth = world["truth/conditions"]
    true_codes = {(row.patient_id, code) for row in truth.itertuples()
                  for code in ([targets.DIAGNOSIS_CODES[row.condition]] if row.condition != "ckd" else targets.CKD_STAGE_CODES)}
    return pd.Series([(p, c) in true_codes for p, c in zip(events["patient_id"], events["code"])], index=events.index)


def touched(world, behaviour: str) -> pd.DataFrame:
    rows = world["truth/behaviour_patients"]
    return rows[rows["behaviour"] == behaviour]


def assert_at_own_practice(world, events: pd.DataFrame) -> None:
    """The behaviour is the practice's: its records sit on visits to the patient's own practice."""
    at = events["encounter_id"].map(world["encounters"].set_index("encounter_id")["organization_id"])
    home = world["enrollments"].query("kind == 'practice_list'").set_index("patient_id")["organization_id"]
    assert (at == events["patient_id"].map(home)).all()


def behaviour_exceptions(world) -> pd.DataFrame:
    """"Not done" records with the behaviour's reason (natural PCAs carry other reasons)."""
    events = world["events"]
    return events[events["negated"] & (events["negation_reason_code"] == targets.EXCEPTION_REASON)]


def test_with_every_behaviour_off_there_is_no_trace(world):
    assert behaviour_exceptions(world).empty
    natural = world["events"][world["events"]["negated"]]
    assert len(natural) > 50 and set(natural["negation_reason_code"]) == {targets.NOT_INDICATED, targets.NOT_TOLERATED, targets.REFUSED}
    assert "removed_by_practice" not in set(world["enrollments"]["end_reason"].dropna())
    assert condition_codes_explained_by_truth(world).all()
    assert world["truth/behaviours"].empty and world["truth/behaviour_patients"].empty
    assert not world["truth/practices"][list(BEHAVIOURS)].any().any()


def test_switched_on_behaviours_are_recorded_with_their_practices_and_start(gamed):
    recorded = gamed["truth/behaviours"]
    flags = gamed["truth/practices"].set_index("organization_id")[list(BEHAVIOURS)]
    for name in BEHAVIOURS:
        chosen = set(recorded.loc[recorded["behaviour"] == name, "organization_id"])
        assert chosen == set(flags.index[flags[name]]) and 0 < len(chosen) < len(flags), name
    assert (pd.to_datetime(recorded["start_date"]) == PROGRAM_START).all()


def test_exception_reporting_writes_not_done_records_only_where_truth_says(gamed):
    negated = behaviour_exceptions(gamed)
    marked = touched(gamed, "exception_reporting")
    assert len(negated) > 50
    # Truth lists every patient the practice targets; those still seen after the start have records.
    assert set(negated["patient_id"]) <= set(marked["patient_id"])
    assert negated["patient_id"].nunique() > 0.5 * len(marked)
    assert set(negated["code"]) == {targets.HBA1C.loinc, targets.SYSTOLIC.loinc, targets.DIASTOLIC.loinc}
    assert (negated["start"] >= PROGRAM_START).all() and negated["value_num"].isna().all()
    assert (negated["negation_reason_system"] == codes.SNOMED).all()
    practices = gamed["truth/practices"].set_index("organization_id")["exception_reporting"]
    assert practices[marked["organization_id"]].all()
    assert_at_own_practice(gamed, negated)


def test_exception_reporting_marks_asthma_and_copd_patients_unsuitable_with_the_qof_pca_codes(gamed, world):
    unsuitable = {targets.PCA_CODES[name][0] for name in ("asthma", "copd")}
    marked = set(touched(gamed, "exception_reporting")["patient_id"])

    def pca_rate(w, patients: set[str]) -> float:
        events = w["events"]
        coded = events[events["code"].isin(unsuitable) & (events["start"] >= PROGRAM_START)]
        truth = w["truth/conditions"]
        register = set(truth.loc[truth["condition"].isin(["asthma", "copd"]), "patient_id"]) & patients
        return len(set(coded["patient_id"]) & register) / len(register)

    # Natural "unsuitable" PCAs run at about 1% a year; the targeted patients get one every year.
    assert pca_rate(gamed, marked) > 0.8
    assert pca_rate(world, set(world["patients"]["patient_id"])) < 0.05


def test_deregistration_ends_high_risk_registrations_and_their_care(gamed):
    lists = gamed["enrollments"].query("kind == 'practice_list'")
    removed = lists[lists["end_reason"] == "removed_by_practice"]
    marked = touched(gamed, "deregistration")
    assert len(removed) > 5
    assert set(removed["patient_id"]) == set(marked["patient_id"])
    assert (pd.to_datetime(removed["end_date"]) >= PROGRAM_START).all()
    practices = gamed["truth/practices"].set_index("organization_id")["deregistration"]
    assert practices[removed["organization_id"]].all()
    severity = gamed["truth/patients"].set_index("patient_id")["severity"]
    assert (severity[removed["patient_id"]] > 0.8).all()
    encounters = gamed["encounters"].merge(removed[["patient_id", "end_date"]], on="patient_id")
    assert (encounters["start"].dt.normalize() <= pd.to_datetime(encounters["end_date"])).all()


def test_upcoding_adds_diagnoses_without_clinical_change_only_for_marked_patients(gamed):
    events = gamed["events"]
    extra = events[(events["kind"] == "condition") & ~condition_codes_explained_by_truth(gamed)]
    marked = touched(gamed, "upcoding")
    assert len(extra) > 20
    assert set(extra["patient_id"]) <= set(marked["patient_id"])
    assert set(extra["code"]) <= set(targets.UPCODE_CODES)
    assert (extra["start"] >= PROGRAM_START).all() and extra["encounter_id"].notna().all()
    assert_at_own_practice(gamed, extra)
    claims = gamed["claim_lines"].set_index("encounter_id")
    on_claim = claims.loc[extra["encounter_id"], "diagnosis_code"].groupby(level=0).agg(set)
    assert all(code in on_claim[e] for e, code in zip(extra["encounter_id"], extra["code"]))


@pytest.fixture(scope="module")
def program(tmp_path_factory, world_at):
    """Only the program effect switched on, in half the practices."""
    folder = tmp_path_factory.mktemp("synth") / "program"
    generate(15_000, 11, folder, behaviours=["program_effect"], behaviour_share=0.5)
    return world_at(folder)


def _did(program, code: str, patients: set[str]) -> float:
    """Difference in differences of mean value: (program after - before) - (others after - before)."""
    events = program["events"]
    rows = events[(events["code"] == code) & events["patient_id"].isin(patients)]
    practice = program["enrollments"].query("kind == 'practice_list'").set_index("patient_id")["organization_id"]
    flags = program["truth/practices"].set_index("organization_id")["program_effect"]
    rows = rows.assign(treated=flags[rows["patient_id"].map(practice)].to_numpy(), after=rows["start"] >= PROGRAM_START)
    mean = rows.groupby(["treated", "after"])["value_num"].mean()
    return (mean[True, True] - mean[True, False]) - (mean[False, True] - mean[False, False])


def test_program_effect_improves_incentivised_measures_only(program):
    truth = program["truth/conditions"]
    diabetics = set(truth.loc[truth["condition"] == "diabetes", "patient_id"])
    hypertensives = set(truth.loc[truth["condition"] == "hypertension", "patient_id"])
    assert -0.8 < _did(program, targets.HBA1C.loinc, diabetics) < -0.25  # set: -0.5 percentage points
    assert -9 < _did(program, targets.SYSTOLIC.loinc, hypertensives) < -3  # set: -6 mm[Hg]

    # Cholesterol testing is not incentivised: its rate per primary-care visit does not move.
    events, encounters = program["events"], program["encounters"]
    visits = encounters[encounters["encounter_class"] == "ambulatory"]
    tested = set(events.loc[events["code"] == targets.CHOLESTEROL.loinc, "encounter_id"])
    practice = program["enrollments"].query("kind == 'practice_list'").set_index("patient_id")["organization_id"]
    flags = program["truth/practices"].set_index("organization_id")["program_effect"]
    visits = visits.assign(tested=visits["encounter_id"].isin(tested),
                           treated=flags[visits["patient_id"].map(practice)].to_numpy(),
                           after=visits["start"] >= PROGRAM_START)
    rate = visits.groupby(["treated", "after"])["tested"].mean()
    change = (rate[True, True] - rate[True, False]) - (rate[False, True] - rate[False, False])
    assert abs(change) < 0.02
