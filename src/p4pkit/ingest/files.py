"""Finding the table files in a folder and reading them, as given, into SQL relations.

A folder holds `<table>.csv` or `<table>.parquet` for any subset of the canonical tables. A file is
not copied as written: `rows_sql` is a relation over the file itself (CSV: every value as text,
nothing guessed) that the one-scan staging of `rows.py` parses, and that the quarantine file reads
again for the few rejected rows, so the values a user wrote can be reported and handed back without
holding a second copy of every file. Each row carries `__row`, its 1-based data row in the file (the
CSV header is row 0): Parquet's own row number, and for CSV a row count over the file in order.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import duckdb

from p4pkit.errors import Problem, UserError
from p4pkit.model.schemas import TABLES

FORMATS = (".csv", ".parquet")


def accepted_names() -> str:
    """The file names a load folder may hold, for error messages."""
    return ", ".join(f"{name}{ext}" for name in TABLES for ext in FORMATS)


def quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


@dataclass(frozen=True)
class SourceFile:
    """One table file of the folder and the names of its temporary tables."""

    table: str
    path: Path

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def is_csv(self) -> bool:
        return self.path.suffix.lower() == ".csv"

    @property
    def staged(self) -> str:
        """Table of the store, inside the load's transaction, holding the parsed rows (`rows.py`)."""
        return f"__p4p_staged_{self.table}"


def discover(folder: Path) -> list[SourceFile]:
    """The table files of `folder` in load order (foreign-key order); refuses anything else in it.

    Hidden files (names starting with ".") and folders (such as the synthetic generator's `truth/`)
    are ignored; any other unknown name is an error, because a misspelt file name would otherwise be
    skipped silently.
    """
    if not folder.is_dir():
        raise UserError(f"{folder}: no such folder", hint="Give the folder holding the table files, e.g. patients.csv.")
    found: dict[str, SourceFile] = {}
    problems = []
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or path.is_dir():
            continue
        table, suffix = path.stem, path.suffix.lower()
        if not (suffix in FORMATS and table in TABLES):
            problems.append(Problem(path.name, None, None, f"not a table file; accepted names are {accepted_names()}"))
        elif table in found:
            problems.append(Problem(path.name, None, None, f"{found[table].name} also holds table {table}; keep one"))
        else:
            found[table] = SourceFile(table, path)
    if problems:
        raise UserError(f"{folder}: unexpected files; nothing was loaded.", problems)
    if not found:
        raise UserError(f"{folder}: no table files; nothing was loaded.", hint=f"Accepted names: {accepted_names()}.")
    return [found[name] for name in TABLES if name in found]


def _csv_header(path: Path) -> list[str]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            return next(csv.reader(handle), [])
    except UnicodeDecodeError:
        problem = Problem(path.name, None, None, "the header is not UTF-8 text; save the file as UTF-8 CSV")
        raise UserError(f"{path.name}: cannot be read; nothing was loaded.", [problem]) from None


def _reader(source: SourceFile, header: list[str] | None = None) -> str:
    """The DuckDB table function reading the file: CSV with a fixed dialect and every value as text."""
    path = quote_literal(str(source.path))
    if not source.is_csv:
        return f"read_parquet({path}, file_row_number=true)"
    columns = "{" + ", ".join(f"{quote_literal(c)}: 'VARCHAR'" for c in header or []) + "}"
    return f"read_csv({path}, columns={columns}, header=true, auto_detect=false, delim=',', quote='\"', escape='\"')"


def describe(con: duckdb.DuckDBPyConnection, source: SourceFile) -> dict[str, str]:
    """The file's columns and their DuckDB types, read from the header or the Parquet metadata only.

    CSV is read with a fixed dialect (comma, double quotes, header line) and every value as text,
    so nothing is guessed: types are checked, with row numbers, by the staging scan.
    """
    header = None
    if source.is_csv:
        header = _csv_header(source.path)
        if not header:
            raise UserError(f"{source.name}: empty file; nothing was loaded.", [Problem(source.name, None, None, "no header line")])
        repeated = sorted({c for c in header if header.count(c) > 1})
        if repeated:
            problems = [Problem(source.name, None, c, "column named more than once in the header") for c in repeated]
            raise UserError(f"{source.name}: repeated columns; nothing was loaded.", problems)
    try:
        described = con.execute(f"select column_name, column_type from (describe select * from {_reader(source, header)})").fetchall()
    except duckdb.Error as error:
        raise unreadable(source, error) from None
    return {name: kind for name, kind in described if source.is_csv or name != "file_row_number"}


def rows_sql(source: SourceFile, columns: dict[str, str]) -> str:
    """SQL of the file's rows as written, numbered `__row`, with empty text read as missing (as the
    CSV reader does), so that both formats mean the same."""
    number = "row_number() over ()" if source.is_csv else "file_row_number + 1"
    values = ", ".join(
        f"nullif({quote_identifier(name)}, '') as {quote_identifier(name)}" if kind == "VARCHAR" else quote_identifier(name)
        for name, kind in columns.items()
    )
    header = list(columns) if source.is_csv else None
    return f"select {number} as __row, {values} from {_reader(source, header)}"


def unreadable(source: SourceFile, error: duckdb.Error) -> UserError:
    """The error for a file DuckDB cannot read, without the offending line (it may identify a patient)."""
    return UserError(
        f"{source.name}: cannot be read; nothing was loaded.",
        [Problem(source.name, None, None, _engine_reason(error))],
        hint="CSV files must be comma-separated UTF-8 with a header line and double-quoted text.",
    )


def _engine_reason(error: duckdb.Error) -> str:
    """DuckDB's reason without the offending line itself, which may hold patient identifiers."""
    kept = []
    for line in str(error).splitlines():
        if line.startswith("Possible fixes"):
            break
        if line.strip() and not line.startswith("Original Line"):
            kept.append(line.strip())
    return " ".join(kept)


def check_columns(source: SourceFile, columns: list[str]) -> list[Problem]:
    """Whole-file problems: a required column missing, or a column the table does not have."""
    spec = TABLES[source.table]
    problems = [
        Problem(source.name, None, name, f"required column missing; add a column named {name}")
        for name in spec.required
        if name not in columns
    ]
    canonical = ", ".join(spec.schema.names)
    problems += [
        Problem(source.name, None, name, f"not a column of {source.table}; columns are: {canonical}")
        for name in columns
        if name not in spec.schema.names
    ]
    return problems
