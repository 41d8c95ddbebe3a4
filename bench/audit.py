"""Benchmark `p4pkit.safeguards.audit.audit_program` on a run of programs/good-design.yaml, as JSON.

Usage: python bench/audit.py [SIZE ...]   (default: 5000 20000)

Per size: the synthetic world is generated, loaded and run once (not timed); then the audit is
timed three ways: the design alone, with the run folder, and with the run's data (equity) plus two
comparison measures (unmeasured care, CMS125 and CMS130 recomputed over both periods). CPU seconds
are reported beside wall seconds because the machine is shared.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

from p4pkit.ingest import load_folder
from p4pkit.programs.runner import run_program
from p4pkit.safeguards.audit import audit_program
from p4pkit.synth import generate

PROGRAM = Path(__file__).resolve().parents[1] / "programs" / "good-design.yaml"


def _timed(call) -> dict:
    wall, cpu = time.perf_counter(), time.process_time()
    findings = call()
    return {"wall_seconds": round(time.perf_counter() - wall, 2), "cpu_seconds": round(time.process_time() - cpu, 2), "findings": len(findings)}


def bench(size: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="p4p-bench-audit-") as scratch:
        folder = Path(scratch)
        generate(size, 20250101, folder / "data")
        load_folder(folder / "data", folder / "store.duckdb")
        run_program(PROGRAM, folder / "store.duckdb", folder / "run")
        return {
            "patients": size,
            "design": _timed(lambda: audit_program(PROGRAM)),
            "with_run": _timed(lambda: audit_program(PROGRAM, folder / "run")),
            "with_data_and_comparators": _timed(
                lambda: audit_program(PROGRAM, folder / "run", folder / "store.duckdb", ["CMS125", "CMS130"])
            ),
        }


if __name__ == "__main__":
    sizes = [int(arg) for arg in sys.argv[1:]] or [5000, 20000]
    print(json.dumps([bench(size) for size in sizes], indent=2))
