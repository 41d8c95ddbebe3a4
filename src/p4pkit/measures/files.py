"""Measures over files: open the data (`p4pkit.data.open_data`), run, and write Parquet atomically.

A run only reads the store; value sets come from the store's table if it has one, else from the
packaged expansions in memory.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from p4pkit.data import open_data
from p4pkit.measures.runner import resolve_measures, run_measures
from p4pkit.measures.summary import summarise
from p4pkit.measures.timing import Period
from p4pkit.progress import Progress, quiet


def _write_atomically(table: pa.Table, path: Path) -> None:
    handle, scratch = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        pq.write_table(table, scratch)
        os.replace(scratch, path)
    except BaseException:
        Path(scratch).unlink(missing_ok=True)
        raise


def run_measure_files(
    data: str | Path,
    measure_ids: list[str],
    period: Period | str,
    out: str | Path,
    valueset_dir: str | Path | None = None,
    engine: str = "duckdb",
    spark_url: str | None = None,
    on_progress: Progress = quiet,
) -> dict[str, pa.Table]:
    """Run measures over `data` and write `patient_results.parquet` and `summary.parquet` (per
    measure and group) into `out`. Returns both tables. Measure ids and the period are checked
    before any data is read, so a typo fails fast. `on_progress` as `run_measures`."""
    measures = resolve_measures(measure_ids)
    period = Period.parse(period) if isinstance(period, str) else period
    with open_data(data, engine, spark_url) as store:
        results = run_measures(store, measures, period, valueset_dir, on_progress)
    tables = {"patient_results": results, "summary": summarise(results)}
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for name, table in tables.items():
        _write_atomically(table, out / f"{name}.parquet")
    return tables
