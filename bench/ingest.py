"""Benchmark `p4pkit.ingest.load_folder`: rows per second and peak memory (RSS), as JSON.

Usage: python bench/ingest.py [--memory-limit SIZE] [N_PATIENTS ...]   (default: 20000 200000)

For each size the synthetic generator writes a world as Parquet; the same tables are also written
as CSV (DuckDB COPY). Generation and each load run in fresh child processes, so a load's peak RSS
belongs to that load alone. Every row goes through every check, so rows/s is the validated rate.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import duckdb

CHILD = """
import json, resource, sys, time
from p4pkit.ingest import load_folder
started = time.perf_counter()
report = load_folder(sys.argv[1], sys.argv[2], memory_limit=sys.argv[3] or None)
seconds = time.perf_counter() - started
rows = sum(report.rows_loaded.values())
peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": round(seconds, 2), "rows": rows, "rows_per_second": round(rows / seconds),
                  "events": report.rows_loaded.get("events", 0), "peak_rss_mb": round(peak_kb / 1024, 1)}))
"""

GENERATE = "import sys; from p4pkit.synth import generate; generate(int(sys.argv[1]), 20250101, sys.argv[2])"


def _as_csv(parquet: Path, csv: Path) -> None:
    csv.mkdir()
    con = duckdb.connect()
    for path in parquet.glob("*.parquet"):
        con.execute(f"copy (select * from read_parquet('{path}')) to '{csv / (path.stem + '.csv')}' (format csv, header true)")
    con.close()


def _load(folder: Path, db: Path, memory_limit: str) -> dict:
    done = subprocess.run([sys.executable, "-c", CHILD, str(folder), str(db), memory_limit], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(n_patients: int, memory_limit: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        parquet, csv = Path(tmp) / "parquet", Path(tmp) / "csv"
        # Generated in a child too: Linux carries a parent's peak RSS into the children it starts.
        subprocess.run([sys.executable, "-c", GENERATE, str(n_patients), str(parquet)], check=True, capture_output=True)
        _as_csv(parquet, csv)
        return {
            "patients": n_patients,
            "memory_limit": memory_limit or "DuckDB default (80% of RAM)",
            "parquet": _load(parquet, Path(tmp) / "from_parquet.duckdb", memory_limit),
            "csv": _load(csv, Path(tmp) / "from_csv.duckdb", memory_limit),
        }


def main() -> None:
    args = sys.argv[1:]
    memory_limit = ""
    if args[:1] == ["--memory-limit"]:
        memory_limit, args = args[1], args[2:]
    sizes = [int(a) for a in args] or [20_000, 200_000]
    print(json.dumps({"benchmark": "ingest.load_folder", "results": [run(n, memory_limit) for n in sizes]}, indent=2))


if __name__ == "__main__":
    main()
