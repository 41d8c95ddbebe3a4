"""`load_folder`: validate a folder of CSV/Parquet table files and load it into the store, all or nothing.

The load rule (also in `docs/data-model.md` and `p4p load --help`):
- By default a load APPENDS to the tables it names. A row whose primary key is already stored is a
  problem, so loading the same folder twice can never count anything twice.
- With `replace=True` (`--replace`) each table named in the folder REPLACES the stored table whole;
  tables the folder does not name are kept, and the load is refused if their rows would point at
  rows the replacement removes, or fall outside a replaced patient's life. Reloading a corrected folder with `--replace` is therefore safe and
  idempotent.
- When any row has a problem nothing is loaded, unless a quarantine file is given: then the
  rejected rows (and rows depending on them) go to that file with their reasons, and the rest load.

Atomicity: the whole load is one transaction of the store. Each file is parsed once straight into
a staged table of the store (`checks.py`, `rows.py`); when the checks pass, a staged table becomes
the stored table by dropping its two bookkeeping columns and renaming it (or, when appending, is
inserted into it), so the data are written once, not staged and then copied. Anything wrong rolls
the transaction back. A new database file is built beside its final name and moved into place, so
an interrupted load leaves either the old store or none, never part of a load.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

from p4pkit.errors import Problem, UserError
from p4pkit.ingest.checks import PROBLEMS, Validation
from p4pkit.ingest.files import FORMATS, SourceFile, check_columns, describe, discover, quote_identifier, quote_literal
from p4pkit.model.schemas import TABLES
from p4pkit.progress import Progress, quiet
from p4pkit.store import Store, duckdb_type

# How many problems are kept for the message; the total is always counted.
PROBLEMS_SHOWN = 1000
MEMORY_SIZE = re.compile(r"\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KIB|MIB|GIB|TIB)", re.IGNORECASE)


@dataclass(frozen=True)
class LoadReport:
    """What a load did: rows read, loaded and set aside per table, and the problems found."""

    db_path: Path
    replace: bool
    files: dict[str, str]
    rows_read: dict[str, int]
    rows_loaded: dict[str, int]
    rows_quarantined: dict[str, int]
    problem_count: int
    problems: tuple[Problem, ...]
    quarantine: Path | None

    def summary(self) -> pa.Table:
        """One row per loaded table: file, rows read, loaded and quarantined."""
        names = list(self.files)
        return pa.table(
            {
                "table": names,
                "file": [self.files[n] for n in names],
                "rows_read": pa.array([self.rows_read[n] for n in names], pa.int64()),
                "rows_loaded": pa.array([self.rows_loaded[n] for n in names], pa.int64()),
                "rows_quarantined": pa.array([self.rows_quarantined[n] for n in names], pa.int64()),
            }
        )


def load_folder(
    folder: str | Path,
    db_path: str | Path,
    quarantine: str | Path | None = None,
    *,
    replace: bool = False,
    memory_limit: str | None = None,
    on_progress: Progress = quiet,
) -> LoadReport:
    """Validate every table file in `folder` and load it into the store at `db_path`.

    Raises `UserError` (listing file, row and column of each problem) and leaves the store as it was
    when anything is wrong and no `quarantine` file is given. With `quarantine` (.csv or .parquet),
    rejected rows are written there with their reasons and the others are loaded. `memory_limit`
    (e.g. "2GB") caps DuckDB's memory; beyond it the staged tables spill to disk.
    `on_progress(step, done, total)` is called before each file is checked and before the rows are stored.
    """
    folder, db_path = Path(folder), Path(db_path)
    quarantine = None if quarantine is None else Path(quarantine)
    if memory_limit is not None and not MEMORY_SIZE.fullmatch(memory_limit.strip()):
        raise UserError(f"memory limit '{memory_limit}' is not a size", hint="Give a number and a unit, e.g. 500MB or 4GB.")
    if quarantine is not None and quarantine.suffix.lower() not in FORMATS:
        raise UserError(f"{quarantine}: the quarantine file must end in .csv or .parquet")
    for target in (db_path, quarantine):
        if target is not None and not target.parent.is_dir():
            raise UserError(f"{target}: the folder {target.parent} does not exist")
    sources = discover(folder)
    if db_path.exists():
        with _open(db_path, memory_limit) as store:
            return _load(store, sources, db_path, quarantine, replace, on_progress)
    building = db_path.with_name(f".{db_path.name}.loading")
    _remove_database(building)
    try:
        with _open(building, memory_limit) as store:
            report = _load(store, sources, db_path, quarantine, replace, on_progress)
        os.replace(building, db_path)
        return report
    finally:
        _remove_database(building)


def _open(path: Path, memory_limit: str | None) -> Store:
    try:
        return Store(path, memory_limit=memory_limit)
    except duckdb.Error as error:
        reason = str(error).splitlines()[0]
        raise UserError(f"{path}: cannot open the store ({reason})", hint="Give a DuckDB file that no other program has open.") from None


def _remove_database(path: Path) -> None:
    for leftover in (path, path.with_name(path.name + ".wal")):
        leftover.unlink(missing_ok=True)


def _load(
    store: Store, sources: list[SourceFile], db_path: Path, quarantine: Path | None, replace: bool, on_progress: Progress
) -> LoadReport:
    con = store.connection
    con.execute("set TimeZone = 'UTC'")
    columns, problems = {}, []
    for source in sources:
        columns[source.table] = describe(con, source)
        problems += check_columns(source, list(columns[source.table]))
    if problems:
        raise UserError("The files do not have the columns of their tables; nothing was loaded.", problems)

    pending = None if quarantine is None else quarantine.with_name(f".{quarantine.name}.writing")
    try:
        con.execute("begin transaction")
        try:
            report = _validate_and_write(store, sources, columns, db_path, quarantine, pending, replace, on_progress)
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise
        if pending is not None:
            os.replace(pending, quarantine)
        return report
    finally:
        if pending is not None:
            pending.unlink(missing_ok=True)


def _validate_and_write(
    store: Store,
    sources: list[SourceFile],
    columns: dict[str, dict[str, str]],
    db_path: Path,
    quarantine: Path | None,
    pending: Path | None,
    replace: bool,
    on_progress: Progress,
) -> LoadReport:
    """Inside the load's transaction: check everything, write the quarantine file to `pending`, store the rows."""
    validation = Validation(store, sources, columns, replace)
    steps = len(sources) + 1  # each file's checks, then storing the rows
    validation.run(on_progress, steps)
    kept = validation.kept_reference_problems()
    if kept:
        raise UserError("--replace would contradict rows kept in the store; nothing was loaded.", kept)
    count = validation.problem_count()
    shown = validation.problems(PROBLEMS_SHOWN)
    if count and quarantine is None:
        raise UserError(
            f"{count} problem(s) found; nothing was loaded.",
            shown,
            hint="Fix the rows listed and load again, or pass --quarantine FILE to load the good rows and set the others aside.",
        )
    read = {s.table: store.count(s.staged) for s in sources}
    rejected = validation.rejected_rows()
    if pending is not None:
        _write_quarantine(store, validation, quarantine, pending)
    on_progress("storing the rows", len(sources), steps)
    for source in sources:
        _publish(store, source, rejected=rejected[source.table] > 0, append=not replace)
    return LoadReport(
        db_path=db_path,
        replace=replace,
        files={s.table: s.name for s in sources},
        rows_read=read,
        rows_loaded={t: read[t] - rejected[t] for t in read},
        rows_quarantined=rejected,
        problem_count=count,
        problems=tuple(shown),
        quarantine=quarantine,
    )


def _publish(store: Store, source: SourceFile, *, rejected: bool, append: bool) -> None:
    """Turn the staged table into the stored one (inside the load's transaction).

    A table the store does not hold yet, or one the load replaces, is the staged table itself,
    renamed once its bookkeeping columns are dropped: the rows are written once. Appending copies
    the accepted rows into the stored table, adding any column the canonical schema gained since.
    """
    con, table, staged = store.connection, quote_identifier(source.table), source.staged
    if rejected:
        con.execute(f"delete from {staged} where __row in (select row from {PROBLEMS} where tbl = {quote_literal(source.table)})")
    if append and store.has_table(source.table):
        stored = {row[0] for row in con.execute(f"select column_name from (describe {table})").fetchall()}
        for field in TABLES[source.table].schema:
            if field.name not in stored:
                con.execute(f"alter table {table} add column {quote_identifier(field.name)} {duckdb_type(field.type)}")
        con.execute(f"insert into {table} by name select * exclude (__row, __problems) from {staged}")
        con.execute(f"drop table {staged}")
        return
    con.execute(f"drop table if exists {table}")
    con.execute(f"alter table {staged} drop column __row")
    con.execute(f"alter table {staged} drop column __problems")
    con.execute(f"alter table {staged} rename to {table}")


def _write_quarantine(store: Store, validation: Validation, quarantine: Path, pending: Path) -> None:
    """Write the rejected rows to `pending`, beside `quarantine`; the caller moves it into place."""
    fmt = "parquet" if quarantine.suffix.lower() == ".parquet" else "csv, header true"
    query = f"select * from ({validation.quarantine_query()}) order by {validation.file_order('source_file')}, row"
    store.connection.execute(f"copy ({query}) to {quote_literal(str(pending))} (format {fmt})")
