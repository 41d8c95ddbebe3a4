"""Parameters of one synthetic world. Every value is written to `truth/params.json` with the seed,
so a world can be regenerated and its ground truth read back."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date

import numpy as np

BEHAVIOURS = ("exception_reporting", "deregistration", "upcoding", "program_effect")
EPOCH = date(1970, 1, 1)


def day_number(d: date) -> int:
    """Days since 1970-01-01: the integer form dates take inside the generator (Arrow date32)."""
    return (d - EPOCH).days


@dataclass(frozen=True)
class Params:
    """Knobs of the world. Defaults give three years of data ending with the 2025 eCQM period."""

    n_patients: int
    seed: int
    behaviours: tuple[str, ...] = ()
    start: date = date(2023, 1, 1)
    end: date = date(2025, 12, 31)
    program_start: date = date(2024, 1, 1)
    # A US-style practice list (patients per practice); smaller worlds keep at least `min_practices`.
    mean_list_size: int = 2500
    min_practices: int = 20
    patients_per_physician: int = 2000
    patients_per_hospital: int = 25_000
    practices_per_aco: int = 15
    aco_share: float = 0.7
    specialists_per_1000: float = 2.0
    # Share of practices taking part in each switchable behaviour, and its strength.
    behaviour_share: float = 0.3
    exception_share: float = 0.5
    deregistration_share: float = 0.15
    upcoding_share: float = 0.2
    program_hba1c_drop: float = 0.5
    program_sbp_drop: float = 6.0
    # Patients written per chunk: bounds memory; fixed so output does not depend on the machine.
    chunk_size: int = 100_000

    @property
    def start_day(self) -> int:
        return day_number(self.start)

    @property
    def end_day(self) -> int:
        return day_number(self.end)

    @property
    def program_day(self) -> int:
        return day_number(self.program_start)

    @property
    def years(self) -> float:
        return (self.end_day - self.start_day + 1) / 365.25

    def to_json(self) -> dict:
        """Every parameter, dates as ISO strings, for `truth/params.json`."""
        out = dataclasses.asdict(self)
        for key, value in out.items():
            if isinstance(value, date):
                out[key] = value.isoformat()
            elif isinstance(value, tuple):
                out[key] = list(value)
        return out

    @property
    def practices(self) -> int:
        """How many practices the world has: patients / mean list size, rounded, never fewer than
        `min_practices` (so a world's list size may be smaller than asked)."""
        return max(self.min_practices, round(self.n_patients / self.mean_list_size))


def rng_for(params: Params, *stage: int) -> np.random.Generator:
    """An independent random stream per (seed, stage, chunk): the same seed always gives the same world."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([params.seed, *stage])))
