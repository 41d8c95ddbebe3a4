"""Bindings: how each scoring model reads a run context and turns it into scores and money.

The formulas live in the model modules (`programs/qof.py`, `shared_savings.py`, ...), which work on
entity-level tables from any source (CMS files, a payer's own results). A binding is the glue for
runs on patient-level data: it takes the run context (attribution, measured performance, shrinkage)
and the program file's parameters, builds the model's input tables, calls the model, and returns
the entity scores and the checked ledger. One module per model, named after the program file's
`scoring.model` (`MODELS`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module

import pandas as pd

from p4pkit.programs.context import RunContext
from p4pkit.programs.ledger import Ledger

SCORE_COLUMNS = ("entity_id", "component", "value", "points", "max_points", "score", "tier", "detail")
"""The entity-scores contract: one row per entity × component (a measure, a domain, or 'total').

`value` is the measured input (rate, ratio, savings rate ...), `points`/`max_points` what it earned
where the model awards points, `score` the model's score (TPS, final score, quality score ...),
`tier` a label (e.g. 'penalised', 'bonus', 'not eligible'), `detail` a sentence for reviewers."""


@dataclass
class ModelOutput:
    """What a binding returns: entity scores (`SCORE_COLUMNS`) and the run's ledger, already checked."""

    scores: pd.DataFrame
    ledger: Ledger


Binding = Callable[[RunContext], ModelOutput]


def scores_frame(rows: list[dict]) -> pd.DataFrame:
    """Entity scores in the contract's column order (missing columns become empty)."""
    frame = pd.DataFrame(rows, columns=list(SCORE_COLUMNS))
    return frame.sort_values(["entity_id", "component"], kind="stable").reset_index(drop=True)


MODELS = ("qof", "shared_savings", "rosp", "mips", "hvbp", "hrrp", "hacrp", "capitation", "never_events", "peer_comparison")
"""Scoring models with a binding: each is the module `p4pkit.programs.bindings.<model>`."""


def binding_for(model: str) -> Binding:
    """The binding of a scoring model, imported on demand so a run loads only what it uses."""
    if model not in MODELS:
        from p4pkit.errors import UserError

        raise UserError(
            f"scoring model '{model}' cannot yet run on patient-level data",
            hint=f"Models runnable with 'p4p run': {', '.join(sorted(MODELS))}. The CMS models also run from CMS files with 'p4p cms'.",
        )
    return import_module(f"p4pkit.programs.bindings.{model}").bind
