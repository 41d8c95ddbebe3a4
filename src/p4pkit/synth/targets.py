"""Realism targets of the synthetic world, kept as data in one place.

Every number here is described, with its source, in `docs/synthetic.md`. The generator reads these
tables; `prevalence_report` compares its output with `CONDITIONS`. Figures tagged "background" in
the docs come from general knowledge of the published series rather than a document we fetched.
"""

from __future__ import annotations

from dataclasses import dataclass


# ONS mid-year estimates / Census 2021 (England and Wales), share of the population by five-year
# age band starting at the given age; the last band is 90-99. Normalised by the generator.
AGE_BANDS: tuple[tuple[int, float], ...] = (
    (0, 5.4), (5, 5.9), (10, 6.0), (15, 5.7), (20, 6.0), (25, 6.6), (30, 6.9), (35, 6.7),
    (40, 6.3), (45, 6.4), (50, 6.9), (55, 6.7), (60, 5.8), (65, 5.0), (70, 5.0), (75, 3.7),
    (80, 2.5), (85, 1.5), (90, 0.8),
)

# Share of women by age (ONS mid-year estimates): (from age, share female).
FEMALE_SHARE: tuple[tuple[int, float], ...] = ((0, 0.49), (50, 0.51), (75, 0.55), (85, 0.62))

# English Indices of Deprivation 2019: LSOA IMD score cut points between quintiles, most deprived
# first (score above 34.17 = quintile 1 ... below 8.49 = quintile 5).
IMD_CUTS: tuple[float, ...] = (34.17, 21.35, 13.79, 8.49)
# Log-normal IMD score of a practice's catchment (median, sigma) and of a patient around it: the
# total log-sd 0.83 and median 17.1 put a fifth of patients in each national quintile.
PRACTICE_IMD_MEDIAN = 17.1
PRACTICE_IMD_SIGMA = 0.70
PATIENT_IMD_SIGMA = 0.45

# Census 2021 England ethnic groups; the white share falls with deprivation (ONS, background).
ETHNIC_GROUPS = ("white", "asian", "black", "mixed", "other")
NON_WHITE_SPLIT = (0.505, 0.221, 0.158, 0.116)
WHITE_SHARE_BY_QUINTILE = (0.72, 0.78, 0.83, 0.87, 0.90)

# Social risk (Medicaid / dual eligibility), quintile 1 (most deprived) first. About one person in
# five is covered by Medicaid in the US (KFF, background).
SOCIAL_RISK_BY_QUINTILE = (0.38, 0.25, 0.17, 0.11, 0.07)

# Current smokers: 12.9% of adults in England 2022 (ONS), steeply graded by deprivation.
SMOKER_BY_QUINTILE = (0.21, 0.15, 0.12, 0.10, 0.07)


@dataclass(frozen=True)
class Condition:
    """A chronic condition: its published prevalence and the shape of its risk.

    `target` is the recorded prevalence among registered patients aged `min_age` or over (the QOF
    register denominators). The log-odds slopes (per decade of age, for men, per quintile step
    towards the most deprived) and the loadings on the two shared latent factors shape who has
    it; the generator solves for the intercept that hits `target` exactly in expectation.
    """

    name: str
    target: float
    min_age: int
    age_slope: float
    male: float
    deprivation: float
    general_load: float
    cardiometabolic_load: float
    specialty: str
    source: str


CONDITIONS: tuple[Condition, ...] = (
    Condition("hypertension", 0.153, 0, 0.62, 0.15, 0.06, 0.35, 0.9, "Cardiology", "QOF 2024/25 via pcnd.info"),
    Condition("diabetes", 0.077, 17, 0.38, 0.35, 0.17, 0.35, 1.1, "Endocrinology", "QOF 2023/24 (background)"),
    Condition("asthma", 0.065, 6, 0.0, -0.2, 0.08, 0.45, 0.0, "Pulmonology", "QOF 2023/24 (background)"),
    Condition("copd", 0.019, 0, 0.72, 0.15, 0.30, 0.6, 0.2, "Pulmonology", "QOF 2024/25 via pcnd.info"),
    Condition("chd", 0.030, 0, 0.75, 0.75, 0.15, 0.4, 0.9, "Cardiology", "QOF 2024/25 via pcnd.info"),
    Condition("heart_failure", 0.011, 0, 0.85, 0.45, 0.15, 0.6, 0.9, "Cardiology", "QOF 2023/24 (background)"),
    Condition("ckd", 0.042, 18, 0.85, -0.1, 0.10, 0.4, 0.9, "Nephrology", "QOF 2023/24 (background)"),
    Condition("depression", 0.132, 18, -0.05, -0.6, 0.20, 0.7, 0.0, "Psychiatry", "QOF 2023/24 (background)"),
)
CONDITION_NAMES = tuple(c.name for c in CONDITIONS)

# Diagnosis codes written for each condition (ICD-10-CM). Diabetes and hypertension codes are
# members of the eCQM "Diabetes" (2.16.840.1.113883.3.464.1003.103.12.1001) and "Essential
# Hypertension" (2.16.840.1.113883.3.464.1003.104.12.1011) value sets. CKD is written by stage.
DIAGNOSIS_CODES: dict[str, str] = {
    "hypertension": "I10",
    "diabetes": "E11.9",
    "asthma": "J45.909",
    "copd": "J44.9",
    "chd": "I25.10",
    "heart_failure": "I50.9",
    "depression": "F32.9",
}
CKD_STAGE_CODES = ("N18.30", "N18.4", "N18.5")
CKD_STAGE_SHARES = (0.85, 0.12, 0.03)
# Codes an upcoding practice adds without any clinical change: complications and HCC-bearing
# conditions a risk model pays for.
UPCODE_CODES = ("E11.65", "I50.9", "N18.4", "J44.9")

# Annual death probability: Gompertz fit to ONS national life tables (background),
# q(age) = exp(DEATH_A + DEATH_B * age), multiplied by exp(loadings) for morbidity and deprivation.
DEATH_A = -10.2
DEATH_B = 0.092
MOVE_OUT_PER_YEAR = 0.03

# Office visit E&M codes (eCQM "Office Visit" value set 2.16.840.1.113883.3.464.1003.101.12.1001)
# and their approximate Medicare allowed amounts in cents (2024 physician fee schedule, background).
OFFICE_VISITS = (("99213", 9200), ("99214", 13100), ("99215", 18400))
ED_VISITS = (("99283", 7600), ("99284", 12700), ("99285", 18100))  # ED E&M, value set ...101.12.1010
INPATIENT_TYPE = "183452005"  # SNOMED "Emergency hospital admission", value set 2.16.840.1.113883.3.666.5.307
# MS-DRG codes with approximate relative weights; an admission costs weight x base rate.
# The last, 470 (major joint replacement), is the commonest elective MS-DRG and is given to elective admissions.
DRGS = (("291", 1.33), ("190", 0.93), ("638", 0.98), ("247", 1.93), ("683", 0.88), ("885", 1.25), ("871", 1.87),
        ("470", 1.91))
INPATIENT_BASE_CENTS = 680_000
ED_FACILITY_CENTS = 55_000


@dataclass(frozen=True)
class Lab:
    """A lab or vital sign: LOINC code, canonical unit, FHIR Observation category and the CPT code billed."""

    loinc: str
    unit: str
    category: str
    cpt: str | None
    cents: int


HBA1C = Lab("4548-4", "%", "laboratory", "83036", 1300)
SYSTOLIC = Lab("8480-6", "mm[Hg]", "vital-signs", None, 0)
DIASTOLIC = Lab("8462-4", "mm[Hg]", "vital-signs", None, 0)
CHOLESTEROL = Lab("2093-3", "mg/dL", "laboratory", "80061", 1900)
EGFR = Lab("62238-1", "mL/min/{1.73_m2}", "laboratory", "80048", 900)
BMI = Lab("39156-5", "kg/m2", "vital-signs", None, 0)

# Tobacco (CMS138 value sets ...526.3.1278 screening, ...1170 user, ...1189 non-user, ...509 counselling).
TOBACCO_SCREEN = "72166-2"
SMOKER, NON_SMOKER = "77176002", "8392000"
CESSATION = ("99406", 1500)
# Screening tests (CMS125 Mammography, CMS130 Colonoscopy and FOBT value sets; cervical cytology LOINC).
MAMMOGRAM = ("24606-6", "77067", 14000)
COLONOSCOPY = ("45378", 40000)
FIT = ("29771-3", "82274", 2000)
PAP = ("10524-7", "88175", 2700)
# "Procedure contraindicated" from the eCQM Medical Reason value set (...526.3.1007), written as
# the negation reason of an exception-reported test.
EXCEPTION_REASON = "183932001"

# Place of service codes (CMS POS code set).
POS_OFFICE, POS_INPATIENT, POS_ED = "11", "21", "23"
# Share of allowed amounts paid by each plan; the rest is patient cost sharing.
PAID_PERCENT = {"medicare_ffs": 80, "dual": 100, "medicaid": 100, "commercial": 85}

# --- Admissions: elective and observation stays -------------------------------------------------
# SNOMED "Hospital admission, elective" (in value set 2.16.840.1.113883.3.666.5.307, and the code
# READMIT_30D reads as planned). About a fifth of US acute admissions are elective (HCUP statistical
# brief 2018, background); CMS's planned-readmission algorithm classes roughly one readmission in
# ten as planned (background).
ELECTIVE_TYPE = "8715000"
ELECTIVE_SHARE = 0.2
PLANNED_READMISSION_SHARE = 0.1
# Observation stays: HCPCS G0378 "Hospital observation service, per hour"; Medicare has roughly one
# observation stay for every four to five short inpatient stays (MedPAC 2023 data book, background).
OBSERVATION = ("G0378", 250_000)
OBSERVATION_PER_ADMISSION = 0.22
POS_HOME, POS_HOSPICE, POS_OUTPATIENT_HOSPITAL = "12", "34", "22"

# --- Medications (RxNorm ingredient codes, as MNCM_ODC matches them) ----------------------------
# name -> (RxNorm code, days of supply per fill). Prescribing shares are of the patients a guideline
# says should be treated, at average practice quality; adherence is the share of fills collected.
MEDICATIONS: dict[str, tuple[str, int]] = {
    "atorvastatin": ("83367", 90),
    "aspirin": ("1191", 90),
    "clopidogrel": ("32968", 90),
    "lisinopril": ("29046", 90),
    "amlodipine": ("17767", 90),
    "albuterol": ("435", 90),
    "fluticasone": ("41126", 90),
    "tiotropium": ("69120", 90),
    # Clinical-drug codes where the eCQM value set lists clinical drugs only:
    "donepezil": ("997223", 30),  # donepezil 10 MG tablet, eCQM Dementia Medications (...196.12.1510)
    "varenicline": ("636676", 30),  # varenicline 1 MG tablet, Tobacco Use Cessation Pharmacotherapy (...526.3.1190)
}
# Statin use in US adults with diabetes about 60% (NHANES 2015-2018, background); antiplatelets
# in coronary disease about 75%; antihypertensive treatment of diagnosed hypertension about 75%
# (NHANES); inhaled therapy in asthma/COPD about 80%; cholinesterase inhibitors in about 40% of
# recorded dementia (background). Proportion of days covered on chronic drugs averages about 0.75.
STATIN_SHARE = 0.62
ANTIPLATELET_SHARE = 0.75
ANTIHYPERTENSIVE_SHARE = 0.75
INHALER_SHARE = 0.8
DEMENTIA_DRUG_SHARE = 0.4
ADHERENCE = 0.75
STATIN_INTOLERANT = 0.05  # recorded "not done" with "Treatment not tolerated"
CESSATION_DRUG_SHARE = 0.08  # of smokers screened per visit, a varenicline order

# --- End of life, frailty, advanced illness, nursing homes (eCQM exclusion value sets) ---------
# About half of US Medicare decedents use hospice, for a median of about 18 days (MedPAC 2024,
# background); specialist palliative care reaches about a third of decedents (background).
HOSPICE_DECEDENT_SHARE = 0.45
PALLIATIVE_DECEDENT_SHARE = 0.3
PALLIATIVE_LIVING_SHARE = 0.01  # of the living 66+ with heart failure or COPD, per year
HOSPICE_ENCOUNTER = ("305336008", 450_000)  # "Admission to hospice", eCQM Hospice Encounter (...1003)
HOSPICE_CARE = "385763009"  # "Hospice care", Hospice care ambulatory (...526.3.1584)
HOSPICE_BILL = "T2042"  # HCPCS hospice routine home care
PALLIATIVE_ENCOUNTER = ("713281006", 18_000)  # "Consultation for palliative care", (...101.12.1090)
PALLIATIVE_DIAGNOSIS = "Z51.5"  # Palliative Care Diagnosis (...1167)
PALLIATIVE_BILL = "99245"
# Frailty in people 65 and over: about 10-15% (Collard et al., JAGS 2012, background), rising
# steeply with age. Frail people get a frailty diagnosis, and some a wheelchair or walker order
# or a home nursing visit (value sets ...113.12.1074, ...118.12.1300, ...101.12.1088).
FRAILTY_DIAGNOSES = ("Z74.09", "Z91.81", "Z99.3")
FRAILTY_DEVICE = "228869008"  # Manual wheelchair
FRAILTY_VISIT = ("99509", 9_000)
# Dementia: about 7% of people 65 and over in England (NHS England dementia diagnosis statistics,
# two thirds of them diagnosed, background); codes in the eCQM Advanced Illness value set.
DEMENTIA_CODES = ("G30.9", "F03.90")
# Long-term nursing-home residence: about 1.2 million US residents, roughly 2% of people 65 and
# over, most of them over 85 (CDC NCHS, background). Housing status LOINC 71802-3, value SNOMED
# 160734000 "Lives in a nursing home" (what the eCQM nursing-home exclusion reads).
HOUSING_STATUS = "71802-3"
NURSING_HOME = "160734000"

# --- QOF: reviews, invitations, personalised care adjustments, resolved codes ------------------
# Reviews in the preceding 12 months: QOF 2023/24 England achievement before PCAs about 60% for
# asthma (AST007) and 75% for COPD (COPD010) (NHS England QOF 2023/24, background).
ASTHMA_REVIEW = "394700004"  # Asthma annual review
COPD_REVIEW = "394703002"  # COPD annual review
ASTHMA_REVIEW_SHARE = 0.6
COPD_REVIEW_SHARE = 0.75
# COPD invitation letters (first, second, third letter concepts of the QOF COPDINVITE_COD cluster).
COPD_INVITATIONS = ("716241000000106", "717021000000106", "717521000000104")
INVITED_SHARE = 0.4  # of patients not reviewed in a year, invited at least twice
# Register PCA codes (QOF business rules clusters): (unsuitable, informed dissent) per condition,
# None where the register has no code of its own (then a "not done" record carries the reason).
PCA_CODES: dict[str, tuple[str | None, str | None]] = {
    "asthma": ("717291000000103", "716491000000100"),
    "copd": ("716311000000100", "716291000000101"),
    "hypertension": (None, "716771000000106"),
    "diabetes": (None, None),
}
# QOF PCA rates run at a few per cent of a register (NHS England QOF 2023/24 PCA tables, background).
UNSUITABLE_SHARE = 0.01
DISSENT_SHARE = 0.015
# Reasons on "not done" records: the behaviour's "Procedure contraindicated"; "Procedure not
# indicated" and "Treatment not tolerated" (both eCQM Medical Reason ...526.3.1007); "Refusal of
# treatment by patient" (what QOF reads as informed dissent).
NOT_INDICATED, NOT_TOLERATED, REFUSED = "428119001", "407563006", "105480006"
# Diagnoses recorded once and later resolved, on patients who do not have the condition now:
# (condition, SNOMED diagnosis, SNOMED "... resolved", share of the eligible population).
RESOLVED: tuple[tuple[str, str, str, float], ...] = (
    ("asthma", "195967001", "162660004", 0.02),
    ("hypertension", "38341003", "162659009", 0.005),
    ("diabetes", "73211009", "315051004", 0.003),
)
