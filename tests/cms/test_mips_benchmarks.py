"""MIPS achievement points worked by hand from the official qpp-measures-data benchmark files."""

from __future__ import annotations

import json
import sys

import pandas as pd
import pytest

from p4pkit.cli import main
from p4pkit.cms.mips import load_benchmarks, run_mips_points
from p4pkit.errors import UserError
from p4pkit.programs.mips import decile_points


@pytest.fixture(scope="module")
def bench_2024(shared_data):
    return load_benchmarks(shared_data / "cms/mips_benchmarks/benchmarks_2024.json")


@pytest.fixture(scope="module")
def bench_2025(shared_data):
    return load_benchmarks(shared_data / "cms/mips_benchmarks/benchmarks_2025.json")


def _points(bench, measure, method, rate):
    row = bench[(bench.measure_id == measure) & (bench.submission_method == method)].iloc[0]
    return decile_points(rate, {k: row[f"p{k}"] for k in range(10, 100, 10)}, bool(row.is_inverse))


def test_every_record_is_read(bench_2024, bench_2025):
    assert len(bench_2024) == 358 and len(bench_2025) == 380
    assert bench_2024.set_index(["measure_id", "submission_method"]).index.is_unique


@pytest.mark.parametrize(
    ("rate", "decile", "points"),
    [
        (70.0, 6, 6 + (70 - 68.98) / (72 - 68.98)),  # p50 = 68.98 <= 70 < p60 = 72
        (40.0, 1, 1 + 40 / 45.28),  # below p10: decile 1 runs from 0 to p10
        (84.04, 10, 10.0),  # exactly p90 starts decile 10
        (84.03, 9, 9 + (84.03 - 78.7) / (84.04 - 78.7)),
    ],
)
def test_direct_measure_236_ehr_2024(bench_2024, rate, decile, points):
    assert _points(bench_2024, "236", "electronicHealthRecord", rate) == (decile, pytest.approx(points))


@pytest.mark.parametrize(
    ("rate", "decile", "points"),
    [
        (30.0, 6, 6 + (34.15 - 30) / (34.15 - 29.05)),  # inverse: p40 = 29.05 < 30 <= p50 = 34.15
        (95.0, 1, 1 + (100 - 95) / (100 - 93.62)),  # worse than p90: decile 1 runs from 100 down to p90
        (14.53, 10, 10.0),  # at or below p10 is the top decile
        (93.62, 2, 2.0),  # exactly p90 starts decile 2
    ],
)
def test_inverse_measure_001_ehr_2024(bench_2024, rate, decile, points):
    assert _points(bench_2024, "001", "electronicHealthRecord", rate) == (decile, pytest.approx(points))


def test_inverse_flat_benchmark_001_claims_2025(bench_2025):
    # Flat benchmark: cut points 10, 20, ..., 90. 27.3% sits between p20 = 20 and p30 = 30 -> decile 8.
    assert _points(bench_2025, "001", "claims", 27.3) == (8, pytest.approx(8 + (30 - 27.3) / 10))


def test_inverse_measure_with_empty_deciles_238_registry_2024(bench_2024):
    # p10..p80 are all 0: a rate of 0 is decile 10; 0.01 sits between p80 = 0 and p90 = 0.02 -> decile 2.
    assert _points(bench_2024, "238", "registry", 0.0) == (10, 10.0)
    assert _points(bench_2024, "238", "registry", 0.01) == (2, pytest.approx(2.5))


@pytest.mark.parametrize(
    ("rate", "decile", "points"),
    [
        (99.5, 4, 4 + (99.5 - 99.21) / (100 - 99.21)),  # p30 = 99.21 <= 99.5 < p40 = 100
        (97.0, 3, 3 + (97 - 96.46) / (99.21 - 96.46)),
        (100.0, 10, 10.0),  # decile 10 before the topped-out cap (applied in measure_points)
    ],
)
def test_topped_out_measure_117_registry_2024(bench_2024, rate, decile, points):
    row = bench_2024[(bench_2024.measure_id == "117") & (bench_2024.submission_method == "registry")].iloc[0]
    assert row.is_topped_out_by_program
    assert _points(bench_2024, "117", "registry", rate) == (decile, pytest.approx(points))


def test_incomplete_record_is_a_user_error(tmp_path):
    path = tmp_path / "bench.json"
    path.write_text(json.dumps([{"measureId": "001", "performanceYear": 2024, "benchmarkYear": 2022,
                                 "submissionMethod": "claims", "percentiles": {"10": 1}}]))
    with pytest.raises(UserError) as caught:
        load_benchmarks(path)
    assert caught.value.problems[0].row == 1
    assert "percentiles.1" in caught.value.problems[0].column


def test_run_mips_points_writes_the_points_table(shared_data, tmp_path):
    results = tmp_path / "results.csv"
    results.write_text("entity_id,measure_id,submission_method,numerator,denominator,reported,eligible\n"
                       "T1,236,electronicHealthRecord,70,100,100,100\n"
                       "T1,117,registry,50,50,60,60\n")
    out = run_mips_points(shared_data / "cms/mips_benchmarks/benchmarks_2024.json", results, tmp_path / "out")
    written = pd.read_csv(tmp_path / "out" / "mips_points.csv", dtype={"measure_id": str})
    assert written["measure_id"].to_list() == ["236", "117"]  # leading zeros and ids kept as text
    assert written["points"].to_list() == pytest.approx([6 + 1.02 / 3.02, 7.0])
    assert out["rule"].to_list() == ["benchmark", "topped-out cap"]


def test_cli_exits_2_naming_the_unreadable_count(shared_data, tmp_path, monkeypatch, capsys):
    results = tmp_path / "results.csv"
    results.write_text("entity_id,measure_id,submission_method,numerator,denominator,reported,eligible\n"
                       "T1,236,electronicHealthRecord,seventy,100,100,100\n")
    monkeypatch.setattr(sys, "argv", ["p4p", "cms", "mips-points", "--results", str(results), "--out", str(tmp_path / "out"),
                                      "--benchmarks", str(shared_data / "cms/mips_benchmarks/benchmarks_2024.json")])
    with pytest.raises(SystemExit) as exit_:
        main()
    assert exit_.value.code == 2
    assert "row 1, column 'numerator'" in " ".join(capsys.readouterr().err.split())
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("year", [2024, 2025])
def test_points_on_every_proportion_benchmark_are_bounded_and_monotone(shared_data, year):
    from p4pkit.programs.mips import PROPORTION_METRICS

    bench = load_benchmarks(shared_data / f"cms/mips_benchmarks/benchmarks_{year}.json")
    rates = [r / 2 for r in range(0, 201)]
    checked = 0
    for row in bench[bench.metric_type.isin(PROPORTION_METRICS)].itertuples(index=False):
        cuts = {k: getattr(row, f"p{k}") for k in range(10, 100, 10)}
        points = [decile_points(r, cuts, row.is_inverse)[1] for r in rates]
        if row.is_inverse:
            points.reverse()  # lower rates are better: read from 100 down to 0
        assert all(1.0 <= p <= 10.0 for p in points)
        assert all(a <= b for a, b in zip(points, points[1:]))
        checked += 1
    assert checked > 300
