"""A measure as a declarative object: metadata plus population criteria, nothing executable.

The shape follows the FHIR/eCQM Measure resource (one or more population groups, each with an
initial population, denominator, denominator exclusions, denominator exceptions and numerator, plus
stratifiers and supplemental data) and the Tuva Project's habit of running every measure through the
same steps, so one runner (`p4pkit.measures.runner`) serves every measure in the library.
"""

from __future__ import annotations

from dataclasses import dataclass

from p4pkit.measures.criteria import Criterion
from p4pkit.measures.observations import Observation

SCORINGS = frozenset({"proportion", "ratio", "continuous-variable", "outcome"})
IMPROVEMENT = frozenset({"increase", "decrease"})
# Supplemental data every measure is reported with (`supplemental.with_supplemental`).
SUPPLEMENTAL = ("age_band", "sex", "ethnicity", "deprivation_quintile", "payer")


@dataclass(frozen=True)
class Reasoned:
    """An exclusion or exception criterion with the reason reported for patients it removes."""

    reason: str
    criterion: Criterion


@dataclass(frozen=True)
class Group:
    """One population group. Populations nest as the eCQM proportion scoring defines them:
    denominator within the initial population, exclusions and exceptions within the denominator,
    the numerator within the denominator less exclusions, exceptions only for patients not in the
    numerator.

    Ratio and continuous-variable measures, and outcome measures counted in episodes (index stays)
    rather than patients, also observe a number per patient (FHIR `measure-observation`): the
    numerator observation (ED visits, allowed amounts, readmitted stays) and the denominator
    observation (member-years, member-months, index stays). The rate is then the sum of the
    numerator observations over the sum of the denominator observations, not a share of patients."""

    initial_population: Criterion
    denominator: Criterion | None
    numerator: Criterion
    exclusions: tuple[Reasoned, ...] = ()
    exceptions: tuple[Reasoned, ...] = ()
    stratifiers: tuple[tuple[str, Criterion], ...] = ()
    numerator_observation: Observation | None = None
    denominator_observation: Observation | None = None


@dataclass(frozen=True)
class Measure:
    """Metadata and groups of a measure. `denominator=None` in a group means "equals the initial
    population", the commonest case."""

    id: str
    title: str
    steward: str
    version: str
    description: str
    rationale: str
    guideline: str
    references: tuple[str, ...]
    improvement_notation: str
    scoring: str
    groups: tuple[Group, ...]
    source: str
    # Reported rate = observed ratio x this (1,000 for "per 1,000 member-years").
    rate_multiplier: float = 1.0

    def __post_init__(self) -> None:
        if self.scoring not in SCORINGS:
            raise ValueError(f"{self.id}: scoring {self.scoring!r} not one of {sorted(SCORINGS)}")
        if self.improvement_notation not in IMPROVEMENT:
            raise ValueError(f"{self.id}: improvement notation {self.improvement_notation!r} not one of {sorted(IMPROVEMENT)}")
        if not self.groups:
            raise ValueError(f"{self.id}: a measure needs at least one population group")
        observed = [g.numerator_observation is not None and g.denominator_observation is not None for g in self.groups]
        if self.scoring in ("ratio", "continuous-variable") and not all(observed):
            raise ValueError(f"{self.id}: {self.scoring} scoring needs numerator and denominator observations in every group")
