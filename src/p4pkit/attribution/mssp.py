"""Medicare Shared Savings Program assignment: two steps on primary-care allowed charges.

Rules implemented (42 CFR 425.402(b), as in force for performance years 2012-2018; the later
option of moving nurse practitioners, physician assistants and clinical nurse specialists into step
1 is the `nonphysicians_in_step_one` switch):

- Only primary-care services count: claim lines in the period whose CPT/HCPCS code is on the
  primary-care list (42 CFR 425.400(c); see `primary_care.py`), by a known rendering clinician.
- Step 1: a patient who received any primary-care service from a primary-care physician (role
  physician, primary_care true) is assigned to the entity whose primary-care physicians account for
  the largest share of those allowed charges (the plurality), comparing every ACO and every
  non-ACO organization (TIN).
- Step 2: a patient with no such service is assigned on the plurality of primary-care allowed
  charges by specialist physicians, nurse practitioners and physician assistants.
- Pre-step (425.402(b)(1)): the winning entity must have furnished at least one of the patient's
  primary-care services through a physician; otherwise the patient stays unassigned.
- At the ACO level the winner must be an ACO: when the plurality falls to a non-ACO organization
  the patient is not assigned to any ACO.
- Ties in allowed charges go to the entity with the most recent primary-care service, then to the
  smallest entity id [K: CMS's Assignment Methodology specification breaks ties by the most recent
  service; not checked against the current version].

Beneficiary eligibility (425.401), voluntary alignment and the ACO-participant exclusivity checks
are outside this function: give it the eligible patients' claims.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import ibis
import pyarrow as pa

from p4pkit.attribution.contract import complete, dollars, holder, period_text, text, unattributed
from p4pkit.attribution.entities import EntityLevel, clinician_entities
from p4pkit.attribution.primary_care import CODE_SYSTEMS, load_primary_care_codes
from p4pkit.attribution.ranking import plurality, tie_note
from p4pkit.store import Store

if TYPE_CHECKING:
    from p4pkit.measures.timing import Period

RULE = "mssp_two_step"
NON_PHYSICIAN_PROFESSIONALS = ("nurse_practitioner", "physician_assistant")


def mssp_two_step(
    store: Store,
    period: Period,
    *,
    entity: EntityLevel = "aco",
    nonphysicians_in_step_one: bool = False,
    primary_care_codes: str | None = None,
) -> pa.Table:
    """Assign each patient by the two-step plurality of primary-care allowed charges (one row per patient)."""
    services = _primary_care_services(store, period, entity, nonphysicians_in_step_one, primary_care_codes)
    patient_steps = services.group_by("patient_id").agg(has_step_one=(services.step == "step 1").any())
    services = services.join(patient_steps, "patient_id")
    counted = services.filter(services.step == ibis.ifelse(services.has_step_one, "step 1", "step 2"))

    per_entity = counted.group_by(["patient_id", "entity_id", "entity_type", "step"]).agg(
        score=counted.allowed_amount.sum(),
        count_=counted.count(),
        last_date=counted.service_start.max(),
        physician_services=(counted.role == "physician").cast("int64").sum(),
    )
    winners = plurality(per_entity)
    lead = _lead_clinicians(counted)
    winners = winners.join(lead, (winners.patient_id == lead.lead_patient) & (winners.entity_id == lead.lead_entity))

    who = ibis.ifelse(winners.step == "step 1", "primary-care physicians", "specialists, NPs and PAs")
    evidence = (
        winners.step + " (" + who + "): plurality of primary-care allowed charges: "
        + text(winners.count_) + " of " + text(winners.total_count) + " services' charges, "
        + dollars(winners.score) + " of " + dollars(winners.total_score) + ", "
        + holder(winners.entity_type, winners.entity_id, winners.lead_clinician)
        + tie_note(winners, "primary-care service")
    )
    winners = winners.mutate(evidence=evidence)
    not_aco = (winners.entity_type != "aco") if entity == "aco" else ibis.literal(False)
    no_physician = winners.physician_services == 0
    assigned = winners.filter(~not_aco & ~no_physician)
    assigned = assigned.select(
        "patient_id", "entity_id", "entity_type", clinician_id=assigned.lead_clinician, step="step", reason="evidence"
    )
    refused = winners.filter(not_aco | no_physician)
    why_not = ibis.ifelse(
        not_aco,
        refused.evidence + "; not assigned: the plurality is outside any ACO",
        refused.evidence + "; not assigned: no primary-care service there was by a physician (42 CFR 425.402(b)(1))",
    )
    default = f"unassigned: no primary-care services by physicians, NPs or PAs from {period_text(period)}"
    return complete(store, assigned.union(unattributed(refused, why_not)), period, RULE, default)


def _lead_clinicians(counted: ibis.Table) -> ibis.Table:
    """lead_patient, lead_entity, lead_clinician: per patient and entity, the clinician with the most
    allowed charges, ties to the smallest clinician id (aggregates and joins: no per-patient sort)."""
    pair = ["patient_id", "entity_id"]
    per_clinician = counted.group_by([*pair, "clinician_id"]).agg(charges=counted.allowed_amount.sum())
    most = per_clinician.group_by(pair).agg(most=per_clinician.charges.max())
    top = per_clinician.join(most, pair)
    top = top.filter(top.charges == top.most)
    lead = top.group_by(pair).agg(lead_clinician=top.clinician_id.min())
    return lead.select(lead_patient=lead.patient_id, lead_entity=lead.entity_id, lead_clinician=lead.lead_clinician)


def _primary_care_services(
    store: Store, period: Period, entity: EntityLevel, nonphysicians_in_step_one: bool, codes_path: str | None
) -> ibis.Table:
    """Primary-care claim lines in the period with their clinician's entity and assignment step."""
    lines = store.table("claim_lines")
    lines = lines.filter(
        lines.service_start.between(period.start, period.end),
        lines.code_system.isin(CODE_SYSTEMS),
        lines.rendering_clinician_id.notnull(),
    )
    codes = load_primary_care_codes(codes_path)
    lines = lines.semi_join(codes, lines.code == codes.code)
    clinicians = clinician_entities(store, entity)
    joined = lines.join(clinicians, lines.rendering_clinician_id == clinicians.clinician_id)
    physician = joined.role == "physician"
    nonphysician = joined.role.isin(NON_PHYSICIAN_PROFESSIONALS)
    step_one = (physician & joined.primary_care) | (nonphysician if nonphysicians_in_step_one else ibis.literal(False))
    step = ibis.cases((step_one, "step 1"), (physician | nonphysician, "step 2"), else_=ibis.null("string"))
    services = joined.select(
        "patient_id", "entity_id", "entity_type", "clinician_id", "role", "service_start", "allowed_amount", step=step
    )
    return services.filter(services.step.notnull())
