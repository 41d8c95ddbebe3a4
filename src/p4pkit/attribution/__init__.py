"""Attribution: which accountable entity answers for each patient, and why.

Four rules, each an Ibis expression over the store's canonical tables returning the attribution
contract (`contract.ATTRIBUTION_SCHEMA`, one row per patient with a human-readable reason):

- `registration`: the practice list the patient is on at a reference date (UK);
- `mssp_two_step`: 42 CFR 425.402 plurality of primary-care allowed charges, PCPs then others;
- `plurality_of_visits`: most visits, ties to the most recent visit;
- `hospital_of_stay`: the hospital of most inpatient stays (hospital programs).

`attribute` picks a rule by name, as program files and the CLI do. `clinician_counts` reports how
many distinct clinicians each patient saw, the evidence behind the worry that attribution to one
clinician is shaky for complex patients.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING

import pyarrow as pa

from p4pkit.attribution.clinician_counts import clinician_count_summary, clinicians_per_patient
from p4pkit.attribution.contract import ATTRIBUTION_SCHEMA
from p4pkit.attribution.hospital_of_stay import hospital_of_stay
from p4pkit.attribution.mssp import mssp_two_step
from p4pkit.attribution.registration import registration
from p4pkit.attribution.visits import plurality_of_visits
from p4pkit.errors import UserError
from p4pkit.store import Store

if TYPE_CHECKING:
    from p4pkit.measures.timing import Period

RULES: dict[str, Callable[..., pa.Table]] = {
    "registration": registration,
    "mssp_two_step": mssp_two_step,
    "plurality_of_visits": plurality_of_visits,
    "hospital_of_stay": hospital_of_stay,
}


def attribute(store: Store, rule: str, period: Period, **parameters: object) -> pa.Table:
    """Run the named rule with its parameters (as in a program file's `attribution` section)."""
    if rule not in RULES:
        raise UserError(f"unknown attribution rule '{rule}'", hint=f"Choose one of: {', '.join(RULES)}.")
    accepted = set(inspect.signature(RULES[rule]).parameters) - {"store", "period"}
    unknown = sorted(set(parameters) - accepted)
    if unknown:
        raise UserError(
            f"attribution rule '{rule}' has no parameter {', '.join(unknown)}",
            hint=f"Its parameters are: {', '.join(sorted(accepted))}.",
        )
    return RULES[rule](store, period, **parameters)


__all__ = [
    "ATTRIBUTION_SCHEMA",
    "RULES",
    "attribute",
    "clinician_count_summary",
    "clinicians_per_patient",
    "hospital_of_stay",
    "mssp_two_step",
    "plurality_of_visits",
    "registration",
]
