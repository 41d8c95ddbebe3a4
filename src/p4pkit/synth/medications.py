"""Prescriptions of one chunk: the chronic drugs guidelines call for, filled with imperfect adherence.

Who is prescribed a drug depends on the patient's conditions and, through a logistic shift, on the
practice's TRUE quality (better practices prescribe closer to guidelines); each later fill is
collected with a probability (adherence) that also rises with quality and falls with deprivation.
Shares at average quality are `targets.*_SHARE` (sources in docs/synthetic.md). Every fill is a
MedicationRequest-like event: RxNorm code (ingredient-level, as MNCM_ODC matches; clinical drugs
where the eCQM value set lists only those), intent "order", days of supply, and status "active"
while its supply runs past the end of the data, "completed" before.
"""

from __future__ import annotations

import numpy as np

from p4pkit.synth import targets as t
from p4pkit.synth.care import EVENT_TYPES, TYPE, Slice, sigmoid
from p4pkit.synth.collector import ACTIVE, COMPLETED, NOT_TOLERATED, Collector
from p4pkit.synth.params import Params
from p4pkit.synth.people import NO_DAY

CONDITION = {name: i for i, name in enumerate(t.CONDITION_NAMES)}
FILL_MINUTE = 9 * 60


def logit(p: float) -> float:
    return float(np.log(p / (1 - p)))


def fill_status(params: Params, day: np.ndarray, supply: int) -> np.ndarray:
    """"active" while the supply reaches the end of the data, otherwise "completed"."""
    return np.where(day + supply - 1 >= params.end_day, ACTIVE, COMPLETED)


def draw_medications(rng: np.random.Generator, params: Params, s: Slice, out: Collector) -> None:
    """Statins, antiplatelets, antihypertensives, inhalers and dementia drugs, and recorded statin intolerance."""
    pop, n = s.pop, len(s.span)
    g = s.lo + np.arange(n)
    onset = pop.onset_day[s.lo:s.lo + n].astype(np.int64)
    has = s.conditions
    age = s.age

    def since(*names: str, mask: np.ndarray | None = None) -> np.ndarray:
        """Earliest onset among the named conditions (NO_DAY where none applies)."""
        days = np.full(n, NO_DAY, np.int64)
        for name in names:
            k = CONDITION[name]
            days = np.minimum(days, np.where(has[:, k], onset[:, k], NO_DAY))
        return days if mask is None else np.where(mask, days, NO_DAY)

    def prescribe(drug: str, start: np.ndarray, share: float) -> np.ndarray:
        """Patients prescribed `drug` from `start` (or the data start): who was prescribed, as a mask."""
        first = np.maximum(start, s.start)
        chosen = (start < NO_DAY) & (first <= s.end) & (rng.random(n) < sigmoid(logit(share) + 0.5 * s.quality))
        _fills(rng, params, s, np.flatnonzero(chosen), first, drug, out)
        return chosen

    statin_from = np.minimum(since("diabetes", mask=age >= 40), since("chd"))
    on_statin = prescribe("atorvastatin", statin_from, t.STATIN_SHARE)
    intolerant = ((statin_from < NO_DAY) & ~on_statin & (np.maximum(statin_from, s.start) <= s.end)
                  & (rng.random(n) < t.STATIN_INTOLERANT / (1 - t.STATIN_SHARE)))
    who = np.flatnonzero(intolerant)
    lo = np.maximum(np.maximum(statin_from[who], s.start[who]), s.end[who] - 364)
    day = lo + np.floor(rng.random(len(who)) * (s.end[who] - lo + 1)).astype(np.int64)
    out.add(who, -1, TYPE["rx:atorvastatin"], day, FILL_MINUTE, negated=True, reason=NOT_TOLERATED)

    aspirin = rng.random(n) < 0.8
    chd = since("chd")
    prescribe("aspirin", np.where(aspirin, chd, NO_DAY), t.ANTIPLATELET_SHARE)
    prescribe("clopidogrel", np.where(aspirin, NO_DAY, chd), t.ANTIPLATELET_SHARE)
    ace = rng.random(n) < 0.6
    hypertension = since("hypertension")
    prescribe("lisinopril", np.where(ace, hypertension, NO_DAY), t.ANTIHYPERTENSIVE_SHARE)
    prescribe("amlodipine", np.where(ace, NO_DAY, hypertension), t.ANTIHYPERTENSIVE_SHARE)
    prescribe("albuterol", since("asthma", "copd"), t.INHALER_SHARE)
    prescribe("fluticasone", since("asthma"), t.INHALER_SHARE)
    prescribe("tiotropium", since("copd"), t.INHALER_SHARE)
    prescribe("donepezil", pop.dementia_day[g].astype(np.int64), t.DEMENTIA_DRUG_SHARE)


def _fills(rng: np.random.Generator, params: Params, s: Slice, who: np.ndarray, first: np.ndarray, drug: str,
           out: Collector) -> None:
    """Back-to-back fills from `first` to the end of each patient's observed span; the first fill is
    always collected, later ones with the patient's adherence."""
    supply = EVENT_TYPES[f"rx:{drug}"].supply
    start = first[who]
    count = (s.end[who] - start) // supply + 1
    row = np.repeat(np.arange(len(who)), count)
    k = np.arange(len(row)) - np.repeat(np.cumsum(count) - count, count)
    day = start[row] + k * supply
    adherence = sigmoid(logit(t.ADHERENCE) + 0.3 * s.quality[who] - 0.1 * s.deprivation[who])
    kept = (k == 0) | (rng.random(len(row)) < adherence[row])
    day = day[kept]
    out.add(who[row[kept]], -1, TYPE[f"rx:{drug}"], day, FILL_MINUTE, status=fill_status(params, day, supply))
