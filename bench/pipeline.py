"""Benchmark a whole program run, stage by stage, against a bare DuckDB scan of the same events.

Usage: python bench/pipeline.py [SIZE ...] [--ten-million] [--memory-limit 16GB] [--ingest load|attach]
                                [--program programs/mssp.yaml] [--worlds DIR]
(default sizes: 100000 1000000; --ten-million adds 10,000,000).

Per size, a child process generates the synthetic world (`p4pkit.synth.generate`; not timed: see
bench/synth.py), and a second, fresh child runs the pipeline: ingest (`load_folder`, DuckDB capped
at --memory-limit and spilling to a temp folder; or with --ingest attach, the generated Parquet
attached as views, no copy and no validation; --worlds DIR keeps each world in DIR/w<N> and reuses
it later, as generating 10M patients takes far longer than running on them), a bare scan of the loaded
events table (count, distinct patients, max date, sum of values: the least any analysis of the events
pays), a full scan (one pass over every column of every table the run reads, max() of each, so every
value is decoded: the least a run that reads all its inputs pays; `full_scan_seconds`,
`ratio_to_full_scan`), then `run_program` on the loaded store. Stages are timed by wrapping the
functions the run calls, so the run itself is unchanged: attribution (`context._attribution`),
measures (`run_measures`, summaries, shrinkage), risk adjustment (CMS-HCC V28 in the shared-savings
binding), payment (the ledger), scoring (the rest of the binding) and report (tables, ledger.json,
report.html). Times are exclusive (a stage inside another is not counted twice). Peak RSS per stage comes from Linux's
VmHWM, reset at each stage's start (/proc/self/clear_refs), so each figure is that stage's own
high-water mark, DuckDB's memory included (it runs in the process).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PREPARE = """
import sys
from p4pkit.synth import generate
generate(int(sys.argv[1]), 20250101, sys.argv[2])
"""

PIPELINE = r"""
import json, os, resource, sys, time
from pathlib import Path

world, work, memory_limit, program, ingest = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
os.environ["P4P_DUCKDB_MEMORY_LIMIT"] = memory_limit
os.environ["P4P_DUCKDB_TEMP_DIRECTORY"] = str(work / "spill")

import p4pkit.ingest
import p4pkit.programs.bindings as bindings
import p4pkit.programs.bindings.shared_savings as ss
import p4pkit.programs.context as context
import p4pkit.programs.runner as runner
from p4pkit.store import Store


def high_water_mb():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


def reset_high_water():
    Path("/proc/self/clear_refs").write_text("5")


stages, stack = {}, []
# The tables a run of programs/mssp.yaml reads; the full scan takes max() of every column of each.
FULL_SCAN_TABLES = ("patients", "enrollments", "encounters", "events", "claim_lines", "clinicians", "organizations")


def cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def timed(stage, fn):
    def wrapper(*args, **kwargs):
        if stack:
            stack[-1]["peak"] = max(stack[-1]["peak"], high_water_mb())
        reset_high_water()
        frame = {"stage": stage, "started": time.perf_counter(), "cpu": cpu_seconds(), "inner": 0.0, "inner_cpu": 0.0, "peak": 0.0}
        stack.append(frame)
        try:
            return fn(*args, **kwargs)
        finally:
            stack.pop()
            spent, burnt = time.perf_counter() - frame["started"], cpu_seconds() - frame["cpu"]
            record = stages.setdefault(stage, {"seconds": 0.0, "cpu_seconds": 0.0, "peak_rss_mb": 0.0})
            record["seconds"] += spent - frame["inner"]
            record["cpu_seconds"] += burnt - frame["inner_cpu"]
            record["peak_rss_mb"] = max(record["peak_rss_mb"], frame["peak"], high_water_mb())
            # Progress on stderr (shown if the run fails), so a long run that dies says how far it got.
            print(f"{stage}: {spent:.1f} s, {burnt:.1f} CPU-s, peak {high_water_mb():.0f} MB", file=sys.stderr, flush=True)
            if stack:
                stack[-1]["inner"] += spent
                stack[-1]["inner_cpu"] += burnt
    return wrapper


context._attribution = timed("attribution", context._attribution)
context.run_measures = timed("measures", context.run_measures)
context.summarise = timed("measures", context.summarise)
context._add_shrinkage = timed("measures", context._add_shrinkage)
ss._mean_risk = timed("risk_adjustment", ss._mean_risk)
ss.model.shared_savings_ledger = timed("payment", ss.model.shared_savings_ledger)
runner._write_outputs = timed("report", runner._write_outputs)
choose = bindings.binding_for
runner.binding_for = lambda model: timed("scoring", choose(model))

started, cpu_started = time.perf_counter(), cpu_seconds()


def attach(folder, db):
    with Store(db) as views:
        views.attach_parquet(folder)


if ingest == "attach":
    timed("ingest", attach)(world, work / "store.duckdb")
else:
    timed("ingest", p4pkit.ingest.load_folder)(world, work / "store.duckdb", memory_limit=memory_limit)
with Store(work / "store.duckdb", read_only=True) as store:
    scan_started, scan_cpu = time.perf_counter(), cpu_seconds()
    store.connection.sql("select count(*), count(distinct patient_id), max(start), sum(value_num) from events").fetchall()
    scan, scan_cpu = time.perf_counter() - scan_started, cpu_seconds() - scan_cpu
    events = store.count("events")
    full_started, full_cpu = time.perf_counter(), cpu_seconds()
    for name in FULL_SCAN_TABLES:
        maxima = ", ".join('max("' + row[0] + '")' for row in store.connection.sql(f"describe {name}").fetchall())
        store.connection.sql(f"select count(*), {maxima} from {name}").fetchall()
    full_scan, full_scan_cpu = time.perf_counter() - full_started, cpu_seconds() - full_cpu
run_started = time.perf_counter()
result = runner.run_program(program, work / "store.duckdb", work / "run")
run_seconds = time.perf_counter() - run_started
total, total_cpu = time.perf_counter() - started - scan - full_scan, cpu_seconds() - cpu_started - scan_cpu - full_scan_cpu
spill = sum(p.stat().st_size for p in (work / "spill").rglob("*") if p.is_file()) if (work / "spill").exists() else 0
print("\n" + json.dumps({  # own line: DuckDB progress bars end without a newline
    "events": events,
    "patients_attributed": result.patients_attributed,
    "entities_scored": result.entities_scored,
    "stages": {k: {"seconds": round(v["seconds"], 2), "cpu_seconds": round(v["cpu_seconds"], 2), "peak_rss_mb": round(v["peak_rss_mb"])}
               for k, v in stages.items()},
    "run_program_seconds": round(run_seconds, 2),
    "end_to_end_seconds": round(total, 2),
    "end_to_end_cpu_seconds": round(total_cpu, 2),
    "bare_events_scan_seconds": round(scan, 3),
    "bare_events_scan_cpu_seconds": round(scan_cpu, 3),
    "end_to_end_over_bare_scan": round(total / scan, 1),
    "run_over_bare_scan": round(run_seconds / scan, 1),
    "end_to_end_cpu_over_bare_scan_cpu": round(total_cpu / max(scan_cpu, 1e-3), 1),
    "full_scan_seconds": round(full_scan, 3),
    "full_scan_cpu_seconds": round(full_scan_cpu, 3),
    "ratio_to_full_scan": round(total / full_scan, 1),
    "run_over_full_scan": round(run_seconds / full_scan, 1),
    "cpu_ratio_to_full_scan": round(total_cpu / max(full_scan_cpu, 1e-3), 1),
    "load_average": open("/proc/loadavg").read().split()[:3],
    "peak_rss_mb": round(max(v["peak_rss_mb"] for v in stages.values())),
    "duckdb_memory_limit": memory_limit,
    "spill_left_mb": round(spill / 2**20),
}))
"""


def run(size: int, memory_limit: str, program: Path, ingest: str, worlds: Path | None) -> dict:
    with tempfile.TemporaryDirectory(prefix="p4p-bench-") as tmp:
        world, work = (worlds / f"w{size}" if worlds else Path(tmp) / "world"), Path(tmp) / "work"
        work.mkdir()
        if not world.exists():  # generate() renames its folder into place only when complete
            subprocess.run([sys.executable, "-c", PREPARE, str(size), str(world)], capture_output=True, text=True, check=True)
        done = subprocess.run(
            [sys.executable, "-c", PIPELINE, str(world), str(work), memory_limit, str(program), ingest], capture_output=True, text=True
        )
        if done.returncode != 0:
            raise SystemExit(f"pipeline failed for {size:,} patients:\n{done.stderr[-4000:]}")
    return {"patients": size, "ingest": ingest, **json.loads(done.stdout.strip().splitlines()[-1])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[100_000, 1_000_000])
    parser.add_argument("--ten-million", action="store_true", help="also run 10,000,000 patients")
    parser.add_argument("--memory-limit", default="16GB", help="DuckDB memory limit (default 16GB of the machine's 24 GB)")
    parser.add_argument("--program", type=Path, default=ROOT / "programs" / "mssp.yaml")
    parser.add_argument(
        "--ingest", choices=("load", "attach"), default="load",
        help="load: validate and copy into DuckDB (p4p load); attach: stream the generated Parquet as views (Store.attach_parquet)",
    )
    parser.add_argument("--worlds", type=Path, help="keep generated worlds in DIR/w<N> and reuse those that exist")
    args = parser.parse_args()
    sizes = args.sizes + ([10_000_000] if args.ten_million else [])
    results = [run(n, args.memory_limit, args.program, args.ingest, args.worlds) for n in sizes]
    print(json.dumps({"benchmark": "pipeline", "program": args.program.name, "cores": _cores(), "results": results}, indent=2))


def _cores() -> int:
    import os

    return os.cpu_count() or 0


if __name__ == "__main__":
    main()
