"""`p4p run`: a program file and data in, one complete run folder out (or nothing at all).

A run folder holds the contracts of architecture.md as Parquet — attribution, patient measure
results, entity measure results (with shrinkage and reliability), entity scores, payments (the
ledger's entries) — plus `ledger.json` (totals and the invariants checked), `report.html` and
`manifest.json` (hashes of the program file and of every input file, p4pkit version, engine,
start and end time). The folder is written under a temporary name beside its destination and
renamed into place only when everything is written, so an interrupted run leaves no trace; an
existing destination is never overwritten. The same inputs and version give identical tables.
The folder is created readable by its owner only (it holds patient-level results); share
`report.html` or the entity tables, not the folder.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import platform
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from p4pkit import __version__
from p4pkit.atomic import scratch_folder
from p4pkit.data import open_data
from p4pkit.engine.spark import connect_address
from p4pkit.errors import UserError
from p4pkit.programs.bindings import ModelOutput, binding_for
from p4pkit.programs.context import RunContext, build_context
from p4pkit.programs.loader import load_program
from p4pkit.programs.schema import Program

StatusNote = Callable[[str], None]  # a one-line status ("scoring"), not a counted `p4pkit.progress.Progress`


@dataclass(frozen=True)
class RunResult:
    """Where the run was written and the ledger totals, for the CLI to print."""

    out_dir: Path
    program_id: str
    totals: dict[str, str]
    entities_scored: int
    patients_attributed: int
    currency: str


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _input_hashes(data: Path) -> dict[str, str]:
    files = sorted(p for p in data.rglob("*") if p.is_file()) if data.is_dir() else [data]
    base = data if data.is_dir() else data.parent
    return {p.relative_to(base).as_posix(): _sha256(p) for p in files}


def _write_parquet(table: pa.Table | pd.DataFrame, path: Path) -> None:
    if isinstance(table, pd.DataFrame):
        table = pa.Table.from_pandas(table, preserve_index=False)
    pq.write_table(table, path)


def _attribution_table(ctx: RunContext) -> pa.Table:
    """Both periods' attribution, ordered by period then patient. The rules return each period in
    patient order already, so a period is sorted only if it is not: sorting millions of rows of
    reasons cost seconds at a million patients."""
    parts = []
    for period in sorted(ctx.attribution):
        table = _by_patient(ctx.attribution[period])
        parts.append(table.append_column("period", pa.repeat(pa.scalar(period, pa.string()), table.num_rows)))
    return pa.concat_tables(parts)


def _by_patient(table: pa.Table) -> pa.Table:
    """The table sorted by `patient_id` (one row per patient), checked in one vectorised pass first."""
    ids = table["patient_id"].combine_chunks()
    if len(ids) < 2 or pc.all(pc.less(ids[:-1], ids[1:])).as_py():
        return table
    return table.sort_by("patient_id")


def _write_outputs(folder: Path, program: Program, ctx: RunContext, output: ModelOutput) -> dict[str, str]:
    from p4pkit.reports.run_report import write_run_report

    _write_parquet(_attribution_table(ctx), folder / "attribution.parquet")
    patient = ctx.patient_results.sort_by([("period", "ascending"), ("measure_id", "ascending"), ("group_index", "ascending"), ("patient_id", "ascending")])
    _write_parquet(patient, folder / "patient_measures.parquet")
    _write_parquet(ctx.entity_measures, folder / "entity_measures.parquet")
    _write_parquet(output.scores.assign(program_id=program.id), folder / "entity_scores.parquet")
    payments = output.ledger.to_arrow().sort_by([("entity_id", "ascending"), ("kind", "ascending"), ("reason", "ascending")])
    _write_parquet(payments, folder / "payments.parquet")
    totals = {k: str(v) for k, v in output.ledger.check().items()}
    ledger = {
        "program_id": program.id,
        "currency": program.currency,
        "totals": totals,
        "upside_only": output.ledger.upside_only,
        "budget_neutral": output.ledger.budget_neutral,
        "invariants": "all held",
        "entries": len(output.ledger.entries),
    }
    (folder / "ledger.json").write_text(json.dumps(ledger, indent=2) + "\n", encoding="utf-8")
    write_run_report(folder / "report.html", program, ctx, output)
    return totals


def run_program(
    program_path: str | Path, data: str | Path, out_dir: str | Path, *, engine: str = "duckdb", progress: StatusNote | None = None,
    spark_url: str | None = None,
) -> RunResult:
    """Run a program file over a data folder (canonical tables) or DuckDB store into `out_dir`
    (`spark_url`: a Spark Connect server for `engine="spark"`, else local Spark)."""
    note = progress or (lambda _: None)
    program_path, data, out_dir = Path(program_path), Path(data), Path(out_dir)
    if out_dir.exists():
        raise UserError(f"{out_dir} already exists", hint="A run folder is never overwritten: choose a new --out.")
    program = load_program(program_path)
    started = dt.datetime.now(dt.UTC)
    scratch = scratch_folder(out_dir)
    try:
        note("loading data")
        with open_data(data, engine, spark_url) as store:
            note("attributing and measuring")
            ctx = build_context(program, store)
            note(f"scoring ({program.scoring.model})")
            output = binding_for(program.scoring.model)(ctx)
            note("writing the run")
            totals = _write_outputs(scratch, program, ctx, output)
        manifest = {
            "program_id": program.id,
            "program_file": program_path.name,
            "program_sha256": _sha256(program_path),
            "data": str(data.resolve()),
            "inputs_sha256": _input_hashes(data),
            "p4pkit_version": __version__,
            "engine": engine,
            **({"spark_connect": connect_address(spark_url)} if engine == "spark" else {}),
            "python": platform.python_version(),
            "started_utc": started.isoformat(timespec="seconds"),
            "finished_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "periods": {k: [str(v.start), str(v.end)] for k, v in ctx.periods.items()},
            "ledger_totals": totals,
        }
        (scratch / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        os.replace(scratch, out_dir)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    scored = output.scores.entity_id.nunique()
    return RunResult(out_dir, program.id, totals, scored, ctx.patients_attributed, program.currency)
