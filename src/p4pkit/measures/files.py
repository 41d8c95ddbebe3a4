"""Measures over files: open the data (`p4pkit.data.open_data`), run, and write the output set atomically.

A run only reads the store; value sets come from the store's table if it has one, else from the
packaged expansions in memory. Per-entity summaries (practice, ACO, clinician) come from an
attribution file, such as `p4p attribute --out` writes, joined onto the patient results: the
measures and the attribution stay two steps that a user can check apart.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from p4pkit.atomic import publishing
from p4pkit.attribution.files import read_attribution
from p4pkit.data import open_data
from p4pkit.errors import UserError
from p4pkit.measures.measurereport import shape_from_library, write_measurereports, write_summary_measurereports
from p4pkit.measures.runner import resolve_measures, run_measures
from p4pkit.measures.summary import SUMMARISED, summarise
from p4pkit.measures.timing import Period
from p4pkit.progress import Progress, quiet


# Every file `run_measure_files` may write into `out`: a run replaces the whole set.
OUTPUTS = (
    "patient_results.parquet",
    "summary.parquet",
    "summary_by_entity.parquet",
    "measurereports.ndjson",
    "measurereports_summary.ndjson",
)
FORMATS = ("parquet", "measurereport")
REPORTS_FOR = ("all", "initial-population")  # which patients get individual MeasureReports


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
    format: str = "parquet",
    reports_for: str = "all",
) -> dict[str, pa.Table]:
    """Run measures over `data` and write `patient_results.parquet` and `summary.parquet` (per
    measure and group) into `out`, and with `entities` (an attribution file) `summary_by_entity.parquet`
    (per measure, group and entity). With `format="measurereport"` also `measurereports.ndjson`: an
    individual MeasureReport per patient of the data and measure (all counts 0 for a patient in
    no initial population; `reports_for="initial-population"` leaves those out: a report is about
    1.2 KB, so a million patients and 13 measures make some 15 GB), and with `entities`
    `measurereports_summary.ndjson` (one per measure and entity). Returns the tables.

    The files of `OUTPUTS` in `out` are replaced as a set when everything is written, so `out`
    never holds half a run or an earlier run's file beside this one's. Measure ids, the period, the
    format and the entity file are checked before any data is read, so a mistake fails fast.
    `on_progress` as `run_measures`."""
    if format not in FORMATS:
        raise UserError(f"--format {format}: not a format", hint=f"Use one of: {', '.join(FORMATS)}.")
    if reports_for not in REPORTS_FOR:
        raise UserError(f"--reports-for {reports_for}: not a choice", hint=f"Use one of: {', '.join(REPORTS_FOR)}.")
    if reports_for != "all" and format != "measurereport":
        raise UserError(f"--reports-for {reports_for} chooses who gets MeasureReports", hint="Add --format measurereport.")
    measures = resolve_measures(measure_ids)
    period = Period.parse(period) if isinstance(period, str) else period
    attributed = read_attribution(entities) if entities is not None else None
    with publishing(out, OUTPUTS) as scratch:
        with open_data(data, engine, spark_url) as store:
            results = run_measures(store, measures, period, valueset_dir, on_progress)
            everyone = format == "measurereport" and reports_for == "all"
            patients = store.backend.to_pyarrow(store.table("patients").select("patient_id"))["patient_id"].to_pylist() if everyone else []
        tables = {"patient_results": results, "summary": summarise(results)}
        if attributed is not None:
            tables["summary_by_entity"] = summarise(with_entities(results, attributed), by=["entity_id", "entity_type"])
        for name, table in tables.items():
            pq.write_table(table, scratch / f"{name}.parquet")
        if format == "measurereport":
            shapes = {m.id: shape_from_library(m) for m in measures}
            write_measurereports(results, scratch, shapes, subjects=patients, period=(period.start, period.end))
            if attributed is not None:
                write_summary_measurereports(tables["summary_by_entity"], scratch)
    return tables


def with_entities(results: pa.Table, entities: pa.Table) -> pa.Table:
    """The patient results of the patients `entities` attributes (`read_attribution`), with their
    entity_id and entity_type: only the columns `summarise` reads, since joins do not carry the
    evidence lists."""
    carried = [c for c in SUMMARISED if c in results.column_names]
    return results.select(["patient_id", *carried]).join(entities, "patient_id", join_type="inner")
