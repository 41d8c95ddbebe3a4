"""Switchable provider behaviours that a pay-for-performance program may provoke, OFF by default.

Each behaviour picks its own practices (a share `Params.behaviour_share` of them), acts from the
program start date, and is recorded in `truth/behaviours.parquet` (which practice, from when) and
`truth/behaviour_patients.parquet` (which patients it touched), so that gaming monitors and
evaluations can be scored against what really happened:

- `exception_reporting`: the practice records its high-risk patients' HbA1c and blood-pressure
  checks as "not done" with a medical reason, and its asthma and COPD patients as "unsuitable"
  with the register's QOF PCA code instead of reviewing them (QOF-style exception reporting,
  Doran et al. 2006), so the QOF measures see the exceptions;
- `deregistration`: the practice ends the registration of some high-risk patients
  (`end_reason = "removed_by_practice"`), the "deselection" the ACP warned of;
- `upcoding`: the practice records an extra diagnosis that risk models pay for, with no
  clinical change (labs, visits and outcomes are drawn as before);
- `program_effect`: the practice takes part in the program and genuinely improves HbA1c and blood
  pressure, the incentivised measures, and nothing else (cholesterol testing is unchanged).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from p4pkit.errors import UserError
from p4pkit.synth import targets
from p4pkit.synth.params import BEHAVIOURS, Params, rng_for
from p4pkit.synth.people import Population

DIABETES = targets.CONDITION_NAMES.index("diabetes")
HYPERTENSION = targets.CONDITION_NAMES.index("hypertension")
ASTHMA = targets.CONDITION_NAMES.index("asthma")
COPD = targets.CONDITION_NAMES.index("copd")


@dataclass
class Behaviours:
    """Who does what: per-practice flags and per-patient marks used while drawing care."""

    practices: dict[str, np.ndarray]  # behaviour -> bool per practice
    exception_patient: np.ndarray  # bool per patient
    removed_patient: np.ndarray  # bool per patient
    upcode: np.ndarray  # index into targets.UPCODE_CODES per patient, -1 for none

    def acts(self, name: str, practice: np.ndarray) -> np.ndarray:
        """Whether each practice in `practice` (indices) takes part in behaviour `name`."""
        return self.practices[name][practice]


def check_behaviours(names: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """Validate behaviour names given by a user; returns them sorted and without repeats."""
    unknown = sorted(set(names) - set(BEHAVIOURS))
    if unknown:
        raise UserError(
            f"unknown behaviour(s): {', '.join(unknown)}",
            hint=f"choose from: {', '.join(BEHAVIOURS)} (comma-separated)",
        )
    return tuple(sorted(set(names)))


def assign_behaviours(params: Params, n_practices: int, pop: Population) -> Behaviours:
    """Pick practices and patients for each switched-on behaviour and apply deregistration in place."""
    rng = rng_for(params, 3)
    practices = {}
    for name in BEHAVIOURS:
        drawn = rng.random(n_practices) < params.behaviour_share  # drawn even when off: stable streams
        practices[name] = drawn if name in params.behaviours else np.zeros(n_practices, dtype=bool)

    high_risk = pop.conditions[:, [DIABETES, HYPERTENSION, ASTHMA, COPD]].any(axis=1) & (pop.severity > 0.8)
    u_exception, u_remove, u_upcode = rng.random(pop.n), rng.random(pop.n), rng.random(pop.n)
    removal_day = rng.integers(params.program_day + 1, params.end_day + 1, pop.n)  # registration ends the day before
    code = rng.integers(0, len(targets.UPCODE_CODES), pop.n)

    exception_patient = high_risk & practices["exception_reporting"][pop.practice] & (u_exception < params.exception_share)
    removed = (high_risk & practices["deregistration"][pop.practice] & (u_remove < params.deregistration_share)
               & (removal_day < pop.left_day) & (removal_day <= pop.death_day) & (removal_day > pop.reg_start))
    pop.left_day = np.where(removed, removal_day, pop.left_day).astype(np.int32)
    pop.end_reason = np.where(removed, "removed_by_practice", pop.end_reason).astype(object)
    adult = pop.age_at(params.program_day) >= 40
    upcode = np.where(adult & practices["upcoding"][pop.practice] & (u_upcode < params.upcoding_share), code, -1)
    return Behaviours(practices=practices, exception_patient=exception_patient, removed_patient=removed, upcode=upcode)

