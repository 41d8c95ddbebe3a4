"""Measures over files: open a data folder or DuckDB file, run, and write Parquet atomically.

The input is never modified: a folder of canonical CSV/Parquet tables is validated and loaded into a
temporary store (the same checks as `p4p load`), and a DuckDB store file is opened read-only (a
run only reads the store; value sets come from the store's table if it has one, else from the
packaged expansions in memory).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from p4pkit.errors import UserError
from p4pkit.measures.runner import resolve_measures, run_measures
from p4pkit.measures.summary import summarise
from p4pkit.measures.timing import Period
from p4pkit.store import ENGINES, Store


@contextmanager
def open_data(data: str | Path, engine: str = "duckdb", spark_url: str | None = None) -> Iterator[Store]:
    """A store over `data` (folder of tables, or DuckDB file) that leaves `data` untouched.

    With `engine="spark"` the data are validated and opened on DuckDB as usual, exported to
    Parquet in a scratch folder, and attached to a Spark store (ingest's checks are DuckDB SQL;
    Spark then runs the analytics on exactly the validated tables)."""
    if engine not in ENGINES:
        raise UserError(f"unknown engine '{engine}'", hint=f"Choose one of: {', '.join(ENGINES)}.")
    if engine == "spark":
        with tempfile.TemporaryDirectory(prefix="p4p-spark-") as scratch:
            with open_data(data) as validated:
                validated.export_parquet(scratch)
            with Store(scratch, engine="spark", spark_url=spark_url) as store:
                yield store
        return
    data = Path(data)
    if data.is_dir():
        from p4pkit.ingest import load_folder

        with tempfile.TemporaryDirectory(prefix="p4p-measures-") as scratch:
            db = Path(scratch) / "data.duckdb"
            load_folder(data, db)
            with Store(db) as store:
                yield store
        return
    if not data.is_file():
        raise UserError(f"data not found: {data}", hint="Pass a folder of canonical tables or a DuckDB store file.")
    try:
        store = Store(data, read_only=True)
    except Exception as error:  # DuckDB raises its own types for files that are not databases
        raise UserError(f"{data} is not a DuckDB store ({error.__class__.__name__})") from None
    with store:
        yield store


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
) -> dict[str, pa.Table]:
    """Run measures over `data` and write `patient_results.parquet` and `summary.parquet` (per
    measure and group) into `out`. Returns both tables. Measure ids and the period are checked
    before any data is read, so a typo fails fast."""
    measures = resolve_measures(measure_ids)
    period = Period.parse(period) if isinstance(period, str) else period
    with open_data(data, engine) as store:
        results = run_measures(store, measures, period, valueset_dir)
    tables = {"patient_results": results, "summary": summarise(results)}
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for name, table in tables.items():
        _write_atomically(table, out / f"{name}.parquet")
    return tables
