"""Opening the data a command was given: a folder of canonical tables or a DuckDB store file.

Every verb that reads patient-level data (`p4p run`, `p4p measure run`, `p4p attribute`, the
audit) opens it here, so the rules are the same everywhere: the input is never modified; a folder
is validated and loaded into a temporary store with the checks of `p4p load`; a DuckDB file is
opened read-only; with `engine="spark"` the validated tables are handed to Spark as Parquet.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from p4pkit.errors import UserError
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
            try:
                load_folder(data, db)
            except UserError as error:  # its hint names p4p load's --quarantine, which this command has not
                raise UserError(error.message, error.problems, hint=(
                    "Fix the rows listed, or load the good rows into a store first (p4p load FOLDER --db STORE "
                    "--quarantine FILE) and pass the store instead of the folder.")) from None
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
