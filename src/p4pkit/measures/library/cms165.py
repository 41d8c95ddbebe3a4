"""CMS165 (2025, QI-Core): Controlling High Blood Pressure.

Source: cqframework/ecqm-content-qicore-2024 `input/cql/ControllingHighBloodPressureFHIR.cql`
(version 0.1.000) and its `measure.json`.
"""

from __future__ import annotations

from p4pkit.measures.blocks import (
    AGE_66_TO_80_FRAIL_ILL_OR_81_PLUS_FRAIL,
    HOSPICE,
    QUALIFYING_ENCOUNTER,
    conditions,
    ecqm_2025,
    frailty_nursing_home_palliative,
    observations,
    procedures,
    vs,
)
from p4pkit.measures.criteria import AgeAt, AllOf, Exists, LowestOnMostRecentDay, Timed
from p4pkit.measures.definition import Group, Reasoned
from p4pkit.measures.sources import Encounters
from p4pkit.measures.timing import START, Anchor, Window
from p4pkit.model.codes import LOINC

# Readings taken in emergency, inpatient or observation stays do not count (the CQL drops the
# encounter classes EMER, IMP, ACUTE, NONAC, PRENC and SS).
ACUTE_CLASSES = ("emergency", "inpatient", "observation")
SYSTOLIC = Timed(observations(codes=((LOINC, "8480-6"),), not_in_encounter_classes=ACUTE_CLASSES), "ends_during")
DIASTOLIC = Timed(observations(codes=((LOINC, "8462-4"),), not_in_encounter_classes=ACUTE_CLASSES), "ends_during")
FIRST_SIX_MONTHS = Window(START, Anchor("start", months=6, days=-1))

PREGNANCY_OR_RENAL = vs("526.3.378", "526.3.353", "464.1003.109.12.1029", "526.3.1002")
KIDNEY_TRANSPLANT_OR_DIALYSIS = vs("464.1003.109.12.1012", "464.1003.109.12.1013")
ESRD_MONTHLY_SERVICES = vs("464.1003.109.12.1014")

MEASURE = ecqm_2025(
    "CMS165",
    "ControllingHighBloodPressureFHIR",
    "0.1.000",
    title="Controlling High Blood Pressure",
    description=(
        "Share of patients 18-85 with essential hypertension whose most recent blood pressure in the "
        "period is controlled (systolic < 140 mmHg and diastolic < 90 mmHg)."
    ),
    rationale=(
        "High blood pressure is common and a major cause of heart attack, stroke and kidney disease; "
        "bringing it under control prevents many of these events."
    ),
    guideline="JNC 8 / ACC-AHA guidance: treat adults with hypertension to below 140/90 mmHg.",
    groups=(
        Group(
            initial_population=AllOf(
                (
                    AgeAt(18, 85),
                    Exists(Timed(conditions(vs("464.1003.104.12.1011")), "overlaps", FIRST_SIX_MONTHS)),
                    QUALIFYING_ENCOUNTER,
                )
            ),
            denominator=None,
            exclusions=(
                HOSPICE,
                Reasoned("pregnancy or renal disease", Exists(Timed(conditions(PREGNANCY_OR_RENAL), "overlaps"))),
                Reasoned("kidney transplant or dialysis", Exists(Timed(procedures(KIDNEY_TRANSPLANT_OR_DIALYSIS), "ends_by"))),
                Reasoned("end stage renal disease encounter", Exists(Timed(Encounters(ESRD_MONTHLY_SERVICES), "starts_by"))),
                *frailty_nursing_home_palliative(
                    AGE_66_TO_80_FRAIL_ILL_OR_81_PLUS_FRAIL, "age 66-80 with advanced illness and frailty, or 81+ with frailty"
                ),
            ),
            numerator=AllOf(
                (
                    LowestOnMostRecentDay(SYSTOLIC, "<", 140.0, same_day_as=(DIASTOLIC,)),
                    LowestOnMostRecentDay(DIASTOLIC, "<", 90.0, same_day_as=(SYSTOLIC,)),
                )
            ),
        ),
    ),
)
