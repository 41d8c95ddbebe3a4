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

Two reference scans, both in the same process before the run: the bare scan (`count(*)`,
`count(distinct patient_id)`, `max(start)`, `sum(value_num)`: four columns, the figure the target
was set against) and `full_events_scan_seconds`, one aggregate touching every column of events the
measures read (`ratio_to_full_scan`). CPU seconds (user + system, all threads) are reported beside
wall times, and the load average when the run ended, because the machine is shared.
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

# Every column of events that some measure source reads (`measures.sources.Events`): max() makes
# DuckDB read each value, sums the numbers.
FULL_SCAN = (
    "select count(*), max(event_id), max(patient_id), max(encounter_id), max(kind), max(code_system), max(code), "
    "max(start), max(\"end\"), sum(value_num), max(value_code_system), max(value_code), max(status), bool_or(negated), "
    "max(negation_reason_system), max(negation_reason_code), sum(days_supply), max(category), max(intent), "
    "max(recorded), max(body_site_system), max(body_site_code) from events"
)

MEASURE = """
import json, resource, sys, time
from p4pkit.measures import run_measures
from p4pkit.store import Store
def cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
def timed(run):
    wall, began = time.perf_counter(), cpu()
    out = run()
    return out, time.perf_counter() - wall, cpu() - began
with Store(sys.argv[1], read_only=True, memory_limit=sys.argv[3] or None) as store:
    bare = "select count(*), count(distinct patient_id), max(start), sum(value_num) from events"
    _, scan, scan_cpu = timed(lambda: store.connection.sql(bare).fetchall())
    _, full, full_cpu = timed(lambda: store.connection.sql(sys.argv[4]).fetchall())
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
    results, seconds, run_cpu = timed(lambda: run_measures(store, sys.argv[2].split(","), "2025-01-01:2025-12-31"))
    events = store.count("events")
peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({
    "events": events,
    "bare_events_scan_seconds": round(scan, 3),
    "bare_events_scan_cpu_seconds": round(scan_cpu, 2),
    "full_events_scan_seconds": round(full, 3),
    "full_events_scan_cpu_seconds": round(full_cpu, 2),
    "run_measures_seconds": round(seconds, 2),
    "run_measures_cpu_seconds": round(run_cpu, 1),
    "compile_seconds": round(compiling[0], 2),
    "execute_seconds": round(seconds - compiling[0], 2),
    "ratio_to_bare_scan": round(seconds / scan, 1),
    "ratio_to_full_scan": round(seconds / full, 1),
    "cpu_ratio_to_bare_scan": round(run_cpu / scan_cpu, 1),
    "cpu_ratio_to_full_scan": round(run_cpu / full_cpu, 1),
    "result_rows": results.num_rows,
    "peak_rss_mb": round(peak_kb / 1024, 1),
    "load_average": open("/proc/loadavg").read().split()[:3],
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
        done = subprocess.run([sys.executable, "-c", MEASURE, str(db), measures, memory_limit, FULL_SCAN], capture_output=True, text=True, check=True)
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
