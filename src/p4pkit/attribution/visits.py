"""Plurality of visits, ties broken by the most recent visit.

The common commercial and Medicaid rule (used by NY Medicaid VBP contractors and many health
plans): each patient goes to the entity with the most visits in the period, counting encounters of
the listed classes (office, virtual, home by default) with a known clinician, by primary-care
clinicians only unless told otherwise. A tie goes to the entity seen most recently, then to the
smallest entity id, so the result never depends on row order.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import ibis
import pyarrow as pa

from p4pkit.attribution.contract import complete, holder, period_text, text
from p4pkit.attribution.entities import EntityLevel, clinician_entities
from p4pkit.attribution.ranking import first_per, plurality, tie_note
from p4pkit.store import Store

if TYPE_CHECKING:
    from p4pkit.measures.timing import Period

RULE = "plurality_of_visits"
DEFAULT_CLASSES = ("ambulatory", "virtual", "home")


def plurality_of_visits(
    store: Store,
    period: Period,
    *,
    entity: EntityLevel = "clinician",
    encounter_classes: tuple[str, ...] | list[str] = DEFAULT_CLASSES,
    primary_care_only: bool = True,
) -> pa.Table:
    """Attribute each patient to the entity with the most visits in the period (one row per patient)."""
    encounters = store.table("encounters")
    visit_day = encounters.start.date()
    encounters = encounters.filter(
        visit_day.between(period.start, period.end),
        encounters.encounter_class.isin(list(encounter_classes)),
        encounters.clinician_id.notnull(),
    ).mutate(visit_day=visit_day)
    clinicians = clinician_entities(store, entity)
    if primary_care_only:
        clinicians = clinicians.filter(clinicians.primary_care)
    visits = encounters.join(clinicians, "clinician_id")

    per_entity = visits.group_by(["patient_id", "entity_id", "entity_type"]).agg(
        score=visits.encounter_id.nunique(), count_=visits.encounter_id.nunique(), last_date=visits.visit_day.max()
    )
    winners = plurality(per_entity)
    per_clinician = visits.group_by(["patient_id", "entity_id", "clinician_id"]).agg(
        n=visits.encounter_id.nunique(), last=visits.visit_day.max()
    )
    lead = first_per(per_clinician, ["patient_id", "entity_id"], [ibis.desc("n"), ibis.desc("last"), "clinician_id"])
    lead = lead.select(lead_patient=lead.patient_id, lead_entity=lead.entity_id, lead_clinician=lead.clinician_id)
    winners = winners.join(lead, (winners.patient_id == lead.lead_patient) & (winners.entity_id == lead.lead_entity))

    kind = "primary-care visits" if primary_care_only else "visits"
    reason = (
        "plurality of " + ibis.literal(kind) + ": " + text(winners.count_) + " of " + text(winners.total_count)
        + " visits, " + holder(winners.entity_type, winners.entity_id, winners.lead_clinician)
        + tie_note(winners, "visit")
    )
    decided = winners.select(
        "patient_id", "entity_id", "entity_type", clinician_id=winners.lead_clinician, step=ibis.literal("plurality"), reason=reason
    )
    return complete(store, decided, period, RULE, f"unattributed: no {kind} from {period_text(period)}")
