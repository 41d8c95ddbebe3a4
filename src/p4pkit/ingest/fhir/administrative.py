"""Administrative FHIR R4 resources → patients, encounters, enrollments, clinicians, organizations
and claim_lines.

Mappings (see docs/data-model.md for the columns):
- Patient: gender → sex, birthDate, deceasedDateTime → death_date, US Core ethnicity extension →
  ethnicity (its `text`, else the OMB category display or code).
- Encounter: class (v3 ActCode) → encounter_class, first type coding, period, status,
  hospitalization admitSource / dischargeDisposition codes, serviceProvider → organization_id,
  the first Practitioner participant → clinician_id, diagnosis → links conditions to it.
- Coverage → an enrollment of kind "payer" with the paying Organization; `plan` is the Coverage
  type code (e.g. a Source of Payment Typology code). A Coverage paid by the patient or a relative
  (self-pay) has no payer organization and yields no enrollment.
- Practitioner → clinicians (NPI, name, role from qualification), refined by PractitionerRole
  (specialty, organization); Organization → organizations (kind from Organization.type).
- Claim / ExplanationOfBenefit items → claim_lines. Allowed amount: the EOB adjudication
  "eligible" amount, else the item's net (for a Claim, the billed amount, the only one it has);
  paid: adjudication "benefit" (or CARIN BB "paidtoprovider"). Amounts are rounded half-up to the
  cent once, on the way in.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from p4pkit.ingest.fhir.reading import Resource
from p4pkit.ingest.fhir.values import (
    Ref,
    code_of,
    coding,
    day,
    extension,
    instant,
    period,
    reference,
    reference_type,
)
from p4pkit.model.schemas import SEX
from p4pkit.programs.money import round_money

# HL7 v3 ActCode encounter classes → canonical encounter_class.
ENCOUNTER_CLASSES = {
    "AMB": "ambulatory",
    "FLD": "ambulatory",
    "PRENC": "ambulatory",
    "IMP": "inpatient",
    "ACUTE": "inpatient",
    "NONAC": "inpatient",
    "EMER": "emergency",
    "VR": "virtual",
    "HH": "home",
    "OBSENC": "observation",
    "SS": "observation",
}
# HL7 organization-type codes → canonical organization kind.
ORGANIZATION_KINDS = {"prov": "practice", "dept": "practice", "team": "clinician_group", "ins": "payer", "pay": "payer"}
# v2-0360 degree / NUCC-like qualification codes → canonical clinician role.
ROLES = {"MD": "physician", "DO": "physician", "NP": "nurse_practitioner", "PA": "physician_assistant", "RN": "nurse"}
# NUCC taxonomy codes of primary-care specialties (family, internal, general, geriatric medicine,
# paediatrics, and family / adult / primary-care nurse practitioners).
PRIMARY_CARE = frozenset(
    {"207Q00000X", "207R00000X", "208D00000X", "207QG0300X", "207RG0300X", "208000000X", "363LF0000X", "363LA2200X", "363LP2300X"}
)
NPI = "http://hl7.org/fhir/sid/us-npi"


def _money(money: dict | None) -> Decimal | None:
    """A Money amount rounded half-up to the cent (that it is a number is checked before: `shapes`)."""
    if not money or money.get("value") is None:
        return None
    return round_money(money["value"])


def _ethnicity(data: dict) -> str | None:
    ext = extension(data, "us-core-ethnicity")
    if not ext:
        return None
    parts = {part.get("url"): part for part in ext.get("extension", ())}
    if parts.get("text", {}).get("valueString"):
        return parts["text"]["valueString"]
    category = parts.get("ombCategory", {}).get("valueCoding", {})
    return category.get("display") or category.get("code")


def patient(res: Resource) -> None:
    data = res.data
    birth = res.read("birthDate", day, data.get("birthDate"))
    sex = data.get("gender") or "unknown"
    if sex not in SEX:
        res.problem("gender", f"{sex!r} is not one of {sorted(SEX)}")
        return
    if not res.require("birthDate", birth, "give the birth date as YYYY-MM-DD"):
        return
    res.reading.tables["patients"].add(
        res.where("id"),
        patient_id=res.id,
        birth_date=birth,
        sex=sex,
        ethnicity=_ethnicity(data),
        death_date=res.read("deceasedDateTime", day, data.get("deceasedDateTime")),
    )


def _patient_and_period(res: Resource, field: str, how: str, start_name: str) -> tuple[Ref, dt.datetime, dt.datetime | None] | None:
    """The Patient reference in `field` and the resource's period, or None (with problems) when
    either is missing."""
    start, end = res.read("period", period, res.data.get("period")) or (None, None)
    patient_ref = reference(res.data.get(field), "Patient", res.where(field))
    ok = res.require(field, patient_ref, how)
    if not (res.require("period.start", start, f"give the {start_name}") and ok):
        return None
    return patient_ref, start, end


def encounter(res: Resource) -> None:
    data = res.data
    klass = (data.get("class") or {}).get("code")
    if klass is None:
        res.problem("class", f"missing; FHIR R4 requires it (a v3 ActCode class code, one of {', '.join(sorted(ENCOUNTER_CLASSES))})")
        return
    if klass not in ENCOUNTER_CLASSES:
        res.problem("class", f"{klass!r} is not a supported v3 ActCode class; use one of {', '.join(sorted(ENCOUNTER_CLASSES))}")
        return
    found = _patient_and_period(res, "subject", "say which Patient this is about (subject.reference)", "encounter start time")
    if found is None:
        return
    patient_ref, start, end = found
    clinician = None
    for participant in data.get("participant", ()):
        if reference_type(participant.get("individual")) == "Practitioner":
            clinician = reference(participant["individual"], "Practitioner", res.where("participant.individual"))
            break
    type_code = next((coding(t) for t in data.get("type", ()) if coding(t)), None) or (None, None)
    hospitalization = data.get("hospitalization") or {}
    res.reading.tables["encounters"].add(
        res.where("period"),
        encounter_id=res.id,
        patient_id=patient_ref,
        clinician_id=clinician,
        organization_id=reference(data.get("serviceProvider"), "Organization", res.where("serviceProvider")),
        encounter_class=ENCOUNTER_CLASSES[klass],
        type_system=type_code[0],
        type_code=type_code[1],
        start=start,
        end=end,
        admission_source=code_of(hospitalization.get("admitSource")),
        discharge_disposition=code_of(hospitalization.get("dischargeDisposition")),
        status=data.get("status"),
    )
    for number, diagnosis in enumerate(data.get("diagnosis", ())):
        condition = diagnosis.get("condition")
        if reference_type(condition) in ("Condition", None) and condition and condition.get("reference"):
            res.reading.diagnoses.append((res.id, Ref("Condition", condition["reference"], res.where(f"diagnosis[{number}].condition"))))


def coverage(res: Resource) -> None:
    data = res.data
    payor = next((p for p in data.get("payor", ()) if reference_type(p) == "Organization"), None)
    if payor is None:
        return
    found = _patient_and_period(res, "beneficiary", "say which Patient is covered", "coverage start date")
    if found is None:
        return
    beneficiary, start, end = found
    organization = reference(payor, "Organization", res.where("payor"))
    res.reading.payors.add(organization)
    res.reading.tables["enrollments"].add(
        res.where("period"),
        enrollment_id=res.id,
        patient_id=beneficiary,
        kind="payer",
        organization_id=organization,
        plan=code_of(data.get("type")),
        start_date=start.date(),
        end_date=None if end is None else end.date(),
    )


def _identifier(data: dict, system: str | None = None) -> str | None:
    for ident in data.get("identifier", ()):
        if ident.get("value") and (system is None or ident.get("system") == system):
            return str(ident["value"])
    return None


def practitioner(res: Resource) -> None:
    data = res.data
    name = (data.get("name") or [{}])[0]
    given = [part for part in name.get("given", ()) if part is not None]  # null where `_given` has the extension
    text = name.get("text") or " ".join([*given, name.get("family", "")]).strip() or None
    role = "other"
    for qualification in data.get("qualification", ()):
        role = ROLES.get(code_of(qualification.get("code")) or "", role)
    res.reading.tables["clinicians"].add(
        res.where("id"),
        clinician_id=res.id,
        national_id=_identifier(data, NPI),
        name=text,
        role=role,
        specialty="Unknown",
        primary_care=False,
    )


def practitioner_role(res: Resource) -> None:
    """Refines the clinician it names: specialty, primary care, organization, role."""
    data = res.data
    who = reference(data.get("practitioner"), "Practitioner", res.where("practitioner"))
    if not res.require("practitioner", who, "say which Practitioner this role is for"):
        return
    hit = res.reading.target(who)
    clinicians = res.reading.tables["clinicians"].pad()
    rows = [i for i, cid in enumerate(clinicians.data["clinician_id"]) if hit and cid == hit[1]]
    if not rows:
        res.problem("practitioner", "names no Practitioner read so far; give the Practitioner before its PractitionerRole")
        return
    specialty = next((c for s in data.get("specialty", ()) for c in s.get("coding", ()) if c.get("code")), None)
    for i in rows:
        if specialty:
            clinicians.data["specialty"][i] = specialty.get("display") or specialty["code"]
            clinicians.data["primary_care"][i] = specialty["code"] in PRIMARY_CARE
        if data.get("organization"):
            clinicians.data["organization_id"][i] = reference(data["organization"], "Organization", res.where("organization"))


def organization(res: Resource) -> None:
    data = res.data
    if not res.require("name", data.get("name"), "give the organization's name"):
        return
    kind = next((ORGANIZATION_KINDS[c] for t in data.get("type", ()) if (c := code_of(t)) in ORGANIZATION_KINDS), None)
    res.reading.tables["organizations"].add(
        res.where("id"),
        organization_id=res.id,
        name=data["name"],
        kind=kind,
        national_id=_identifier(data),
        parent_id=reference(data.get("partOf"), "Organization", res.where("partOf")),
    )


def _adjudicated(item: dict, categories: tuple[str, ...]) -> dict | None:
    for adjudication in item.get("adjudication", ()):
        if code_of(adjudication.get("category")) in categories and adjudication.get("amount"):
            return adjudication["amount"]
    return None


def claim(res: Resource) -> None:
    data = res.data
    patient_ref = reference(data.get("patient"), "Patient", res.where("patient"))
    if not res.require("patient", patient_ref, "say which Patient the claim is for"):
        return
    billable_start, billable_end = res.read("billablePeriod", period, data.get("billablePeriod")) or (None, None)
    billing = data.get("provider") if reference_type(data.get("provider")) == "Organization" else None
    diagnoses = {d["sequence"]: coding(d.get("diagnosisCodeableConcept")) for d in data.get("diagnosis", ()) if d.get("sequence") is not None}
    team = {t.get("sequence"): t.get("provider") for t in data.get("careTeam", ()) if reference_type(t.get("provider")) == "Practitioner"}
    for number, item in enumerate(data.get("item", ())):
        path = f"item[{number}]"
        start, end = billable_start, billable_end
        if "servicedDate" in item:
            start = end = res.read(f"{path}.servicedDate", instant, item["servicedDate"])
        elif "servicedPeriod" in item:
            start, end = res.read(f"{path}.servicedPeriod", period, item["servicedPeriod"]) or (None, None)
        amount = _money(_adjudicated(item, ("eligible",)) or item.get("net"))
        dated = res.require(f"{path}.serviced[x]", start, "give servicedDate or billablePeriod", f"{path}.servicedDate", f"{path}.servicedPeriod", "billablePeriod")
        if not (res.require(f"{path}.net", amount, "give the allowed amount (adjudication 'eligible') or net") and dated):
            continue
        diagnosis = diagnoses.get((item.get("diagnosisSequence") or [None])[0]) or (None, None)
        product = coding(item.get("productOrService")) or (None, None)
        rendering = team.get((item.get("careTeamSequence") or [None])[0])
        item_encounter = (item.get("encounter") or [None])[0]
        res.reading.tables["claim_lines"].add(
            res.where(f"{path}.serviced[x]"),
            claim_id=res.id,
            line_number=int(item.get("sequence", number + 1)),
            patient_id=patient_ref,
            encounter_id=reference(item_encounter, "Encounter", res.where(f"{path}.encounter")),
            service_start=start.date(),
            service_end=None if end is None else end.date(),
            place_of_service=code_of(item.get("locationCodeableConcept")),
            code_system=product[0],
            code=product[1],
            diagnosis_system=diagnosis[0],
            diagnosis_code=diagnosis[1],
            rendering_clinician_id=reference(rendering, "Practitioner", res.where(f"{path}.careTeamSequence")),
            billing_organization_id=reference(billing, "Organization", res.where("provider")),
            allowed_amount=amount,
            paid_amount=_money(_adjudicated(item, ("benefit", "paidtoprovider"))),
        )


MAPPERS = {
    "Patient": patient,
    "Encounter": encounter,
    "Coverage": coverage,
    "Practitioner": practitioner,
    "PractitionerRole": practitioner_role,
    "Organization": organization,
    "Claim": claim,
    "ExplanationOfBenefit": claim,
}
