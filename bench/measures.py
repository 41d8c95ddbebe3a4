"""Benchmark `p4pkit.measures.run_measures`: every library measure on N synthetic patients, as JSON.

Usage: python bench/measures.py [--patients N ...] [--stores DIR] [--measures ID,ID] [--memory-limit 3GB]
(default: 100000 and 1000000 patients, all library measures)

Per size: a child process generates the synthetic world (`p4pkit.synth.generate`) and loads it into
a DuckDB store (its tables written as generated: the generator's output is canonical); with
`--stores DIR` the store is kept as DIR/store<N>.duckdb and reused when it exists. A second, fresh
child times a bare DuckDB scan of the events table (the floor any measure pays) and then
`run_measures`, and reports its own peak RSS, so generation and loading do not count.

`compile_seconds` is the time Ibis spends turning expressions into SQL (summed over every query the
run sends); `execute_seconds` is the rest of the run (the engine's work, Arrow conversion, and
building the Ibis expressions in Python). `ratio_to_bare_scan` is the run's wall time over the scan's.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

PREPARE = """
import sys
from pathlib import Path
import pyarrow.parquet as pq
from p4pkit.model.schemas import TABLES
from p4pkit.store import Store
from p4pkit.synth import generate
world = Path(sys.argv[2])
generate(int(sys.argv[1]), 20250101, world)
with Store(sys.argv[3]) as store:
    store.replace_tables({name: pq.read_table(world / f"{name}.parquet") for name in TABLES if (world / f"{name}.parquet").exists()})
"""

MEASURE = """
import json, resource, sys, time
from p4pkit.measures import run_measures
from p4pkit.store import Store
with Store(sys.argv[1], read_only=True, memory_limit=sys.argv[3] or None) as store:
    started = time.perf_counter()
    store.connection.sql("select count(*), count(distinct patient_id), max(start), sum(value_num) from events").fetchall()
    scan = time.perf_counter() - started
    compiling = [0.0]
    compiler = type(store.backend.compiler)
    to_sqlglot = compiler.to_sqlglot
    def timed_compile(*args, **kwargs):
        began = time.perf_counter()
        try:
            return to_sqlglot(*args, **kwargs)
        finally:
            compiling[0] += time.perf_counter() - began
    compiler.to_sqlglot = timed_compile
    started = time.perf_counter()
    results = run_measures(store, sys.argv[2].split(","), "2025-01-01:2025-12-31")
    seconds = time.perf_counter() - started
    events = store.count("events")
peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({
    "events": events,
    "bare_events_scan_seconds": round(scan, 3),
    "run_measures_seconds": round(seconds, 2),
    "compile_seconds": round(compiling[0], 2),
    "execute_seconds": round(seconds - compiling[0], 2),
    "ratio_to_bare_scan": round(seconds / scan, 1),
    "result_rows": results.num_rows,
    "peak_rss_mb": round(peak_kb / 1024, 1),
}))
"""


def prepare(size: int, db: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-c", PREPARE, str(size), str(Path(tmp) / "world"), str(db)], capture_output=True, text=True, check=True)


def run(size: int, measures: str, stores: Path | None, memory_limit: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        db = (stores or Path(tmp)) / f"store{size}.duckdb"
        if not db.exists():
            prepare(size, db)
        done = subprocess.run([sys.executable, "-c", MEASURE, str(db), measures, memory_limit], capture_output=True, text=True, check=True)
    return {"patients": size, **json.loads(done.stdout.strip().splitlines()[-1])}


def main() -> None:
    from p4pkit.measures.library import LIBRARY

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--stores", type=Path, help="keep and reuse generated stores in this folder")
    parser.add_argument("--measures", default=",".join(LIBRARY))
    parser.add_argument("--memory-limit", default="3GB", help="DuckDB memory_limit (work beyond it spills to disk); '' for DuckDB's default")
    args = parser.parse_args()
    if args.stores:
        args.stores.mkdir(parents=True, exist_ok=True)
    results = [run(n, args.measures, args.stores, args.memory_limit) for n in args.patients]
    report = {"benchmark": "measures.run_measures", "measures": args.measures, "duckdb_memory_limit": args.memory_limit, "results": results}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
