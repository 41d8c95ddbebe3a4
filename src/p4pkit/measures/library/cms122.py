"""CMS122 (2025, QI-Core): Diabetes: Glycemic Status Assessment Greater Than 9%.

Source: cqframework/ecqm-content-qicore-2024 `input/cql/DiabetesGlycemicStatusAssessmentGreaterThan9PercentFHIR.cql`
(version 0.1.002) and its `measure.json`. An inverse measure: a lower rate is better, and patients
with no assessment at all count in the numerator (poor control is assumed when nobody looked).
"""

from __future__ import annotations

from p4pkit.measures.blocks import (
    HOSPICE,
    QUALIFYING_ENCOUNTER,
    conditions,
    ecqm_2025,
    frailty_nursing_home_palliative,
    lab_tests,
    vs,
)
from p4pkit.measures.criteria import AgeAt, AllOf, AnyOf, Exists, LowestOnMostRecentDay, Not, Timed
from p4pkit.measures.definition import Group
from p4pkit.model.codes import LOINC

DIABETES = vs("464.1003.103.12.1001")
HBA1C_LAB_TEST = vs("464.1003.198.12.1013")
GLUCOSE_MANAGEMENT_INDICATOR = (LOINC, "97506-0")

# HbA1c or GMI results done, whose latest time falls on a day of the measurement period.
GLYCEMIC_STATUS_ASSESSMENT = Timed(lab_tests(HBA1C_LAB_TEST, (GLUCOSE_MANAGEMENT_INDICATOR,)), "ends_during")

MEASURE = ecqm_2025(
    "CMS122",
    "DiabetesGlycemicStatusAssessmentGreaterThan9PercentFHIR",
    "0.1.002",
    improvement_notation="decrease",
    title="Diabetes: Glycemic Status Assessment Greater Than 9%",
    description=(
        "Share of patients 18-75 with diabetes whose most recent glycemic status assessment (HbA1c or "
        "glucose management indicator) in the period is above 9.0%, missing a result, or absent."
    ),
    rationale=(
        "Glycemic status above 9% marks poorly controlled diabetes, which raises the risk of eye, kidney "
        "and nerve damage, heart disease, amputation and early death; lowering it reduces those risks."
    ),
    guideline="American Diabetes Association Standards of Care (2023): assess glycemic status at least twice a year.",
    groups=(
        Group(
            initial_population=AllOf(
                (AgeAt(18, 75), QUALIFYING_ENCOUNTER, Exists(Timed(conditions(DIABETES), "overlaps")))
            ),
            denominator=None,
            exclusions=(HOSPICE, *frailty_nursing_home_palliative()),
            numerator=AnyOf(
                (
                    Not(Exists(GLYCEMIC_STATUS_ASSESSMENT)),
                    LowestOnMostRecentDay(GLYCEMIC_STATUS_ASSESSMENT, ">", 9.0, missing_counts=True),
                )
            ),
        ),
    ),
)
