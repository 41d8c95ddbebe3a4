"""QOF building blocks: disease registers, the "preceding 12 months" window and Personalised Care
Adjustments (PCAs), shared by the QOF-style indicators in this library.

Sources: NHS England, "Quality and Outcomes Framework guidance for 2023/24" (section 6, Personalised
Care Adjustment) and the QOF business rules (NHS England / formerly NHS Digital, v48-v50) as they
describe registers and PCA rulesets. The achievement date is the last day of the measurement
period (QOF: 31 March, the end of the financial year); "the preceding 12 months" is the year that
ends on it.

Register: the patient is registered with the practice on the achievement date (an enrollment of
kind "practice_list" covering that day), is old enough for the register, has a diagnosis code whose
prevalence reaches the achievement date (no abatement, not a resolved/inactive condition), and the
latest diagnosis code is later than the latest "resolved" code (a re-diagnosis restores the patient).

PCAs follow the QOF order: a patient who meets the target counts whatever PCA is recorded, so PCAs
are denominator exceptions (applied only to patients not in the numerator). Recognised PCAs:

- unsuitable: a "not done" record of the indicator's care process (negated event) in the preceding
  12 months with a medical reason in the eCQM Medical Reason value set (2.16.840.1.113883.3.526.3.1007,
  which holds 183932001 "Procedure contraindicated"), or the register's SNOMED "excepted from ...
  quality indicators: patient unsuitable" code where we have it;
- informed dissent: a negated care-process record whose reason is a patient refusal (SNOMED 105480006
  "Refusal of treatment by patient", 183944003 "Procedure refused"), or the register's "excepted ...:
  informed dissent" code;
- no response to invitations: at least two invitation records in the preceding 12 months (QOF since
  2019/20: "a minimum of two invitations"; three before);
- recently diagnosed: the earliest diagnosis code falls in the 3 months up to the achievement date;
- recently registered: not registered with the practice on the day 3 months before the achievement
  date.
"""

from __future__ import annotations

from dataclasses import dataclass

import ibis

from p4pkit.measures.blocks import conditions
from p4pkit.measures.criteria import EVIDENCE, AgeAt, AllOf, AnyOf, Criterion, Exists, LatestAfter, Not, Timed
from p4pkit.measures.definition import Reasoned
from p4pkit.measures.sources import OPEN_END, Code, Events, coded
from p4pkit.measures.timing import END, Anchor, Window
from p4pkit.model.codes import SNOMED
from p4pkit.model.schemas import EVENT_KINDS

# The 12 months that end on the achievement date, and the 3 months that do.
PRECEDING_12_MONTHS = Window(Anchor("end", months=-12, days=1), END)
LAST_3_MONTHS = Window(Anchor("end", months=-3, days=1), END)
THREE_MONTHS_BEFORE = Anchor("end", months=-3)

MEDICAL_REASON = ("2.16.840.1.113883.3.526.3.1007",)
PATIENT_REFUSAL: tuple[Code, ...] = ((SNOMED, "105480006"), (SNOMED, "183944003"))
INVITATIONS_NEEDED = 2


def snomed(*codes: str) -> tuple[Code, ...]:
    return tuple((SNOMED, c) for c in codes)


@dataclass(frozen=True)
class Enrollments:
    """Enrollment periods of some kinds as source rows (start_date..end_date, open while current),
    so timing relations apply to registration and coverage like to any other interval."""

    kinds: tuple[str, ...] = ("practice_list",)

    def rows(self, ctx) -> ibis.Table:
        e = ctx.table("enrollments")
        e = e.filter(e.kind.isin(self.kinds))
        return e.select(
            "patient_id",
            event_id=e.enrollment_id,
            start_date=e.start_date,
            end_date=ibis.coalesce(e.end_date, ibis.date(OPEN_END)),
            value_num=ibis.null("float64"),
            value_code_system=ibis.null("string"),
            value_code=ibis.null("string"),
            status=ibis.null("string"),
        )


def registered_on(anchor: Anchor) -> Exists:
    """Registered with a practice on the anchor day."""
    return Exists(Timed(Enrollments(), "overlaps", Window(anchor, anchor)))


@dataclass(frozen=True)
class Recorded(Criterion):
    """At least `at_least` events with one of `codes` started in `window`, of any kind; with
    `negation_reasons` only "not done" records carrying one of those reasons (value set OIDs in
    `reason_valuesets` or direct codes in `reason_codes`)."""

    codes: tuple[Code, ...]
    window: Window = PRECEDING_12_MONTHS
    at_least: int = 1
    negated: bool = False
    reason_valuesets: tuple[str, ...] = ()
    reason_codes: tuple[Code, ...] = ()

    def compile(self, ctx) -> ibis.Table:
        ev = ctx.events
        lo, hi = (ibis.date(d) for d in self.window.resolve(ctx.period))
        ev = ev.filter(ev.negated == self.negated, ev.start.date() >= lo, ev.start.date() <= hi)
        ev = coded(ctx, ev, "code_system", "code", (), self.codes)
        if self.reason_valuesets or self.reason_codes:
            ev = coded(ctx, ev, "negation_reason_system", "negation_reason_code", self.reason_valuesets, self.reason_codes)
        counts = ev.group_by("patient_id").aggregate(n=ev.event_id.nunique())
        ev = ev.semi_join(counts.filter(counts.n >= self.at_least), "patient_id")
        return ev.select("patient_id", "event_id", event_date=ev.start.date()).cast(EVIDENCE)


@dataclass(frozen=True)
class Register:
    """A QOF disease register: diagnosis codes (value sets and direct codes), "resolved" codes,
    the minimum age on the achievement date, and the register's own PCA codes."""

    valuesets: tuple[str, ...]
    codes: tuple[Code, ...]
    resolved: tuple[Code, ...]
    min_age: int = 0
    unsuitable: tuple[Code, ...] = ()
    dissent: tuple[Code, ...] = ()
    invitations: tuple[Code, ...] = ()

    def diagnoses(self, relation: str, window: Window = Window(END, END), anchor: Anchor = END) -> Timed:
        return Timed(conditions(self.valuesets, self.codes), relation, window, anchor)

    def members(self) -> AllOf:
        """On the register on the achievement date."""
        # "Resolved" codes are findings, recorded under whichever kind the source used.
        resolved_codes = Timed(Events(tuple(sorted(EVENT_KINDS)), codes=self.resolved), "starts_by", anchor=END)
        return AllOf(
            (
                AgeAt(self.min_age),
                registered_on(END),
                Exists(self.diagnoses("overlaps")),
                LatestAfter(self.diagnoses("starts_by"), resolved_codes),
            )
        )

    def adjustments(self, care_process: tuple[Code, ...]) -> tuple[Reasoned, ...]:
        """The PCAs as denominator exceptions, in the order the reasons are reported."""
        not_done = dict(codes=care_process, negated=True)
        unsuitable = [Recorded(**not_done, reason_valuesets=MEDICAL_REASON)]
        dissent = [Recorded(**not_done, reason_codes=PATIENT_REFUSAL)]
        if self.unsuitable:
            unsuitable.append(Recorded(self.unsuitable))
        if self.dissent:
            dissent.append(Recorded(self.dissent))
        adjustments = [
            Reasoned("PCA: patient unsuitable", AnyOf(tuple(unsuitable))),
            Reasoned("PCA: informed dissent", AnyOf(tuple(dissent))),
        ]
        if self.invitations:
            adjustments.append(
                Reasoned("PCA: did not respond to invitations", Recorded(self.invitations, at_least=INVITATIONS_NEEDED))
            )
        adjustments += [
            Reasoned(
                "PCA: diagnosed in the last 3 months",
                AllOf((Exists(self.diagnoses("starts_during", LAST_3_MONTHS)), Not(Exists(self.diagnoses("starts_by", anchor=THREE_MONTHS_BEFORE))))),
            ),
            Reasoned("PCA: registered in the last 3 months", Not(registered_on(THREE_MONTHS_BEFORE))),
        ]
        return tuple(adjustments)


QOF_REFERENCES = (
    "https://www.england.nhs.uk/long-read/quality-and-outcomes-framework-guidance-for-2023-24/",
    "NHS England QOF business rules (v48, 2023/24): register and PCA rulesets",
)
