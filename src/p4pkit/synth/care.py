"""Encounters of one chunk of patients, drawn with numpy, and the code vocabularies events and claims use.

Rates grow with morbidity (number of chronic conditions), age and deprivation, and fall with the
true quality of the practice (and of the hospital, for readmissions). Lab values depend on the
patient's latent severity, deprivation and the practice's and clinician's true quality, so that a
measure computed on the output can be checked against the truth. The functional forms and
coefficients are set by hand to give plausible rates (see `docs/synthetic.md`); they are not
estimated from data.

Strings are never built per row in Python: every event or encounter carries an integer "type"
that indexes a small vocabulary table, and Arrow expands the vocabulary in C++.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from p4pkit.model import codes
from p4pkit.synth import targets as t
from p4pkit.synth.params import Params
from p4pkit.synth.people import YEAR, Population
from p4pkit.synth.world import SPECIALTIES, World

CKD = t.CONDITION_NAMES.index("ckd")
SPECIALTY_OF_CONDITION = np.array([SPECIALTIES.index(c.specialty) for c in t.CONDITIONS])
OTHER_SPECIALTY = np.array([SPECIALTIES.index(s) for s in SPECIALTIES if s not in {c.specialty for c in t.CONDITIONS}])


@dataclass(frozen=True)
class EventType:
    """One kind of clinical event: FHIR kind, code, unit, Observation category and the CPT line billed."""

    kind: str
    system: str
    code: str
    unit: str | None = None
    cpt: str | None = None
    cents: int = 0
    category: str | None = None
    supply: int = 0  # days of supply of one medication fill


def _lab(lab: t.Lab) -> EventType:
    return EventType("observation", codes.LOINC, lab.loinc, lab.unit, lab.cpt, lab.cents, lab.category)


EVENT_TYPES: dict[str, EventType] = {
    "hba1c": _lab(t.HBA1C),
    "sbp": _lab(t.SYSTOLIC),
    "dbp": _lab(t.DIASTOLIC),
    "cholesterol": _lab(t.CHOLESTEROL),
    "egfr": _lab(t.EGFR),
    "bmi": _lab(t.BMI),
    "tobacco": EventType("observation", codes.LOINC, t.TOBACCO_SCREEN, category="survey"),
    "cessation": EventType("procedure", codes.CPT, t.CESSATION[0], None, t.CESSATION[0], t.CESSATION[1]),
    "mammogram": EventType("observation", codes.LOINC, t.MAMMOGRAM[0], None, t.MAMMOGRAM[1], t.MAMMOGRAM[2], "imaging"),
    "colonoscopy": EventType("procedure", codes.CPT, t.COLONOSCOPY[0], None, t.COLONOSCOPY[0], t.COLONOSCOPY[1]),
    "fit": EventType("observation", codes.LOINC, t.FIT[0], None, t.FIT[1], t.FIT[2], "laboratory"),
    "pap": EventType("observation", codes.LOINC, t.PAP[0], None, t.PAP[1], t.PAP[2], "laboratory"),
}
EVENT_TYPES.update({
    f"rx:{name}": EventType("medication", codes.RXNORM, code, supply=supply) for name, (code, supply) in t.MEDICATIONS.items()
})
EVENT_TYPES.update({
    "hospice_care": EventType("procedure", codes.SNOMED, t.HOSPICE_CARE),
    "wheelchair": EventType("device", codes.SNOMED, t.FRAILTY_DEVICE),
    "housing": EventType("observation", codes.LOINC, t.HOUSING_STATUS, category="survey"),
    "asthma_review": EventType("procedure", codes.SNOMED, t.ASTHMA_REVIEW),
    "copd_review": EventType("procedure", codes.SNOMED, t.COPD_REVIEW),
    **{f"invite:{code}": EventType("communication", codes.SNOMED, code) for code in t.COPD_INVITATIONS},
    **{f"pca:{code}": EventType("observation", codes.SNOMED, code)
       for pair in t.PCA_CODES.values() for code in pair if code is not None},
    **{f"resolved:{name}": EventType("observation", codes.SNOMED, code) for name, _, code, _ in t.RESOLVED},
    **{f"history:{name}": EventType("condition", codes.SNOMED, code) for name, code, _, _ in t.RESOLVED},
})
# Chronic-condition diagnoses first and contiguous: claim diagnoses index them by event type.
ICD_CODES = tuple(dict.fromkeys([*t.DIAGNOSIS_CODES.values(), *t.CKD_STAGE_CODES, *t.UPCODE_CODES]))
for _code in ICD_CODES:
    EVENT_TYPES[f"icd:{_code}"] = EventType("condition", codes.ICD10CM, _code)
# Other diagnoses: palliative care, frailty and dementia (eCQM exclusion value sets).
for _code in (t.PALLIATIVE_DIAGNOSIS, *t.FRAILTY_DIAGNOSES, *t.DEMENTIA_CODES):
    EVENT_TYPES[f"icd:{_code}"] = EventType("condition", codes.ICD10CM, _code)
TYPE_NAMES = list(EVENT_TYPES)
TYPE = {name: i for i, name in enumerate(TYPE_NAMES)}
# Per condition (targets.CONDITIONS order) the event type of its diagnosis; CKD is coded by stage.
CONDITION_TYPE = np.array([TYPE[f"icd:{t.DIAGNOSIS_CODES.get(c.name, t.CKD_STAGE_CODES[0])}"] for c in t.CONDITIONS])
CKD_TYPES = np.array([TYPE[f"icd:{c}"] for c in t.CKD_STAGE_CODES])
UPCODE_TYPES = np.array([TYPE[f"icd:{c}"] for c in t.UPCODE_CODES])
# Claim diagnosis vocabulary: condition codes, then a routine adult examination, "illness,
# unspecified", palliative care (hospice and palliative encounters) and reduced mobility (home nursing).
DIAGNOSES = (*ICD_CODES, "Z00.00", "R69", t.PALLIATIVE_DIAGNOSIS, t.FRAILTY_DIAGNOSES[0])
ROUTINE, UNSPECIFIED, PALLIATIVE_DX, FRAILTY_DX = range(len(ICD_CODES), len(ICD_CODES) + 4)
DIAG_OF_TYPE0 = TYPE[f"icd:{ICD_CODES[0]}"]  # event type -> DIAGNOSES index is type - DIAG_OF_TYPE0

# Encounter vocabulary: (class, type system, type code, base allowed cents, billing system, billing
# code). Stays are billed by MS-DRG instead (their billing code is None).
ENCOUNTER_TYPES = (
    *[("ambulatory", codes.CPT, code, cents, codes.CPT, code) for code, cents in t.OFFICE_VISITS],
    *[("emergency", codes.CPT, code, cents + t.ED_FACILITY_CENTS, codes.CPT, code) for code, cents in t.ED_VISITS],
    ("inpatient", codes.SNOMED, t.INPATIENT_TYPE, 0, codes.MS_DRG, None),
    ("inpatient", codes.SNOMED, t.ELECTIVE_TYPE, 0, codes.MS_DRG, None),
    ("observation", codes.HCPCS, t.OBSERVATION[0], t.OBSERVATION[1], codes.HCPCS, t.OBSERVATION[0]),
    ("home", codes.SNOMED, t.HOSPICE_ENCOUNTER[0], t.HOSPICE_ENCOUNTER[1], codes.HCPCS, t.HOSPICE_BILL),
    ("ambulatory", codes.SNOMED, t.PALLIATIVE_ENCOUNTER[0], t.PALLIATIVE_ENCOUNTER[1], codes.CPT, t.PALLIATIVE_BILL),
    ("home", codes.CPT, t.FRAILTY_VISIT[0], t.FRAILTY_VISIT[1], codes.CPT, t.FRAILTY_VISIT[0]),
)
OFFICE, ED = 0, len(t.OFFICE_VISITS)
INPATIENT = ED + len(t.ED_VISITS)
ELECTIVE, OBSERVATION_STAY, HOSPICE, PALLIATIVE, FRAILTY_VISIT = range(INPATIENT + 1, INPATIENT + 6)
# Settings of care, with the CMS place-of-service code of each.
PRIMARY, SPECIALIST, EMERGENCY, ADMISSION, OBSERVATION, HOME, HOSPICE_CARE = range(7)
POS = (t.POS_OFFICE, t.POS_OFFICE, t.POS_ED, t.POS_INPATIENT, t.POS_OUTPATIENT_HOSPITAL, t.POS_HOME, t.POS_HOSPICE)
DISPOSITIONS = ("home", "snf", "exp")
SOURCES = ("emd", "outp")
# MS-DRG (index into targets.DRGS) of an admission for each condition, and when no condition applies.
DRG_OF_CONDITION = np.array([6, 2, 1, 1, 3, 0, 4, 5])
DRG_OTHER = 6
VALUE_CODES = (t.SMOKER, t.NON_SMOKER, t.NURSING_HOME)
DRG_ELECTIVE = len(t.DRGS) - 1


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def pick_condition(rng: np.random.Generator, conditions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each row of a (rows x conditions) bool matrix, one present condition at random.

    Returns (index, found); `found` is False for rows with no condition (index is then arbitrary).
    """
    score = conditions + rng.random(conditions.shape) * 0.5
    k = score.argmax(axis=1)
    return k, conditions[np.arange(len(k)), k]


@dataclass
class Slice:
    """The patients of one chunk, with the quantities every rate below needs."""

    lo: int
    pop: Population
    start: np.ndarray
    end: np.ndarray
    span: np.ndarray
    age: np.ndarray
    ncond: np.ndarray
    conditions: np.ndarray
    practice: np.ndarray
    quality: np.ndarray
    deprivation: np.ndarray

    @classmethod
    def of(cls, params: Params, world: World, pop: Population, lo: int, hi: int) -> Slice:
        start = pop.obs_start(params)[lo:hi].astype(np.int64)
        end = pop.obs_end(params)[lo:hi].astype(np.int64)
        span = np.maximum(end - start + 1, 0)
        practice = pop.practice[lo:hi]
        return cls(
            lo=lo, pop=pop, start=start, end=end, span=span,
            age=(start + span / 2 - pop.birth_day[lo:hi]) / YEAR,
            ncond=pop.n_conditions[lo:hi], conditions=pop.conditions[lo:hi], practice=practice,
            quality=world.practice_quality[practice], deprivation=(3 - pop.quintile[lo:hi]).astype(float),
        )

    def spread(self, rng: np.random.Generator, rate_per_year: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Poisson counts of a yearly rate over each patient's observed span, on uniform days."""
        counts = rng.poisson(rate_per_year * self.span / YEAR)
        who = np.repeat(np.arange(len(self.span)), counts)
        day = self.start[who] + np.floor(rng.random(len(who)) * self.span[who]).astype(np.int64)
        return who, day


def hospital_of(rng: np.random.Generator, world: World, practice: np.ndarray) -> np.ndarray:
    """The practice's local hospital four times in five, otherwise any hospital."""
    local = world.practice_hospital[practice]
    return np.where(rng.random(len(practice)) < 0.8, local, rng.integers(0, len(world.hospital_ids), len(practice)))


def hospital_doctor(rng: np.random.Generator, world: World, hospital: np.ndarray, emergency: bool) -> np.ndarray:
    """A hospitalist (first half of the hospital's doctors) or an emergency physician (second half)."""
    half = (world.hosp_offsets[1] - world.hosp_offsets[0]) // 2
    return world.hosp_offsets[hospital] + half * emergency + rng.integers(0, half, len(hospital))


def encounter_parts(rng: np.random.Generator, world: World, s: Slice) -> list[dict[str, np.ndarray]]:
    """Primary-care and specialist visits, ED visits, admissions (emergency and elective), 30-day
    readmissions and observation stays of a slice, as parts for `assemble_encounters`."""
    n_prac, n_groups = len(world.practice_ids), len(world.group_ids)
    parts = []

    who, day = s.spread(rng, 0.9 + 0.35 * np.maximum(s.age - 40, 0) / 10 + 0.9 * s.ncond)
    practice = s.practice[who]
    usual = s.pop.usual_clinician[s.lo + who]
    # Usual clinician 55%, a colleague in the practice 25%, a clinician elsewhere (walk-in, cover) 20%.
    u = rng.random(len(who))
    elsewhere = u >= 0.8
    practice = np.where(elsewhere, rng.integers(0, n_prac, len(who)), practice)
    lo, size = world.pc_offsets[practice], np.diff(world.pc_offsets)[practice]
    colleague = lo + np.floor(rng.random(len(who)) * size).astype(np.int64)
    clinician = np.where(u < 0.55, usual, colleague)
    k, found = pick_condition(rng, s.conditions[who])
    level = np.clip(np.round(0.5 * s.ncond[who] + 1.2 * rng.random(len(who)) - 0.3), 0, 2).astype(np.int64)
    parts.append(dict(who=who, day=day, setting=np.full(len(who), PRIMARY), clinician=clinician, org=practice,
                      etype=OFFICE + level, cond=np.where(found, k, -1)))

    who, day = s.spread(rng, 0.3 + 0.8 * (s.age >= 65) + 1.8 * s.ncond)
    k, found = pick_condition(rng, s.conditions[who])
    matched = found & (rng.random(len(who)) < 0.8)
    specialty = np.where(matched, SPECIALTY_OF_CONDITION[k], OTHER_SPECIALTY[rng.integers(0, len(OTHER_SPECIALTY), len(who))])
    lo, size = world.spec_offsets[specialty], np.diff(world.spec_offsets)[specialty]
    clinician = lo + np.floor(rng.random(len(who)) * size).astype(np.int64)
    group = world.spec_group[clinician - world.spec_offsets[0]]
    parts.append(dict(who=who, day=day, setting=np.full(len(who), SPECIALIST), clinician=clinician,
                      org=n_prac + group, etype=OFFICE + 1 + (rng.random(len(who)) < 0.3), cond=np.where(matched, k, -1)))

    rate = np.exp(-1.3 + 0.3 * s.ncond + 0.15 * s.deprivation - 0.15 * s.quality + 0.3 * s.pop.social_risk[s.lo:s.lo + len(s.span)])
    who, day = s.spread(rng, rate)
    hospital = hospital_of(rng, world, s.practice[who])
    k, found = pick_condition(rng, s.conditions[who])
    parts.append(dict(who=who, day=day, setting=np.full(len(who), EMERGENCY),
                      clinician=hospital_doctor(rng, world, hospital, True), org=n_prac + n_groups + hospital,
                      etype=ED + rng.integers(0, len(t.ED_VISITS), len(who)), cond=np.where(found, k, -1)))

    rate = np.minimum(np.exp(-3.1 + 0.45 * s.ncond + 0.025 * (s.age - 50) + 0.1 * s.deprivation - 0.2 * s.quality), 3.0)
    who, day = s.spread(rng, rate)
    hospital = hospital_of(rng, world, s.practice[who])
    admission = _admissions(rng, world, s, who, day, hospital, rng.random(len(who)) < t.ELECTIVE_SHARE)
    readmit = rng.random(len(who)) < sigmoid(-2.1 + 0.2 * s.ncond[who] - 0.35 * world.hospital_quality[hospital] - 0.15 * s.quality[who])
    again = admission["end_day"] + 1 + rng.integers(0, 30, len(who))
    readmit &= again <= s.end[who]
    planned = rng.random(int(readmit.sum())) < t.PLANNED_READMISSION_SHARE
    readmission = _admissions(rng, world, s, who[readmit], again[readmit], hospital[readmit], planned)
    who, day = s.spread(rng, rate * t.OBSERVATION_PER_ADMISSION)
    hospital = hospital_of(rng, world, s.practice[who])
    k, found = pick_condition(rng, s.conditions[who])
    parts += [admission, readmission, dict(
        who=who, day=day, setting=np.full(len(who), OBSERVATION), clinician=hospital_doctor(rng, world, hospital, False),
        org=n_prac + n_groups + hospital, etype=np.full(len(who), OBSERVATION_STAY), cond=np.where(found, k, -1),
        end_day=np.minimum(day + 1, s.end[who]))]
    return parts


def assemble_encounters(rng: np.random.Generator, parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """One set of encounter columns from parts, with a time of day, ordered by patient, day and time."""
    for part in parts:  # columns only stays have
        rows = len(part["who"])
        part.setdefault("end_day", part["day"])
        for key in ("drg", "disposition", "source"):
            part.setdefault(key, np.full(rows, -1))
    out = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
    out["minute"] = rng.integers(7 * 60, 19 * 60, len(out["who"]))
    order = np.lexsort((out["minute"], out["day"], out["who"]))
    return {key: value[order] for key, value in out.items()}


def _admissions(rng: np.random.Generator, world: World, s: Slice, who: np.ndarray, day: np.ndarray,
                hospital: np.ndarray, elective: np.ndarray) -> dict[str, np.ndarray]:
    """Inpatient stays: length of stay grows with morbidity; the stay ends at death if death comes first.
    Elective stays are coded "Hospital admission, elective", come from outpatients and carry MS-DRG 470."""
    n_prac, n_groups = len(world.practice_ids), len(world.group_ids)
    k, found = pick_condition(rng, s.conditions[who])
    stay = 1 + rng.poisson(2.5 + 0.5 * s.ncond[who])
    end_day = np.minimum(day + stay, s.end[who])
    died = end_day == s.pop.death_day[s.lo + who]
    disposition = np.where(died, 2, (rng.random(len(who)) < 0.15 * (s.age[who] >= 75)).astype(np.int64))
    return dict(who=who, day=day, setting=np.full(len(who), ADMISSION),
                clinician=hospital_doctor(rng, world, hospital, False), org=n_prac + n_groups + hospital,
                etype=np.where(elective, ELECTIVE, INPATIENT), cond=np.where(found, k, -1), end_day=end_day,
                drg=np.where(elective, DRG_ELECTIVE, np.where(found, DRG_OF_CONDITION[k], DRG_OTHER)),
                disposition=disposition, source=elective.astype(np.int64))
