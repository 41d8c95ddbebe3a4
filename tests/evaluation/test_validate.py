"""`p4p validate` on a small world (10,000 patients in 40 practices of 250 on average, one seed,
one outcome and one process measure to keep it quick): the report's shape and the direction of its
figures. The default world's figures are in docs/validity.md."""

from __future__ import annotations

import json
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor

import pandas as pd
import pytest
from scipy import stats
from typer.testing import CliRunner

from p4pkit.cli import app
from p4pkit.errors import UserError
from p4pkit.evaluation import validate
from p4pkit.evaluation.validate import false_flag_summary, interval_coverage, report_json, validity_report, write_report

TARGETS = {
    "adjusted_and_shrunken_beat_raw_everywhere", "adjusted_outcome_spearman_at_least_0.85",
    "worst_quartile_misplacement_at_least_halved", "penalty_deprivation_corr_below_0.1_after_adjustment",
    "detection_recall_at_least_0.9", "detection_precision_at_least_0.8", "did_interval_contains_planted_effect",
    "false_flags_within_limits",
}


@pytest.fixture(scope="module")
def report() -> dict:
    return validity_report(10_000, [2], mean_list_size=250, outcome_measures={"CMS165": True}, process_measures={"CMS138": True})


def _row(rows: list[dict], **match) -> dict:
    (found,) = [r for r in rows if all(r[k] == v for k, v in match.items())]
    return found


def test_report_shape(report):
    assert set(report) == {"world", "quality", "quality_by_seed", "detection", "false_flags", "program_effect",
                           "program_effect_coverage", "targets"}
    assert report["world"]["practices"] == [40] and report["world"]["seeds"] == [2]
    methods = {(r["measure"], r["method"]) for r in report["quality"]}
    assert methods == {("CMS165", m) for m in ("raw", "oe", "adjusted", "shrunken", "true")} | {("CMS138", m) for m in ("raw", "shrunken", "true")}
    assert all(r["spearman_sd"] == 0 for r in report["quality"])  # one seed: no spread
    assert len(report["quality_by_seed"]) == len(report["quality"])
    assert {r["behaviour"] for r in report["detection"]} == {"exception_reporting", "deregistration", "upcoding"}
    assert {r["check"] for r in report["false_flags"]} == {"exception_reporting", "deregistration_high_risk", "coding_intensity"}
    assert set(report["targets"]) == TARGETS
    assert json.loads(report_json(report))["world"]["patients"] == 10_000


def test_adjusted_and_shrunken_outcome_scores_beat_raw_on_every_figure(report):
    raw = _row(report["quality"], measure="CMS165", method="raw")
    for method in ("adjusted", "shrunken"):
        better = _row(report["quality"], measure="CMS165", method=method)
        assert better["spearman"] > raw["spearman"], method
        assert abs(better["score_deprivation_corr"]) < abs(raw["score_deprivation_corr"]), method
        assert better["worst_quartile_misplaced"] < raw["worst_quartile_misplaced"], method
        assert abs(better["penalty_deprivation_corr"]) < abs(raw["penalty_deprivation_corr"]), method
    assert _row(report["quality"], measure="CMS165", method="true")["spearman"] == pytest.approx(1.0)
    assert 0 < raw["mean_reliability"] < 1


def test_process_shrinkage_is_no_worse_than_raw(report):
    raw = _row(report["quality"], measure="CMS138", method="raw")
    shrunken = _row(report["quality"], measure="CMS138", method="shrunken")
    assert shrunken["spearman"] >= raw["spearman"]
    assert shrunken["worst_quartile_misplaced"] <= raw["worst_quartile_misplaced"]


def test_planted_behaviours_found_and_program_effect_recovered(report):
    exceptions = _row(report["detection"], behaviour="exception_reporting")
    # lists of 250 patients give the funnel little power: most, not all, exception reporters stand out
    assert exceptions["recall"] >= 0.5 and exceptions["precision"] == 1.0
    for row in report["detection"]:
        assert row["precision"] >= 0.8  # what is flagged is gaming
        assert row["hits"] <= min(row["planted"], row["flagged"])
    incentivised = [row for row in report["program_effect"] if row["planted"] < 0]
    assert len(incentivised) == 2
    for row in incentivised:  # 40 clusters: the direction and size, not the 95% coverage
        assert row["upper"] < 0
        assert abs(row["estimate"] - row["planted"]) < abs(row["planted"]) / 2
    (placebo,) = [row for row in report["program_effect"] if row["planted"] == 0]
    assert abs(placebo["estimate"]) < 35 / 10, placebo  # cholesterol (SD about 35 mg/dL) is not incentivised
    assert sum(r["flagged"] for r in report["false_flags"]) == 0


def test_false_flags_pooled_over_worlds_against_the_exact_binomial():
    per_world = pd.DataFrame({"check": ["a", "a", "b"], "entities": [200, 200, 150], "flagged": [1, 2, 0], "seed": [1, 2, 1]})
    pooled = false_flag_summary(per_world).set_index("check")
    p = stats.norm.sf(3.0)
    assert pooled.loc["a", "entities"] == 400 and pooled.loc["a", "flagged"] == 3
    assert pooled.loc["a", "expected"] == pytest.approx(400 * p)
    assert pooled.loc["a", "p_at_least"] == pytest.approx(1 - stats.binom.cdf(2, 400, p))  # about 0.017
    assert pooled.loc["b", "p_at_least"] == pytest.approx(1.0)


def test_interval_coverage_against_the_binomial():
    effect = pd.DataFrame({"covers_planted": [True] * 8 + [False]})
    coverage = interval_coverage(effect)
    assert coverage["intervals"] == 9 and coverage["covering"] == 8
    assert coverage["p_at_least_misses"] == pytest.approx(1 - 0.95**9)  # about 0.37
    assert interval_coverage(pd.DataFrame({"covers_planted": [True] * 9}))["p_at_least_misses"] == pytest.approx(1.0)


def test_write_report_atomically(tmp_path, report):
    path = write_report(report, tmp_path / "out" / "validity.json")
    assert json.loads(path.read_text())["targets"] == report["targets"]
    assert [p.name for p in path.parent.iterdir()] == ["validity.json"]


def test_too_small_a_world_is_a_user_error():
    with pytest.raises(UserError, match="too small"):
        validity_report(100, 1)
    result = CliRunner().invoke(app, ["validate", "--patients", "100"])
    assert result.exit_code == 2
    assert "too small" in result.output


def test_a_negative_seed_is_a_user_error_before_any_world_is_built(monkeypatch):
    monkeypatch.setattr(validate, "_one_world", lambda *arguments: pytest.fail("a world was built"))
    with pytest.raises(UserError, match="--seed -1: a seed is a whole number, 0 or more"):
        validity_report(5_000, [1, -1], jobs=2)
    result = CliRunner().invoke(app, ["validate", "--patients", "5000", "--seed", "1", "--seed", "-1"])
    assert result.exit_code == 2 and "a seed is a whole number" in result.output


def test_seeds_run_in_worker_processes_give_the_same_report(report):
    steps = []
    parallel = validity_report(10_000, [2], mean_list_size=250, outcome_measures={"CMS165": True},
                               process_measures={"CMS138": True}, jobs=2, on_progress=lambda *step: steps.append(step))
    assert steps == [("1 seed(s), 1 at a time", 0, 1), ("seed 2 done", 1, 1)]
    assert parallel["quality"] == report["quality"]
    assert parallel["detection"] == report["detection"]


def _stub_world(calls: list):
    """A stand-in for `_one_world` that records its call and returns one world's tables in the
    shape the summaries need (each world's practice count is 10 x its seed, to see the order)."""
    def one_world(patients, seed, mean_list_size, outcome_measures, process_measures):
        calls.append(("world", patients, seed, mean_list_size))
        figures = dict.fromkeys(validate.FIGURES, 0.5)
        tables = {
            "quality": pd.DataFrame([{"measure": "CMS165", "kind": "outcome", "method": m, **figures} for m in ("raw", "adjusted", "shrunken")]),
            "detection": pd.DataFrame([{"check": "exception_reporting", "behaviour": "exception_reporting", "planted": 2, "flagged": 2, "hits": 2}]),
            "false_flags": pd.DataFrame([{"check": "exception_reporting", "entities": 40, "flagged": 0}]),
            "program_effect": pd.DataFrame([{"outcome": "HbA1c", "covers_planted": True}]),
            "practices": pd.DataFrame({"practices": [10 * seed]}),
        }
        return {name: table.assign(seed=seed) for name, table in tables.items()}
    return one_world


def test_one_seed_at_a_time_reports_each_seed_as_it_starts(monkeypatch):
    """jobs=1 runs in this process: progress says 'seed s' with the seeds done so far just before
    each seed's worlds are built, then 'seeds done'; the worlds are kept in the order of the seeds."""
    calls = []
    monkeypatch.setattr(validate, "_one_world", _stub_world(calls))
    report = validity_report(5_000, [3, 1, 2], mean_list_size=250, on_progress=lambda *step: calls.append(("progress", *step)))
    assert calls == [
        ("progress", "seed 3", 0, 3), ("world", 5_000, 3, 250),
        ("progress", "seed 1", 1, 3), ("world", 5_000, 1, 250),
        ("progress", "seed 2", 2, 3), ("world", 5_000, 2, 250),
        ("progress", "seeds done", 3, 3),
    ]
    assert report["world"]["seeds"] == [3, 1, 2] and report["world"]["practices"] == [30, 10, 20]


def _fail_seed_99_else_wait(patients, seed, mean_list_size, outcome_measures, process_measures):
    """A worker's world: seed 99 fails at once, the others take a second."""
    if seed == 99:
        raise RuntimeError("world 99 could not be built")
    time.sleep(1)
    return {}


def test_a_failing_seed_in_a_worker_cancels_the_queued_seeds_and_reaches_the_caller(monkeypatch):
    """With jobs > 1 the first failure is raised to the caller (the worker's own error), seeds not
    yet started are cancelled, and nothing after the start is reported as done. Workers are spawned
    in production; here they are forked so that they run the stand-in world above. The pool hands
    out at most 2 x jobs + 1 seeds before the failure comes back (one running on each worker, a
    call queue of jobs + 1), so with jobs=2 and seed 99 first, the seventh seed is still queued."""
    monkeypatch.setattr(validate, "_one_world", _fail_seed_99_else_wait)
    fork = multiprocessing.get_context("fork")
    monkeypatch.setattr(validate.multiprocessing, "get_context", lambda method: fork)
    submitted = {}

    class KeepFutures(ProcessPoolExecutor):
        def submit(self, fn, /, *args, **kwargs):
            future = super().submit(fn, *args, **kwargs)
            submitted[args[1]] = future
            return future

    monkeypatch.setattr(validate, "ProcessPoolExecutor", KeepFutures)
    seeds = [99, 1, 2, 3, 4, 5, 6]
    steps = []
    with pytest.raises(RuntimeError, match="world 99 could not be built") as failure:
        validity_report(5_000, seeds, jobs=2, on_progress=lambda *step: steps.append(step))
    assert submitted[99].exception() is failure.value
    assert steps == [("7 seed(s), 2 at a time", 0, 7)]
    cancelled = [seed for seed in seeds if submitted[seed].cancelled()]
    assert 6 in cancelled and cancelled == seeds[len(seeds) - len(cancelled):], cancelled  # the queued tail, never started
