"""Read the MIPS quality benchmarks published in CMSgov/qpp-measures-data (`benchmarks/<year>.json`).

An adapter only: it turns the JSON array into one flat table, one row per (measure, submission
method), with the percentile cut points as columns `p1, p10, ..., p90, p99`. The scoring lives in
`p4pkit.programs.mips`. The field meanings follow `benchmarks-schema.yaml` in the same repository:
`percentiles` are the percentiles of the benchmark-year distribution of performance rates (ascending
in the rate, also for inverse measures), `isToppedOutByProgram` caps a measure at 7 points.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from p4pkit.cms._files import parse_numbers, read_cms_csv, write_csv_atomically
from p4pkit.errors import Problem, UserError

PERCENTILE_KEYS = (1, 10, 20, 30, 40, 50, 60, 70, 80, 90, 99)
RESULT_COUNTS = ("numerator", "denominator", "reported", "eligible")

_REQUIRED = ("measureId", "performanceYear", "benchmarkYear", "submissionMethod", "percentiles")


def load_benchmarks(path: str | Path) -> pd.DataFrame:
    """One row per benchmark: measure_id, submission_method, performance_year, benchmark_year,
    metric_type, is_inverse, is_topped_out, is_topped_out_by_program, p1 ... p99.

    Raises `UserError` listing every record that lacks a required field or a percentile.
    """
    path = Path(path)
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise UserError(
            f"cannot read MIPS benchmarks from {path}: {error}",
            hint="Give the benchmarks/<year>.json file of CMSgov/qpp-measures-data.",
        ) from error
    if not isinstance(records, list):
        raise UserError(f"{path}: expected a JSON array of benchmark records")
    rows, problems = [], []
    for index, record in enumerate(records, start=1):
        missing = [key for key in _REQUIRED if key not in record]
        percentiles = record.get("percentiles") or {}
        missing += [f"percentiles.{k}" for k in PERCENTILE_KEYS if str(k) not in percentiles]
        if missing:
            problems.append(Problem(str(path), index, ", ".join(missing), "missing in this benchmark record"))
            continue
        row = {
            "measure_id": str(record["measureId"]),
            "submission_method": record["submissionMethod"],
            "performance_year": int(record["performanceYear"]),
            "benchmark_year": int(record["benchmarkYear"]),
            "metric_type": record.get("metricType", ""),
            "is_inverse": bool(record.get("isInverse", False)),
            "is_topped_out": bool(record.get("isToppedOut", False)),
            "is_topped_out_by_program": bool(record.get("isToppedOutByProgram", False)),
        }
        row.update({f"p{k}": float(percentiles[str(k)]) for k in PERCENTILE_KEYS})
        rows.append(row)
    if problems:
        raise UserError(
            f"{len(problems)} MIPS benchmark record(s) are incomplete",
            problems,
            hint="Each record needs measureId, performanceYear, benchmarkYear, submissionMethod and all 11 percentiles.",
        )
    return pd.DataFrame(rows)


def run_mips_points(benchmarks: str | Path, results: str | Path, out_dir: str | Path, *,
                    small_practice: bool = False) -> pd.DataFrame:
    """`p4p cms mips-points`: achievement points per entity × measure, written to `out_dir/mips_points.csv`.

    `results` is a CSV with entity_id, measure_id (as in the benchmark file, e.g. "001"),
    submission_method (claims, registry, electronicHealthRecord, ...) and the counts numerator,
    denominator, reported and eligible (see `programs.mips.measure_points`).
    """
    from p4pkit.programs.mips import measure_points

    name = Path(results).name
    frame = read_cms_csv(results, ("entity_id", "measure_id", "submission_method", *RESULT_COUNTS))
    counts = parse_numbers(frame, RESULT_COUNTS, name, missing=frozenset())
    table = frame[["entity_id", "measure_id", "submission_method"]].join(counts)
    points = measure_points(table, load_benchmarks(benchmarks), small_practice=small_practice)
    write_csv_atomically(points, out_dir, "mips_points.csv")
    return points
