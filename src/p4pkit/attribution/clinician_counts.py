"""How many different clinicians each patient saw: the case against one-clinician attribution.

A 2007 study of Medicare beneficiaries (Pham et al., cited in the pay-for-performance source text,
seeds/002) found a median of two primary-care physicians and five specialists caring for a single
patient, and doubted that responsibility for such a patient's outcomes can be attributed to one of
them. This report measures the same thing on the program's own data: distinct clinicians with a
visit (encounter) or a billed service (claim line) in the period, split into primary care and
specialists by the clinician's `primary_care` flag, with medians overall and for complex patients.

"Complex" here means at least `complex_min_conditions` distinct diagnosis categories (the first
three characters of the ICD-10 code, i.e. the ICD-10 category) recorded as conditions up to the
end of the period; the threshold is a parameter because definitions of multimorbidity differ.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import ibis
import pyarrow as pa

from p4pkit.model import codes
from p4pkit.store import Store

if TYPE_CHECKING:
    from p4pkit.measures.timing import Period

DEFAULT_COMPLEX_MIN_CONDITIONS = 3


def clinicians_per_patient(
    store: Store, period: Period, *, complex_min_conditions: int = DEFAULT_COMPLEX_MIN_CONDITIONS
) -> pa.Table:
    """patient_id, primary_care_clinicians, specialists, clinicians, condition_categories, complex.

    One row per patient with at least one contact in the period; `clinician_count_summary` gives
    the medians.
    """
    return _per_patient(store, period, complex_min_conditions).order_by("patient_id").to_pyarrow()


def _per_patient(store: Store, period: Period, complex_min_conditions: int) -> ibis.Table:
    encounters = store.table("encounters")
    seen = encounters.filter(encounters.start.date().between(period.start, period.end), encounters.clinician_id.notnull())
    lines = store.table("claim_lines")
    billed = lines.filter(lines.service_start.between(period.start, period.end), lines.rendering_clinician_id.notnull())
    contacts = seen.select("patient_id", "clinician_id").union(
        billed.select("patient_id", clinician_id=billed.rendering_clinician_id)
    )
    clinicians = store.table("clinicians").select("clinician_id", "primary_care")
    contacts = contacts.join(clinicians, "clinician_id")
    counts = contacts.group_by("patient_id").agg(
        primary_care_clinicians=contacts.clinician_id.nunique(where=contacts.primary_care),
        specialists=contacts.clinician_id.nunique(where=~contacts.primary_care),
        clinicians=contacts.clinician_id.nunique(),
    )
    events = store.table("events")
    conditions = events.filter(
        events.kind == "condition",
        ~events.negated,
        events.code_system.isin([codes.ICD10CM, codes.ICD10]),
        events.start.date() <= period.end,
    )
    categories = conditions.group_by("patient_id").agg(condition_categories=conditions.code.substr(0, 3).nunique())
    joined = counts.left_join(categories, counts.patient_id == categories.patient_id)
    n_categories = joined.condition_categories.fill_null(0)
    return joined.select(
        patient_id=joined.patient_id,
        primary_care_clinicians=joined.primary_care_clinicians,
        specialists=joined.specialists,
        clinicians=joined.clinicians,
        condition_categories=n_categories,
        complex=n_categories >= complex_min_conditions,
    )


def clinician_count_summary(
    store: Store, period: Period, *, complex_min_conditions: int = DEFAULT_COMPLEX_MIN_CONDITIONS
) -> pa.Table:
    """group (all patients seen / complex patients), patients, and median clinicians of each kind."""
    per_patient = _per_patient(store, period, complex_min_conditions)

    def summarise(table: ibis.Table, group: str) -> ibis.Table:
        return table.aggregate(
            group=ibis.literal(group),
            patients=table.count(),
            median_primary_care=table.primary_care_clinicians.median().cast("float64"),
            median_specialists=table.specialists.median().cast("float64"),
            median_clinicians=table.clinicians.median().cast("float64"),
        )

    everyone = summarise(per_patient, "all patients seen")
    complex_ = summarise(per_patient.filter(per_patient.complex), "complex patients")
    return everyone.union(complex_).order_by("group").to_pyarrow()
