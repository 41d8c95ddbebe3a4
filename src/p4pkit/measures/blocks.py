"""Shared building blocks of the 2025 eCQMs, written once and used by every measure that needs them.

Each block mirrors a definition of the shared CQL libraries of the QI-Core 2024 content
(cqframework/ecqm-content-qicore-2024, measurement period 2025): `Status` 1.8.000 (what counts as
performed/active), `AdultOutpatientEncounters` 4.11.000, `Hospice` 6.12.000, `PalliativeCare`
1.11.000 and `AdvancedIllnessandFrailty` 1.16.000. Value sets are named by OID (VSAC).
"""

from __future__ import annotations

from p4pkit.measures.criteria import AgeAt, AllOf, AnyOf, Criterion, Exists, MostRecent, Timed
from p4pkit.measures.definition import Measure, Reasoned
from p4pkit.measures.sources import OBSERVATION_KINDS, Code, Encounters, Events
from p4pkit.measures.timing import END, lookback
from p4pkit.model.codes import LOINC, SNOMED

# --- Status library 1.8.000: which FHIR statuses count ---------------------------------------
OBSERVATION_DONE = ("final", "amended", "corrected")  # isLaboratoryTestPerformed, isAssessmentPerformed, ...
PROCEDURE_DONE = ("completed",)  # isProcedurePerformed, isInterventionPerformed
ORDER_STATUSES = ("active", "completed")  # isMedicationOrder, isDeviceOrder, isInterventionOrder
MEDICATION_ACTIVE = ("active",)  # isMedicationActive
# Only requests that are orders count (FHIR RequestIntent: not plans or proposals).
ORDER_INTENTS = ("order", "original-order", "reflex-order", "filler-order", "instance-order")


def vs(*suffixes: str) -> tuple[str, ...]:
    """VSAC OIDs from their suffix after the common HL7 root 2.16.840.1.113883.3."""
    return tuple(f"2.16.840.1.113883.3.{s}" for s in suffixes)


def observations(valuesets: tuple[str, ...] = (), codes: tuple[Code, ...] = (), **options) -> Events:
    """Observations that were done (final, amended or corrected): diagnostic studies, BP readings."""
    return Events(OBSERVATION_KINDS, valuesets, codes, statuses=OBSERVATION_DONE, **options)


def lab_tests(valuesets: tuple[str, ...] = (), codes: tuple[Code, ...] = (), **options) -> Events:
    """Laboratory tests done (`isLaboratoryTestPerformed`: category laboratory)."""
    return observations(valuesets, codes, categories=("laboratory",), **options)


def assessments(valuesets: tuple[str, ...] = (), codes: tuple[Code, ...] = (), **options) -> Events:
    """Assessments done (`isAssessmentPerformed`: category survey)."""
    return observations(valuesets, codes, categories=("survey",), **options)


def conditions(valuesets: tuple[str, ...] = (), codes: tuple[Code, ...] = ()) -> Events:
    """Conditions over their prevalence period."""
    return Events(("condition",), valuesets, codes, interval="prevalence")


def procedures(valuesets: tuple[str, ...] = (), codes: tuple[Code, ...] = ()) -> Events:
    """Procedures performed (status completed)."""
    return Events(("procedure",), valuesets, codes, statuses=PROCEDURE_DONE)


def medication_requests(valuesets: tuple[str, ...]) -> Events:
    """Active medication orders over their request period (`isMedicationActive` with
    CumulativeMedicationDuration's `medicationRequestPeriod`)."""
    return Events(("medication",), valuesets, statuses=MEDICATION_ACTIVE, intents=ORDER_INTENTS, interval="medication")


def orders(kind: str, valuesets: tuple[str, ...]) -> Events:
    """Orders (`isMedicationOrder`, `isDeviceOrder`, `isInterventionOrder`) on the day authored."""
    return Events((kind,), valuesets, statuses=ORDER_STATUSES, intents=ORDER_INTENTS, interval="authored")


# --- AdultOutpatientEncounters 4.11.000 --------------------------------------------------------
OFFICE_VISIT = vs("464.1003.101.12.1001")
ANNUAL_WELLNESS_VISIT = vs("526.3.1240")
PREVENTIVE_ESTABLISHED_18_UP = vs("464.1003.101.12.1025")
PREVENTIVE_INITIAL_18_UP = vs("464.1003.101.12.1023")
HOME_HEALTHCARE = vs("464.1003.101.12.1016")
VIRTUAL_ENCOUNTER = vs("464.1003.101.12.1089")
TELEPHONE_VISITS = vs("464.1003.101.12.1080")

QUALIFYING_ENCOUNTER = Exists(
    Timed(
        Encounters(
            OFFICE_VISIT
            + ANNUAL_WELLNESS_VISIT
            + PREVENTIVE_ESTABLISHED_18_UP
            + PREVENTIVE_INITIAL_18_UP
            + HOME_HEALTHCARE
            + VIRTUAL_ENCOUNTER
            + TELEPHONE_VISITS
        ),
        "during",
    )
)

# --- Hospice 6.12.000 ---------------------------------------------------------------------------
ENCOUNTER_INPATIENT = vs("666.5.307")
HOSPICE_CARE_AMBULATORY = vs("526.3.1584")
DISCHARGED_TO_HOSPICE = ("428361000124107", "428371000124100")  # to home / to a facility for hospice care
YES = (SNOMED, "373066001")

HAS_HOSPICE_SERVICES = AnyOf(
    (
        Exists(Timed(Encounters(ENCOUNTER_INPATIENT, discharge_codes=DISCHARGED_TO_HOSPICE), "ends_during")),
        Exists(Timed(Encounters(vs("464.1003.1003")), "overlaps")),
        Exists(Timed(assessments(codes=((LOINC, "45755-6"),), value_codes=(YES,)), "overlaps")),
        Exists(Timed(orders("service_request", HOSPICE_CARE_AMBULATORY), "during")),
        Exists(Timed(procedures(HOSPICE_CARE_AMBULATORY), "overlaps")),
        Exists(Timed(conditions(vs("464.1003.1165")), "overlaps")),
    )
)

# --- PalliativeCare 1.11.000 --------------------------------------------------------------------
HAS_PALLIATIVE_CARE = AnyOf(
    (
        Exists(Timed(assessments(codes=((LOINC, "71007-9"),)), "overlaps")),  # FACIT-Pal questionnaire
        Exists(Timed(conditions(vs("464.1003.1167")), "overlaps")),
        Exists(Timed(Encounters(vs("464.1003.101.12.1090")), "overlaps")),
        Exists(Timed(procedures(vs("464.1003.198.12.1135")), "overlaps")),
    )
)

# --- AdvancedIllnessandFrailty 1.16.000 ---------------------------------------------------------
FRAILTY_DEVICE = vs("464.1003.118.12.1300")
YEAR_BEFORE_AND_PERIOD = lookback(years=1)

HAS_FRAILTY = AnyOf(
    (
        Exists(Timed(orders("device", FRAILTY_DEVICE), "during")),
        Exists(Timed(assessments(codes=((LOINC, "98181-1"),), value_in=FRAILTY_DEVICE), "ends_during")),
        Exists(Timed(conditions(vs("464.1003.113.12.1074")), "overlaps")),
        Exists(Timed(Encounters(vs("464.1003.101.12.1088")), "overlaps")),
        Exists(
            Timed(
                Events(OBSERVATION_KINDS, vs("464.1003.113.12.1075"), statuses=OBSERVATION_DONE + ("preliminary",)),
                "overlaps",
            )
        ),
    )
)

HAS_ADVANCED_ILLNESS = AnyOf(
    (
        Exists(Timed(conditions(vs("464.1003.110.12.1082")), "starts_during", YEAR_BEFORE_AND_PERIOD)),
        Exists(Timed(medication_requests(vs("464.1003.196.12.1510")), "overlaps", YEAR_BEFORE_AND_PERIOD)),
    )
)


def advanced_illness_and_frailty(low_age: int = 66, high_age: int = 200) -> AllOf:
    """Age in [low, high] at the end of the period, frail during it, and with advanced illness
    (diagnosis or dementia medication) in the period or the year before."""
    return AllOf((AgeAt(low_age, high_age), HAS_FRAILTY, HAS_ADVANCED_ILLNESS))


AGE_66_PLUS_FRAIL_AND_ADVANCED_ILLNESS = advanced_illness_and_frailty()
# CMS165's variant: 66-80 with frailty and advanced illness, or 81 and over with frailty alone.
AGE_66_TO_80_FRAIL_ILL_OR_81_PLUS_FRAIL = AnyOf(
    (advanced_illness_and_frailty(66, 80), AllOf((AgeAt(81), HAS_FRAILTY)))
)

# Living long term in a nursing home: the last housing status on or before the end of the period
# says "Lives in a nursing home".
AGE_66_PLUS_IN_NURSING_HOME = AllOf(
    (
        AgeAt(66),
        MostRecent(
            Timed(assessments(codes=((LOINC, "71802-3"),)), "ends_by", anchor=END),
            order="end_date",
            value_codes=((SNOMED, "160734000"),),
        ),
    )
)

# The exclusions every adult eCQM here ends with, as `Reasoned` entries (CMS122, CMS125, CMS130;
# CMS165 swaps in its own frailty rule).
def frailty_nursing_home_palliative(frailty: Criterion = AGE_66_PLUS_FRAIL_AND_ADVANCED_ILLNESS, frailty_reason: str = "age 66+ with advanced illness and frailty") -> tuple[Reasoned, ...]:
    """Advanced illness and frailty, long-term nursing home residence, palliative care."""
    return (
        Reasoned(frailty_reason, frailty),
        Reasoned("age 66+ living long term in a nursing home", AGE_66_PLUS_IN_NURSING_HOME),
        Reasoned("palliative care", HAS_PALLIATIVE_CARE),
    )


HOSPICE = Reasoned("hospice", HAS_HOSPICE_SERVICES)
ECQM_REPOSITORY = "cqframework/ecqm-content-qicore-2024"


def ecqm_2025(
    id: str, library: str, version: str, *, improvement_notation: str = "increase", **text: object
) -> Measure:
    """An NCQA-stewarded 2025 eCQM (QI-Core 2024 content, proportion scoring): the source and MADiE
    reference follow from the CQL library name and version; `text` carries title, description,
    rationale, guideline and groups."""
    return Measure(
        id=id,
        steward="National Committee for Quality Assurance",
        version=version,
        references=(f"https://madie.cms.gov/Measure/{library}",),
        improvement_notation=improvement_notation,
        scoring="proportion",
        source=f"{ECQM_REPOSITORY}: input/cql/{library}.cql {version}",
        **text,
    )
