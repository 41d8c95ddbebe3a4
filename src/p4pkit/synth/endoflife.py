"""Hospice, palliative care, frailty, advanced illness and nursing homes: what the eCQM exclusions read.

The 2025 eCQMs leave out patients in hospice or palliative care, people 66 and over who are both
frail and advancedly ill, and long-term nursing-home residents (`measures/blocks.py`, from the CQL
libraries Hospice, PalliativeCare and AdvancedIllnessandFrailty). Here those facts happen at low,
published rates (`targets`, docs/synthetic.md), coded from the value sets the blocks use:

- hospice: about half of the patients who die, for the last weeks of life (an "Admission to
  hospice" home encounter and a "Hospice care" procedure);
- palliative care: a consultation (palliative care encounter with a Z51.5 diagnosis) for some who
  die and, rarely, for the living old with heart failure or COPD;
- frailty (`Population.frail`): a frailty diagnosis, for some a wheelchair order and home nursing
  visits; dementia (`Population.dementia_day`) on the problem list;
- advanced illness: dementia, heart failure and CKD stage 5 recorded as encounter diagnoses at the
  first visit of each year, as an EHR's problem-oriented notes do (the eCQMs ask that the diagnosis
  START in the period or the year before, so a problem-list entry from years ago does not count);
- nursing home: a housing-status assessment "Lives in a nursing home".
"""

from __future__ import annotations

import numpy as np

from p4pkit.synth import targets as t
from p4pkit.synth.care import (
    CKD, FRAILTY_VISIT, HOME, HOSPICE, HOSPICE_CARE, PALLIATIVE, PRIMARY, SPECIALIST, TYPE, Slice, hospital_doctor,
    hospital_of,
)
from p4pkit.synth.collector import Collector
from p4pkit.synth.world import World

HEART_FAILURE = t.CONDITION_NAMES.index("heart_failure")
COPD = t.CONDITION_NAMES.index("copd")
CKD_STAGE_5 = 2
NURSING_HOME_VALUE = 2  # index of targets.NURSING_HOME in care.VALUE_CODES
FRAILTY_VISITS_PER_YEAR = 0.3


def end_of_life_encounters(rng: np.random.Generator, world: World, s: Slice) -> list[dict[str, np.ndarray]]:
    """Hospice stays, palliative care consultations and home nursing visits of a slice, as encounter parts."""
    pop, n = s.pop, len(s.span)
    g = s.lo + np.arange(n)
    n_prac, n_groups = len(world.practice_ids), len(world.group_ids)
    death = pop.death_day[g].astype(np.int64)
    died = (death <= s.end) & (s.span > 0)

    hospice = died & (rng.random(n) < t.HOSPICE_DECEDENT_SHARE * np.where(s.age >= 65, 1.0, 0.6))
    who = np.flatnonzero(hospice)
    admitted = np.maximum(death[who] - rng.geometric(1 / 26, len(who)), s.start[who])  # median stay about 18 days
    hospital = hospital_of(rng, world, s.practice[who])
    parts = [dict(who=who, day=admitted, end_day=death[who], setting=np.full(len(who), HOSPICE_CARE),
                  clinician=hospital_doctor(rng, world, hospital, False), org=n_prac + n_groups + hospital,
                  etype=np.full(len(who), HOSPICE), cond=np.full(len(who), -1))]

    dying = np.flatnonzero(died & (rng.random(n) < t.PALLIATIVE_DECEDENT_SHARE))
    seen = np.maximum(death[dying] - rng.integers(7, 181, len(dying)), s.start[dying])
    ill = (s.age >= 66) & (s.conditions[:, HEART_FAILURE] | s.conditions[:, COPD])
    living, day = s.spread(rng, np.where(ill, t.PALLIATIVE_LIVING_SHARE, 0.0))
    who, day = np.concatenate([dying, living]), np.concatenate([seen, day])
    hospital = hospital_of(rng, world, s.practice[who])
    parts.append(dict(who=who, day=day, setting=np.full(len(who), SPECIALIST),
                      clinician=hospital_doctor(rng, world, hospital, False), org=n_prac + n_groups + hospital,
                      etype=np.full(len(who), PALLIATIVE), cond=np.full(len(who), -1)))

    who, day = s.spread(rng, np.where(pop.frail[g], FRAILTY_VISITS_PER_YEAR, 0.0))
    parts.append(dict(who=who, day=day, setting=np.full(len(who), HOME), clinician=pop.usual_clinician[s.lo + who],
                      org=s.practice[who], etype=np.full(len(who), FRAILTY_VISIT), cond=np.full(len(who), -1)))
    return parts


def end_of_life_events(rng: np.random.Generator, s: Slice, enc: dict[str, np.ndarray], out: Collector) -> None:
    """Hospice care, palliative diagnoses, frailty, dementia, advanced illness and nursing-home records."""
    pop, n = s.pop, len(s.span)
    g = s.lo + np.arange(n)
    for etype, type_name in ((HOSPICE, "hospice_care"), (PALLIATIVE, f"icd:{t.PALLIATIVE_DIAGNOSIS}")):
        rows = np.flatnonzero(enc["etype"] == etype)
        # A palliative care diagnosis is an encounter diagnosis, over (abated) the same day.
        out.add(enc["who"][rows], rows, TYPE[type_name], enc["day"][rows], enc["minute"][rows], end=enc["day"][rows])

    observed = s.span > 0
    frail = np.flatnonzero(pop.frail[g] & observed)
    day = s.start[frail] + np.floor(rng.random(len(frail)) * s.span[frail]).astype(np.int64)
    codes = np.array([TYPE[f"icd:{c}"] for c in t.FRAILTY_DIAGNOSES])
    out.add(frail, -1, codes[rng.integers(0, len(codes), len(frail))], day, 0)
    ordered = rng.random(len(frail)) < 0.3
    day = s.start[frail] + np.floor(rng.random(len(frail)) * s.span[frail]).astype(np.int64)
    out.add(frail[ordered], -1, TYPE["wheelchair"], day[ordered], 10 * 60)

    dementia_day = pop.dementia_day[g].astype(np.int64)
    dementia = (dementia_day <= s.end) & observed
    dementia_codes = np.array([TYPE[f"icd:{c}"] for c in t.DEMENTIA_CODES])
    dementia_code = dementia_codes[rng.integers(0, len(dementia_codes), n)]
    who = np.flatnonzero(dementia)
    out.add(who, -1, dementia_code[who], dementia_day[who], 0)

    home = np.flatnonzero(pop.nursing_home[g] & observed)
    day = s.start[home] + np.floor(rng.random(len(home)) * s.span[home]).astype(np.int64)
    out.add(home, -1, TYPE["housing"], day, 10 * 60, value_code=np.full(len(home), NURSING_HOME_VALUE))

    # Advanced illness re-recorded at the first visit to the own practice in each calendar year.
    visit = np.flatnonzero((enc["setting"] == PRIMARY) & (enc["org"] == s.practice[enc["who"]]))
    who, day = enc["who"][visit], enc["day"][visit]
    year = day.astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64)
    _, first = np.unique(who * 10_000 + year, return_index=True)  # enc is ordered by patient and day
    visit, who, day = visit[first], who[first], day[first]
    onset = pop.onset_day[s.lo + who]
    ckd_5 = pop.ckd_stage[s.lo + who] == CKD_STAGE_5
    illnesses = (
        (dementia_day[who] <= day, dementia_code[who]),
        (onset[:, HEART_FAILURE] <= day, TYPE["icd:I50.9"]),
        ((onset[:, CKD] <= day) & ckd_5, TYPE[f"icd:{t.CKD_STAGE_CODES[CKD_STAGE_5]}"]),
    )
    for present, type_ in illnesses:
        out.add(who[present], visit[present], np.broadcast_to(type_, len(who))[present], day[present],
                enc["minute"][visit[present]])
