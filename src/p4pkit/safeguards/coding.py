"""Coding intensity: is an entity's recorded illness growing faster than its patients are?

Risk-adjusted payment and outcome measures pay more for sicker patients, so recording more
diagnoses raises payment and lowers "expected" thresholds without any change in the patients.
CMS's answer is an across-the-board coding-pattern adjustment (5.9%, SSA section 1853(a)(1)(C)(ii));
the entity-level question is who drives it (Kronick and Welch, "Measuring coding intensity in the
Medicare Advantage program", Medicare & Medicaid Research Review 2014;4(2)).

The check follows the patients on each practice's list on the first day of a window:

- a *new diagnosis* is an ICD-10-CM category (the three-character code, so a more specific code
  for a condition already recorded is not new) recorded on a condition event inside the window
  and never before it;
- a new diagnosis is *backed* when a clinical event confirms it by the end of the window:
  diabetes (E08-E11, E13) by an HbA1c of 6.5% or more (ADA Standards of Care, diagnosis criterion) and
  chronic kidney disease (N18) by an eGFR below 60 mL/min/1.73 m2 (KDIGO 2012, categories G3a-G5);
  backed new diagnoses are left out, unbacked ones counted;
- per practice, the share of its patients with at least one unbacked new diagnosis is compared with
  the peer rate on a funnel plot (`funnel.funnel_flags`) with Spiegelhalter's additive
  (random-effects) overdispersion, since honest rates differ with the age of the list by an amount
  that does not shrink with list size (a multiplicative factor left large practices' limits too
  narrow: 10 honest practices of 2,500 flagged in 600, docs/validity.md); the evidence adds the mean
  number of unbacked new diagnoses per patient.
"""

from __future__ import annotations

import ibis
import pandas as pd

from p4pkit.measures.timing import Period
from p4pkit.model import codes
from p4pkit.safeguards.deselection import registered_on
from p4pkit.safeguards.funnel import funnel_flags
from p4pkit.store import Store

# ICD-10-CM category -> (LOINC code, comparison, threshold) of a result that confirms it.
SUPPORTING_RESULTS = {
    **{category: ("4548-4", ">=", 6.5) for category in ("E08", "E09", "E10", "E11", "E13")},
    "N18": ("62238-1", "<", 60.0),
}


def _supported(events: ibis.Table, until: ibis.Value) -> ibis.Table:
    """(patient_id, category) pairs confirmed by a qualifying result on or before `until`."""
    parts = []
    for category, (loinc, op, threshold) in SUPPORTING_RESULTS.items():
        value = events.value_num
        meets = value >= threshold if op == ">=" else value < threshold
        hits = events.filter(
            (events.code_system == codes.LOINC) & (events.code == loinc) & ~events.negated & meets & (events.start.date() <= until)
        )
        parts.append(hits.select("patient_id", category=ibis.literal(category)))
    return ibis.union(*parts, distinct=True)


def new_diagnosis_counts(store: Store, window: Period) -> pd.DataFrame:
    """Per practice: patients on its list at the window start (`size`), how many gained at least one
    unbacked new diagnosis in the window (`count`) and how many such diagnoses there were (`diagnoses`)."""
    start, end = ibis.literal(window.start), ibis.literal(window.end)
    events = store.table("events")
    conditions = events.filter((events.kind == "condition") & (events.code_system == codes.ICD10CM) & ~events.negated)
    categorised = conditions.mutate(category=conditions.code.replace(".", "").upper()[:3], day=conditions.start.date())
    before = categorised.filter(categorised.day < start).select("patient_id", "category").distinct()
    during = categorised.filter((categorised.day >= start) & (categorised.day <= end)).select("patient_id", "category").distinct()
    new = during.anti_join(before, ["patient_id", "category"]).anti_join(_supported(events, end), ["patient_id", "category"])
    per_patient = new.group_by("patient_id").aggregate(diagnoses=new.count())
    lists = registered_on(store, window.start)
    joined = lists.left_join(per_patient, "patient_id").select(
        entity_id=lists.organization_id, diagnoses=per_patient.diagnoses.fill_null(0)
    )
    table = joined.group_by("entity_id").aggregate(
        size=joined.count(), count=(joined.diagnoses > 0).cast("int64").sum(), diagnoses=joined.diagnoses.sum()
    )
    return store.backend.to_pyarrow(table.order_by("entity_id")).to_pandas()


def coding_intensity_flags(store: Store, window: Period) -> pd.DataFrame:
    """Flag practices whose patients gain unbacked new diagnoses more often than peers' (3-SD funnel)."""
    counts = new_diagnosis_counts(store, window)
    flags = funnel_flags(
        counts, "coding_intensity", overdispersion="additive", describe=f"patients on the list on {window.start} gained an unbacked new diagnosis by {window.end}"
    )
    per_patient = flags["entity_id"].map(counts.set_index("entity_id")["diagnoses"]) / flags["size"]
    flags["evidence"] = [f"{text}; {m:.3f} unbacked new diagnoses per patient" for text, m in zip(flags["evidence"], per_patient)]
    return flags
