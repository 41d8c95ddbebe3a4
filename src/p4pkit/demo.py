"""The `make demo` job: a synthetic population, loaded and checked, then two programs run on it.

Steps, each a public function of its own package: `synth.generate` writes the population and its
truth; `ingest.load_folder` validates and loads it into a DuckDB store; `synth.prevalence_report`
compares recorded prevalence with its published targets; `programs.runner.run_program` runs the
QOF-style primary-care program and the ACO shared-savings program, each into its own run folder
with `report.html`. Returns the tables the CLI prints.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from p4pkit.errors import UserError
from p4pkit.ingest import load_folder
from p4pkit.programs.runner import RunResult, run_program
from p4pkit.synth import generate, prevalence_report

PROGRAMS_DIR = Path(__file__).resolve().parents[2] / "programs"
DEMO_PROGRAMS = ("qof.yaml", "mssp.yaml")


@dataclass(frozen=True)
class DemoResult:
    data_dir: Path
    store: Path
    counts: dict[str, int]
    prevalence: pa.Table
    runs: list[RunResult]


def run_demo(patients: int, seed: int, out: Path, progress: Callable[[str], None] | None = None) -> DemoResult:
    """Generate, load, check and run the demo programs under `out` (which must not exist yet)."""
    note = progress or (lambda _: None)
    out = Path(out)
    if out.exists():
        raise UserError(f"{out} already exists", hint="Choose a new --out, or remove the old demo folder.")
    missing = [name for name in DEMO_PROGRAMS if not (PROGRAMS_DIR / name).is_file()]
    if missing:
        raise UserError(f"demo program files not found: {', '.join(missing)}", hint=f"Run the demo from a checkout with {PROGRAMS_DIR}.")
    data = out / "data"
    note(f"generating {patients:,} synthetic patients")
    generate(patients, seed, data)
    note("validating and loading into the store")
    store = out / "store.duckdb"
    report = load_folder(data, store)
    runs = []
    for name in DEMO_PROGRAMS:
        note(f"running programs/{name}")
        runs.append(run_program(PROGRAMS_DIR / name, store, out / "runs" / Path(name).stem))
    return DemoResult(data, store, dict(report.rows_loaded), prevalence_report(data), runs)
