"""Clinical events of one chunk: diagnoses, labs and vitals, tobacco care and cancer screening, then
medications (`medications.py`), QOF records (`qof.py`) and end-of-life care (`endoflife.py`).

Labs and vitals are drawn at primary-care visits. Their values follow simple linear models whose
terms are the patient's latent severity, deprivation (quintile steps towards the most deprived),
the practice's and the clinician's TRUE quality and, under `program_effect`, a fixed improvement
from the program start on the incentivised measures (HbA1c, blood pressure) only. Testing and
screening rates rise with practice quality. Coefficients are set by hand (see docs/synthetic.md).
"""

from __future__ import annotations

import numpy as np

from p4pkit.synth import targets as t
from p4pkit.synth.behaviours import DIABETES, HYPERTENSION, Behaviours
from p4pkit.synth.care import (
    CKD, CKD_TYPES, CONDITION_TYPE, EVENT_TYPES, PRIMARY, TYPE, UPCODE_TYPES, Slice, sigmoid,
)
from p4pkit.synth.collector import Collector
from p4pkit.synth.endoflife import end_of_life_events
from p4pkit.synth.medications import draw_medications, fill_status
from p4pkit.synth.qof import draw_qof
from p4pkit.synth.params import Params
from p4pkit.synth.people import YEAR
from p4pkit.synth.world import World

# Recorded ranges of readings (the evaluation's planted-effect arithmetic reads the floors).
SYSTOLIC_RANGE = (85, 230)
HBA1C_RANGE = (4.5, 15.0)
CHD = t.CONDITION_NAMES.index("chd")
SMOKER_VALUE, NON_SMOKER_VALUE = 0, 1


def draw_events(rng: np.random.Generator, params: Params, world: World, s: Slice, beh: Behaviours,
                enc: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Every event of the slice; `encounter` is the row in `enc`, or -1 for recorded history."""
    out = Collector()
    _diagnoses(rng, params, s, beh, enc, out)

    visit = np.flatnonzero(enc["setting"] == PRIMARY)
    who, day, minute = enc["who"][visit], enc["day"][visit], enc["minute"][visit]
    m = len(visit)
    pop, g = s.pop, s.lo + who
    age = (day - pop.birth_day[g]) / YEAR
    female = ~pop.male[g]
    diabetic, hypertensive = s.conditions[who, DIABETES], s.conditions[who, HYPERTENSION]
    quality, clin_quality = s.quality[who], world.clinician_quality[enc["clinician"][visit]]
    severity, deprivation = pop.severity[g], s.deprivation[who]
    after = day >= params.program_day
    improving = beh.acts("program_effect", s.practice[who]) & after
    at_home = enc["org"][visit] == s.practice[who]  # the patient's own practice, not a visit elsewhere
    # Exception reporting here covers the diabetes and hypertension care processes (asthma and COPD: qof.py).
    excepted = beh.exception_patient[g] & after & at_home & (diabetic | hypertensive)

    def at(mask: np.ndarray, type_name: str, value=None, value_code=None, negated=None) -> None:
        out.add(who[mask], visit[mask], TYPE[type_name], day[mask], minute[mask],
                None if value is None else value[mask], None if value_code is None else value_code[mask],
                None if negated is None else negated[mask])

    adult = age >= 18
    bp = adult & (rng.random(m) < np.where(diabetic | hypertensive, 0.85, 0.4))
    sbp = np.where(
        hypertensive,
        131 + 7 * severity + 2 * deprivation - 4 * quality - 1.5 * clin_quality,
        118 + 0.35 * (age - 40) + 3 * severity,
    ) + rng.normal(0, 9, m) - params.program_sbp_drop * (improving & hypertensive)
    sbp = np.clip(np.round(sbp), *SYSTOLIC_RANGE)
    dbp = np.clip(np.round(0.45 * sbp + 20 + rng.normal(0, 6, m)), 45, 130)
    bp_value = np.where(excepted, np.nan, 1.0)
    at(bp, "sbp", sbp * bp_value, negated=excepted)
    at(bp, "dbp", dbp * bp_value, negated=excepted)

    a1c_test = diabetic & (rng.random(m) < sigmoid(1.0 + 0.5 * quality))
    a1c = (7.3 + 1.0 * severity + 0.2 * deprivation - 0.45 * quality - 0.2 * clin_quality + rng.normal(0, 0.6, m)
           - params.program_hba1c_drop * improving)
    a1c = np.clip(np.round(a1c, 1), *HBA1C_RANGE)
    at(a1c_test, "hba1c", np.where(excepted, np.nan, a1c), negated=excepted)

    vascular = diabetic | s.conditions[who, CHD]
    cholesterol = (age >= 40) & (rng.random(m) < sigmoid(-1.5 + 0.5 * quality + 0.8 * vascular))
    at(cholesterol, "cholesterol", np.round(195 - 12 * vascular - 4 * quality + rng.normal(0, 35, m)).clip(90, 400))

    ckd = s.conditions[who, CKD]
    stage = pop.ckd_stage[g]
    ckd_low, ckd_high = np.array([30, 15, 5])[stage], np.array([59, 29, 14])[stage]
    egfr = np.where(
        ckd,
        ckd_low + rng.random(m) * (ckd_high - ckd_low),
        np.clip(100 - 0.7 * (age - 30) + rng.normal(0, 8, m), 61, 125),
    )
    at(adult & (ckd | diabetic | hypertensive) & (rng.random(m) < 0.35), "egfr", np.round(egfr))
    bmi = np.clip(27.5 + 2 * diabetic + 0.5 * deprivation + rng.normal(0, 5, m), 15, 60)
    at(adult & (rng.random(m) < 0.3), "bmi", np.round(bmi, 1))

    screened = (age >= 12) & (rng.random(m) < sigmoid(0.3 + 0.5 * quality))
    smoker = pop.smoker[g]
    at(screened, "tobacco", value_code=np.where(smoker, SMOKER_VALUE, NON_SMOKER_VALUE))
    at(screened & smoker & (rng.random(m) < sigmoid(-0.3 + 0.6 * quality)), "cessation")
    varenicline = screened & smoker & (rng.random(m) < t.CESSATION_DRUG_SHARE)
    supply = EVENT_TYPES["rx:varenicline"].supply
    out.add(who[varenicline], visit[varenicline], TYPE["rx:varenicline"], day[varenicline], minute[varenicline],
            status=fill_status(params, day[varenicline], supply))

    at(female & (age >= 50) & (age < 75) & (rng.random(m) < sigmoid(-1.0 + 0.4 * quality - 0.15 * deprivation)), "mammogram")
    colorectal_age = (age >= 45) & (age < 76)
    at(colorectal_age & (rng.random(m) < sigmoid(-1.5 + 0.4 * quality)), "fit")
    at(colorectal_age & (rng.random(m) < sigmoid(-3.8 + 0.3 * quality)), "colonoscopy")
    at(female & (age >= 21) & (age < 65) & (rng.random(m) < sigmoid(-2.3 + 0.3 * quality)), "pap")

    draw_medications(rng, params, s, out)
    draw_qof(rng, params, s, beh, out)
    end_of_life_events(rng, s, enc, out)
    return out.columns()


def _diagnoses(rng: np.random.Generator, params: Params, s: Slice, beh: Behaviours, enc: dict[str, np.ndarray],
               out: Collector) -> None:
    """Diagnoses dated at onset, colonoscopies done before the data start, and upcoded diagnoses."""
    pop = s.pop
    n = len(s.span)
    g = s.lo + np.arange(n)
    who, k = np.nonzero(s.conditions)
    type_ = np.where(k == CKD, CKD_TYPES[pop.ckd_stage[s.lo + who]], CONDITION_TYPE[k])
    out.add(who, np.full(len(who), -1), type_, pop.onset_day[s.lo + who, k].astype(np.int64), np.zeros(len(who), np.int64))

    age_start = (params.start_day - pop.birth_day[g]) / YEAR
    history = (age_start >= 46) & (s.span > 0) & (rng.random(n) < sigmoid(0.5 + 0.4 * s.quality - 0.1 * s.deprivation))
    years_ago = np.minimum(rng.random(n) * 9, age_start - 45)
    h = np.flatnonzero(history)
    out.add(h, np.full(len(h), -1), TYPE["colonoscopy"], (params.start_day - years_ago[h] * YEAR).astype(np.int64),
            np.zeros(len(h), np.int64))

    # Upcoding: the extra code goes on the first visit to the patient's own practice after the start date.
    eligible = ((enc["setting"] == PRIMARY) & (enc["org"] == s.practice[enc["who"]]) & (enc["day"] >= params.program_day)
                & (beh.upcode[s.lo + enc["who"]] >= 0))
    rows = np.flatnonzero(eligible)
    _, first = np.unique(enc["who"][rows], return_index=True)
    rows = rows[first]
    patients = enc["who"][rows]
    out.add(patients, rows, UPCODE_TYPES[beh.upcode[s.lo + patients]], enc["day"][rows], enc["minute"][rows])
