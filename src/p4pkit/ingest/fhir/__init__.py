"""FHIR R4 into the canonical tables: Bundles, single resources and bulk-data NDJSON.

- `read_fhir(path)`: every `*.json` / `*.ndjson` under a folder (recursively) → canonical tables.
- `read_resources(resources)`: the same for resources already in memory (e.g. one Bundle's entries).
- `load_fhir(path, db_path)`: read, then merge into a store in one transaction.

Resources are read as plain dicts (no model library): bulk exports hold millions of resources and
only a few elements of each matter here, so validating every element through a generated model
class would cost far more than the mapping itself. Resource types with no canonical home
(MeasureReport, Library, Location, ...) are ignored.

Before a resource is mapped, the JSON type of every element its mapper reads and the codes of its
required status elements are checked (`shapes`), so malformed input is a problem, never a Python
error. Problems name the file, the NDJSON line or Bundle entry number, and the FHIR path (which
starts with the resource type); resource ids are not repeated, as CSV ingest repeats no values that
may identify a patient. Any problem means nothing is returned or loaded.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa

from p4pkit.atomic import replacing
from p4pkit.errors import UserError
from p4pkit.ingest.fhir import administrative, clinical
from p4pkit.ingest.fhir.checks import date_problems
from p4pkit.ingest.fhir.reading import KnownIds, Reading, map_all
from p4pkit.ingest.fhir.source import input_files, located, read_files
from p4pkit.model.schemas import TABLES
from p4pkit.store import Store

MAPPERS = {**administrative.MAPPERS, **clinical.MAPPERS}

__all__ = ["fhir_store", "load_fhir", "read_fhir", "read_resources"]


def _finish(reading: Reading, known: KnownIds | None) -> dict[str, pa.Table]:
    reading.link_diagnoses(known)
    reading.fill_medications()
    payers = {hit[1] for ref in reading.payors if (hit := reading.target(ref))}
    reading.resolve(known)
    organizations = reading.tables["organizations"].pad().data
    for i, kind in enumerate(organizations["kind"]):
        if kind is None:
            organizations["kind"][i] = "payer" if organizations["organization_id"][i] in payers else "practice"
    tables = reading.to_tables() if not reading.problems else {}
    problems = reading.problems or date_problems(tables, {name: columns.where for name, columns in reading.tables.items()})
    if problems:
        raise UserError(
            f"the FHIR input has {len(problems)} problem(s); nothing was read",
            problems,
            hint="Fix the resources named above (file, line or Bundle entry, FHIR path) and run again.",
        )
    return tables


def read_fhir(path: str | Path, *, known: KnownIds | None = None) -> dict[str, pa.Table]:
    """Canonical tables (every table of `model.schemas.TABLES`, possibly empty) from FHIR files.

    `known(table, ids)` answers which referenced ids exist outside the input (the store, when
    loading); without it every reference must resolve inside the input.
    """
    reading = Reading()
    map_all(read_files(input_files(path)), MAPPERS, reading)
    return _finish(reading, known)


def read_resources(resources: Iterable[dict], source: str = "<resources>") -> dict[str, pa.Table]:
    """Canonical tables from resources in memory; problems name `source` and the resource's position."""
    reading = Reading()
    map_all((located(source, number, r) for number, r in enumerate(resources, start=1)), MAPPERS, reading)
    return _finish(reading, None)


def _known_ids(store: Store, table: str, ids: set[str]) -> set[str]:
    if not ids or not store.has_table(table):
        return set()
    key = TABLES[table].primary_key[0]
    wanted = pa.table({"id": sorted(ids)})
    store.connection.register("__fhir_wanted", wanted)
    try:
        found = store.connection.sql(f'select "{key}" from "{table}" where "{key}" in (select id from __fhir_wanted)').to_arrow_table()
    finally:
        store.connection.unregister("__fhir_wanted")
    return set(found.column(0).to_pylist())


def _merged(store: Store, name: str, incoming: pa.Table) -> pa.Table:
    """The stored table with rows of the same primary key replaced by `incoming`, plus new rows."""
    if not store.has_table(name):
        return incoming
    keys = TABLES[name].primary_key
    columns = ", ".join(f'"{c}"' for c in TABLES[name].schema.names)
    match = " and ".join(f'old."{k}" = new."{k}"' for k in keys)
    store.connection.register("__fhir_incoming", incoming)
    try:
        return store.connection.sql(
            f'select {columns} from "{name}" old where not exists (select 1 from __fhir_incoming new where {match}) '
            f"union all select {columns} from __fhir_incoming"
        ).to_arrow_table()
    finally:
        store.connection.unregister("__fhir_incoming")


def load_fhir(path: str | Path, db_path: str | Path) -> dict[str, int]:
    """Read FHIR files and merge them into the store at `db_path`; returns rows read per table.

    A resource replaces the stored row with the same primary key (a re-sent, corrected resource
    updates it, as a FHIR update would) and every other stored row stays. References may point at
    rows already in the store. All tables change in one transaction, or none does. A new store
    gets every canonical table, empty ones included, and is built beside its final name and moved
    into place, so a failed load leaves no file behind.
    """
    db_path = Path(db_path)
    if db_path.exists():
        with Store(db_path) as store:
            tables = read_fhir(path, known=lambda table, ids: _known_ids(store, table, ids))
            store.replace_tables({name: _merged(store, name, t) for name, t in tables.items() if t.num_rows or not store.has_table(name)})
        return {name: table.num_rows for name, table in tables.items()}
    tables = read_fhir(path)
    with replacing(db_path) as scratch:
        scratch.unlink()  # DuckDB creates the file itself
        try:
            with Store(scratch) as store:
                store.replace_tables(tables)
        finally:
            Path(f"{scratch}.wal").unlink(missing_ok=True)
    return {name: table.num_rows for name, table in tables.items()}


@contextmanager
def fhir_store(path: str | Path) -> Iterator[Path]:
    """A temporary DuckDB store holding FHIR input as canonical tables, for commands that read a
    store (e.g. `p4p measure run --fhir`); it is deleted afterwards."""
    with tempfile.TemporaryDirectory(prefix="p4p-fhir-") as scratch:
        db_path = Path(scratch) / "fhir.duckdb"
        load_fhir(path, db_path)
        yield db_path
