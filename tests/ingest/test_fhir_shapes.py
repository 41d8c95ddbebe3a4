"""Malformed FHIR JSON is a problem naming file, entry and FHIR path, never a Python error: wrong
JSON types (`ingest.fhir.shapes`), Bundle structure, required status codes, and the follow-on
"missing" problems that an unreadable value must not cause."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from p4pkit import cli
from p4pkit.cli import app
from p4pkit.errors import UserError
from p4pkit.ingest.fhir import MAPPERS, read_fhir, read_resources
from p4pkit.ingest.fhir import shapes

PATIENT = {"resourceType": "Patient", "id": "p1", "birthDate": "1950-03-04", "gender": "female"}
SNOMED = "http://snomed.info/sct"


def _cc(code: str, system: str = SNOMED) -> dict:
    return {"coding": [{"system": system, "code": code, "display": "shown"}], "text": "text"}


def _ref(target: str) -> dict:
    return {"reference": target}


def _encounter(**changes) -> dict:
    encounter = {
        "resourceType": "Encounter",
        "id": "e1",
        "status": "finished",
        "class": {"code": "AMB"},
        "subject": _ref("Patient/p1"),
        "period": {"start": "2025-01-01"},
    }
    encounter.update(changes)
    return {k: v for k, v in encounter.items() if v is not None}


def _eob(item: object) -> dict:
    return {
        "resourceType": "ExplanationOfBenefit",
        "id": "eob",
        "status": "active",
        "patient": _ref("Patient/p1"),
        "billablePeriod": {"start": "2025-04-02"},
        "item": item,
    }


def _bundle(*entries: dict) -> dict:
    return {"resourceType": "Bundle", "type": "collection", "entry": list(entries)}


def _problems(tmp_path: Path, document: dict) -> list[tuple[int | None, str | None, str]]:
    """(entry, FHIR path, reason) of every problem reading `document` as bundle.json; each must
    name that file."""
    (tmp_path / "in").mkdir(exist_ok=True)
    (tmp_path / "in" / "bundle.json").write_text(json.dumps(document))
    with pytest.raises(UserError) as caught:
        read_fhir(tmp_path / "in")
    assert {p.file for p in caught.value.problems} == {str(tmp_path / "in" / "bundle.json")}
    return [(p.row, p.column, p.reason) for p in caught.value.problems]


def _run_measures(tmp_path: Path, monkeypatch, fhir: dict | None = None, valuesets: Path | None = None) -> str:
    """`p4p measure run --measures CMS122 --fhir ...` as the reviewer ran it: exit code 2, no
    traceback and no --out folder; returns what it printed, unwrapped."""
    monkeypatch.setattr(cli.console, "width", 10_000)  # no line wrapping inside long paths
    folder = tmp_path / "fhir"
    folder.mkdir()
    (folder / "bundle.json").write_text(json.dumps(fhir or _bundle({"resource": PATIENT})))
    arguments = ["measure", "run", "--measures", "CMS122", "--fhir", str(folder), "--period", "2025-01-01:2025-12-31"]
    arguments += ["--out", str(tmp_path / "out")] + (["--valuesets", str(valuesets)] if valuesets else [])
    result = CliRunner().invoke(app, arguments)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and isinstance(result.exception, (SystemExit, type(None)))
    assert not (tmp_path / "out").exists()
    return result.output


# --- The reviewer's cases, through the CLI ----------------------------------------------------


@pytest.mark.parametrize(
    ("document", "entry", "path", "reason"),
    [
        (_bundle({"resource": {"id": "x"}}), 1, "Bundle.entry[0].resource.resourceType", "missing; every FHIR resource names its type"),
        ({"resourceType": "Bundle", "entry": {"resource": PATIENT}}, None, "Bundle.entry", "not a list (JSON array); it is an object"),
        (_bundle({"resource": {**PATIENT, "extension": 5}}), 1, "Patient.extension", "not a list (JSON array); it is a number"),
        (_bundle({"resource": PATIENT}, {"resource": _eob("x")}), 2, "ExplanationOfBenefit.item", "not a list (JSON array); it is a string"),
        (
            _bundle(
                {"resource": PATIENT},
                {"resource": {"resourceType": "Organization", "id": "o1", "name": "Payer"}},
                {"resource": {"resourceType": "Coverage", "id": "c1", "status": "active", "beneficiary": _ref("Patient/p1"), "payor": [_ref("Organization/o1")], "period": "2025"}},
            ),
            3,
            "Coverage.period",
            "not an object (a FHIR Period); it is a string",
        ),
        (_bundle({"resource": PATIENT}, {"fullUrl": "urn:uuid:1"}), 2, "Bundle.entry[1].resource", "missing; each entry must hold a resource"),
        (_bundle({"resource": PATIENT}, {"resource": _encounter(status=None)}), 2, "Encounter.status", "missing; FHIR R4 requires it, one of: planned, arrived"),
        (_bundle({"resource": PATIENT}, {"resource": _encounter(status="bogus")}), 2, "Encounter.status", "'bogus' is not one of: planned, arrived"),
        (
            _bundle({"resource": PATIENT}, {"resource": _eob([{"adjudication": [{"category": _cc("submitted")}, {"category": _cc("eligible"), "amount": {"value": "abc"}}]}])}),
            2,
            "ExplanationOfBenefit.item[0].adjudication[1].amount.value",
            "not a number; it is a string",
        ),
        (_bundle({"resource": PATIENT}, {"resource": _encounter(period={"start": "2025-02-30"})}), 2, "Encounter.period.start", "'2025-02-30' is not a FHIR dateTime"),
    ],
    ids=["no-resourceType", "entry-object", "extension-number", "item-string", "period-string", "no-resource", "no-status", "bogus-status", "amount-string", "impossible-date"],
)
def test_measure_run_names_file_entry_and_path_of_malformed_fhir(tmp_path, monkeypatch, document, entry, path, reason):
    """Exactly one problem each (no second, false 'missing' one), exit 2, nothing written."""
    output = _run_measures(tmp_path, monkeypatch, document)
    (problem,) = [line for line in output.splitlines() if line.startswith("  - ")]
    where = str(tmp_path / "fhir" / "bundle.json") + (f", row {entry}" if entry else "") + f", column '{path}': "
    assert problem.startswith(f"  - {where}{reason}"), problem
    assert "the FHIR input has 1 problem(s); nothing was read" in output


def test_resource_ids_are_not_echoed(tmp_path):
    """As CSV ingest repeats no identifiers: the entry number and path say where, not the id."""
    found = _problems(tmp_path, _bundle({"resource": {**PATIENT, "id": "secret-mrn", "extension": 5}}))
    assert found == [(1, "Patient.extension", "not a list (JSON array); it is a number")]
    assert not any("secret-mrn" in reason for *_, reason in found)


# --- Wrong JSON types and Bundle structure ---------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "path", "reason"),
    [
        ("x", "Bundle.entry[0]", "not a Bundle entry (a JSON object); it is a string"),
        ({"resource": "x"}, "Bundle.entry[0].resource", "not a FHIR resource (a JSON object); it is a string"),
        ({"resource": {"resourceType": 5, "id": "x"}}, "Bundle.entry[0].resource.resourceType", "not a resource type name; it is a number"),
        ({"fullUrl": {"x": 1}, "resource": PATIENT}, "Bundle.entry[0].fullUrl", "not a string; it is an object"),
        ({"resource": {**PATIENT, "birthDate": None}}, "Patient.birthDate", "null; FHIR JSON leaves an element out instead of giving null (expected a string)"),
        ({"resource": {**PATIENT, "id": 7}}, "Patient.id", "not a string; it is a number"),
    ],
)
def test_bundle_entries_that_are_not_resources(tmp_path, entry, path, reason):
    assert _problems(tmp_path, _bundle(entry)) == [(1, path, reason)]


def test_every_problem_of_the_input_is_reported_together(tmp_path):
    """Entry problems do not stop the reading: the other entries are still checked."""
    found = _problems(tmp_path, _bundle({"resource": {"id": "x"}}, {}, {"resource": {**PATIENT, "gender": ["female"]}}))
    assert [(row, path) for row, path, _ in found] == [
        (1, "Bundle.entry[0].resource.resourceType"),
        (2, "Bundle.entry[1].resource"),
        (3, "Patient.gender"),
    ]


def test_ndjson_lines_and_resources_in_memory_that_are_not_resources(tmp_path):
    (tmp_path / "Patient.ndjson").write_text(json.dumps(PATIENT) + "\n[1, 2]\n" + json.dumps({"id": "p2"}) + "\n")
    with pytest.raises(UserError) as caught:
        read_fhir(tmp_path)
    assert [(p.row, p.column, p.reason) for p in caught.value.problems] == [
        (2, None, "not a FHIR resource (a JSON object); it is a list (JSON array)"),
        (3, "resourceType", 'missing; every FHIR resource names its type, e.g. "resourceType": "Patient"'),
    ]
    with pytest.raises(UserError) as caught:
        read_resources([PATIENT, "Patient"], "memory")
    assert [(p.file, p.row) for p in caught.value.problems] == [("memory", 2)]


def test_a_file_that_is_not_utf8_is_named(tmp_path):
    (tmp_path / "latin1.ndjson").write_bytes(json.dumps({**PATIENT, "name": [{"text": "Zoë"}]}, ensure_ascii=False).encode("latin-1") + b"\n")
    with pytest.raises(UserError) as caught:
        read_fhir(tmp_path)
    assert [(p.file, p.reason) for p in caught.value.problems] == [(str(tmp_path / "latin1.ndjson"), "not UTF-8 text; save it as UTF-8, as FHIR JSON is")]


def test_nan_amounts_and_booleans_for_numbers_are_not_numbers():
    for value, kind in ((float("nan"), "NaN or Infinity"), (True, "true/false")):
        with pytest.raises(UserError) as caught:
            read_resources([PATIENT, _eob([{"servicedDate": "2025-04-02", "net": {"value": value}}])])
        assert [(p.column, p.reason) for p in caught.value.problems] == [("ExplanationOfBenefit.item[0].net.value", f"not a number; it is {kind}")]


def test_a_resource_with_a_wrong_shape_is_still_known_to_references():
    """Only its own problem is reported, not 'refers to a Patient that is not in the input' for
    every resource that names it."""
    with pytest.raises(UserError) as caught:
        read_resources([{**PATIENT, "extension": {"url": "x"}}, _encounter()])
    assert [(p.row, p.column) for p in caught.value.problems] == [(1, "Patient.extension")]


# --- Required status codes -------------------------------------------------------------------

CODE = {"coding": [{"system": SNOMED, "code": "1"}]}
EVENTS = {
    "Observation": {"status": "final", "code": CODE, "effectiveDateTime": "2025-01-01"},
    "Procedure": {"status": "completed", "code": CODE, "performedDateTime": "2025-01-01"},
    "MedicationRequest": {"status": "active", "intent": "order", "medicationCodeableConcept": CODE, "authoredOn": "2025-01-01"},
    "MedicationDispense": {"status": "completed", "medicationCodeableConcept": CODE, "whenHandedOver": "2025-01-01"},
    "MedicationAdministration": {"status": "completed", "medicationCodeableConcept": CODE, "effectiveDateTime": "2025-01-01"},
    "ServiceRequest": {"status": "active", "intent": "order", "code": CODE, "authoredOn": "2025-01-01"},
    "DeviceRequest": {"status": "active", "intent": "order", "codeCodeableConcept": CODE, "authoredOn": "2025-01-01"},
}


def _event(rtype: str, **changes) -> dict:
    resource = {"resourceType": rtype, "id": "x1", "subject": _ref("Patient/p1"), **EVENTS[rtype], **changes}
    return {k: v for k, v in resource.items() if v is not None}


@pytest.mark.parametrize(
    ("rtype", "element"),
    [
        ("Observation", "status"),
        ("Procedure", "status"),
        ("MedicationRequest", "status"),
        ("MedicationRequest", "intent"),
        ("MedicationDispense", "status"),
        ("MedicationAdministration", "status"),
        ("ServiceRequest", "status"),
        ("ServiceRequest", "intent"),
        ("DeviceRequest", "intent"),
    ],
)
def test_required_status_codes_are_reported_when_missing_or_unknown(rtype, element):
    assert read_resources([PATIENT, _event(rtype)])["events"].num_rows == 1
    for value, reason in ((None, "missing; FHIR R4 requires it, one of: "), ("bogus", "'bogus' is not one of: ")):
        with pytest.raises(UserError) as caught:
            read_resources([PATIENT, _event(rtype, **{element: value})])
        (problem,) = caught.value.problems
        assert (problem.row, problem.column) == (2, f"{rtype}.{element}")
        assert problem.reason.startswith(reason) and problem.reason.endswith(f"value set {shapes.BINDINGS[rtype][element].value_set})")


def test_optional_statuses_may_be_left_out_but_not_misspelt():
    """DeviceRequest.status and Condition's clinical and verification statuses are 0..1 in R4."""
    condition = {"resourceType": "Condition", "id": "c1", "subject": _ref("Patient/p1"), "code": CODE, "onsetDateTime": "2025-01-01"}
    assert read_resources([PATIENT, condition, _event("DeviceRequest", status=None)])["events"].num_rows == 2
    bad = {**condition, "clinicalStatus": {"coding": [{"code": "activ"}]}, "verificationStatus": {"text": "confirmed"}}
    with pytest.raises(UserError) as caught:
        read_resources([PATIENT, bad, _event("DeviceRequest", status="done")])
    expected = [
        (2, "Condition.clinicalStatus", "'activ' is not one of: active, recurrence, relapse, inactive, remission, resolved"),
        (2, "Condition.verificationStatus.coding", "has no code; FHIR R4 binds it to value set condition-ver-status"),
        (3, "DeviceRequest.status", "'done' is not one of: draft, active, on-hold, revoked, completed, entered-in-error, unknown"),
    ]
    assert len(caught.value.problems) == len(expected)
    for problem, (row, column, reason) in zip(caught.value.problems, expected):
        assert (problem.row, problem.column) == (row, column) and problem.reason.startswith(reason)


# --- No second, false "missing" problem for a value that was there but unreadable -------------


def test_an_unreadable_value_is_not_also_reported_missing():
    eob = _eob([{"servicedDate": "2025-04-31", "net": {"value": 1}}, {"net": {"value": 2}}])
    eob["billablePeriod"] = {"start": "2025-13"}
    resources = [
        {**PATIENT, "birthDate": "1950-02-30"},
        _encounter(period={"start": "2025-01-01", "end": "2025-01-32"}),
        eob,
        _event("Observation", effectiveDateTime=None, effectivePeriod={"start": "yesterday"}),
        _event("MedicationDispense", whenHandedOver=None, whenPrepared="2025-02-30"),
    ]
    with pytest.raises(UserError) as caught:
        read_resources(resources)
    assert [(p.row, p.column) for p in caught.value.problems] == [
        (1, "Patient.birthDate"),
        (2, "Encounter.period.end"),
        (3, "ExplanationOfBenefit.billablePeriod.start"),
        (3, "ExplanationOfBenefit.item[0].servicedDate"),
        (4, "Observation.effective[x]"),
        (5, "MedicationDispense.whenPrepared"),
    ]
    assert not any("missing" in p.reason for p in caught.value.problems)
    assert caught.value.problems[4].reason.startswith("effectivePeriod.start: ")


# --- Nothing the mappers read can escape as a Python exception --------------------------------

# One resource of every mapped type, with every element its mapper reads; they read cleanly together.
EVERYTHING = [
    {
        "resourceType": "Patient",
        "id": "pz",
        "birthDate": "1950-03-04",
        "gender": "female",
        "deceasedDateTime": "2030-01-01",
        "identifier": [{"system": "urn:mrn", "value": "v"}],
        "extension": [
            {
                "url": "http://hl7.org/fhir/us/core/StructureDefinition/us-core-ethnicity",
                "extension": [
                    {"url": "ombCategory", "valueCoding": {"system": "urn:oid:2.16.840.1.113883.6.238", "code": "2186-5", "display": "Not Hispanic"}},
                    {"url": "text", "valueString": "Not Hispanic"},
                ],
            }
        ],
    },
    {"resourceType": "Organization", "id": "org", "name": "Payer", "type": [_cc("ins")], "identifier": [{"system": "s", "value": "1"}], "partOf": _ref("Organization/org")},
    {
        "resourceType": "Practitioner",
        "id": "dr",
        "identifier": [{"system": "http://hl7.org/fhir/sid/us-npi", "value": "1234567893"}],
        "name": [{"given": ["Ann", "B"], "family": "Lee", "text": "Ann Lee"}],
        "qualification": [{"code": _cc("MD")}],
    },
    {"resourceType": "PractitionerRole", "id": "role", "practitioner": _ref("Practitioner/dr"), "organization": _ref("Organization/org"), "specialty": [_cc("207Q00000X")]},
    {
        "resourceType": "Coverage",
        "id": "cov",
        "status": "active",
        "type": _cc("1", "https://nahdo.org/sopt"),
        "beneficiary": _ref("Patient/pz"),
        "payor": [_ref("Organization/org")],
        "period": {"start": "2025-01-01", "end": "2025-12-31"},
    },
    {
        "resourceType": "Encounter",
        "id": "enc",
        "status": "finished",
        "class": {"code": "IMP"},
        "subject": _ref("Patient/pz"),
        "period": {"start": "2025-03-01T09:00:00+01:00", "end": "2025-03-04T12:00:00+01:00"},
        "type": [_cc("1")],
        "participant": [{"individual": _ref("Practitioner/dr")}],
        "serviceProvider": _ref("Organization/org"),
        "hospitalization": {"admitSource": _cc("x"), "dischargeDisposition": _cc("home")},
        "diagnosis": [{"condition": _ref("Condition/cx")}],
    },
    {
        "resourceType": "Condition",
        "id": "cx",
        "subject": _ref("Patient/pz"),
        "code": _cc("44054006"),
        "onsetPeriod": {"start": "2020-01-01", "end": "2021-01-01"},
        "abatementDateTime": "2022-01-01",
        "recordedDate": "2020-01-02",
        "clinicalStatus": _cc("active"),
        "verificationStatus": _cc("confirmed"),
        "category": [_cc("problem-list-item")],
        "bodySite": [_cc("1")],
    },
    {
        "resourceType": "ExplanationOfBenefit",
        "id": "eob",
        "status": "active",
        "patient": _ref("Patient/pz"),
        "provider": _ref("Organization/org"),
        "billablePeriod": {"start": "2025-04-02", "end": "2025-04-03"},
        "diagnosis": [{"sequence": 1, "diagnosisCodeableConcept": _cc("E11.9", "http://hl7.org/fhir/sid/icd-10-cm")}],
        "careTeam": [{"sequence": 1, "provider": _ref("Practitioner/dr")}],
        "item": [
            {
                "sequence": 1,
                "diagnosisSequence": [1],
                "careTeamSequence": [1],
                "encounter": [_ref("Encounter/enc")],
                "productOrService": _cc("99213", "http://www.ama-assn.org/go/cpt"),
                "locationCodeableConcept": _cc("11"),
                "servicedPeriod": {"start": "2025-04-02", "end": "2025-04-02"},
                "net": {"value": 100},
                "adjudication": [{"category": _cc("eligible"), "amount": {"value": 92.125}}, {"category": _cc("benefit"), "amount": {"value": 73.7}}],
            },
            {"sequence": 2, "servicedDate": "2025-04-02", "net": {"value": 5}},
        ],
    },
    {
        "resourceType": "MedicationRequest",
        "id": "mr",
        "status": "active",
        "intent": "order",
        "doNotPerform": True,
        "reasonCode": [_cc("1")],
        "medicationReference": _ref("#m1"),
        "contained": [{"resourceType": "Medication", "id": "m1", "code": _cc("197361", "http://www.nlm.nih.gov/research/umls/rxnorm")}],
        "subject": _ref("Patient/pz"),
        "encounter": _ref("Encounter/enc"),
        "authoredOn": "2025-02-01",
        "category": [_cc("community")],
        "dosageInstruction": [
            {
                "timing": {"repeat": {"frequency": 2, "frequencyMax": 3, "period": 1, "periodUnit": "d", "timeOfDay": ["08:00:00"], "boundsPeriod": {"start": "2025-02-01", "end": "2025-03-01"}}},
                "doseAndRate": [{"doseQuantity": {"value": 1}, "doseRange": {"high": {"value": 2}}}],
            }
        ],
        "dispenseRequest": {"quantity": {"value": 60}, "numberOfRepeatsAllowed": 2, "validityPeriod": {"start": "2025-02-01"}, "expectedSupplyDuration": {"value": 30, "code": "d"}},
    },
    {
        "resourceType": "MedicationDispense",
        "id": "md",
        "status": "declined",
        "statusReasonCodeableConcept": _cc("1"),
        "medicationCodeableConcept": _cc("197361"),
        "subject": _ref("Patient/pz"),
        "whenPrepared": "2025-08-01",
        "whenHandedOver": "2025-08-02",
        "daysSupply": {"value": 30, "unit": "days"},
        "category": _cc("c"),
    },
    {
        "resourceType": "MedicationAdministration",
        "id": "ma",
        "status": "not-done",
        "statusReason": [_cc("1")],
        "medicationReference": _ref("Medication/med"),
        "subject": _ref("Patient/pz"),
        "effectivePeriod": {"start": "2025-07-01", "end": "2025-07-02"},
        "context": _ref("Encounter/enc"),
    },
    {"resourceType": "Medication", "id": "med", "code": _cc("197361", "http://www.nlm.nih.gov/research/umls/rxnorm")},
    {
        "resourceType": "Immunization",
        "id": "im",
        "status": "not-done",
        "statusReason": _cc("1"),
        "vaccineCode": _cc("140", "http://hl7.org/fhir/sid/cvx"),
        "patient": _ref("Patient/pz"),
        "occurrenceDateTime": "2025-10-01",
        "recorded": "2025-10-01",
    },
    {
        "resourceType": "Observation",
        "id": "ob",
        "status": "final",
        "code": _cc("85354-9", "http://loinc.org"),
        "subject": _ref("Patient/pz"),
        "effectivePeriod": {"start": "2025-01-01", "end": "2025-01-02"},
        "issued": "2025-01-02T00:00:00Z",
        "bodySite": _cc("1"),
        "category": [_cc("vital-signs")],
        "dataAbsentReason": _cc("1"),
        "extension": [
            {"url": "http://hl7.org/fhir/us/qicore/StructureDefinition/qicore-notDone", "valueBoolean": False},
            {"url": "http://hl7.org/fhir/us/qicore/StructureDefinition/qicore-notDoneReason", "valueCodeableConcept": _cc("1")},
        ],
        "valueCodeableConcept": _cc("1"),
        "component": [
            {"code": _cc("8480-6", "http://loinc.org"), "valueQuantity": {"value": 120, "unit": "mmHg", "code": "mm[Hg]"}},
            {"code": _cc("x"), "valueInteger": 3},
        ],
    },
    {
        "resourceType": "ServiceRequest",
        "id": "sr",
        "status": "completed",
        "intent": "order",
        "doNotPerform": False,
        "reasonCode": [_cc("1")],
        "code": _cc("385763009"),
        "subject": _ref("Patient/pz"),
        "occurrencePeriod": {"start": "2025-09-01", "end": "2025-09-02"},
        "category": [_cc("c")],
        "bodySite": [_cc("1")],
    },
    {
        "resourceType": "DeviceRequest",
        "id": "dvr",
        "status": "completed",
        "intent": "order",
        "codeCodeableConcept": _cc("1"),
        "subject": _ref("Patient/pz"),
        "occurrenceDateTime": "2025-09-01",
        "modifierExtension": [{"url": "http://hl7.org/fhir/us/qicore/StructureDefinition/qicore-doNotPerform", "valueBoolean": True}],
        "extension": [{"url": "http://hl7.org/fhir/us/qicore/StructureDefinition/qicore-doNotPerformReason", "valueCodeableConcept": _cc("1")}],
    },
    {
        "resourceType": "Procedure",
        "id": "pr",
        "status": "completed",
        "code": _cc("1"),
        "subject": _ref("Patient/pz"),
        "performedPeriod": {"start": "2025-01-01"},
        "category": _cc("c"),
        "bodySite": [_cc("1")],
        "statusReason": _cc("1"),
        "extension": [{"url": "http://hl7.org/fhir/us/qicore/StructureDefinition/qicore-recorded", "valueDateTime": "2025-01-01"}],
    },
]
# What every element is replaced by in turn: each JSON type, null, and numbers FHIR refuses.
REPLACEMENTS = ["x", 5, 1.5, True, None, {}, {"a": 1}, [], ["x"], [5], [None], float("nan")]


def _elements(value: object, path: tuple = ()):
    """The path of every element below a resource (not its resourceType)."""
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in children:
        if path or key != "resourceType":
            yield (*path, key)
            yield from _elements(child, (*path, key))


def _replaced(resource: dict, path: tuple, value: object) -> dict:
    changed = copy.deepcopy(resource)
    parent = changed
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    return changed


def test_every_mapped_type_has_a_shape_and_the_sample_covers_it():
    assert set(MAPPERS) == set(shapes.SHAPES)
    assert {r["resourceType"] for r in EVERYTHING} | {"Claim"} == set(MAPPERS)
    tables = read_resources(EVERYTHING)
    assert tables["claim_lines"].num_rows == 2 and tables["events"].num_rows == 11


def test_no_element_of_any_shape_escapes_as_a_python_error():
    """Every element the mappers read (and the rest), replaced by every kind of JSON value: the
    result is tables or problems, and never the backstop's 'could not be read', which would mean
    `shapes.SHAPES` misses an element a mapper reads."""
    for index, resource in enumerate(EVERYTHING):
        others = EVERYTHING[:index] + EVERYTHING[index + 1 :]
        for path in _elements(resource):
            for value in REPLACEMENTS:
                try:
                    read_resources([*others, _replaced(resource, path, value)])
                except UserError as error:
                    assert not any("could not be read" in p.reason for p in error.problems), (resource["resourceType"], path, value)


def test_the_backstop_names_the_resource_when_a_shape_misses_an_element(monkeypatch):
    monkeypatch.setitem(shapes.SHAPES, "Patient", shapes.Obj("Patient", id=shapes.STRING))
    with pytest.raises(UserError) as caught:
        read_resources([PATIENT, {**PATIENT, "id": "p2", "extension": 5}], "in.json")
    (problem,) = caught.value.problems
    assert (problem.file, problem.row, problem.column) == ("in.json", 2, "Patient")
    assert problem.reason.startswith("this Patient could not be read: some element does not have the JSON shape FHIR R4 gives it")


def test_an_encounter_without_a_class_is_told_it_is_missing_not_that_none_is_unsupported():
    with pytest.raises(UserError) as caught:
        read_resources([PATIENT, _encounter(**{"class": None})])
    (problem,) = caught.value.problems
    assert problem.column == "Encounter.class" and problem.reason.startswith("missing; FHIR R4 requires it")
    with pytest.raises(UserError) as caught:
        read_resources([PATIENT, _encounter(**{"class": {"code": "XYZ"}})])
    assert caught.value.problems[0].reason.startswith("'XYZ' is not a supported v3 ActCode class; use one of ACUTE, AMB")
