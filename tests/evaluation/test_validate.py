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
                           "program_effect_coverage", "targets", "notes"}
    assert report["world"]["practices"] == [40] and report["world"]["seeds"] == [2]
    methods = {(r["measure"], r["method"]) for r in report["quality"]}
    assert methods == {("CMS165", m) for m in ("raw", "oe", "adjusted", "shrunken", "true")} | {("CMS138", m) for m in ("raw", "shrunken", "true")}
    # one seed: a standard deviation is undefined, so every *_sd is null (it read 0.0 before)
    assert all(r[f"{figure}_sd"] is None for r in json.loads(report_json(report))["quality"] for figure in validate.FIGURES)
    assert len(report["quality_by_seed"]) == len(report["quality"])
    assert all(r["spearman_practices"] >= validate.MIN_SPEARMAN_PRACTICES for r in report["quality_by_seed"])
    assert report["notes"] == [] and all(isinstance(v, bool) for v in report["targets"].values())
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
    assert json.loads(report_json(parallel))["quality"] == json.loads(report_json(report))["quality"]  # NaN != NaN
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
        validity_report(5_000, seeds, mean_list_size=250, jobs=2, on_progress=lambda *step: steps.append(step))
    assert submitted[99].exception() is failure.value
    assert steps == [("7 seed(s), 2 at a time", 0, 7)]
    cancelled = [seed for seed in seeds if submitted[seed].cancelled()]
    assert 6 in cancelled and cancelled == seeds[len(seeds) - len(cancelled):], cancelled  # the queued tail, never started


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--mean-list-size", "0"], "--mean-list-size 0: the mean number of patients per practice is a whole number, 1 or more"),
        (["--mean-list-size", "-5"], "--mean-list-size -5: the mean number of patients per practice is a whole number"),
        # the generator keeps at least 20 practices: 6,000 asked for would silently be 250
        (["--mean-list-size", "6000"], "would build 20 practices of 250 patients on average, not the 6,000 asked for"),
        (["--mean-list-size", "250", "--jobs", "0"], "--jobs 0: the number of seeds to run at once is a whole number, 1 or more"),
        (["--mean-list-size", "250", "--jobs", "-2"], "--jobs -2: the number of seeds to run at once"),
    ],
)
def test_impossible_list_sizes_and_job_counts_are_refused_before_any_world_is_built(monkeypatch, arguments, message):
    monkeypatch.setattr(validate, "_one_world", lambda *arguments: pytest.fail("a world was built"))
    mean_list_size = int(arguments[arguments.index("--mean-list-size") + 1])
    jobs = int(arguments[arguments.index("--jobs") + 1]) if "--jobs" in arguments else 1
    with pytest.raises(UserError) as refused:
        validity_report(5_000, [1], mean_list_size=mean_list_size, jobs=jobs)
    assert message in refused.value.message
    result = CliRunner().invoke(app, ["validate", "--patients", "5000", "--seed", "1", *arguments])
    assert result.exit_code == 2, result.output
    assert "error: --" in result.output


def test_the_largest_list_size_the_generator_honours_is_accepted(monkeypatch):
    monkeypatch.setattr(validate, "_one_world", _stub_world(calls := []))
    with pytest.raises(UserError, match="would make 19 practice") as refused:
        validity_report(5_000, [1], mean_list_size=260)  # 19 practices asked for: 20 built
    assert refused.value.hint.startswith("Use --mean-list-size 250 or less with 5,000 patients")
    validity_report(5_000, [1], mean_list_size=250)
    assert calls == [("world", 5_000, 1, 250)]
    from p4pkit.synth.params import Params

    world = lambda patients, size: Params(n_patients=patients, seed=0, mean_list_size=size).practices  # noqa: E731
    assert world(5_000, 250) == 20 and world(5_000, 260) == 20 and world(500_000, 2_500) == 200


def test_a_report_path_that_is_a_folder_or_under_a_file_is_a_user_error(tmp_path, report):
    with pytest.raises(UserError, match="is a folder; the report is one JSON file"):
        validate.check_report_path(tmp_path)
    with pytest.raises(UserError, match="is a folder"):
        write_report(report, tmp_path)  # was IsADirectoryError, after the whole run
    (tmp_path / "file").write_text("")
    with pytest.raises(UserError, match="is a file, so no folder can be made there"):
        validate.check_report_path(tmp_path / "file" / "sub" / "validity.json")
    assert validate.check_report_path(tmp_path / "new" / "validity.json") == tmp_path / "new" / "validity.json"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]  # the check makes nothing


def test_the_cli_refuses_an_out_folder_before_any_world_is_built(monkeypatch, tmp_path):
    monkeypatch.setattr(validate, "_one_world", lambda *arguments: pytest.fail("a world was built"))
    result = CliRunner().invoke(app, ["validate", "--patients", "5000", "--seed", "1", "--mean-list-size", "250", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "is a folder; the report is one JSON file" in " ".join(result.output.split())  # the console wraps


def test_several_seeds_give_standard_deviations_and_one_missing_figure_makes_the_mean_missing(monkeypatch):
    monkeypatch.setattr(validate, "_one_world", _stub_world([]))
    two = validity_report(5_000, [1, 2], mean_list_size=250)
    assert all(r["spearman_sd"] == 0.0 for r in two["quality"])  # two equal figures: a spread of 0, not undefined
    one = validity_report(5_000, [1], mean_list_size=250)
    assert all(json.loads(report_json(one))["quality"][0][f"{figure}_sd"] is None for figure in validate.FIGURES)

    def seed_2_has_no_spearman(patients, seed, mean_list_size, outcome_measures, process_measures):
        world = _stub_world([])(patients, seed, mean_list_size, outcome_measures, process_measures)
        world["quality"]["spearman_practices"] = 5 if seed == 1 else 1
        if seed == 2:
            world["quality"]["spearman"] = float("nan")
        return world

    monkeypatch.setattr(validate, "_one_world", seed_2_has_no_spearman)
    mixed = json.loads(report_json(validity_report(5_000, [1, 2], mean_list_size=250)))
    assert {r["spearman"] for r in mixed["quality"]} == {None}  # not seed 1's 0.5 alone
    assert mixed["quality"][0]["worst_quartile_misplaced"] == 0.5
    (note,) = mixed["notes"]
    assert note.startswith("spearman is null for CMS165") and "seed 1 has 5, seed 2 has 1" in note
    assert mixed["targets"]["adjusted_and_shrunken_beat_raw_everywhere"] is None


def test_targets_are_null_only_when_a_missing_figure_could_decide_them():
    def quality(adjusted_spearman, adjusted_misplaced):
        rows = [("raw", 0.8, 0.4), ("adjusted", adjusted_spearman, adjusted_misplaced), ("shrunken", 0.9, 0.1)]
        return pd.DataFrame([{"measure": "CMS165", "kind": "outcome", "method": m, "spearman": r, "worst_quartile_misplaced": w,
                              "penalty_deprivation_corr": 0.05, "score_deprivation_corr": 0.0, "mean_reliability": 0.9} for m, r, w in rows])
    detection = pd.DataFrame({"recall": [1.0, float("nan")], "precision": [1.0, float("nan")]})
    false_flags = pd.DataFrame({"p_at_least": [1.0]})
    effect = pd.DataFrame({"covers_planted": [True]})
    unknown = validate._targets(quality(float("nan"), 0.1), detection, false_flags, effect)
    assert unknown["adjusted_and_shrunken_beat_raw_everywhere"] is None
    assert unknown["adjusted_outcome_spearman_at_least_0.85"] is None
    assert unknown["worst_quartile_misplacement_at_least_halved"] is True
    assert unknown["detection_recall_at_least_0.9"] is None and unknown["detection_precision_at_least_0.8"] is None
    failed = validate._targets(quality(float("nan"), 0.5), detection.fillna(0.0), false_flags, effect)
    assert failed["adjusted_and_shrunken_beat_raw_everywhere"] is False  # worse misplacement decides it
    assert failed["detection_precision_at_least_0.8"] is False
    assert validate._targets(quality(0.9, 0.1), detection.fillna(1.0), false_flags, effect) == dict.fromkeys(TARGETS, True)


def test_a_world_of_small_lists_says_why_spearman_is_null():
    """5,000 patients in lists of 100 (50 practices): at most one practice reaches 200 listed
    patients, so no rank correlation can be taken; before, every spearman was null and the targets
    read false with no word of why."""
    small = validity_report(5_000, [1], mean_list_size=100, outcome_measures={"CMS165": True}, process_measures={"CMS138": True})
    assert all(pd.isna(r["spearman"]) for r in small["quality"])
    assert any(note.startswith("spearman is null for CMS165, CMS138") and "raise --mean-list-size" in note for note in small["notes"])
    assert small["targets"]["adjusted_outcome_spearman_at_least_0.85"] is None


def test_detection_with_nothing_flagged_has_no_precision():
    per_world = pd.DataFrame({"check": ["a", "b"], "behaviour": ["x", "y"], "planted": [3, 0], "flagged": [0, 2], "hits": [0, 0]})
    worlds = [{"quality": pd.DataFrame([{"measure": "M", "kind": "process", "method": "raw", **dict.fromkeys(validate.FIGURES, 0.5)}]),
               "detection": per_world, "false_flags": pd.DataFrame({"check": ["a"], "entities": [10], "flagged": [0]}),
               "program_effect": pd.DataFrame({"covers_planted": [True]}), "practices": pd.DataFrame({"practices": [20]})}]
    detection = validate._summaries(worlds)["detection"].set_index("check")
    assert detection.loc["a", "recall"] == 0.0 and pd.isna(detection.loc["a", "precision"])  # was 0.0: "all flags wrong"
    assert pd.isna(detection.loc["b", "recall"]) and detection.loc["b", "precision"] == 0.0
