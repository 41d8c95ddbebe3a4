"""Hospital of stay: each patient goes to the hospital where they had the most inpatient stays.

Hospital programs (HVBP, HRRP, HACRP, never events) hold the hospital that treated the patient
accountable, and a stay belongs to the hospital organization recorded on the encounter. A run on
patient-level data needs one entity per patient, so the patient goes to the hospital with the most
stays admitted in the period (organizations of kind `hospital` only), ties to the hospital of the
most recent stay, then to the smallest hospital id, so the result never depends on row order.
Patients without an inpatient stay in the period are unattributed. Scoring models that count stays
(readmissions, hospital-acquired conditions) read each stay's own hospital from the encounter; this
rule decides only whose patient population a hospital answers for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import ibis
import pyarrow as pa

from p4pkit.attribution.contract import complete, period_text, text
from p4pkit.attribution.ranking import plurality, tie_note
from p4pkit.store import Store

if TYPE_CHECKING:
    from p4pkit.measures.timing import Period

RULE = "hospital_of_stay"
DEFAULT_CLASSES = ("inpatient",)


def hospital_of_stay(
    store: Store, period: Period, *, encounter_classes: tuple[str, ...] | list[str] = DEFAULT_CLASSES
) -> pa.Table:
    """Attribute each patient to the hospital of most of their stays admitted in the period."""
    encounters = store.table("encounters")
    admitted = encounters.start.date()
    hospitals = store.table("organizations")
    hospitals = hospitals.filter(hospitals.kind == "hospital").select(hospital_id="organization_id")
    stays = encounters.filter(
        admitted.between(period.start, period.end), encounters.encounter_class.isin(list(encounter_classes))
    ).mutate(admitted=admitted)
    stays = stays.join(hospitals, stays.organization_id == hospitals.hospital_id)
    per_hospital = stays.group_by(["patient_id", "hospital_id"]).agg(
        score=stays.encounter_id.nunique(), count_=stays.encounter_id.nunique(), last_date=stays.admitted.max()
    )
    winners = plurality(per_hospital.rename(entity_id="hospital_id"))
    reason = (
        "hospital of most stays: " + text(winners.count_) + " of " + text(winners.total_count)
        + " stays at hospital " + winners.entity_id + tie_note(winners, "stay")
    )
    decided = winners.select(
        "patient_id", "entity_id", entity_type=ibis.literal("hospital"), clinician_id=ibis.null("string"),
        step=ibis.literal("plurality"), reason=reason,
    )
    return complete(store, decided, period, RULE, f"unattributed: no hospital stay from {period_text(period)}")
