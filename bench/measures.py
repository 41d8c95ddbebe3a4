"""Benchmark `p4pkit.measures.run_measures`: the five 2025 eCQMs on N synthetic patients, as JSON.

Usage: python bench/measures.py [SIZE ...]   (default: 10000 100000)

Per size: a child process generates the synthetic world (`p4pkit.synth.generate`) and loads it into
a DuckDB store (its tables written as generated: the generator's output is canonical); a second, fresh child times a bare DuckDB scan of the
events table (the floor any measure pays) and then `run_measures` over the five eCQMs, and
reports its own peak RSS, so generation and loading do not count.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

ECQMS = ("CMS122", "CMS125", "CMS130", "CMS138", "CMS165")

PREPARE = """
import sys
from pathlib import Path
import pyarrow.parquet as pq
from p4pkit.model.schemas import TABLES
from p4pkit.store import Store
from p4pkit.synth import generate
generate(int(sys.argv[1]), 20250101, sys.argv[2])
with Store(sys.argv[3]) as store:
    store.replace_tables({name: pq.read_table(Path(sys.argv[2]) / f"{name}.parquet") for name in TABLES})
"""

MEASURE = """
import json, resource, sys, time
from p4pkit.measures import run_measures
from p4pkit.store import Store
with Store(sys.argv[1]) as store:
    started = time.perf_counter()
    store.connection.sql("select count(*), count(distinct patient_id), max(start), sum(value_num) from events").fetchall()
    scan = time.perf_counter() - started
    started = time.perf_counter()
    results = run_measures(store, sys.argv[2].split(","), "2025-01-01:2025-12-31")
    seconds = time.perf_counter() - started
    events = store.count("events")
peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({
    "events": events,
    "bare_events_scan_seconds": round(scan, 3),
    "run_measures_seconds": round(seconds, 2),
    "result_rows": results.num_rows,
    "peak_rss_mb": round(peak_kb / 1024, 1),
}))
"""


def run(size: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        world, db = Path(tmp) / "world", Path(tmp) / "store.duckdb"
        subprocess.run([sys.executable, "-c", PREPARE, str(size), str(world), str(db)], capture_output=True, text=True, check=True)
        done = subprocess.run([sys.executable, "-c", MEASURE, str(db), ",".join(ECQMS)], capture_output=True, text=True, check=True)
    return {"patients": size, **json.loads(done.stdout.strip().splitlines()[-1])}


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:]] or [10_000, 100_000]
    print(json.dumps({"benchmark": "measures.run_measures", "measures": ",".join(ECQMS), "results": [run(n) for n in sizes]}, indent=2))


if __name__ == "__main__":
    main()
