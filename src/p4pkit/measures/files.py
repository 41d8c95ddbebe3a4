"""Measures over files: open the data (`p4pkit.data.open_data`), run, and write Parquet atomically.

A run only reads the store; value sets come from the store's table if it has one, else from the
packaged expansions in memory. Per-entity summaries (practice, ACO, clinician) come from an
attribution file, such as `p4p attribute --out` writes, joined onto the patient results: the
measures and the attribution stay two steps that a user can check apart.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from p4pkit.atomic import replacing
from p4pkit.attribution.files import read_attribution
from p4pkit.data import open_data
from p4pkit.measures.runner import resolve_measures, run_measures
from p4pkit.measures.summary import SUMMARISED, summarise
from p4pkit.measures.timing import Period
from p4pkit.progress import Progress, quiet


def _write_atomically(table: pa.Table, path: Path) -> None:
    with replacing(path) as scratch:
        pq.write_table(table, scratch)


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
    attributed = read_attribution(entities) if entities is not None else None
    with open_data(data, engine, spark_url) as store:
        results = run_measures(store, measures, period, valueset_dir, on_progress)
    tables = {"patient_results": results, "summary": summarise(results)}
    if attributed is not None:
        tables["summary_by_entity"] = summarise(with_entities(results, attributed), by=["entity_id", "entity_type"])
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for name, table in tables.items():
        _write_atomically(table, out / f"{name}.parquet")
    return tables



def with_entities(results: pa.Table, entities: pa.Table) -> pa.Table:
    """The patient results of the patients `entities` attributes (`read_attribution`), with their
    entity_id and entity_type: only the columns `summarise` reads, since joins do not carry the
    evidence lists."""
    carried = [c for c in SUMMARISED if c in results.column_names]
    return results.select(["patient_id", *carried]).join(entities, "patient_id", join_type="inner")
