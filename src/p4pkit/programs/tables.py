"""Checks shared by the entity-level program models, which take pandas tables from any source."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from p4pkit.errors import Problem, UserError


def require_columns(table: pd.DataFrame, name: str, columns: Sequence[str]) -> None:
    """Raise `UserError` naming every required column missing from an input table."""
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise UserError(f"{name}: missing column(s) {', '.join(missing)}",
                        [Problem(name, None, c, "required column is missing") for c in missing])
