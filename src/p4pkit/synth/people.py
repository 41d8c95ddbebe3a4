"""The patients: demographics, deprivation, social risk, chronic conditions, registration and death.

Everything is drawn for the whole population at once with numpy (one row per patient, no loops
over patients). Two latent factors per patient, a general morbidity factor and a cardiometabolic
one, make conditions cluster the way multimorbidity does and also raise the risk of death; the
condition intercepts are solved on the population registered at the end of the data so that
recorded prevalence hits its published target (see `targets.CONDITIONS`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from p4pkit.synth import targets
from p4pkit.synth.params import Params, rng_for
from p4pkit.synth.world import World

YEAR = 365.25
NO_DAY = np.iinfo(np.int32).max


@dataclass
class Population:
    """One entry per patient (index = position). Days are days since 1970-01-01."""

    birth_day: np.ndarray
    male: np.ndarray
    practice: np.ndarray
    imd: np.ndarray
    quintile: np.ndarray
    ethnicity: np.ndarray
    social_risk: np.ndarray
    smoker: np.ndarray
    general: np.ndarray
    cardiometabolic: np.ndarray
    severity: np.ndarray
    reg_start: np.ndarray
    death_day: np.ndarray  # NO_DAY when alive at the end of the data
    left_day: np.ndarray  # day the registration ended (death, move or removal); NO_DAY if open
    end_reason: np.ndarray  # "", "died", "moved" or "removed_by_practice"
    usual_clinician: np.ndarray
    conditions: np.ndarray  # bool (patients x conditions), in targets.CONDITIONS order
    onset_day: np.ndarray  # int (patients x conditions), NO_DAY where absent
    ckd_stage: np.ndarray  # 0, 1, 2 index into targets.CKD_STAGE_CODES
    frail: np.ndarray  # bool: frail (eCQM frailty exclusions), drawn for people 65 and over
    dementia_day: np.ndarray  # onset of dementia (eCQM advanced illness), NO_DAY where absent
    nursing_home: np.ndarray  # bool: lives long term in a nursing home

    @property
    def n(self) -> int:
        return len(self.birth_day)

    def obs_start(self, params: Params) -> np.ndarray:
        return np.maximum(self.reg_start, params.start_day)

    def obs_end(self, params: Params) -> np.ndarray:
        """Last day with care in the data: the end of the data, death, or leaving the list."""
        return np.minimum(np.minimum(self.left_day - 1, self.death_day), params.end_day)

    def age_at(self, day: int | np.ndarray) -> np.ndarray:
        return (day - self.birth_day) / YEAR

    @property
    def n_conditions(self) -> np.ndarray:
        return self.conditions.sum(axis=1)


def _ages(rng: np.random.Generator, n: int) -> np.ndarray:
    lows = np.array([b[0] for b in targets.AGE_BANDS])
    weights = np.array([b[1] for b in targets.AGE_BANDS])
    band = rng.choice(len(lows), size=n, p=weights / weights.sum())
    return lows[band] + rng.random(n) * np.where(band == len(lows) - 1, 10, 5)


def _by_age(table: tuple[tuple[int, float], ...], age: np.ndarray) -> np.ndarray:
    cuts = np.array([t[0] for t in table])
    values = np.array([t[1] for t in table])
    return values[np.searchsorted(cuts, age, side="right") - 1]


def build_population(params: Params, world: World) -> Population:
    """Draw every patient and their conditions; deaths and moves before conditions (see module doc)."""
    rng = rng_for(params, 2)
    n = params.n_patients
    age0 = _ages(rng, n)
    birth_day = (params.start_day - np.floor(age0 * YEAR) - 1).astype(np.int32)
    male = rng.random(n) >= _by_age(targets.FEMALE_SHARE, age0)
    practice = rng.choice(len(world.practice_share), size=n, p=world.practice_share).astype(np.int32)

    imd = world.practice_imd[practice] * rng.lognormal(0.0, targets.PATIENT_IMD_SIGMA, n)
    quintile = (5 - np.searchsorted(np.array(sorted(targets.IMD_CUTS)), imd)).astype(np.int8)
    q = quintile - 1
    white = rng.random(n) < np.array(targets.WHITE_SHARE_BY_QUINTILE)[q]
    other = rng.choice(4, size=n, p=np.array(targets.NON_WHITE_SPLIT) / sum(targets.NON_WHITE_SPLIT)) + 1
    ethnicity = np.array(targets.ETHNIC_GROUPS)[np.where(white, 0, other)]
    social_risk = rng.random(n) < np.array(targets.SOCIAL_RISK_BY_QUINTILE)[q]
    smoker = (age0 >= 16) & (rng.random(n) < np.array(targets.SMOKER_BY_QUINTILE)[q])

    general = rng.standard_normal(n)
    cardiometabolic = rng.standard_normal(n)
    severity = 0.6 * general + 0.8 * rng.standard_normal(n)
    deprivation_steps = 3 - quintile  # +2 most deprived ... -2 least deprived

    # Registration: most patients were on the list before the data start; some join during it.
    joined_late = rng.random(n) < 0.12
    reg_start = np.where(
        joined_late,
        params.start_day + rng.integers(0, params.end_day - params.start_day, n),
        params.start_day - (rng.exponential(8.0, n) * YEAR).astype(np.int64),
    )
    reg_start = np.maximum(reg_start, birth_day + 1).astype(np.int32)
    first = np.maximum(reg_start, params.start_day)
    span_years = (params.end_day - first + 1) / YEAR

    age_mid = age0 + params.years / 2
    hazard = np.exp(targets.DEATH_A + targets.DEATH_B * age_mid + 0.35 * general + 0.3 * cardiometabolic + 0.08 * deprivation_steps)
    dies = rng.random(n) < 1 - (1 - np.minimum(hazard, 0.5)) ** span_years
    moves = rng.random(n) < 1 - (1 - targets.MOVE_OUT_PER_YEAR) ** span_years
    event_day = (first + rng.random(n) * (params.end_day - first)).astype(np.int32)
    death_day = np.where(dies, event_day, NO_DAY).astype(np.int32)
    move_day = np.where(moves & ~dies, (first + rng.random(n) * (params.end_day - first)).astype(np.int32) + 1, NO_DAY)
    left_day = np.minimum(np.where(dies, death_day + 1, NO_DAY), move_day).astype(np.int32)
    end_reason = np.where(dies, "died", np.where(moves, "moved", "")).astype(object)

    registered_at_end = left_day > params.end_day
    age_end = (params.end_day - birth_day) / YEAR
    conditions = np.zeros((n, len(targets.CONDITIONS)), dtype=bool)
    onset_day = np.full((n, len(targets.CONDITIONS)), NO_DAY, dtype=np.int32)
    obs_end = np.minimum(np.minimum(left_day - 1, death_day), params.end_day)
    for k, cond in enumerate(targets.CONDITIONS):
        eligible = age_end >= cond.min_age
        shape = (cond.age_slope * (age_end - 50) / 10 + cond.male * male + cond.deprivation * deprivation_steps
                 + cond.general_load * general + cond.cardiometabolic_load * cardiometabolic)
        intercept = _solve_intercept(shape[eligible & registered_at_end], cond.target)
        p = np.where(eligible, 1 / (1 + np.exp(-(intercept + shape))), 0.0)
        has = rng.random(n) < p
        earliest = birth_day + int(max(cond.min_age, 1) * YEAR) + 1
        incident = rng.random(n) < 0.15
        onset = np.where(
            incident,
            params.start_day + rng.random(n) * (params.end_day - params.start_day),
            params.start_day - rng.exponential(6.0, n) * YEAR,
        ).astype(np.int64)
        onset = np.maximum(onset, earliest)
        has &= onset <= obs_end
        conditions[:, k] = has
        onset_day[:, k] = np.where(has, onset, NO_DAY)
    ckd_stage = rng.choice(3, size=n, p=targets.CKD_STAGE_SHARES).astype(np.int8)
    frail, dementia_day, nursing_home = _old_age(rng, params, age_end, conditions.sum(axis=1), general, birth_day, obs_end)

    lo, hi = world.pc_offsets[practice], world.pc_offsets[practice + 1]
    usual = (lo + np.floor(rng.random(n) * (hi - lo))).astype(np.int32)
    return Population(
        birth_day=birth_day, male=male, practice=practice, imd=imd, quintile=quintile, ethnicity=ethnicity,
        social_risk=social_risk, smoker=smoker, general=general, cardiometabolic=cardiometabolic,
        severity=severity, reg_start=reg_start, death_day=death_day, left_day=left_day, end_reason=end_reason,
        usual_clinician=usual, conditions=conditions, onset_day=onset_day, ckd_stage=ckd_stage,
        frail=frail, dementia_day=dementia_day, nursing_home=nursing_home,
    )


def _old_age(rng: np.random.Generator, params: Params, age: np.ndarray, n_conditions: np.ndarray, general: np.ndarray,
             birth_day: np.ndarray, obs_end: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Frailty, dementia and nursing-home residence in people 65 and over (ages at the end of the data).

    Hand-set logistic curves that give about 12% frail, 4% with recorded dementia and 2% living in
    a nursing home among the over-65s, all rising steeply with age (sources in `targets` and
    docs/synthetic.md); frailty and dementia both make nursing-home residence likelier.
    """
    n = len(age)
    old = age >= 65
    frail = old & (rng.random(n) < 1 / (1 + np.exp(-(-3.3 + 0.075 * (age - 65) + 0.35 * n_conditions + 0.3 * general))))
    dementia = old & (rng.random(n) < 1 / (1 + np.exp(-(-4.9 + 0.11 * (age - 65) + 0.3 * general))))
    onset = np.where(
        rng.random(n) < 0.3,
        params.start_day + rng.random(n) * (params.end_day - params.start_day),
        params.start_day - rng.exponential(3.0, n) * YEAR,
    ).astype(np.int64)
    onset = np.maximum(onset, birth_day + int(60 * YEAR))
    dementia &= onset <= obs_end
    dementia_day = np.where(dementia, onset, NO_DAY).astype(np.int32)
    home_odds = -6.6 + 0.12 * (age - 65) + 0.8 * frail + 1.2 * dementia
    nursing_home = (age >= 66) & (rng.random(n) < 1 / (1 + np.exp(-home_odds)))
    return frail, dementia_day, nursing_home


def _solve_intercept(shape: np.ndarray, target: float) -> float:
    """The logistic intercept a with mean(sigmoid(a + shape)) == target, by Newton's method."""
    a = float(np.log(target / (1 - target)))
    for _ in range(30):
        p = 1 / (1 + np.exp(-(a + shape)))
        gap = p.mean() - target
        if abs(gap) < 1e-9:
            break
        a -= gap / max(float((p * (1 - p)).mean()), 1e-12)
    return a
