"""CMS138 (2025, QI-Core): Preventive Care and Screening: Tobacco Use: Screening and Cessation
Intervention. Three population groups: (1) screened, (2) tobacco users who got a cessation
intervention, (3) screened and, if a user, helped.

Source: cqframework/ecqm-content-qicore-2024
`input/cql/PreventiveCareAndTobaccoUseScreeningAndCessationInterventionFHIR.cql` (version 0.0.001)
and its `measure.json`.
"""

from __future__ import annotations

from p4pkit.measures.blocks import (
    ANNUAL_WELLNESS_VISIT,
    HOSPICE,
    HOME_HEALTHCARE,
    OFFICE_VISIT,
    PREVENTIVE_ESTABLISHED_18_UP,
    PREVENTIVE_INITIAL_18_UP,
    TELEPHONE_VISITS,
    VIRTUAL_ENCOUNTER,
    assessments,
    conditions,
    ecqm_2025,
    medication_requests,
    orders,
    procedures,
    vs,
)
from p4pkit.measures.criteria import AgeAt, AllOf, AnyOf, AtLeast, Exists, MostRecent, Timed
from p4pkit.measures.definition import Group
from p4pkit.measures.sources import Encounters
from p4pkit.measures.timing import START, lookback
from p4pkit.model.codes import CPT, ICD10CM

QUALIFYING_VISIT = Timed(
    Encounters(
        HOME_HEALTHCARE
        + OFFICE_VISIT
        + TELEPHONE_VISITS
        + VIRTUAL_ENCOUNTER
        + vs("526.3.1011", "526.3.1285", "526.3.1022", "526.3.1492", "526.3.1496", "526.3.1141", "526.3.1530"),
        codes=((CPT, "96158"), (CPT, "96156")),
    )
)
PREVENTIVE_VISIT = Timed(
    Encounters(
        ANNUAL_WELLNESS_VISIT
        + PREVENTIVE_ESTABLISHED_18_UP
        + PREVENTIVE_INITIAL_18_UP
        + vs("464.1003.101.12.1024", "464.1003.101.12.1022", "464.1003.101.12.1027", "464.1003.101.12.1026", "464.1003.1006"),
        codes=((CPT, "99429"), (CPT, "99024")),
    )
)
TOBACCO_USE_SCREENING = Timed(assessments(vs("526.3.1278")), "during")
TOBACCO_USER = MostRecent(TOBACCO_USE_SCREENING, "start_date", value_in=vs("526.3.1170"))
TOBACCO_NON_USER = MostRecent(TOBACCO_USE_SCREENING, "start_date", value_in=vs("526.3.1189"))

SIX_MONTHS_BEFORE_AND_PERIOD = lookback(months=6)
CESSATION_PHARMACOTHERAPY = vs("526.3.1190")
CESSATION_INTERVENTION = AnyOf(
    (
        Exists(Timed(procedures(vs("526.3.509")), "during", SIX_MONTHS_BEFORE_AND_PERIOD)),
        Exists(Timed(conditions(codes=((ICD10CM, "Z71.6"),)), "starts_during", SIX_MONTHS_BEFORE_AND_PERIOD)),
        # Ordered: the request was authored in the window.
        Exists(Timed(orders("medication", CESSATION_PHARMACOTHERAPY), "during", SIX_MONTHS_BEFORE_AND_PERIOD)),
        # Active: its whole request period lies in the window.
        Exists(Timed(medication_requests(CESSATION_PHARMACOTHERAPY), "during", SIX_MONTHS_BEFORE_AND_PERIOD)),
    )
)

INITIAL_POPULATION = AllOf((AgeAt(12, anchor=START), AnyOf((AtLeast(2, QUALIFYING_VISIT), Exists(PREVENTIVE_VISIT)))))

MEASURE = ecqm_2025(
    "CMS138",
    "PreventiveCareAndTobaccoUseScreeningAndCessationInterventionFHIR",
    "0.0.001",
    title="Preventive Care and Screening: Tobacco Use: Screening and Cessation Intervention",
    description=(
        "Patients 12 and over seen twice (or once for a preventive visit) in the period: (1) screened for "
        "tobacco use; (2) users who got cessation counselling or medication in the period or the 6 months "
        "before; (3) screened and, if a user, helped."
    ),
    rationale=(
        "Tobacco use is the leading preventable cause of death in the US; asking every patient and "
        "offering counselling and medication to users doubles or triples quit rates."
    ),
    guideline="US Preventive Services Task Force (2021): ask all adults about tobacco and give users behavioural and drug support (grade A).",
    groups=(
        Group(INITIAL_POPULATION, None, AnyOf((TOBACCO_USER, TOBACCO_NON_USER)), (HOSPICE,)),
        Group(INITIAL_POPULATION, TOBACCO_USER, CESSATION_INTERVENTION, (HOSPICE,)),
        Group(
            INITIAL_POPULATION,
            None,
            AnyOf((TOBACCO_NON_USER, AllOf((TOBACCO_USER, CESSATION_INTERVENTION)))),
            (HOSPICE,),
        ),
    ),
)
