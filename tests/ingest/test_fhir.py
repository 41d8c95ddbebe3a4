"""FHIR R4 ingest: official bundles round-trip into the canonical tables; each mapping rule and
error rule on small hand-made resources."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from p4pkit.errors import UserError
from p4pkit.ingest.fhir import read_fhir, read_resources
from p4pkit.ingest.fhir.values import NOT_DONE_VALUESET, instant

QICORE = "http://hl7.org/fhir/us/qicore/StructureDefinition/"


def _official(shared_data, measure: str, uuid: str) -> list[dict]:
    document = json.loads((shared_data / "ecqm" / "measures" / measure / f"{uuid}.json").read_text())
    return [e["resource"] for e in document["bundle"]["entry"] if e["resource"]["resourceType"] != "MeasureReport"]


def _patient(pid: str = "p1", **extra) -> dict:
    return {"resourceType": "Patient", "id": pid, "birthDate": "1950-03-04", "gender": "female", **extra}


def _encounter(eid: str, period: dict, **extra) -> dict:
    return {"resourceType": "Encounter", "id": eid, "status": "finished", "class": {"code": "AMB"}, "subject": {"reference": "Patient/p1"}, "period": period, **extra}


def _row(tables, table: str, key: str, value: str) -> dict:
    (row,) = [r for r in tables[table].to_pylist() if r[key] == value]
    return row


def test_official_ecqm_bundles_round_trip(shared_data):
    """All 185 official cases: one patient each, every encounter, and the events per kind that the
    bundles hold (a BP panel adds a row per valued component; a condition in two encounters' diagnoses
    gets a row per encounter)."""
    patients = encounters = 0
    kinds: Counter = Counter()
    for file in sorted((shared_data / "ecqm" / "measures").glob("CMS*/*-*.json")):
        document = json.loads(file.read_text())
        resources = [e["resource"] for e in document["bundle"]["entry"] if e["resource"]["resourceType"] != "MeasureReport"]
        tables = read_resources(resources, str(file))
        patients += tables["patients"].num_rows
        encounters += tables["encounters"].num_rows
        kinds.update(tables["events"]["kind"].to_pylist())
    assert (patients, encounters) == (185, 240)
    assert kinds == {"condition": 119, "observation": 71, "procedure": 21, "medication": 26, "device": 21, "service_request": 4}


def test_blood_pressure_panel_becomes_systolic_and_diastolic_events(shared_data):
    tables = read_resources(_official(shared_data, "CMS165", "6885264d-efbf-4e48-99a2-2e8ce29d61ba"))
    events = [e for e in tables["events"].to_pylist() if e["code_system"] == "http://loinc.org"]
    by_code = {e["code"]: e for e in events}
    assert set(by_code) >= {"85354-9", "8480-6", "8462-4"}
    assert by_code["8480-6"]["value_unit"] == "mm[Hg]" and by_code["8480-6"]["value_num"] is not None
    assert by_code["8480-6"]["event_id"].endswith("#component1")
    assert by_code["8480-6"]["start"] == by_code["85354-9"]["start"]
    assert by_code["85354-9"]["value_num"] is None


def test_device_request_not_done_follows_the_qicore_extension(shared_data):
    """qicore-doNotPerform true negates; false, absent or a misspelt URL (as in several official
    bundles) does not, as the CQL engine that produced the expected results reads it."""
    cases = {
        "5433549b-9ad5-4a8f-acc4-ce0f1b411712": True,  # qicore-doNotPerform = true
        "ede0ee7a-18ab-4ba7-934c-23618f1270ea": False,  # qicore-doNotPerform = false
        "7e69124d-ff34-4daf-b626-08d1283f71ba": False,  # no extension
    }
    for uuid, negated in cases.items():
        tables = read_resources(_official(shared_data, "CMS122", uuid))
        (device,) = [e for e in tables["events"].to_pylist() if e["kind"] == "device"]
        assert device["negated"] is negated, uuid
        assert (device["intent"], device["status"]) == ("order", "completed")
    misspelt = read_resources(_official(shared_data, "CMS130", "7822bd0a-ba96-46f0-8c57-204d37156184"))
    assert [e["negated"] for e in misspelt["events"].to_pylist() if e["kind"] == "device"] == [False]


def test_medication_by_reference_takes_the_medication_code_and_supply(shared_data):
    tables = read_resources(_official(shared_data, "CMS165", "45e01fed-56bb-483d-a860-af3d566bda11"))
    (med,) = [e for e in tables["events"].to_pylist() if e["kind"] == "medication"]
    assert (med["code_system"], med["code"]) == ("http://www.nlm.nih.gov/research/umls/rxnorm", "312836")
    assert med["days_supply"] == 90  # expectedSupplyDuration 90 "days", no refills
    assert med["start"] == dt.datetime(2025, 12, 30) and med["intent"] == "order"


def test_procedure_not_done_and_observation_cancelled():
    resources = [
        _patient(),
        {
            "resourceType": "Procedure",
            "id": "pr1",
            "status": "not-done",
            "statusReason": {"coding": [{"system": "http://snomed.info/sct", "code": "183944003"}]},
            "code": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "45378"}]},
            "subject": {"reference": "Patient/p1"},
            "extension": [{"url": QICORE + "qicore-recorded", "valueDateTime": "2025-05-01T10:00:00Z"}],
        },
        {
            "resourceType": "Observation",
            "id": "ob1",
            "status": "cancelled",
            "code": {"extension": [{"url": NOT_DONE_VALUESET, "valueCanonical": "http://cts.nlm.nih.gov/fhir/ValueSet/1.2.3"}]},
            "extension": [{"url": QICORE + "qicore-notDoneReason", "valueCodeableConcept": {"coding": [{"system": "http://snomed.info/sct", "code": "410534003"}]}}],
            "subject": {"reference": "Patient/p1"},
            "issued": "2025-06-01T08:00:00-05:00",
        },
    ]
    tables = read_resources(resources)
    procedure = _row(tables, "events", "event_id", "Procedure/pr1")
    assert procedure["negated"] and procedure["negation_reason_code"] == "183944003"
    assert procedure["start"] == procedure["recorded"] == dt.datetime(2025, 5, 1, 10)
    observation = _row(tables, "events", "event_id", "Observation/ob1")
    assert observation["negated"] and observation["negation_reason_code"] == "410534003"
    assert (observation["code_system"], observation["code"]) == (NOT_DONE_VALUESET, "http://cts.nlm.nih.gov/fhir/ValueSet/1.2.3")
    assert observation["start"] == dt.datetime(2025, 6, 1, 13)  # -05:00 → UTC


def test_medication_request_days_supplied_as_cumulative_medication_duration():
    """quantity 60 tablets, 1 tablet twice a day → 30 days; 2 refills → 30 × 3 = 90 days."""
    request = {
        "resourceType": "MedicationRequest",
        "id": "mr1",
        "status": "active",
        "intent": "order",
        "doNotPerform": True,
        "reasonCode": [{"coding": [{"system": "http://snomed.info/sct", "code": "105480006"}]}],
        "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "197361"}]},
        "subject": {"reference": "Patient/p1"},
        "authoredOn": "2025-02-01",
        "dosageInstruction": [{"timing": {"repeat": {"frequency": 2, "period": 1, "periodUnit": "d"}}, "doseAndRate": [{"doseQuantity": {"value": 1}}]}],
        "dispenseRequest": {"quantity": {"value": 60}, "numberOfRepeatsAllowed": 2},
    }
    event = read_resources([_patient(), request])["events"].to_pylist()[0]
    assert event["days_supply"] == 90
    assert event["start"] == dt.datetime(2025, 2, 1)
    assert event["negated"] and event["negation_reason_code"] == "105480006"


def test_bundle_references_by_full_url_and_conditional_identifier(tmp_path):
    """Synthea-style bundles: urn:uuid fullUrls and `Practitioner?identifier=system|value`."""
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"fullUrl": "urn:uuid:aaa", "resource": _patient("aaa")},
            {
                "fullUrl": "urn:uuid:enc",
                "resource": {
                    "resourceType": "Encounter",
                    "id": "enc",
                    "status": "finished",
                    "class": {"code": "IMP"},
                    "subject": {"reference": "urn:uuid:aaa"},
                    "period": {"start": "2025-03-01T09:00:00+01:00", "end": "2025-03-04T12:00:00+01:00"},
                    "participant": [{"individual": {"reference": "Practitioner?identifier=http://hl7.org/fhir/sid/us-npi|1234567893"}}],
                    "serviceProvider": {"reference": "Organization/h1"},
                    "hospitalization": {"dischargeDisposition": {"coding": [{"code": "home"}]}},
                    "diagnosis": [{"condition": {"reference": "urn:uuid:c1"}}],
                },
            },
            {
                "fullUrl": "urn:uuid:c1",
                "resource": {
                    "resourceType": "Condition",
                    "id": "c1",
                    "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "I10"}]},
                    "subject": {"reference": "urn:uuid:aaa"},
                    "onsetDateTime": "2020",
                    "clinicalStatus": {"coding": [{"code": "active"}]},
                    "verificationStatus": {"coding": [{"code": "confirmed"}]},
                },
            },
            {"resource": {"resourceType": "Organization", "id": "h1", "name": "General Hospital", "type": [{"coding": [{"code": "prov"}]}]}},
            {
                "resource": {
                    "resourceType": "Practitioner",
                    "id": "dr",
                    "identifier": [{"system": "http://hl7.org/fhir/sid/us-npi", "value": "1234567893"}],
                    "name": [{"given": ["Ann"], "family": "Lee"}],
                    "qualification": [{"code": {"coding": [{"code": "MD"}]}}],
                }
            },
        ],
    }
    (tmp_path / "bundle.json").write_text(json.dumps(bundle))
    tables = read_fhir(tmp_path / "bundle.json")
    encounter = tables["encounters"].to_pylist()[0]
    assert (encounter["patient_id"], encounter["clinician_id"], encounter["organization_id"]) == ("aaa", "dr", "h1")
    assert encounter["encounter_class"] == "inpatient" and encounter["discharge_disposition"] == "home"
    assert encounter["start"] == dt.datetime(2025, 3, 1, 8) and encounter["status"] == "finished"
    condition = tables["events"].to_pylist()[0]
    assert (condition["encounter_id"], condition["start"], condition["verification_status"]) == ("enc", dt.datetime(2020, 1, 1), "confirmed")
    clinician = tables["clinicians"].to_pylist()[0]
    assert (clinician["national_id"], clinician["role"], clinician["name"]) == ("1234567893", "physician", "Ann Lee")
    assert tables["organizations"].to_pylist()[0]["kind"] == "practice"


def test_coverage_and_explanation_of_benefit():
    resources = [
        _patient(),
        {"resourceType": "Organization", "id": "payer", "name": "Medicare"},
        {
            "resourceType": "Coverage",
            "id": "cov",
            "status": "active",
            "type": {"coding": [{"system": "https://nahdo.org/sopt", "code": "1"}]},
            "beneficiary": {"reference": "Patient/p1"},
            "payor": [{"reference": "Organization/payer"}],
            "period": {"start": "2025-01-01", "end": "2025-12-31"},
        },
        {
            "resourceType": "Coverage",
            "id": "self",
            "beneficiary": {"reference": "Patient/p1"},
            "payor": [{"reference": "Patient/p1"}],
            "period": {"start": "2025-01-01"},
        },
        {
            "resourceType": "ExplanationOfBenefit",
            "id": "eob",
            "patient": {"reference": "Patient/p1"},
            "provider": {"reference": "Organization/payer"},
            "billablePeriod": {"start": "2025-04-02"},
            "diagnosis": [{"sequence": 1, "diagnosisCodeableConcept": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "E11.9"}]}}],
            "item": [
                {
                    "sequence": 1,
                    "diagnosisSequence": [1],
                    "productOrService": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "99213"}]},
                    "locationCodeableConcept": {"coding": [{"code": "11"}]},
                    "adjudication": [
                        {"category": {"coding": [{"code": "eligible"}]}, "amount": {"value": 92.125}},
                        {"category": {"coding": [{"code": "benefit"}]}, "amount": {"value": 73.7}},
                    ],
                }
            ],
        },
    ]
    tables = read_resources(resources)
    enrollment = tables["enrollments"].to_pylist()
    assert [(e["enrollment_id"], e["kind"], e["organization_id"], e["plan"]) for e in enrollment] == [("cov", "payer", "payer", "1")]
    assert tables["organizations"].to_pylist()[0]["kind"] == "payer"  # untyped, but it pays
    line = tables["claim_lines"].to_pylist()[0]
    assert (line["allowed_amount"], line["paid_amount"]) == (Decimal("92.13"), Decimal("73.70"))  # half-up to the cent
    assert (line["service_start"], line["place_of_service"], line["diagnosis_code"]) == (dt.date(2025, 4, 2), "11", "E11.9")


def test_problems_name_file_entry_and_fhir_path_and_nothing_is_returned(tmp_path):
    bundle = {
        "resourceType": "Bundle",
        "entry": [
            {"resource": _patient()},
            {"resource": {"resourceType": "Condition", "id": "c1", "subject": {"reference": "Patient/ghost"}, "code": {"coding": [{"system": "http://snomed.info/sct", "code": "1"}]}, "onsetDateTime": "2025-01-01"}},
            {"resource": {"resourceType": "Observation", "id": "o1", "status": "final", "subject": {"reference": "Patient/p1"}, "code": {"coding": [{"system": "http://loinc.org", "code": "1-1"}]}, "effectiveDateTime": "01/02/2025"}},
            {"resource": {"resourceType": "Encounter", "id": "e1", "status": "finished", "class": {"code": "XYZ"}, "subject": {"reference": "Patient/p1"}, "period": {"start": "2025-01-01"}}},
        ],
    }
    (tmp_path / "in.json").write_text(json.dumps(bundle))
    with pytest.raises(UserError) as caught:
        read_fhir(tmp_path)
    found = {(p.row, p.column) for p in caught.value.problems}
    assert found == {(2, "Condition.subject"), (3, "Observation.effective[x]"), (4, "Encounter.class")}
    assert all(p.file == str(tmp_path / "in.json") for p in caught.value.problems)
    assert "ghost" not in caught.value.render()  # identifiers are never echoed


def test_ndjson_problems_name_the_line(tmp_path):
    folder = tmp_path / "bulk"
    (folder / "sub").mkdir(parents=True)
    (folder / "Patient.ndjson").write_text(json.dumps(_patient()) + "\n\n" + json.dumps(_patient("p2", birthDate=None)) + "\n")
    with pytest.raises(UserError) as caught:
        read_fhir(folder)
    assert [(p.file, p.row, p.column) for p in caught.value.problems] == [(str(folder / "Patient.ndjson"), 3, "Patient.birthDate")]
    (folder / "Patient.ndjson").write_text(json.dumps(_patient()) + "\n")
    (folder / "sub" / "Procedure.ndjson").write_text('{"resourceType": "Procedure", "id": "x"\n')
    with pytest.raises(UserError) as caught:
        read_fhir(folder)
    assert [(p.file, p.row) for p in caught.value.problems] == [(str(folder / "sub" / "Procedure.ndjson"), 1)]


@given(st.datetimes(min_value=dt.datetime(1900, 1, 2), max_value=dt.datetime(2100, 1, 1), timezones=st.timezones()))
def test_instants_become_utc_wall_time(moment):
    expected = moment.astimezone(dt.timezone.utc).replace(tzinfo=None)
    assert instant(moment.isoformat()) == expected


def test_reduced_precision_dates_mean_the_start_of_the_period():
    assert [instant(v) for v in ("2024", "2024-07", "2024-07-09")] == [dt.datetime(2024, 1, 1), dt.datetime(2024, 7, 1), dt.datetime(2024, 7, 9)]


def test_results_are_stored_in_their_canonical_unit():
    """HbA1c IFCC 75 mmol/mol → NGSP 0.09148 × 75 + 2.152 = 9.013 %, reported as LOINC 4548-4."""
    hba1c = {
        "resourceType": "Observation",
        "id": "a1c",
        "status": "final",
        "subject": {"reference": "Patient/p1"},
        "code": {"coding": [{"system": "http://loinc.org", "code": "59261-8"}]},
        "effectiveDateTime": "2025-03-01",
        "valueQuantity": {"value": 75, "unit": "mmol/mol"},
    }
    event = read_resources([_patient(), hba1c])["events"].to_pylist()[0]
    assert (event["code"], event["value_unit"]) == ("4548-4", "%")
    assert event["value_num"] == pytest.approx(9.013)
    hba1c["valueQuantity"]["unit"] = "g/L"
    with pytest.raises(UserError) as caught:
        read_resources([_patient(), hba1c])
    assert [p.column for p in caught.value.problems] == ["Observation.valueQuantity.code"]


def test_impossible_dates_are_problems_at_the_fhir_element():
    condition = {
        "resourceType": "Condition",
        "id": "c1",
        "subject": {"reference": "Patient/p1"},
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "44054006"}]},
        "onsetDateTime": "1949-12-31",  # the patient was born 1950-03-04
    }
    encounter = _encounter("e1", {"start": "2025-02-02T10:00:00Z", "end": "2025-02-02T09:00:00Z"})
    procedure = {
        "resourceType": "Procedure",
        "id": "x1",
        "status": "completed",
        "subject": {"reference": "Patient/p1"},
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "80146002"}]},
        "performedDateTime": "2025-06-01",
    }
    with pytest.raises(UserError) as caught:
        read_resources([_patient(deceasedDateTime="2025-05-01"), condition, encounter, procedure], "in.json")
    assert {(p.row, p.column, p.reason) for p in caught.value.problems} == {
        (2, "Condition.onset[x]", "dated before the patient's birth (events.start)"),
        (3, "Encounter.period", "ends before it starts (encounters.end < encounters.start)"),
        (4, "Procedure.performed[x]", "dated after the patient's death (events.start)"),
    }


def test_a_diagnosis_must_name_a_condition_that_exists():
    encounter = _encounter("e1", {"start": "2025-02-02T10:00:00Z"}, diagnosis=[{"condition": {"reference": "Condition/elsewhere"}}])
    with pytest.raises(UserError) as caught:
        read_resources([_patient(), encounter], "in.json")
    assert [(p.row, p.column) for p in caught.value.problems] == [(2, "Encounter.diagnosis[0].condition")]


REASON = {"coding": [{"system": "http://snomed.info/sct", "code": "591000119102"}]}
RXNORM = {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "197361"}]}


@pytest.mark.parametrize(
    ("resource", "kind", "start"),
    [
        ({"resourceType": "Immunization", "status": "not-done", "statusReason": REASON, "vaccineCode": {"coding": [{"system": "http://hl7.org/fhir/sid/cvx", "code": "140"}]}, "patient": {"reference": "Patient/p1"}, "recorded": "2025-10-01"}, "immunization", dt.datetime(2025, 10, 1)),
        ({"resourceType": "ServiceRequest", "status": "completed", "intent": "order", "doNotPerform": True, "reasonCode": [REASON], "code": {"coding": [{"system": "http://snomed.info/sct", "code": "385763009"}]}, "subject": {"reference": "Patient/p1"}, "authoredOn": "2025-09-01T12:00:00Z"}, "service_request", dt.datetime(2025, 9, 1, 12)),
        ({"resourceType": "MedicationDispense", "status": "declined", "statusReasonCodeableConcept": REASON, "medicationCodeableConcept": RXNORM, "subject": {"reference": "Patient/p1"}, "whenPrepared": "2025-08-01"}, "medication", dt.datetime(2025, 8, 1)),
        ({"resourceType": "MedicationAdministration", "status": "not-done", "statusReason": [REASON], "medicationCodeableConcept": RXNORM, "subject": {"reference": "Patient/p1"}, "effectiveDateTime": "2025-07-01"}, "medication", dt.datetime(2025, 7, 1)),
    ],
)
def test_not_done_patterns_of_other_resources(resource, kind, start):
    event = read_resources([_patient(), {"id": "x", **resource}])["events"].to_pylist()[0]
    assert (event["kind"], event["start"], event["negated"]) == (kind, start, True)
    assert (event["negation_reason_system"], event["negation_reason_code"]) == ("http://snomed.info/sct", "591000119102")
