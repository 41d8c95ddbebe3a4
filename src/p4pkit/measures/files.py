"""Measures over files: open the data (`p4pkit.data.open_data`), run, and write Parquet atomically.

A run only reads the store; value sets come from the store's table if it has one, else from the
packaged expansions in memory. Per-entity summaries (practice, ACO, clinician) come from an
attribution file, such as `p4p attribute --out` writes, joined onto the patient results: the
measures and the attribution stay two steps that a user can check apart.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from p4pkit.data import open_data
from p4pkit.errors import UserError
from p4pkit.measures.runner import resolve_measures, run_measures
from p4pkit.measures.summary import COUNTS, KEYS, summarise
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
    entities: str | Path | None = None,
) -> dict[str, pa.Table]:
    """Run measures over `data` and write `patient_results.parquet` and `summary.parquet` (per
    measure and group) into `out`, and with `entities` (an attribution file) `summary_by_entity.parquet`
    (per measure, group and entity). Returns the tables. Measure ids, the period and the entity
    file are checked before any data is read, so a mistake fails fast. `on_progress` as `run_measures`."""
    measures = resolve_measures(measure_ids)
    period = Period.parse(period) if isinstance(period, str) else period
    attributed = read_entities(entities) if entities is not None else None
    with open_data(data, engine, spark_url) as store:
        results = run_measures(store, measures, period, valueset_dir, on_progress)
    tables = {"patient_results": results, "summary": summarise(results)}
    if attributed is not None:
        tables["summary_by_entity"] = summarise(with_entities(results, attributed), by=list(ENTITY_COLUMNS))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for name, table in tables.items():
        _write_atomically(table, out / f"{name}.parquet")
    return tables


ENTITY_COLUMNS = ("entity_id", "entity_type")


def read_entities(path: str | Path) -> pa.Table:
    """patient_id, entity_id, entity_type from an attribution file (.parquet or .csv, the contract
    `p4p attribute` writes); patients without an entity are dropped. A missing file or column, or a
    patient listed twice, is a user error naming the file, row and column."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such attribution file", hint="Write one with p4p attribute --out FILE.")
    wanted = ("patient_id", *ENTITY_COLUMNS)
    if path.suffix.lower() == ".parquet":
        table = pq.read_table(path)
    elif path.suffix.lower() == ".csv":
        options = pa_csv.ConvertOptions(column_types={c: pa.string() for c in wanted}, strings_can_be_null=True)  # "" is no entity
        table = pa_csv.read_csv(path, convert_options=options)
    else:
        raise UserError(f"{path}: an attribution file must end in .parquet or .csv")
    missing = [c for c in wanted if c not in table.column_names]
    if missing:
        raise UserError(f"{path}: no column {', '.join(missing)}", hint="The file needs patient_id, entity_id and entity_type, as p4p attribute writes.")
    table = table.select(list(wanted)).cast(pa.schema([pa.field(c, pa.string()) for c in wanted]))
    patients = table["patient_id"].to_pylist()
    seen: dict[str, int] = {}
    for row, patient in enumerate(patients, start=1):
        if patient in seen:
            raise UserError(f"{path}: row {row}, column patient_id: patient '{patient}' is attributed twice (first at row {seen[patient]})",
                            hint="One row per patient: attribute each period to its own file.")
        seen[patient] = row
    return table.filter(pc.is_valid(table["entity_id"]))


def with_entities(results: pa.Table, entities: pa.Table) -> pa.Table:
    """The patient results (without their evidence lists, which joins do not carry) of the patients
    `entities` attributes, with entity_id and entity_type."""
    carried = [c for c in (*KEYS, *COUNTS, "patient_id", "scoring", "rate_multiplier", "numerator_value", "denominator_value")
               if c in results.column_names]
    return results.select(carried).join(entities, "patient_id", join_type="inner")
