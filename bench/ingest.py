"""Benchmark `p4pkit.ingest.load_folder` against the bare copy of the same files, as JSON.

Usage: python bench/ingest.py [--memory-limit SIZE] [--formats parquet,csv] [--world DIR ...] [N_PATIENTS ...]
(default: 20000 200000, both formats)

For each size the synthetic generator writes a world as Parquet (or `--world` names one already
written, e.g. by `p4pkit.synth.generate`); for CSV the same tables are also written as CSV (DuckDB
COPY). Each format is then loaded twice, each time in a fresh child process so that its peak RSS
and CPU seconds are its own:
- `bare`: every file copied into a new DuckDB file with `create table ... as select * from` the
  file, no checks at all: what reading and writing the data costs;
- `load`: `load_folder`, every row through every check, into a new store.
Reported per run: wall and CPU seconds (user + system, all threads; imports excluded), rows,
rows/s, peak RSS, the load average before and after (the machine may be shared: CPU seconds are
the steadier figure), and the load's cost as a multiple of the bare copy.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import duckdb

MEASURE = """
import json, resource, sys, time
def cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
def load_average():
    return " ".join(open("/proc/loadavg").read().split()[:3])
def measured(work):
    load_before, cpu_before, started = load_average(), cpu(), time.perf_counter()
    rows = work()
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": round(seconds, 2), "cpu_seconds": round(cpu() - cpu_before, 2), "rows": rows,
                      "rows_per_second": round(rows / seconds), "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                      "load_average_before": load_before, "load_average_after": load_average()}))
"""

LOAD = MEASURE + """
from p4pkit.ingest import load_folder
def work():
    report = load_folder(sys.argv[1], sys.argv[2], memory_limit=sys.argv[3] or None)
    return sum(report.rows_loaded.values())
measured(work)
"""

BARE = MEASURE + """
from pathlib import Path
import duckdb
def work():
    config = {"memory_limit": sys.argv[3]} if sys.argv[3] else {}
    con = duckdb.connect(sys.argv[2], config=config)
    rows = 0
    for path in sorted(Path(sys.argv[1]).iterdir()):
        reader = {".parquet": "read_parquet", ".csv": "read_csv"}.get(path.suffix)
        if reader:
            con.execute(f"create table {path.stem} as select * from {reader}('{path}')")
            rows += con.execute(f"select count(*) from {path.stem}").fetchall()[0][0]
    con.close()
    return rows
measured(work)
"""

GENERATE = "import sys; from p4pkit.synth import generate; generate(int(sys.argv[1]), 20250101, sys.argv[2])"


def _as_csv(parquet: Path, csv: Path) -> None:
    csv.mkdir()
    con = duckdb.connect()
    for path in parquet.glob("*.parquet"):
        con.execute(f"copy (select * from read_parquet('{path}')) to '{csv / (path.stem + '.csv')}' (format csv, header true)")
    con.close()


def _child(script: str, folder: Path, db: Path, memory_limit: str) -> dict:
    done = subprocess.run([sys.executable, "-c", script, str(folder), str(db), memory_limit], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _compare(folder: Path, tmp: Path, memory_limit: str) -> dict:
    bare = _child(BARE, folder, tmp / f"bare_{folder.name}.duckdb", memory_limit)
    load = _child(LOAD, folder, tmp / f"load_{folder.name}.duckdb", memory_limit)
    ratio = {"cpu": round(load["cpu_seconds"] / bare["cpu_seconds"], 2), "wall": round(load["seconds"] / bare["seconds"], 2)}
    return {"bare": bare, "load": load, "load_over_bare": ratio}


def run(world: Path | None, n_patients: int | None, formats: list[str], memory_limit: str) -> dict:
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        if world is None:
            world = tmp / "parquet"
            # Generated in a child too: Linux carries a parent's peak RSS into the children it starts.
            subprocess.run([sys.executable, "-c", GENERATE, str(n_patients), str(world)], check=True, capture_output=True)
        with duckdb.connect() as con:
            patients = con.execute(f"select count(*) from read_parquet('{world / 'patients.parquet'}')").fetchall()[0][0]
        result = {"patients": patients, "world": str(world), "memory_limit": memory_limit or "DuckDB default (80% of RAM)"}
        if "parquet" in formats:
            result["parquet"] = _compare(world, tmp, memory_limit)
        if "csv" in formats:
            _as_csv(world, tmp / "csv")
            result["csv"] = _compare(tmp / "csv", tmp, memory_limit)
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("patients", type=int, nargs="*", help="sizes to generate (default 20000 200000 unless --world)")
    parser.add_argument("--memory-limit", default="", help="DuckDB memory_limit for both loads ('' for DuckDB's default)")
    parser.add_argument("--formats", default="parquet,csv", help="comma-separated: parquet, csv")
    parser.add_argument("--world", type=Path, action="append", default=[], help="an already generated world (repeatable)")
    args = parser.parse_args()
    formats = args.formats.split(",")
    sizes = args.patients or ([] if args.world else [20_000, 200_000])
    results = [run(w, None, formats, args.memory_limit) for w in args.world] + [run(None, n, formats, args.memory_limit) for n in sizes]
    print(json.dumps({"benchmark": "ingest.load_folder", "results": results}, indent=2))


if __name__ == "__main__":
    main()
