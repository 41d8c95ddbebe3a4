"""The run-folder comparison both Spark parity tests make: the same program, the same five tables."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

PROGRAM = Path(__file__).resolve().parents[1] / "programs" / "mssp.yaml"
# Each run table with the keys that order it: engines may write rows in any order.
RUN_TABLES = {
    "attribution": ["period", "patient_id"],
    "patient_measures": ["period", "measure_id", "group_index", "patient_id"],
    "entity_measures": ["period", "measure_id", "group_index", "entity_id"],
    "entity_scores": ["entity_id", "component"],
    "payments": ["entity_id", "kind", "reason"],
}


def assert_same_run_table(expected_run: Path, found_run: Path, name: str) -> None:
    """Table `name` of two run folders equal once sorted by its keys, and not empty. Entity measures
    allow floating-point rounding (engines sum in different orders); every other table is exact."""
    keys = RUN_TABLES[name]
    expected = pd.read_parquet(expected_run / f"{name}.parquet").sort_values(keys, kind="stable").reset_index(drop=True)
    found = pd.read_parquet(found_run / f"{name}.parquet").sort_values(keys, kind="stable").reset_index(drop=True)
    assert len(expected) > 0, name
    pd.testing.assert_frame_equal(expected, found, check_exact=name != "entity_measures", obj=name)
