"""Clinical FHIR R4 resources → rows of the canonical `events` table.

One events row per resource (`event_id` = `<ResourceType>/<id>`), except an Observation with
valued components (a blood-pressure panel), which also yields one row per component
(`Observation/<id>#component<n>`, e.g. systolic 8480-6 and diastolic 8462-4), because measures
read the systolic and diastolic values as separate facts.

"Not done" records follow QI-Core 4.1.1 negation patterns
(https://hl7.org/fhir/us/qicore/STU4.1.1/patterns.html#negation):
- Procedure, Immunization, MedicationAdministration: status `not-done`, reason in statusReason;
- MedicationDispense: status `declined`, reason in statusReasonCodeableConcept;
- MedicationRequest, ServiceRequest: `doNotPerform` true, reason in reasonCode;
- DeviceRequest: modifierExtension `qicore-doNotPerform` true, reason in extension
  `qicore-doNotPerformReason` (only the exact QI-Core URL counts; a misspelt URL is ignored, as a
  CQL engine does);
- Observation: status `cancelled` (QI-Core ObservationNotDone) or the older `qicore-notDone`
  extension, reason in extension `qicore-notDoneReason`, else in dataAbsentReason.
The time of a not-done record is its recorded/authored/issued time when no performed time exists.
"""

from __future__ import annotations

from functools import lru_cache

from p4pkit.ingest.fhir.reading import Resource
from p4pkit.model import units
from p4pkit.model.codes import LOINC
from p4pkit.ingest.fhir.values import (
    Ref,
    code_of,
    coding,
    days,
    extension,
    first_code,
    instant,
    number,
    period,
    reference,
    reference_type,
    timing,
)

TIME_HINT = "give the time it happened (e.g. effectiveDateTime, performedDateTime, authoredOn or onsetDateTime)"
# Resource types FHIR R4 gives a bodySite (a CodeableConcept for Observation, a list for the others).
BODY_SITE_TYPES = frozenset({"Condition", "Observation", "Procedure", "ServiceRequest"})


def _category(concepts: list | None) -> str | None:
    """The category code; HL7's own category code systems win over local ones."""
    fallback = None
    for concept in concepts or ():
        for c in concept.get("coding", ()):
            if c.get("code") is None:
                continue
            if "terminology.hl7.org/CodeSystem/" in (c.get("system") or ""):
                return str(c["code"])
            fallback = fallback or str(c["code"])
    return fallback


def _values(res: Resource, element: dict, path: str) -> dict:
    """value_num / value_unit or value_code_system / value_code of a value[x] element
    (valueQuantity, valueInteger, valueCodeableConcept; other value types have no canonical column)."""
    if "valueQuantity" in element:
        quantity = element["valueQuantity"]
        return {
            "value_num": res.read(f"{path}valueQuantity.value", number, quantity.get("value")),
            "value_unit": quantity.get("code") or quantity.get("unit"),
        }
    if "valueInteger" in element:
        return {"value_num": res.read(f"{path}valueInteger", number, element["valueInteger"])}
    if "valueCodeableConcept" in element:
        pair = coding(element["valueCodeableConcept"])
        if pair:
            return {"value_code_system": pair[0], "value_code": pair[1]}
    return {}


# The same few (code, unit) pairs recur in every result of a bulk export.
_conversion = lru_cache(maxsize=256)(units.conversion)


def _normalised(res: Resource, path: str, code: tuple[str, str] | None, values: dict) -> tuple[tuple[str, str] | None, dict]:
    """Code and values with the result in its canonical unit (`model.units`, e.g. HbA1c mmol/mol
    → %), as CSV ingest stores them; an unknown unit for such a code is a problem."""
    if code is None or code[0] != LOINC or code[1] not in units.NORMALISED or values.get("value_num") is None:
        return code, values
    try:
        linear = _conversion(code[1], values.get("value_unit") or "")
    except units.UnitError as error:
        res.problem(f"{path}valueQuantity.code", str(error))
        return code, values
    converted = {**values, "value_num": linear.apply(values["value_num"]), "value_unit": units.canonical_unit(code[1])}
    return (LOINC, units.NORMALISED[code[1]].reported_as), converted


def _event(
    res: Resource,
    kind: str,
    code: tuple[str, str] | Ref | None,
    start,
    time_path: str,
    code_path: str = "code",
    time_from: tuple[str, ...] = (),
    **values,
) -> int | None:
    """Add one events row for the resource, or record why it cannot be added. `time_from`: the
    other elements `start` may have been read from (an unreadable one is not reported again as a
    missing time)."""
    data = res.data
    field = "patient" if res.type == "Immunization" else "subject"
    patient = reference(data.get(field), "Patient", res.where(field))
    ok = res.require(field, patient, f"say which Patient this is about ({field}.reference)")
    ok = res.require(code_path, code, "give a coding with system and code") and ok
    ok = res.require(time_path, start, TIME_HINT, *time_from) and ok
    if not ok:
        return None
    encounter_element = data.get("encounter") or data.get("context")
    encounter = None
    if reference_type(encounter_element) in ("Encounter", None):
        encounter = reference(encounter_element, "Encounter", res.where("encounter"))
    if isinstance(code, Ref):
        system, code_value = None, code
    else:
        system, code_value = code
    values.setdefault("event_id", f"{res.type}/{res.id}")
    values.setdefault("negated", False)
    values.setdefault("status", data.get("status"))
    site = data.get("bodySite") if res.type in BODY_SITE_TYPES else None
    site = first_code(site if isinstance(site, list) else [site])
    if site:
        values.setdefault("body_site_system", site[0])
        values.setdefault("body_site_code", site[1])
    return res.reading.tables["events"].add(
        res.where(time_path),
        patient_id=patient,
        encounter_id=encounter,
        kind=kind,
        code_system=system,
        code=code_value,
        start=start,
        **values,
    )


def _negation(reason: tuple[str, str] | None) -> dict:
    system, code = reason if reason else (None, None)
    return {"negated": True, "negation_reason_system": system, "negation_reason_code": code}


def condition(res: Resource) -> None:
    data = res.data
    onset, _ = res.read("onset[x]", timing, data, "onset") or (None, None)
    recorded = res.read("recordedDate", instant, data.get("recordedDate"))
    abated_at, abated_end = res.read("abatement[x]", timing, data, "abatement") or (None, None)
    index = _event(
        res,
        "condition",
        coding(data.get("code")),
        onset or recorded,
        "onset[x]",
        time_from=("recordedDate",),
        end=abated_end or abated_at,
        status=code_of(data.get("clinicalStatus")),
        verification_status=code_of(data.get("verificationStatus")),
        category=_category(data.get("category")),
        recorded=recorded,
    )
    if index is not None:
        res.reading.conditions[res.id] = index


def observation(res: Resource) -> None:
    data = res.data
    start, end = res.read("effective[x]", timing, data, "effective") or (None, None)
    issued = res.read("issued", instant, data.get("issued"))
    common = {"category": _category(data.get("category")), "recorded": issued}
    not_done = extension(data, "qicore-notDone")
    if data.get("status") == "cancelled" or (not_done and not_done.get("valueBoolean")):
        reason_ext = extension(data, "qicore-notDoneReason")
        reason = coding(reason_ext.get("valueCodeableConcept")) if reason_ext else coding(data.get("dataAbsentReason"))
        common.update(_negation(reason))
    code, values = _normalised(res, "", coding(data.get("code")), _values(res, data, ""))
    index = _event(res, "observation", code, start or issued, "effective[x]", time_from=("issued",), end=end, **common, **values)
    if index is None:
        return
    for number_, component in enumerate(data.get("component", ()), start=1):
        path = f"component[{number_ - 1}]."
        code, values = _normalised(res, path, coding(component.get("code")), _values(res, component, path))
        if not values:
            continue
        _event(
            res,
            "observation",
            code,
            start or issued,
            "effective[x]",
            code_path=f"component[{number_ - 1}].code",
            time_from=("issued",),
            event_id=f"Observation/{res.id}#component{number_}",
            end=end,
            **common,
            **values,
        )


def procedure(res: Resource) -> None:
    data = res.data
    start, end = res.read("performed[x]", timing, data, "performed") or (None, None)
    recorded_ext = extension(data, "qicore-recorded")
    recorded = res.read("extension:recorded", instant, recorded_ext.get("valueDateTime")) if recorded_ext else None
    negation = _negation(coding(data.get("statusReason"))) if data.get("status") == "not-done" else {}
    _event(
        res,
        "procedure",
        coding(data.get("code")),
        start or recorded,
        "performed[x]",
        time_from=("extension:recorded",),
        end=end,
        category=_category([data["category"]] if data.get("category") else None),
        recorded=recorded,
        **negation,
    )


def _medication_code(res: Resource) -> tuple[str, str] | Ref | None:
    """The medication[x] code: inline, a contained Medication (`#id`) or a Medication resource."""
    data = res.data
    if "medicationCodeableConcept" in data:
        return coding(data["medicationCodeableConcept"])
    ref = data.get("medicationReference") or {}
    text = ref.get("reference", "")
    if text.startswith("#"):
        for contained in data.get("contained", ()):
            if contained.get("resourceType") == "Medication" and contained.get("id") == text[1:]:
                return coding(contained.get("code"))
        return None
    return reference(ref, "Medication", res.where("medicationReference"))


# ToDaily of CumulativeMedicationDuration: doses per day for a frequency per period unit.
PER_DAY = {"s": 86400.0, "min": 1440.0, "h": 24.0, "d": 1.0, "wk": 1 / 7, "mo": 1 / 30, "a": 1 / 365}


def _days_supplied(res: Resource) -> int | None:
    """Total days supplied by a MedicationRequest, as CumulativeMedicationDuration (4.1.000)
    `medicationRequestPeriod()` computes it: (expectedSupplyDuration in days, else quantity /
    (dose × doses per day)) × (1 + numberOfRepeatsAllowed). Whole days: CQL drops the fraction
    when it adds a day quantity to a date."""
    data = res.data
    dispense = data.get("dispenseRequest") or {}
    supply = res.read("dispenseRequest.expectedSupplyDuration", days, dispense.get("expectedSupplyDuration"))
    if supply is None and (dispense.get("quantity") or {}).get("value") is not None:
        dosage = (data.get("dosageInstruction") or [{}])[0]
        dose_rate = (dosage.get("doseAndRate") or [{}])[0]
        dose = (dose_rate.get("doseRange") or {}).get("high") or dose_rate.get("doseQuantity") or {}
        repeat = (dosage.get("timing") or {}).get("repeat") or {}
        frequency = repeat.get("frequencyMax", repeat.get("frequency"))
        per_day = None
        if frequency is not None and repeat.get("period") and repeat.get("periodUnit") in PER_DAY:
            per_day = float(frequency) * PER_DAY[repeat["periodUnit"]] / float(repeat["period"])
        per_day = per_day or float(len(repeat.get("timeOfDay", ()))) or 1.0
        if dose.get("value"):
            supply = float(dispense["quantity"]["value"]) / (float(dose["value"]) * per_day)
    if supply is None:
        return None
    return int(supply * (1 + int(dispense.get("numberOfRepeatsAllowed") or 0)))


def medication_request(res: Resource) -> None:
    data = res.data
    bounds = (((data.get("dosageInstruction") or [{}])[0].get("timing") or {}).get("repeat") or {}).get("boundsPeriod")
    bounds_start, bounds_end = res.read("dosageInstruction.timing.repeat.boundsPeriod", period, bounds) or (None, None)
    authored = res.read("authoredOn", instant, data.get("authoredOn"))
    validity_start, _ = res.read("dispenseRequest.validityPeriod", period, (data.get("dispenseRequest") or {}).get("validityPeriod")) or (None, None)
    negation = _negation(first_code(data.get("reasonCode"))) if data.get("doNotPerform") is True else {}
    _event(
        res,
        "medication",
        _medication_code(res),
        bounds_start or authored or validity_start,
        "authoredOn",
        code_path="medication[x]",
        time_from=("dosageInstruction.timing.repeat.boundsPeriod", "dispenseRequest.validityPeriod"),
        end=bounds_end,
        days_supply=_days_supplied(res),
        intent=data.get("intent"),
        category=_category(data.get("category")),
        recorded=authored,
        **negation,
    )


def medication_dispense(res: Resource) -> None:
    data = res.data
    handed = res.read("whenHandedOver", instant, data.get("whenHandedOver"))
    prepared = res.read("whenPrepared", instant, data.get("whenPrepared"))
    supply = res.read("daysSupply", days, data.get("daysSupply"))
    negation = _negation(coding(data.get("statusReasonCodeableConcept"))) if data.get("status") == "declined" else {}
    _event(
        res,
        "medication",
        _medication_code(res),
        handed or prepared,
        "whenHandedOver",
        code_path="medication[x]",
        time_from=("whenPrepared",),
        days_supply=None if supply is None else int(supply),
        category=_category([data["category"]] if data.get("category") else None),
        recorded=prepared,
        **negation,
    )


def medication_administration(res: Resource) -> None:
    data = res.data
    start, end = res.read("effective[x]", timing, data, "effective") or (None, None)
    negation = _negation(first_code(data.get("statusReason"))) if data.get("status") == "not-done" else {}
    _event(res, "medication", _medication_code(res), start, "effective[x]", code_path="medication[x]", end=end, **negation)


def immunization(res: Resource) -> None:
    data = res.data
    occurred = res.read("occurrenceDateTime", instant, data.get("occurrenceDateTime"))
    recorded = res.read("recorded", instant, data.get("recorded"))
    negation = _negation(coding(data.get("statusReason"))) if data.get("status") == "not-done" else {}
    _event(
        res,
        "immunization",
        coding(data.get("vaccineCode")),
        occurred or recorded,
        "occurrence[x]",
        code_path="vaccineCode",
        time_from=("occurrenceDateTime", "recorded"),
        recorded=recorded,
        **negation,
    )


def service_request(res: Resource) -> None:
    data = res.data
    authored = res.read("authoredOn", instant, data.get("authoredOn"))
    occurs, occurs_end = res.read("occurrence[x]", timing, data, "occurrence") or (None, None)
    negation = _negation(first_code(data.get("reasonCode"))) if data.get("doNotPerform") is True else {}
    _event(
        res,
        "service_request",
        coding(data.get("code")),
        authored or occurs,
        "authoredOn",
        time_from=("occurrence[x]",),
        end=None if authored else occurs_end,
        intent=data.get("intent"),
        category=_category(data.get("category")),
        recorded=authored,
        **negation,
    )


def device_request(res: Resource) -> None:
    data = res.data
    if "codeReference" in data and "codeCodeableConcept" not in data:
        res.problem("codeReference", "a Device reference cannot be read; give codeCodeableConcept")
        return
    authored = res.read("authoredOn", instant, data.get("authoredOn"))
    occurs, occurs_end = res.read("occurrence[x]", timing, data, "occurrence") or (None, None)
    negation = {}
    do_not = extension(data, "qicore-doNotPerform", "modifierExtension")
    if do_not and do_not.get("valueBoolean") is True:
        reason = extension(data, "qicore-doNotPerformReason")
        negation = _negation(coding(reason.get("valueCodeableConcept")) if reason else None)
    _event(
        res,
        "device",
        coding(data.get("codeCodeableConcept")),
        authored or occurs,
        "authoredOn",
        code_path="codeCodeableConcept",
        time_from=("occurrence[x]",),
        end=None if authored else occurs_end,
        intent=data.get("intent"),
        recorded=authored,
        **negation,
    )


def medication(res: Resource) -> None:
    """A Medication is not an event: its code names what MedicationRequest/Dispense/Administration
    resources referencing it were about."""
    res.reading.medications[res.id] = coding(res.data.get("code"))


MAPPERS = {
    "Condition": condition,
    "Observation": observation,
    "Procedure": procedure,
    "MedicationRequest": medication_request,
    "MedicationDispense": medication_dispense,
    "MedicationAdministration": medication_administration,
    "Immunization": immunization,
    "ServiceRequest": service_request,
    "DeviceRequest": device_request,
    "Medication": medication,
}
