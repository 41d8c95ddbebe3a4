"""CMS130 (2025, QI-Core): Colorectal Cancer Screening.

Source: cqframework/ecqm-content-qicore-2024 `input/cql/ColonCancerScreeningFHIR.cql` (version
0.1.000) and its `measure.json` (two age strata: 46-49 and 50-75).
"""

from __future__ import annotations

from p4pkit.measures.blocks import (
    HOSPICE,
    QUALIFYING_ENCOUNTER,
    conditions,
    ecqm_2025,
    frailty_nursing_home_palliative,
    lab_tests,
    observations,
    procedures,
    vs,
)
from p4pkit.measures.criteria import AgeAt, AllOf, AnyOf, Exists, Timed
from p4pkit.measures.definition import Group, Reasoned
from p4pkit.measures.timing import MEASUREMENT_PERIOD, lookback

MEASURE = ecqm_2025(
    "CMS130",
    "ColonCancerScreeningFHIR",
    "0.1.000",
    title="Colorectal Cancer Screening",
    description=(
        "Share of patients 46-75 screened for colorectal cancer: FOBT in the period, stool DNA with FIT in "
        "it or the 2 years before, flexible sigmoidoscopy or CT colonography in it or the 4 years before, "
        "or colonoscopy in it or the 9 years before."
    ),
    rationale=(
        "Colorectal cancer is a leading cause of US cancer deaths; screening finds it early and removes "
        "precancerous polyps, and many eligible adults are not screened."
    ),
    guideline="US Preventive Services Task Force (2021): screen adults 45-75 for colorectal cancer (grades A and B).",
    groups=(
        Group(
            initial_population=AllOf((AgeAt(46, 75), QUALIFYING_ENCOUNTER)),
            denominator=None,
            exclusions=(
                HOSPICE,
                Reasoned("colorectal cancer", Exists(Timed(conditions(vs("464.1003.108.12.1001")), "starts_by"))),
                Reasoned("total colectomy", Exists(Timed(procedures(vs("464.1003.198.12.1019")), "ends_by"))),
                *frailty_nursing_home_palliative(),
            ),
            numerator=AnyOf(
                (
                    Exists(Timed(lab_tests(vs("464.1003.198.12.1011"), has_value=True), "ends_during", MEASUREMENT_PERIOD)),
                    Exists(Timed(lab_tests(vs("464.1003.108.12.1039"), has_value=True), "ends_during", lookback(2))),
                    Exists(Timed(procedures(vs("464.1003.198.12.1010")), "ends_during", lookback(4))),
                    Exists(Timed(observations(vs("464.1003.108.12.1038")), "ends_during", lookback(4))),
                    Exists(Timed(procedures(vs("464.1003.108.12.1020")), "ends_during", lookback(9))),
                )
            ),
            stratifiers=(("age 46-49", AgeAt(46, 49)), ("age 50-75", AgeAt(50, 75))),
        ),
    ),
)
