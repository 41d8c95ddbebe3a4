"""What the mappers expect of the FHIR JSON they read, checked before they read it.

Resources are plain dicts, so a mapper meeting a string where FHIR has an object or a list would
fail with a Python error far from its cause. Before a resource is mapped, `misfits` walks exactly
the elements its mapper reads (`SHAPES`, one entry per mapped resource type, built from the FHIR R4
data types below) and names every element whose JSON type is wrong by its FHIR path, e.g.
`item[0].adjudication[1].amount.value`. A resource with such a problem is not mapped, so no
follow-on problem ("... missing") is reported for a value that was there but unreadable.

Rules, all from the FHIR JSON format (https://hl7.org/fhir/R4/json.html):
- an element is absent, or has its type: object, list (JSON array), string, number, integer, boolean;
- `null` is not a value: an element is left out rather than given as null (only an item of a list of
  primitives may be null, when an `_element` list carries its extensions);
- numbers are finite (Python's JSON reader accepts NaN and Infinity, FHIR does not).
Elements no mapper reads are not checked: a resource is not rejected for what p4pkit ignores.
Every shape also holds `id` and `identifier`, which `Reading.register` indexes for references.

`BINDINGS` lists the status-like codes the mappers read that FHIR R4 binds to a required value set:
an unknown code is reported rather than guessed at, and one FHIR requires (cardinality 1..1) is
reported when it is missing. Each list is in the order the specification gives it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal

from p4pkit.ingest.fhir.values import code_of


def json_type(value: object) -> str:
    """What a JSON value is, in words for a problem report (never the value itself, which may
    identify a patient)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float, Decimal)):
        return "a number" if math.isfinite(value) else "NaN or Infinity"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list (JSON array)"
    if isinstance(value, dict):
        return "an object"
    return f"a Python {type(value).__name__}"


@dataclass(frozen=True)
class Kind:
    """A JSON primitive: `name` is what a problem says was expected. Values of a type in `plain`
    need no further look (the common case, tested first); others go through `accepts`."""

    name: str
    types: tuple[type, ...]
    plain: frozenset[type]

    def accepts(self, value: object) -> bool:
        if type(value) in self.plain:
            return True
        if not isinstance(value, self.types):
            return False
        if isinstance(value, bool):
            return bool in self.types
        return not isinstance(value, float) or math.isfinite(value)


STRING = Kind("a string", (str,), frozenset({str}))
NUMBER = Kind("a number", (int, float, Decimal), frozenset({int}))
INTEGER = Kind("a whole number", (int,), frozenset({int}))
BOOLEAN = Kind("true or false", (bool,), frozenset({bool}))


class Obj:
    """A JSON object: the FHIR data type it holds (for messages) and the shape of each element read."""

    __slots__ = ("name", "fields")

    def __init__(self, name: str, /, **fields: object):
        self.name = name
        self.fields = fields


def _expected(shape: object) -> str:
    if isinstance(shape, Kind):
        return shape.name
    if isinstance(shape, Obj):
        return f"an object (a FHIR {shape.name})" if shape.name else "an object"
    return "a list (JSON array)"


def _wrong(shape: object, value: object) -> str:
    if value is None:
        return f"null; FHIR JSON leaves an element out instead of giving null (expected {_expected(shape)})"
    return f"not {_expected(shape)}; it is {json_type(value)}"


def misfits(value: object, shape: object, path: str = "") -> list[tuple[str, str]]:
    """(FHIR path, reason) of every element of `value` that does not have its `shape`."""
    if type(value) is dict and type(shape) is Obj and _fits(value, shape):
        return []
    found: list[tuple[str, str]] = []
    _walk(value, shape, path, found)
    return found


def _fits(value: dict, shape: Obj) -> bool:
    """Whether an object has its shape: the fast test run on every resource, one call per object
    and no paths built. Exact types only: anything else (a dict subclass given in memory, say) is
    left to `_walk`, which then decides."""
    fields = shape.fields
    for key, child in value.items():
        sub = fields.get(key)
        if sub is None:
            continue
        if type(sub) is Kind:
            if type(child) not in sub.plain and not sub.accepts(child):
                return False
        elif type(sub) is Obj:
            if type(child) is not dict or not _fits(child, sub):
                return False
        else:
            if type(child) is not list:
                return False
            item = sub[0]
            if type(item) is Obj:
                for each in child:
                    if type(each) is not dict or not _fits(each, item):
                        return False
            else:
                for each in child:
                    if type(each) not in item.plain and each is not None and not item.accepts(each):
                        return False
    return True


def _walk(value: object, shape: object, path: str, found: list[tuple[str, str]]) -> None:
    """What `_fits` found wrong, with paths."""
    if type(shape) is Obj:
        if not isinstance(value, dict):
            found.append((path, _wrong(shape, value)))
            return
        fields = shape.fields
        for key, child in value.items():
            sub = fields.get(key)
            if sub is None:
                continue
            if type(sub) is Kind:
                if type(child) not in sub.plain and not sub.accepts(child):
                    found.append((f"{path}.{key}" if path else key, _wrong(sub, child)))
            else:
                _walk(child, sub, f"{path}.{key}" if path else key, found)
    elif isinstance(shape, list):
        if not isinstance(value, list):
            found.append((path, _wrong(shape, value)))
            return
        item = shape[0]
        for i, child in enumerate(value):
            if child is None and isinstance(item, Kind):
                continue  # a primitive list may hold null where `_element` carries the extension
            _walk(child, item, f"{path}[{i}]", found)
    elif not shape.accepts(value):  # a Kind
        found.append((path, _wrong(shape, value)))


# --- FHIR R4 data types, as far as the mappers read them ----------------------------------------

CODING = Obj("Coding", system=STRING, code=STRING, display=STRING)
EXTENSION = Obj("Extension")
CONCEPT = Obj("CodeableConcept", coding=[CODING], extension=[EXTENSION])
EXTENSION.fields.update(
    url=STRING,
    extension=[EXTENSION],
    valueString=STRING,
    valueBoolean=BOOLEAN,
    valueDateTime=STRING,
    valueCanonical=STRING,
    valueUri=STRING,
    valueCoding=CODING,
    valueCodeableConcept=CONCEPT,
)
REFERENCE = Obj("Reference", reference=STRING)
PERIOD = Obj("Period", start=STRING, end=STRING)
QUANTITY = Obj("Quantity", value=NUMBER, unit=STRING, code=STRING)
MONEY = Obj("Money", value=NUMBER)
IDENTIFIER = Obj("Identifier", system=STRING, value=STRING)
HUMAN_NAME = Obj("HumanName", text=STRING, given=[STRING], family=STRING)


def _choice(stem: str) -> dict[str, object]:
    """The forms of a time choice element `<stem>[x]` that `values.timing` reads."""
    return {f"{stem}DateTime": STRING, f"{stem}Instant": STRING, f"{stem}Date": STRING, f"{stem}Period": PERIOD}


_EVENT = dict(subject=REFERENCE, encounter=REFERENCE, context=REFERENCE, status=STRING)
_VALUE = dict(valueQuantity=QUANTITY, valueInteger=INTEGER, valueCodeableConcept=CONCEPT)
_MEDICATION = dict(
    medicationCodeableConcept=CONCEPT,
    medicationReference=REFERENCE,
    contained=[Obj("Medication", resourceType=STRING, id=STRING, code=CONCEPT)],
)
_EXTENSIONS = dict(extension=[EXTENSION], modifierExtension=[EXTENSION])
_CLAIM = Obj(
    "Claim",
    patient=REFERENCE,
    billablePeriod=PERIOD,
    provider=REFERENCE,
    diagnosis=[Obj("", sequence=INTEGER, diagnosisCodeableConcept=CONCEPT)],
    careTeam=[Obj("", sequence=INTEGER, provider=REFERENCE)],
    item=[
        Obj(
            "",
            sequence=INTEGER,
            servicedDate=STRING,
            servicedPeriod=PERIOD,
            adjudication=[Obj("", category=CONCEPT, amount=MONEY)],
            net=MONEY,
            diagnosisSequence=[INTEGER],
            careTeamSequence=[INTEGER],
            productOrService=CONCEPT,
            locationCodeableConcept=CONCEPT,
            encounter=[REFERENCE],
        )
    ],
)


SHAPES: dict[str, Obj] = {
    "Patient": Obj("Patient", gender=STRING, birthDate=STRING, deceasedDateTime=STRING, **_EXTENSIONS),
    "Encounter": Obj(
        "Encounter",
        status=STRING,
        subject=REFERENCE,
        period=PERIOD,
        type=[CONCEPT],
        serviceProvider=REFERENCE,
        hospitalization=Obj("", admitSource=CONCEPT, dischargeDisposition=CONCEPT),
        participant=[Obj("", individual=REFERENCE)],
        diagnosis=[Obj("", condition=REFERENCE)],
        **{"class": CODING},
    ),
    "Coverage": Obj("Coverage", payor=[REFERENCE], beneficiary=REFERENCE, period=PERIOD, type=CONCEPT),
    "Practitioner": Obj("Practitioner", name=[HUMAN_NAME], qualification=[Obj("", code=CONCEPT)]),
    "PractitionerRole": Obj("PractitionerRole", practitioner=REFERENCE, specialty=[CONCEPT], organization=REFERENCE),
    "Organization": Obj("Organization", name=STRING, type=[CONCEPT], partOf=REFERENCE),
    "Claim": _CLAIM,
    "ExplanationOfBenefit": _CLAIM,
    "Condition": Obj(
        "Condition",
        **_EVENT,
        **_choice("onset"),
        **_choice("abatement"),
        recordedDate=STRING,
        code=CONCEPT,
        clinicalStatus=CONCEPT,
        verificationStatus=CONCEPT,
        category=[CONCEPT],
        bodySite=[CONCEPT],
    ),
    "Observation": Obj(
        "Observation",
        **_EVENT,
        **_choice("effective"),
        **_VALUE,
        **_EXTENSIONS,
        issued=STRING,
        code=CONCEPT,
        category=[CONCEPT],
        dataAbsentReason=CONCEPT,
        component=[Obj("", code=CONCEPT, **_VALUE)],
        bodySite=CONCEPT,
    ),
    "Procedure": Obj(
        "Procedure",
        **_EVENT,
        **_choice("performed"),
        **_EXTENSIONS,
        code=CONCEPT,
        statusReason=CONCEPT,
        category=CONCEPT,
        bodySite=[CONCEPT],
    ),
    "MedicationRequest": Obj(
        "MedicationRequest",
        **_EVENT,
        **_MEDICATION,
        intent=STRING,
        authoredOn=STRING,
        doNotPerform=BOOLEAN,
        reasonCode=[CONCEPT],
        category=[CONCEPT],
        dosageInstruction=[
            Obj(
                "Dosage",
                timing=Obj(
                    "Timing",
                    repeat=Obj(
                        "",
                        boundsPeriod=PERIOD,
                        frequency=INTEGER,
                        frequencyMax=INTEGER,
                        period=NUMBER,
                        periodUnit=STRING,
                        timeOfDay=[STRING],
                    ),
                ),
                doseAndRate=[Obj("", doseRange=Obj("Range", high=QUANTITY), doseQuantity=QUANTITY)],
            )
        ],
        dispenseRequest=Obj(
            "", validityPeriod=PERIOD, expectedSupplyDuration=QUANTITY, quantity=QUANTITY, numberOfRepeatsAllowed=INTEGER
        ),
    ),
    "MedicationDispense": Obj(
        "MedicationDispense",
        **_EVENT,
        **_MEDICATION,
        whenHandedOver=STRING,
        whenPrepared=STRING,
        daysSupply=QUANTITY,
        statusReasonCodeableConcept=CONCEPT,
        category=CONCEPT,
    ),
    "MedicationAdministration": Obj(
        "MedicationAdministration", **_EVENT, **_MEDICATION, **_choice("effective"), statusReason=[CONCEPT]
    ),
    "Immunization": Obj(
        "Immunization",
        **_EVENT,
        patient=REFERENCE,
        occurrenceDateTime=STRING,
        recorded=STRING,
        statusReason=CONCEPT,
        vaccineCode=CONCEPT,
    ),
    "ServiceRequest": Obj(
        "ServiceRequest",
        **_EVENT,
        **_choice("occurrence"),
        intent=STRING,
        authoredOn=STRING,
        doNotPerform=BOOLEAN,
        reasonCode=[CONCEPT],
        code=CONCEPT,
        category=[CONCEPT],
        bodySite=[CONCEPT],
    ),
    "DeviceRequest": Obj(
        "DeviceRequest",
        **_EVENT,
        **_choice("occurrence"),
        **_EXTENSIONS,
        intent=STRING,
        authoredOn=STRING,
        codeReference=REFERENCE,
        codeCodeableConcept=CONCEPT,
    ),
    "Medication": Obj("Medication", code=CONCEPT),
}
for _shape in SHAPES.values():
    _shape.fields.update(id=STRING, identifier=[IDENTIFIER])  # what `Reading.register` indexes


# --- Required bindings of the status-like codes the mappers read --------------------------------


@dataclass(frozen=True)
class Binding:
    """A code element bound to a required FHIR R4 value set (named by its id, as in
    https://hl7.org/fhir/R4/valueset-<id>.html). `required`: cardinality 1..1.
    `concept`: a CodeableConcept (its first coded coding counts, as `values.code_of` reads it)."""

    value_set: str
    codes: tuple[str, ...]
    required: bool
    concept: bool = False


REQUEST_STATUS = ("draft", "active", "on-hold", "revoked", "completed", "entered-in-error", "unknown")
REQUEST_INTENT = ("proposal", "plan", "directive", "order", "original-order", "reflex-order", "filler-order", "instance-order", "option")

BINDINGS: dict[str, dict[str, Binding]] = {
    "Encounter": {
        "status": Binding(
            "encounter-status",
            ("planned", "arrived", "triaged", "in-progress", "onleave", "finished", "cancelled", "entered-in-error", "unknown"),
            True,
        )
    },
    "Observation": {
        "status": Binding(
            "observation-status",
            ("registered", "preliminary", "final", "amended", "corrected", "cancelled", "entered-in-error", "unknown"),
            True,
        )
    },
    "Procedure": {
        "status": Binding(
            "event-status",
            ("preparation", "in-progress", "not-done", "on-hold", "stopped", "completed", "entered-in-error", "unknown"),
            True,
        )
    },
    "MedicationRequest": {
        "status": Binding(
            "medicationrequest-status",
            ("active", "on-hold", "cancelled", "completed", "entered-in-error", "stopped", "draft", "unknown"),
            True,
        ),
        "intent": Binding(
            "medicationrequest-intent",
            ("proposal", "plan", "order", "original-order", "reflex-order", "filler-order", "instance-order", "option"),
            True,
        ),
    },
    "MedicationDispense": {
        "status": Binding(
            "medicationdispense-status",
            ("preparation", "in-progress", "cancelled", "on-hold", "completed", "entered-in-error", "stopped", "declined", "unknown"),
            True,
        )
    },
    "MedicationAdministration": {
        "status": Binding(
            "medication-admin-status",
            ("in-progress", "not-done", "on-hold", "completed", "entered-in-error", "stopped", "unknown"),
            True,
        )
    },
    "Immunization": {"status": Binding("immunization-status", ("completed", "entered-in-error", "not-done"), True)},
    "ServiceRequest": {
        "status": Binding("request-status", REQUEST_STATUS, True),
        "intent": Binding("request-intent", REQUEST_INTENT, True),
    },
    # DeviceRequest.status is 0..1 in R4; its intent is 1..1.
    "DeviceRequest": {
        "status": Binding("request-status", REQUEST_STATUS, False),
        "intent": Binding("request-intent", REQUEST_INTENT, True),
    },
    # Both optional (0..1), but when given they are read as codes of these value sets.
    "Condition": {
        "clinicalStatus": Binding(
            "condition-clinical", ("active", "recurrence", "relapse", "inactive", "remission", "resolved"), False, True
        ),
        "verificationStatus": Binding(
            "condition-ver-status",
            ("unconfirmed", "provisional", "differential", "confirmed", "refuted", "entered-in-error"),
            False,
            True,
        ),
    },
}


def binding_problems(resource_type: str, data: dict) -> list[tuple[str, str]]:
    """(FHIR path, reason) of every bound code of a resource that is missing where FHIR R4 requires
    it, or not a code of its value set. `data` must already fit its shape."""
    found = []
    for element, binding in BINDINGS.get(resource_type, {}).items():
        value = data.get(element)
        code = code_of(value) if binding.concept else value
        allowed = ", ".join(binding.codes)
        if code is None or code == "":
            if binding.concept and value is not None:
                found.append((f"{element}.coding", f"has no code; FHIR R4 binds it to value set {binding.value_set}: one of {allowed}"))
            elif binding.required:
                found.append((element, f"missing; FHIR R4 requires it, one of: {allowed} (value set {binding.value_set})"))
        elif code not in binding.codes:
            found.append((element, f"'{code}' is not one of: {allowed} (FHIR R4 value set {binding.value_set})"))
    return found
