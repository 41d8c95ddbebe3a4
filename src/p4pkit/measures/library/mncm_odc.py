"""MNCM_ODC: Optimal Diabetes Care, the Minnesota Community Measurement all-or-none composite ("D5").

Components (a patient meets the measure only when ALL are met), as MN Community Measurement
publishes them for measurement year 2023 (mnhealthscores.org, diabetes; report year 2024) and as
the endorsed specification describes them (CBE/NQF #0729 Optimal Diabetes Care, p4qm.org):

1. the most recent HbA1c in the period is below 8.0%;
2. the most recent blood pressure in the period is below 140/90 mmHg (systolic < 140 and
   diastolic < 90, lowest of each on the most recent day with both);
3. on a statin, unless a contraindication or exception is recorded;
4. not a tobacco user (the most recent tobacco status in the period is non-user; no status fails);
5. patients with ischemic vascular disease are on daily aspirin or another antiplatelet, unless a
   contraindication or exception is recorded (patients without IVD meet this component).

Denominator: patients 18-75 at the start of the period with diabetes (a diagnosis overlapping the
period or the year before) and an office visit in the period. Exclusions: hospice, palliative
care, long-term nursing home residence, pregnancy, death in the period.

What is approximated, and why: the MNCM PDF specification (with its statin age bands and the full
contraindication lists) could not be retrieved, so the statin component applies to every
denominator patient, as the endorsed description words it; a contraindication or exception is a
"not done" statin or antiplatelet record with a reason in the eCQM Medical Reason value set
(2.16.840.1.113883.3.526.3.1007), or a recorded allergy to the drug. Medications are matched on
RxNorm ingredient codes (below); records coded at the clinical-drug level need a value set.
"""

from __future__ import annotations

from dataclasses import dataclass

import ibis

from p4pkit.measures.blocks import (
    AGE_66_PLUS_IN_NURSING_HOME,
    HAS_HOSPICE_SERVICES,
    HAS_PALLIATIVE_CARE,
    OFFICE_VISIT,
    conditions,
    observations,
    vs,
)
from p4pkit.measures.criteria import (
    AgeAt,
    AllOf,
    AnyOf,
    Criterion,
    Exists,
    LowestOnMostRecentDay,
    MostRecent,
    Not,
    NotDone,
    PatientFact,
    Timed,
)
from p4pkit.measures.definition import Group, Measure, Reasoned
from p4pkit.measures.sources import Code, Encounters, Events
from p4pkit.measures.timing import START, lookback
from p4pkit.model.codes import ICD10CM, LOINC, RXNORM, SNOMED

DIABETES = vs("464.1003.103.12.1001")
PREGNANCY = vs("526.3.378")
MEDICAL_REASON = ("2.16.840.1.113883.3.526.3.1007",)
TOBACCO_USE_SCREENING = vs("526.3.1278")
TOBACCO_NON_USER = vs("526.3.1189")

STATINS: tuple[Code, ...] = tuple(
    (RXNORM, c) for c in ("83367", "36567", "301542", "42463", "6472", "41127", "861634")
)  # atorvastatin, simvastatin, rosuvastatin, pravastatin, lovastatin, fluvastatin, pitavastatin
ANTIPLATELETS: tuple[Code, ...] = tuple(
    (RXNORM, c) for c in ("1191", "32968", "613391", "1116632")
)  # aspirin, clopidogrel, prasugrel, ticagrelor
ISCHEMIC_VASCULAR_DISEASE: tuple[Code, ...] = tuple(
    (ICD10CM, c) for c in ("I20.9", "I21.9", "I25.10", "I25.2", "I63.9", "I70.0", "I70.209", "I73.9")
) + tuple(
    (SNOMED, c) for c in ("414545008", "53741008", "22298006", "230690007", "399957001")
)  # ischemic heart disease, coronary arteriosclerosis, myocardial infarction, stroke, PAD

PERIOD_AND_YEAR_BEFORE = lookback(years=1)
HBA1C = Timed(observations(codes=((LOINC, "4548-4"), (LOINC, "17856-6"))), "ends_during")
SYSTOLIC = Timed(observations(codes=((LOINC, "8480-6"),)), "ends_during")
DIASTOLIC = Timed(observations(codes=((LOINC, "8462-4"),)), "ends_during")


def _on(drugs: tuple[Code, ...]) -> Criterion:
    """On the drug during the period (a medication record overlapping it), or excused from it: a
    "not done" record with a medical reason, or an allergy to the drug."""
    medication = Events(("medication",), codes=drugs, statuses=("active", "completed"), interval="medication")
    return AnyOf(
        (
            Exists(Timed(medication, "overlaps")),
            NotDone(Timed(Events(("medication",), codes=drugs), "during"), MEDICAL_REASON),
            Exists(Timed(Events(("allergy",), codes=drugs, interval="prevalence"), "overlaps")),
        )
    )


@dataclass(frozen=True)
class DiedInPeriod(PatientFact):
    """The patient's death date falls on or before the end of the period."""

    def who(self, ctx) -> ibis.Table:
        p = ctx.patients
        return p.filter(p.death_date.notnull() & (p.death_date <= ibis.date(ctx.period.end)))


HAS_IVD = Exists(Timed(conditions(codes=ISCHEMIC_VASCULAR_DISEASE), "overlaps", PERIOD_AND_YEAR_BEFORE))
COMPONENTS = (
    ("HbA1c below 8.0%", LowestOnMostRecentDay(HBA1C, "<", 8.0)),
    (
        "blood pressure below 140/90",
        AllOf(
            (
                LowestOnMostRecentDay(SYSTOLIC, "<", 140.0, same_day_as=(DIASTOLIC,)),
                LowestOnMostRecentDay(DIASTOLIC, "<", 90.0, same_day_as=(SYSTOLIC,)),
            )
        ),
    ),
    ("on a statin", _on(STATINS)),
    ("tobacco-free", MostRecent(Timed(observations(TOBACCO_USE_SCREENING), "during"), "start_date", value_in=TOBACCO_NON_USER)),
    ("aspirin or antiplatelet if IVD", AnyOf((Not(HAS_IVD), _on(ANTIPLATELETS)))),
)

DENOMINATOR = AllOf(
    (
        AgeAt(18, 75, START),
        Exists(Timed(conditions(DIABETES), "overlaps", PERIOD_AND_YEAR_BEFORE)),
        Exists(Timed(Encounters(OFFICE_VISIT), "during")),
    )
)
EXCLUSIONS = (
    Reasoned("hospice", HAS_HOSPICE_SERVICES),
    Reasoned("palliative care", HAS_PALLIATIVE_CARE),
    Reasoned("nursing home resident", AGE_66_PLUS_IN_NURSING_HOME),
    Reasoned("pregnancy", Exists(Timed(conditions(PREGNANCY), "overlaps"))),
    Reasoned("died", DiedInPeriod()),
)

MEASURE = Measure(
    id="MNCM_ODC",
    title="Optimal Diabetes Care (all-or-none composite)",
    steward="MN Community Measurement",
    version="measurement year 2023 components (report year 2024)",
    description=(
        "Share of patients 18-75 with diabetes who meet all five goals: HbA1c < 8.0%, blood pressure < 140/90 mmHg, "
        "on a statin unless contraindicated, tobacco-free, and on aspirin or an antiplatelet if they have ischemic "
        "vascular disease unless contraindicated."
    ),
    rationale=(
        "Each goal lowers the risk of heart attack, stroke, kidney failure and death in diabetes, and the gains add "
        "up; scoring all-or-none rewards complete care for the patient rather than the easiest component."
    ),
    guideline="American Diabetes Association Standards of Care; ACC/AHA cholesterol guideline (statins in diabetes 40-75).",
    references=("https://mncm.org", "https://www.mnhealthscores.org/learn-more-diabetes-adults", "https://p4qm.org/measures/0729"),
    improvement_notation="increase",
    scoring="proportion",
    source="MNCM Optimal Diabetes Care (D5) public component list and CBE #0729 description",
    # Group 0 is the composite; groups 1-5 are the components over the same denominator, in the order
    # above, so a practice can see which goal holds its composite back.
    groups=tuple(
        Group(initial_population=DENOMINATOR, denominator=None, exclusions=EXCLUSIONS, numerator=numerator)
        for numerator in (AllOf(tuple(criterion for _, criterion in COMPONENTS)), *(c for _, c in COMPONENTS))
    ),
)
