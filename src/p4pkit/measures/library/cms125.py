"""CMS125 (2025, QI-Core): Breast Cancer Screening.

Source: cqframework/ecqm-content-qicore-2024 `input/cql/BreastCancerScreeningFHIR.cql` (version
0.0.001) and its `measure.json`.
"""

from __future__ import annotations

from p4pkit.measures.blocks import (
    HOSPICE,
    QUALIFYING_ENCOUNTER,
    conditions,
    ecqm_2025,
    frailty_nursing_home_palliative,
    observations,
    procedures,
    vs,
)
from p4pkit.measures.criteria import AgeAt, AllOf, AnyOf, Exists, SexIs, Timed
from p4pkit.measures.definition import Group, Reasoned
from p4pkit.measures.sources import Code, Events
from p4pkit.measures.timing import END, Anchor, Window
from p4pkit.model.codes import SNOMED


def _history(condition_sets: tuple[str, ...], procedure_sets: tuple[str, ...]) -> AnyOf:
    """A mastectomy diagnosis starting, or procedure ending, on or before the end of the period."""
    return AnyOf(
        (
            Exists(Timed(conditions(condition_sets), "starts_by")),
            Exists(Timed(procedures(procedure_sets), "ends_by")),
        )
    )


UNSPECIFIED_LATERALITY = vs("464.1003.198.12.1071")


def _side(status_post: str, procedure: str, side: Code) -> AnyOf:
    """A mastectomy on one side: a "status post" diagnosis, a unilateral diagnosis of unspecified
    laterality whose body site names the side, or the unilateral procedure."""
    body_site = Events(("condition",), UNSPECIFIED_LATERALITY, body_sites=(side,), interval="prevalence")
    return AnyOf((_history(vs(status_post), vs(procedure)), Exists(Timed(body_site, "starts_by"))))


RIGHT_MASTECTOMY = _side("464.1003.198.12.1070", "464.1003.198.12.1134", (SNOMED, "24028007"))
LEFT_MASTECTOMY = _side("464.1003.198.12.1069", "464.1003.198.12.1133", (SNOMED, "7771000"))
BILATERAL_MASTECTOMY = _history(vs("464.1003.198.12.1068"), vs("464.1003.198.12.1005"))
# "October 1 two years prior to the measurement period" to its end: 27 months of look-back.
SCREENING_WINDOW = Window(Anchor("start", years=-2, month_day=(10, 1)), END)

MEASURE = ecqm_2025(
    "CMS125",
    "BreastCancerScreeningFHIR",
    "0.0.001",
    title="Breast Cancer Screening",
    description="Share of women 52-74 who had a mammogram between October 1 two years before the period and its end.",
    rationale=(
        "Breast cancer is among the commonest cancers in US women; mammography finds it early, when "
        "treatment works best, and lowers breast cancer deaths."
    ),
    guideline="US Preventive Services Task Force (2024): biennial screening mammography for women 40-74 (grade B).",
    groups=(
        Group(
            initial_population=AllOf((AgeAt(52, 74), SexIs("female"), QUALIFYING_ENCOUNTER)),
            denominator=None,
            exclusions=(
                HOSPICE,
                Reasoned("right and left mastectomy", AllOf((RIGHT_MASTECTOMY, LEFT_MASTECTOMY))),
                Reasoned("bilateral mastectomy", BILATERAL_MASTECTOMY),
                *frailty_nursing_home_palliative(),
            ),
            numerator=Exists(Timed(observations(vs("464.1003.108.12.1018")), "ends_during", SCREENING_WINDOW)),
        ),
    ),
)
