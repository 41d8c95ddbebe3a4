"""QOF_HYP_BP140: hypertension, age 79 or under, latest blood pressure in the preceding 12 months
140/90 mmHg or less.

Modelled on QOF 2023/24 HYP008 (NHS England QOF guidance 2023/24 and business rules): the last
blood pressure reading is the most recent day with both a systolic and a diastolic reading; when
several readings fall on that day the lowest systolic and the lowest diastolic are used, and both
must be at or below the target (140 and 90 mmHg inclusive).
"""

from __future__ import annotations

from p4pkit.measures.blocks import observations, vs
from p4pkit.measures.criteria import AgeAt, AllOf, LowestOnMostRecentDay, Timed
from p4pkit.measures.definition import Group, Measure
from p4pkit.measures.library.qof_rules import PRECEDING_12_MONTHS, QOF_REFERENCES, Register, snomed
from p4pkit.model.codes import LOINC

SYSTOLIC_CODE, DIASTOLIC_CODE = (LOINC, "8480-6"), (LOINC, "8462-4")
SYSTOLIC = Timed(observations(codes=(SYSTOLIC_CODE,)), "ends_during", PRECEDING_12_MONTHS)
DIASTOLIC = Timed(observations(codes=(DIASTOLIC_CODE,)), "ends_during", PRECEDING_12_MONTHS)

HYPERTENSION_REGISTER = Register(
    valuesets=vs("464.1003.104.12.1011"),  # eCQM "Essential Hypertension"
    codes=snomed("38341003"),
    resolved=snomed("162659009"),  # Hypertension resolved
    dissent=snomed("716771000000106"),  # Excepted from hypertension quality indicators: informed dissent
)

MEASURE = Measure(
    id="QOF_HYP_BP140",
    title="Hypertension (age 79 or under): latest blood pressure in the preceding 12 months 140/90 mmHg or less",
    steward="NHS England (Quality and Outcomes Framework), adapted by p4pkit",
    version="2023/24-style",
    description=(
        "Share of patients aged 79 or under on the hypertension register whose latest blood pressure in the "
        "12 months up to the achievement date is 140/90 mmHg or less."
    ),
    rationale=(
        "Lowering blood pressure to 140/90 mmHg or below prevents strokes, heart attacks, heart failure and "
        "kidney disease; the benefit is largest in people with the highest risk."
    ),
    guideline="NICE NG136 (hypertension in adults): clinic blood pressure target below 140/90 mmHg under 80.",
    references=QOF_REFERENCES + ("Ettehad D et al., Lancet 2016;387:957-967",),
    improvement_notation="increase",
    scoring="proportion",
    source="QOF 2023/24 guidance and business rules (HYP008-style indicator); see measures/library/qof_rules.py",
    groups=(
        Group(
            initial_population=AllOf((AgeAt(0, 79), HYPERTENSION_REGISTER.members())),
            denominator=None,
            numerator=AllOf(
                (
                    LowestOnMostRecentDay(SYSTOLIC, "<=", 140.0, same_day_as=(DIASTOLIC,)),
                    LowestOnMostRecentDay(DIASTOLIC, "<=", 90.0, same_day_as=(SYSTOLIC,)),
                )
            ),
            exceptions=HYPERTENSION_REGISTER.adjustments((SYSTOLIC_CODE, DIASTOLIC_CODE)),
        ),
    ),
)
