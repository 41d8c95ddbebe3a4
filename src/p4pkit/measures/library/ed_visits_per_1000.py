"""ED_VISITS_1000: emergency department visits per 1,000 member-years (ratio).

Follows the NCQA HEDIS Ambulatory Care (AMB) emergency department measure: ED visits of members in
the measurement period per 1,000 member-years, where ED visits that result in an inpatient stay
are not counted (they are counted as stays). Here an ED visit "results in a stay" when an
inpatient or observation stay of the same patient is admitted on the visit's day or the next.
Member-years come from payer enrollments by the HEDIS member-month convention
(`measures.observations`); ED visits are those of patients with at least one member-month in
the period. A ratio, not a proportion: the numerator is a count of visits, the denominator an
exposure, and the interval is the exact Poisson interval (see `measures.summary`).
"""

from __future__ import annotations

from dataclasses import dataclass

import ibis

from p4pkit.measures.criteria import Exists, Timed
from p4pkit.measures.definition import Group, Measure
from p4pkit.measures.observations import CountOf, MemberMonths, Observed

ADMITTING_CLASSES = ("inpatient", "observation")


@dataclass(frozen=True)
class EmergencyVisits:
    """Finished ED encounters (class "emergency") that did not turn into a stay."""

    def rows(self, ctx) -> ibis.Table:
        enc = ctx.encounters
        if "status" in enc.columns:
            enc = enc.filter(enc.status.isnull() | (enc.status == "finished"))
        visits = enc.filter(enc.encounter_class == "emergency")
        stays = enc.filter(enc.encounter_class.isin(ADMITTING_CLASSES))
        stays = stays.select(s_patient="patient_id", s_day=stays.start.date())
        day = visits.start.date()
        admitted = (stays.s_day >= day) & (stays.s_day <= day + ibis.interval(days=1))
        visits = visits.anti_join(stays, [visits.patient_id == stays.s_patient, admitted])
        start = visits.start.date()
        return visits.select(
            "patient_id",
            event_id=visits.encounter_id,
            start_date=start,
            end_date=start,
            value_num=ibis.null("float64"),
            value_code_system=ibis.null("string"),
            value_code=ibis.null("string"),
            status=visits.status if "status" in visits.columns else ibis.null("string"),
        )


ED_VISITS = Timed(EmergencyVisits(), "starts_during")
MEMBERS = Observed(MemberMonths(("payer",)), minimum=1)

MEASURE = Measure(
    id="ED_VISITS_1000",
    title="Emergency department visits per 1,000 member-years",
    steward="National Committee for Quality Assurance (HEDIS AMB definitions), adapted by p4pkit",
    version="HEDIS MY2024-style",
    description="Emergency department visits not resulting in an admission, per 1,000 member-years of payer enrollment in the period.",
    rationale=(
        "Many emergency visits are for conditions that timely primary care could have managed; a high rate "
        "can signal poor access or coordination and drives cost."
    ),
    guideline="HEDIS Ambulatory Care (AMB): ED visits per 1,000 member months/years; AHRQ Prevention Quality Indicators for context.",
    references=("https://www.ncqa.org/hedis/measures/ambulatory-care/", "NCQA HEDIS General Guidelines: member months and years"),
    improvement_notation="decrease",
    scoring="ratio",
    source="HEDIS AMB (ED visits, visits resulting in a stay left out) with HEDIS member-month exposure",
    rate_multiplier=1000.0,
    groups=(
        Group(
            initial_population=MEMBERS,
            denominator=None,
            numerator=Exists(ED_VISITS),
            numerator_observation=CountOf(ED_VISITS),
            denominator_observation=MemberMonths(("payer",), per=12.0),
        ),
    ),
)
