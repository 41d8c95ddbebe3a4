"""QOF records of one chunk: asthma and COPD reviews, invitations, personalised care adjustments
(PCAs) and diagnoses later resolved, coded as `measures/library/qof_*.py` recognise them.

Per patient on a register and per calendar year of observation: a PCA "patient unsuitable" or
"informed dissent" at small rates (`targets.UNSUITABLE_SHARE`, `DISSENT_SHARE`), otherwise for
asthma and COPD a review with a probability that rises with the practice's TRUE quality; a COPD
patient left without a review is, at some practices' diligence, sent two or three invitation
letters (QOF's "did not respond to invitations" needs two). The register's own PCA codes are used
where it has them; otherwise the PCA is a "not done" record of the care process with a reason
(Procedure not indicated, or Refusal of treatment by patient). Under `exception_reporting` the
practice records its targeted patients on the asthma and COPD registers as unsuitable from the
program start, instead of reviewing them; diabetes and hypertension exceptions are the "not done"
HbA1c and blood-pressure records of `clinical.py`.

Resolved diagnoses: a few patients who do NOT have asthma, hypertension or diabetes now carry an
old SNOMED diagnosis, abated, and the register's "resolved" code (truth is unchanged).
"""

from __future__ import annotations

from datetime import date

import numpy as np

from p4pkit.synth import targets as t
from p4pkit.synth.behaviours import Behaviours
from p4pkit.synth.care import TYPE, Slice, sigmoid
from p4pkit.synth.collector import NOT_INDICATED, REFUSED, RESOLVED, Collector
from p4pkit.synth.medications import logit
from p4pkit.synth.params import Params, day_number
from p4pkit.synth.people import YEAR

CONDITION = {name: i for i, name in enumerate(t.CONDITION_NAMES)}
REVIEWS = {"asthma": ("asthma_review", t.ASTHMA_REVIEW_SHARE), "copd": ("copd_review", t.COPD_REVIEW_SHARE)}
# "Not done" care processes for registers without PCA codes of their own.
CARE_PROCESS = {"diabetes": ("hba1c", "laboratory"), "hypertension": ("sbp", "vital-signs")}
MINUTE = 11 * 60


def years(params: Params) -> list[tuple[int, int]]:
    """First and last day of each calendar year of the data."""
    return [(max(day_number(date(y, 1, 1)), params.start_day), min(day_number(date(y, 12, 31)), params.end_day))
            for y in range(params.start.year, params.end.year + 1)]


def draw_qof(rng: np.random.Generator, params: Params, s: Slice, beh: Behaviours, out: Collector) -> None:
    """Reviews, invitations and PCAs per register and year, then resolved diagnoses."""
    pop, n = s.pop, len(s.span)
    g = s.lo + np.arange(n)
    for name, (unsuitable_code, dissent_code) in t.PCA_CODES.items():
        k = CONDITION[name]
        onset = np.where(s.conditions[:, k], pop.onset_day[g, k], np.iinfo(np.int32).max).astype(np.int64)
        for first, last in years(params):
            lo, hi = np.maximum(np.maximum(onset, first), s.start), np.minimum(s.end, last)
            on = lo <= hi
            day = lo + np.floor(rng.random(n) * np.maximum(hi - lo + 1, 0)).astype(np.int64)
            u = rng.random(n)
            excepted = beh.exception_patient[g] & (day >= params.program_day) & (name in REVIEWS)
            unsuitable = on & ((u < t.UNSUITABLE_SHARE) | excepted)
            dissent = on & ~unsuitable & (u < t.UNSUITABLE_SHARE + t.DISSENT_SHARE)
            for mask, code, reason in ((unsuitable, unsuitable_code, NOT_INDICATED), (dissent, dissent_code, REFUSED)):
                who = np.flatnonzero(mask)
                if code is not None:
                    out.add(who, -1, TYPE[f"pca:{code}"], day[who], MINUTE)
                else:
                    process, _ = CARE_PROCESS[name]
                    out.add(who, -1, TYPE[process], day[who], MINUTE, negated=True, reason=reason)
            if name not in REVIEWS:
                continue
            review_type, share = REVIEWS[name]
            open_ = on & ~unsuitable & ~dissent
            reviewed = open_ & (rng.random(n) < sigmoid(logit(share) + 0.6 * s.quality))
            out.add(np.flatnonzero(reviewed), -1, TYPE[review_type], day[reviewed], MINUTE)
            if name == "copd":
                _invitations(rng, open_ & ~reviewed, lo, hi, out)
    _resolved(rng, params, s, out)


def _invitations(rng: np.random.Generator, eligible: np.ndarray, lo: np.ndarray, hi: np.ndarray, out: Collector) -> None:
    """Two or three invitation letters (first, second, third), in date order, within the year."""
    invited = np.flatnonzero(eligible & (rng.random(len(eligible)) < t.INVITED_SHARE))
    letters = 2 + (rng.random(len(invited)) < 0.5)
    who = np.repeat(invited, letters)
    day = lo[who] + np.floor(rng.random(len(who)) * (hi[who] - lo[who] + 1)).astype(np.int64)
    day = day[np.lexsort((day, who))]  # `who` is ascending, so this orders each patient's letters by day
    number = np.arange(len(who)) - np.repeat(np.cumsum(letters) - letters, letters)
    types = np.array([TYPE[f"invite:{c}"] for c in t.COPD_INVITATIONS])
    out.add(who, -1, types[number], day, MINUTE)


def _resolved(rng: np.random.Generator, params: Params, s: Slice, out: Collector) -> None:
    """Old diagnoses, abated, with the register's "resolved" code, on patients without the condition."""
    age = (params.start_day - s.pop.birth_day[s.lo:s.lo + len(s.span)]) / YEAR
    for name, _, _, share in t.RESOLVED:
        k = CONDITION[name]
        min_age = max(t.CONDITIONS[k].min_age, 6)
        who = np.flatnonzero(~s.conditions[:, k] & (s.span > 0) & (age >= min_age + 4) & (rng.random(len(age)) < share))
        years_back = 1 + rng.random(len(who)) * np.minimum(8, age[who] - min_age - 1)
        diagnosed = (params.start_day - years_back * YEAR).astype(np.int64)
        resolved = np.minimum(diagnosed + ((0.5 + rng.random(len(who)) * 5) * YEAR).astype(np.int64), s.end[who])
        out.add(who, -1, TYPE[f"history:{name}"], diagnosed, 0, status=RESOLVED, end=resolved)
        out.add(who, -1, TYPE[f"resolved:{name}"], resolved, MINUTE)
