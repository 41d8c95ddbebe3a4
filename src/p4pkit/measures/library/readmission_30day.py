"""READMIT_30D: 30-day all-cause unplanned readmission after an acute stay (outcome, per stay).

Follows the NCQA HEDIS Plan All-Cause Readmissions (PCR) definitions, without its risk model
(observed rate only; NQF #1768 measure submission and the HEDIS PCR description):

- stays are acute inpatient or observation encounters; a stay that is followed by another stay
  of the same patient admitted on the discharge day or the next day is a direct transfer, and the
  two are one stay (PCR: stays two or more calendar days apart are distinct), so only the last stay
  of a chain can be an index stay;
- an index stay is discharged alive (disposition not "exp") between the start of the measurement
  period and 30 days before its end (PCR: January 1 to December 1), so every index stay has its
  full 30-day follow-up inside the period, for patients 18 and over at the end of the period;
- it is readmitted when another stay is admitted 1 to 30 days after the index discharge day
  (day 30 counts, day 31 does not) and that stay is not planned. Planned readmissions are
  identifiable here only when the admission is coded as elective (SNOMED 8715000 "Hospital
  admission, elective"); the CMS Planned Readmission Algorithm needs procedure and diagnosis
  categories the canonical model does not link to stays.

A patient can have several index stays, so the rate counts stays: the denominator observation is
the patient's index stays and the numerator observation the readmitted ones (outcome scoring; a
lower rate is better).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import ibis

from p4pkit.measures.criteria import EVIDENCE, AgeAt, AllOf, Criterion
from p4pkit.measures.definition import Group, Measure
from p4pkit.model.codes import SNOMED

STAY_CLASSES = ("inpatient", "observation")
DIED = ("exp",)
PLANNED_ADMISSION = (SNOMED, "8715000")
FOLLOW_UP_DAYS = 30
TRANSFER_GAP_DAYS = 1


def _stays(ctx) -> ibis.Table:
    """Acute stays with admission and discharge days."""
    enc = ctx.encounters
    enc = enc.filter(enc.encounter_class.isin(STAY_CLASSES))
    if "status" in enc.columns:
        enc = enc.filter(enc.status.isnull() | (enc.status == "finished"))
    admitted = enc.start.date()
    return enc.select(
        "patient_id",
        "encounter_id",
        admitted=admitted,
        discharged=ibis.coalesce(enc.end.date(), admitted),
        died=enc.discharge_disposition.isin(DIED).fill_null(False),
        planned=((enc.type_system == PLANNED_ADMISSION[0]) & (enc.type_code == PLANNED_ADMISSION[1])).fill_null(False),
    )


def index_stays(ctx) -> ibis.Table:
    """Index stays (patient_id, encounter_id, discharged) with `readmission_id`: the first unplanned
    stay admitted 1-30 days after discharge, or null."""

    def build() -> ibis.Table:
        stays = _stays(ctx)
        later = stays.select(l_patient="patient_id", l_id="encounter_id", l_admitted="admitted", l_planned="planned")
        pairs = stays.join(later, [stays.patient_id == later.l_patient, stays.encounter_id != later.l_id])
        pairs = pairs.mutate(gap=pairs.l_admitted.delta(pairs.discharged, unit="day"))
        transferred = pairs.filter((pairs.gap >= 0) & (pairs.gap <= TRANSFER_GAP_DAYS)).select("encounter_id").distinct()
        lo = ctx.period.start
        hi = ctx.period.end - timedelta(days=FOLLOW_UP_DAYS)
        index = stays.filter(~stays.died, stays.discharged >= ibis.date(lo), stays.discharged <= ibis.date(hi))
        index = index.anti_join(transferred, "encounter_id")
        readmissions = pairs.filter(
            (pairs.gap >= 1) & (pairs.gap <= FOLLOW_UP_DAYS) & ~pairs.l_planned
        )
        first = readmissions.group_by("encounter_id").aggregate(readmission_id=readmissions.l_id.min()).rename(r_id="encounter_id")
        joined = index.left_join(first, index.encounter_id == first.r_id)
        return joined.select("patient_id", "encounter_id", "discharged", "readmission_id")

    return ctx.cached(INDEX_STAYS_KEY, build)


@dataclass(frozen=True)
class _CacheKey:
    name: str


INDEX_STAYS_KEY = _CacheKey("readmission index stays")


@dataclass(frozen=True)
class HasIndexStay(Criterion):
    """At least one index stay; the evidence is the index stays and their discharge days."""

    def compile(self, ctx) -> ibis.Table:
        stays = index_stays(ctx)
        return stays.select("patient_id", event_id=stays.encounter_id, event_date=stays.discharged).cast(EVIDENCE)


@dataclass(frozen=True)
class HasReadmission(Criterion):
    """At least one index stay readmitted within 30 days; the evidence is the readmitted index stays."""

    def compile(self, ctx) -> ibis.Table:
        stays = index_stays(ctx)
        stays = stays.filter(stays.readmission_id.notnull())
        return stays.select("patient_id", event_id=stays.encounter_id, event_date=stays.discharged).cast(EVIDENCE)


@dataclass(frozen=True)
class IndexStayCount:
    """Observation: the patient's index stays (`readmitted_only`: those readmitted within 30 days)."""

    readmitted_only: bool = False

    def values(self, ctx) -> ibis.Table:
        stays = index_stays(ctx)
        if self.readmitted_only:
            stays = stays.filter(stays.readmission_id.notnull())
        counts = stays.group_by("patient_id").aggregate(n=stays.encounter_id.nunique())
        return counts.select("patient_id", value=counts.n.cast("float64"))


MEASURE = Measure(
    id="READMIT_30D",
    title="30-day all-cause unplanned readmission rate (per index stay)",
    steward="National Committee for Quality Assurance (HEDIS PCR definitions), observed rate by p4pkit",
    version="HEDIS MY2024-style, unadjusted",
    description=(
        "Share of acute index stays, discharged alive in the period up to 30 days before its end, that were "
        "followed by an unplanned acute readmission for any cause within 30 days of discharge."
    ),
    rationale=(
        "Readmission soon after discharge often follows gaps in discharge planning, medication reconciliation "
        "and follow-up; it harms patients and costs payers, and good transitional care prevents part of it."
    ),
    guideline="HEDIS Plan All-Cause Readmissions (NQF #1768); CMS Hospital-Wide All-Cause Unplanned Readmission measure.",
    references=(
        "https://www.ncqa.org/hedis/measures/plan-all-cause-readmissions/",
        "NQF #1768 Plan All-Cause Readmissions, measure submission form",
    ),
    improvement_notation="decrease",
    scoring="outcome",
    source="HEDIS PCR denominator/numerator definitions (index stays, 30-day window, direct transfers, planned readmissions)",
    groups=(
        Group(
            initial_population=AllOf((AgeAt(18), HasIndexStay())),
            denominator=None,
            numerator=HasReadmission(),
            numerator_observation=IndexStayCount(readmitted_only=True),
            denominator_observation=IndexStayCount(),
        ),
    ),
)
