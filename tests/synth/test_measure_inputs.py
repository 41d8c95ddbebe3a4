"""What the measure library reads is in the synthetic world, coded as the library recognises it, at
plausible rates, and moving with the practice's true quality where care quality should show."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

import p4pkit.model as model_package
from p4pkit.measures.library import mncm_odc, qof_ast_review, qof_copd_review, qof_hyp_bp140, readmission_30day
from p4pkit.model import codes
from p4pkit.synth import targets

VALUESETS = Path(model_package.__file__).parent / "valuesets"
END = pd.Timestamp("2025-12-31")


def value_set(oid: str) -> set[tuple[str, str]]:
    expansion = json.loads((VALUESETS / f"{oid}.json").read_text())["expansion"]["contains"]
    return {(c["system"], c["code"]) for c in expansion}


def pairs(events: pd.DataFrame) -> set[tuple[str, str]]:
    return set(zip(events["code_system"], events["code"]))


def ages(world) -> pd.Series:
    people = world["patients"].set_index("patient_id")
    return (END - pd.to_datetime(people["birth_date"])).dt.days / 365.25


def test_medications_and_qof_records_use_the_codes_the_library_matches(world):
    events = world["events"]
    meds = events[events["kind"] == "medication"]
    statins, antiplatelets = set(mncm_odc.STATINS), set(mncm_odc.ANTIPLATELETS)
    assert pairs(meds) & statins and pairs(meds) & antiplatelets
    dementia = value_set("2.16.840.1.113883.3.464.1003.196.12.1510")
    cessation = value_set("2.16.840.1.113883.3.526.3.1190")
    assert pairs(meds) & dementia and pairs(meds) & cessation
    assert {s for s, _ in pairs(meds)} == {codes.RXNORM}

    found = pairs(events)
    assert set(qof_ast_review.REVIEW_CODES) & found and set(qof_copd_review.REVIEW_CODES) & found
    for register in (qof_ast_review.ASTHMA_REGISTER, qof_copd_review.COPD_REGISTER):
        assert set(register.unsuitable) <= found and set(register.dissent) <= found
    assert set(qof_copd_review.COPD_REGISTER.invitations) & found
    assert set(qof_hyp_bp140.HYPERTENSION_REGISTER.dissent) <= found
    assert set(qof_ast_review.ASTHMA_REGISTER.resolved) <= found

    assert (codes.SNOMED, targets.HOSPICE_CARE) in value_set("2.16.840.1.113883.3.526.3.1584")
    assert (codes.SNOMED, targets.FRAILTY_DEVICE) in value_set("2.16.840.1.113883.3.464.1003.118.12.1300")
    assert readmission_30day.PLANNED_ADMISSION == (codes.SNOMED, targets.ELECTIVE_TYPE)


def test_fills_carry_supply_intent_and_status_and_adherence_leaves_gaps(world):
    meds = world["events"].query("kind == 'medication' and not negated")
    supply = meds["code"].map({code: days for code, days in targets.MEDICATIONS.values()})
    assert (meds["days_supply"] == supply).all()
    runs_out = pd.to_datetime(meds["start"]).dt.normalize() + pd.to_timedelta(supply - 1, unit="D")
    assert ((meds["status"] == "active") == (runs_out >= END)).all()
    statin = meds[meds["code"] == "83367"].sort_values(["patient_id", "start"])
    gap = statin.groupby("patient_id")["start"].diff().dt.days.dropna()
    assert (gap % 90 == 0).all() and 0.1 < (gap > 90).mean() < 0.4  # three in four fills collected


def test_statin_prescribing_and_asthma_reviews_rise_with_true_practice_quality(world):
    truth = world["truth/conditions"]
    practice = world["enrollments"].query("kind == 'practice_list'").set_index("patient_id")["organization_id"]
    quality = world["truth/practices"].set_index("organization_id")["true_quality"]
    events = world["events"]

    def by_quality(patients: pd.Index, done: set[str]) -> pd.Series:
        frame = pd.DataFrame({"done": patients.isin(done), "better": quality[practice[patients]].to_numpy() > 0})
        return frame.groupby("better")["done"].mean()

    vascular = pd.Index(truth.loc[truth["condition"].isin(["diabetes", "chd"]), "patient_id"].unique())
    statin = by_quality(vascular, set(events.loc[(events["code"] == "83367") & ~events["negated"], "patient_id"]))
    assert 0.35 < statin[False] < statin[True] - 0.05 and statin[True] < 0.8

    asthma = pd.Index(truth.loc[truth["condition"] == "asthma", "patient_id"])
    reviewed = by_quality(asthma, set(events.loc[events["code"] == targets.ASTHMA_REVIEW, "patient_id"]))
    assert 0.5 < reviewed[False] < reviewed[True] - 0.05


def test_copd_invitations_come_as_two_or_three_letters_in_a_year_without_a_review(world):
    events = world["events"].assign(year=lambda e: pd.to_datetime(e["start"]).dt.year)
    letters = events[events["code"].isin(targets.COPD_INVITATIONS)]
    per_year = letters.groupby(["patient_id", "year"])
    assert per_year.size().isin([2, 3]).all() and len(per_year) > 20
    number = letters["code"].map({code: i for i, code in enumerate(targets.COPD_INVITATIONS)})
    in_order = letters.assign(number=number).sort_values(["patient_id", "year", "number"])
    assert in_order.groupby(["patient_id", "year"])["start"].apply(lambda d: d.is_monotonic_increasing).all()
    assert (in_order.groupby(["patient_id", "year"])["number"].min() == 0).all()
    reviews = set(zip(*events.loc[events["code"] == targets.COPD_REVIEW, ["patient_id", "year"]].T.to_numpy()))
    assert not reviews & set(per_year.groups)


def test_exclusion_facts_happen_at_low_published_rates_and_in_the_old(world):
    people = world["patients"].set_index("patient_id")
    age = ages(world)
    events, encounters = world["events"], world["encounters"]
    died = people.index[people["death_date"].notna()]
    hospice = set(encounters.loc[encounters["type_code"] == targets.HOSPICE_ENCOUNTER[0], "patient_id"])
    assert hospice <= set(died) and 0.3 < len(hospice) / len(died) < 0.55  # about half of decedents

    over_65 = age[age >= 65].index
    frail = set(world["truth/patients"].query("frail")["patient_id"])
    assert frail <= set(over_65) and 0.07 < len(frail) / len(over_65) < 0.2
    frailty_codes = {c for _, c in value_set("2.16.840.1.113883.3.464.1003.113.12.1074")}
    assert set(events.loc[events["code"].isin(frailty_codes), "patient_id"]) <= frail

    home = events[(events["code"] == targets.HOUSING_STATUS) & (events["value_code"] == targets.NURSING_HOME)]
    assert (age[home["patient_id"]] >= 66).all() and 0.005 < home["patient_id"].nunique() / len(over_65) < 0.05
    dementia = events[events["code"].isin(targets.DEMENTIA_CODES)]["patient_id"].unique()
    assert (age[dementia] >= 65).all() and 0.015 < len(dementia) / len(over_65) < 0.08


def test_advanced_illness_is_re_recorded_each_year_so_the_ecqm_lookback_sees_it(world):
    events = world["events"]
    truth = world["truth/conditions"]
    failing = set(truth.loc[truth["condition"] == "heart_failure", "patient_id"])
    at_visits = events[(events["code"] == "I50.9") & events["encounter_id"].notna()]
    assert set(at_visits["patient_id"]) <= failing
    in_2025 = at_visits[pd.to_datetime(at_visits["start"]).dt.year == 2025]["patient_id"].nunique()
    assert in_2025 > 0.5 * len(failing)


def test_elective_admissions_observation_stays_and_planned_readmissions(world):
    encounters = world["encounters"]
    stays = encounters[encounters["encounter_class"] == "inpatient"]
    elective = stays["type_code"] == targets.ELECTIVE_TYPE
    assert 0.12 < elective.mean() < 0.3
    assert (stays.loc[elective, "admission_source"] == "outp").all() and (stays.loc[~elective, "admission_source"] == "emd").all()
    observation = (encounters["encounter_class"] == "observation").sum()
    assert 0.12 < observation / len(stays) < 0.35


def test_resolved_diagnoses_sit_on_patients_without_the_condition(world):
    events = world["events"]
    truth = world["truth/conditions"]
    for name, diagnosis, resolved, share in targets.RESOLVED:
        old = events[events["code"] == diagnosis].set_index("patient_id")
        gone = events[events["code"] == resolved].set_index("patient_id")
        assert len(old) > 0.3 * share * len(world["patients"]) and set(old.index) == set(gone.index)
        assert not set(old.index) & set(truth.loc[truth["condition"] == name, "patient_id"])
        assert (old["end"].dt.normalize() == gone.loc[old.index, "start"].dt.normalize()).all()
        assert (old["status"] == "resolved").all()


def test_tobacco_users_get_counselling_and_some_a_cessation_drug(world):
    events = world["events"]
    users = set(events.loc[events["value_code"] == targets.SMOKER, "patient_id"])
    counselled = set(events.loc[events["code"] == targets.CESSATION[0], "patient_id"])
    drug = set(events.loc[events["code"] == targets.MEDICATIONS["varenicline"][0], "patient_id"])
    assert drug <= users and counselled <= users
    assert 0.4 < len(counselled) / len(users) < 0.9 and 0.05 < len(drug) / len(users) < 0.35
    assert np.isclose(len(users) / world["patients"].shape[0], 0.1, atol=0.06)
