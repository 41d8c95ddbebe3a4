"""The synthetic world looks like a primary-care population: structure, prevalence, care, codes, costs.

Targets and their sources are in docs/synthetic.md and p4pkit.synth.targets.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

import p4pkit.model as model_package
from p4pkit.model import codes
from p4pkit.model.units import NORMALISED
from p4pkit.synth import prevalence_report, targets

VALUESETS = Path(model_package.__file__).parent / "valuesets"
END = pd.Timestamp("2025-12-31")


def value_set(oid: str) -> set[tuple[str, str]]:
    expansion = json.loads((VALUESETS / f"{oid}.json").read_text())["expansion"]["contains"]
    return {(c["system"], c["code"]) for c in expansion}


def patients_with_facts(world) -> pd.DataFrame:
    people = world["patients"].set_index("patient_id")
    people["age"] = (END - pd.to_datetime(people["birth_date"])).dt.days / 365.25
    conditions = world["truth/conditions"]
    people["n_conditions"] = conditions.groupby("patient_id").size().reindex(people.index, fill_value=0)
    for name in targets.CONDITION_NAMES:
        people[name] = people.index.isin(conditions.loc[conditions["condition"] == name, "patient_id"])
    lists = world["enrollments"].query("kind == 'practice_list'").set_index("patient_id")
    people["practice"] = lists["organization_id"]
    return people


def test_recorded_prevalence_is_within_four_standard_errors_of_every_published_target(world):
    report = prevalence_report(world.folder).to_pandas().set_index("condition")
    assert list(report.index) == list(targets.CONDITION_NAMES)
    assert report["ok"].all(), report
    # 20,000 patients make the tolerance tight enough to mean something: under a fifth of the target
    # for the common registers.
    assert (report.loc[["hypertension", "depression", "diabetes"], "tolerance"]
            < 0.2 * report.loc[["hypertension", "depression", "diabetes"], "target"]).all()


def test_population_structure_deprivation_and_social_risk(world):
    people = patients_with_facts(world)
    quintile_share = people["deprivation_quintile"].value_counts(normalize=True)
    assert quintile_share.between(0.13, 0.27).all(), quintile_share  # about a fifth each
    risk = people.groupby("deprivation_quintile")["social_risk"].mean()
    assert risk[1] > 2.5 * risk[5]
    assert 0.75 < (people["ethnicity"] == "white").mean() < 0.88
    assert 0.17 < (people["age"] >= 65).mean() < 0.23  # ONS: about a fifth of the population is 65+
    assert people["sex"].isin(["female", "male"]).all()
    assert 0.48 < (people["sex"] == "female").mean() < 0.53


def test_conditions_follow_age_deprivation_and_cluster_together(world):
    adults = patients_with_facts(world).query("age >= 18")
    old, young = adults.query("age >= 65"), adults.query("age < 45")
    assert old["hypertension"].mean() > 5 * young["hypertension"].mean()
    by_quintile = adults.groupby("deprivation_quintile")["diabetes"].mean()
    assert by_quintile[1] > 1.3 * by_quintile[5]
    both = (adults["diabetes"] & adults["hypertension"]).mean()
    odds_ratio = both * (1 - adults["diabetes"] - adults["hypertension"] + both).mean() / (
        (adults["diabetes"].mean() - both) * (adults["hypertension"].mean() - both))
    assert odds_ratio > 2.0
    assert (old["n_conditions"] >= 2).mean() > 0.25


def test_complex_patients_see_a_median_of_two_primary_care_clinicians_and_five_specialists(world):
    """Pham et al. 2007 (in the project's source texts): median 2 PCPs and 5 specialists a year."""
    people = patients_with_facts(world)
    complex_ids = people.query("age >= 65 and n_conditions >= 3").index
    visits = world["encounters"]
    visits = visits[(visits["encounter_class"] == "ambulatory") & (pd.to_datetime(visits["start"]).dt.year == 2025)]
    primary = world["clinicians"].set_index("clinician_id")["primary_care"]
    visits = visits.assign(primary=visits["clinician_id"].map(primary))
    distinct = visits.groupby(["patient_id", "primary"])["clinician_id"].nunique().unstack(fill_value=0)
    distinct = distinct.reindex(complex_ids, fill_value=0)
    assert len(distinct) > 300
    assert distinct[True].median() == 2
    assert 4 <= distinct[False].median() <= 6


def _last_in_2025(events: pd.DataFrame, code: str) -> pd.Series:
    rows = events[(events["code"] == code) & ~events["negated"] & (pd.to_datetime(events["start"]).dt.year == 2025)]
    return rows.sort_values("start").groupby("patient_id")["value_num"].last()


def test_true_practice_quality_moves_lab_control_and_admissions(world):
    people = patients_with_facts(world)
    quality = world["truth/practices"].set_index("organization_id")["true_quality"]
    events = world["events"]
    a1c = _last_in_2025(events, targets.HBA1C.loinc)
    diabetics = people.loc[people["diabetes"]].join(a1c.rename("a1c"), how="inner")
    a1c_control = (diabetics["a1c"] < 8).groupby(diabetics["practice"]).mean()
    sbp, dbp = _last_in_2025(events, targets.SYSTOLIC.loinc), _last_in_2025(events, targets.DIASTOLIC.loinc)
    hypertensive = people.loc[people["hypertension"]].join(sbp.rename("sbp"), how="inner").join(dbp.rename("dbp"))
    bp_control = ((hypertensive["sbp"] < 140) & (hypertensive["dbp"] < 90)).groupby(hypertensive["practice"]).mean()
    assert a1c_control.corr(quality.reindex(a1c_control.index)) > 0.5
    assert bp_control.corr(quality.reindex(bp_control.index)) > 0.4

    stays = world["encounters"].query("encounter_class == 'inpatient'")
    admissions = stays.groupby(stays["patient_id"].map(people["practice"])).size() / people.groupby("practice").size()
    assert admissions.corr(quality.reindex(admissions.index)) < -0.2


def test_every_provider_has_a_true_quality_and_clinicians_inherit_their_organizations(world):
    clinicians = world["truth/clinicians"]
    organizations = pd.concat([world[f"truth/{name}"][["organization_id", "true_quality"]]
                               for name in ("practices", "hospitals", "clinician_groups")]).set_index("organization_id")
    assert set(clinicians["clinician_id"]) == set(world["clinicians"]["clinician_id"])
    inherited = clinicians["organization_id"].map(organizations["true_quality"])
    assert inherited.notna().all() and (inherited == clinicians["group_true_quality"]).all()
    assert 0.6 < clinicians["true_quality"].corr(clinicians["group_true_quality"]) < 0.99
    groups = world["organizations"].query("kind == 'clinician_group'")
    assert set(groups["organization_id"]) == set(world["truth/clinician_groups"]["organization_id"])


def test_codes_come_from_the_official_value_sets_with_their_system(world):
    events = world["events"]
    pairs = set(zip(events["code_system"], events["code"]))
    diagnosis_codes = {("http://hl7.org/fhir/sid/icd-10-cm", targets.DIAGNOSIS_CODES[c]) for c in ("diabetes",)}
    assert diagnosis_codes <= value_set("2.16.840.1.113883.3.464.1003.103.12.1001")  # Diabetes
    assert (codes.ICD10CM, "I10") in value_set("2.16.840.1.113883.3.464.1003.104.12.1011")  # Essential Hypertension
    hba1c = {p for p in pairs if p[1] == targets.HBA1C.loinc}
    assert hba1c and hba1c <= value_set("2.16.840.1.113883.3.464.1003.198.12.1013")
    assert (codes.LOINC, targets.MAMMOGRAM[0]) in value_set("2.16.840.1.113883.3.464.1003.108.12.1018")
    assert (codes.CPT, targets.COLONOSCOPY[0]) in value_set("2.16.840.1.113883.3.464.1003.108.12.1020")
    assert (codes.LOINC, targets.FIT[0]) in value_set("2.16.840.1.113883.3.464.1003.198.12.1011")
    assert (codes.LOINC, targets.TOBACCO_SCREEN) in value_set("2.16.840.1.113883.3.526.3.1278")
    assert (codes.CPT, targets.CESSATION[0]) in value_set("2.16.840.1.113883.3.526.3.509")
    smoking_values = set(zip(events["value_code_system"].dropna(), events["value_code"].dropna()))
    assert smoking_values == {(codes.SNOMED, c) for c in (targets.SMOKER, targets.NON_SMOKER, targets.NURSING_HOME)}
    assert (codes.SNOMED, targets.SMOKER) in value_set("2.16.840.1.113883.3.526.3.1170")
    assert (codes.SNOMED, targets.NON_SMOKER) in value_set("2.16.840.1.113883.3.526.3.1189")
    assert pairs >= {(codes.LOINC, "8480-6"), (codes.LOINC, "8462-4")} | hba1c

    encounters = world["encounters"]
    types = set(zip(encounters["encounter_class"], encounters["type_system"], encounters["type_code"]))
    office = value_set("2.16.840.1.113883.3.464.1003.101.12.1001")
    palliative = value_set("2.16.840.1.113883.3.464.1003.101.12.1090")
    emergency = value_set("2.16.840.1.113883.3.464.1003.101.12.1010")
    inpatient = value_set("2.16.840.1.113883.3.666.5.307")
    home = value_set("2.16.840.1.113883.3.464.1003.1003") | value_set("2.16.840.1.113883.3.464.1003.101.12.1088")
    observation = {(codes.HCPCS, targets.OBSERVATION[0])}
    allowed = {"ambulatory": office | palliative, "emergency": emergency, "inpatient": inpatient, "home": home,
               "observation": observation}
    for klass, system, code in types:
        assert (system, code) in allowed[klass], (klass, code)
    assert {klass for klass, _, _ in types} == set(allowed)

    # Diagnoses: the chronic conditions' ICD-10-CM codes, or codes of the eCQM exclusion value sets
    # (palliative care, frailty, advanced illness); SNOMED only for the old, resolved diagnoses.
    conditions = events[events["kind"] == "condition"]
    exclusion = set().union(*(value_set(f"2.16.840.1.113883.3.464.1003.{oid}") for oid in ("1167", "113.12.1074", "110.12.1082")))
    icd = conditions.loc[conditions["code_system"] == codes.ICD10CM, "code"]
    prefixes = ("I10", "E11.", "J45.", "J44.", "I25.", "I50.", "N18.3", "N18.4", "N18.5", "F32.", "F33.")
    assert icd.map(lambda c: c.startswith(prefixes) or (codes.ICD10CM, c) in exclusion).all()
    snomed = set(conditions.loc[conditions["code_system"] != codes.ICD10CM, "code"])
    assert snomed == {code for _, code, _, _ in targets.RESOLVED}


def test_events_carry_the_qi_core_category_and_status_the_measures_check(world):
    events = world["events"]
    category = events.groupby("code")["category"].agg(lambda c: set(c.dropna()))
    for lab in (targets.HBA1C, targets.CHOLESTEROL, targets.EGFR):
        assert category[lab.loinc] == {"laboratory"}
    for vital in (targets.SYSTOLIC, targets.DIASTOLIC, targets.BMI):
        assert category[vital.loinc] == {"vital-signs"}
    assert category[targets.TOBACCO_SCREEN] == {"survey"}  # CMS138 reads it as an assessment
    diagnoses = events[events["kind"] == "condition"]
    assert (diagnoses["verification_status"] == "confirmed").all()
    # Problem-list entries have no encounter; a diagnosis made at a visit is an encounter diagnosis.
    assert (diagnoses["category"] == diagnoses["encounter_id"].isna().map({True: "problem-list-item", False: "encounter-diagnosis"})).all()
    resolved = diagnoses["status"] == "resolved"
    assert (diagnoses.loc[~resolved, "status"] == "active").all() and diagnoses.loc[resolved, "end"].notna().all()
    assert set(events.loc[events["kind"] == "procedure", "status"]) == {"completed"}
    orders = events[events["kind"].isin(["medication", "device"])]
    assert (orders["intent"] == "order").all() and events.loc[~events.index.isin(orders.index), "intent"].isna().all()
    assert (world["encounters"]["status"] == "finished").all()


def test_labs_carry_canonical_units_and_blood_pressure_comes_as_a_pair_at_the_same_time(world):
    events = world["events"]
    for lab in (targets.HBA1C, targets.SYSTOLIC, targets.DIASTOLIC, targets.CHOLESTEROL, targets.EGFR, targets.BMI):
        rows = events[(events["code"] == lab.loinc) & ~events["negated"]]
        assert len(rows) > 100 and (rows["value_unit"] == lab.unit).all(), lab
        assert rows["value_num"].notna().all()
    for lab in (targets.HBA1C, targets.SYSTOLIC, targets.DIASTOLIC, targets.CHOLESTEROL):  # agree with model.units
        assert NORMALISED[lab.loinc].quantity.canonical_unit == lab.unit
    key = ["patient_id", "encounter_id", "start"]
    done = events[~events["negated"]]
    systolic = done[done["code"] == "8480-6"].set_index(key)["value_num"]
    diastolic = done[done["code"] == "8462-4"].set_index(key)["value_num"]
    assert systolic.index.sort_values().equals(diastolic.index.sort_values())
    assert (systolic > diastolic.reindex(systolic.index)).all()


def test_costs_deaths_admissions_and_readmissions_grow_with_morbidity(world):
    people = patients_with_facts(world)
    cost = world["encounters"].groupby("patient_id")["allowed_cost"].sum().astype(float)
    per_patient = cost.reindex(people.index, fill_value=0).groupby(people["n_conditions"].clip(upper=3)).mean()
    assert per_patient.is_monotonic_increasing and per_patient[3] > 4 * per_patient[0]
    died = people["death_date"].notna().groupby(people["n_conditions"].clip(upper=3)).mean()
    assert died[3] > 3 * died[0]

    stays = world["encounters"].query("encounter_class == 'inpatient'").sort_values(["patient_id", "start"])
    gap = (stays["start"] - stays.groupby("patient_id")["end"].shift()).dt.days
    readmitted = gap.between(0, 30)
    assert 0.08 < readmitted.sum() / len(stays) < 0.25  # US all-cause 30-day readmission is about 14%
    assert (world["encounters"]["encounter_class"] == "emergency").sum() > 0.2 * len(people)
    assert sorted(pd.to_datetime(world["encounters"]["start"]).dt.year.unique()) == [2023, 2024, 2025]

