"""`p4p validate` on a small world (10,000 patients, 20 practices, one outcome and one process
measure to keep it quick): the report's shape and the direction of its figures. The default
world's figures are in docs/validity.md."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from p4pkit.cli import app
from p4pkit.errors import UserError
from p4pkit.evaluation.validate import report_json, validity_report, write_report

TARGETS = {
    "adjusted_and_shrunken_beat_raw_everywhere", "adjusted_outcome_spearman_at_least_0.85",
    "worst_quartile_misplacement_at_least_halved", "penalty_deprivation_corr_below_0.1_after_adjustment",
    "detection_recall_at_least_0.9", "detection_precision_at_least_0.8", "did_interval_contains_planted_effect",
    "false_flags_within_limits",
}


@pytest.fixture(scope="module")
def report() -> dict:
    return validity_report(10_000, 2, outcome_measures={"CMS165": True}, process_measures={"CMS138": True})


def _row(rows: list[dict], **match) -> dict:
    (found,) = [r for r in rows if all(r[k] == v for k, v in match.items())]
    return found


def test_report_shape(report):
    assert set(report) == {"world", "quality", "detection", "false_flags", "program_effect", "targets"}
    assert report["world"]["practices"] == 20
    methods = {(r["measure"], r["method"]) for r in report["quality"]}
    assert methods == {("CMS165", m) for m in ("raw", "adjusted", "shrunken", "true")} | {("CMS138", m) for m in ("raw", "shrunken", "true")}
    assert {r["behaviour"] for r in report["detection"]} == {"exception_reporting", "deregistration", "upcoding"}
    assert {r["check"] for r in report["false_flags"]} == {"exception_reporting", "deregistration_high_risk", "coding_intensity"}
    assert set(report["targets"]) == TARGETS
    assert json.loads(report_json(report))["world"]["patients"] == 10_000


def test_adjustment_moves_scores_away_from_deprivation_and_towards_truth(report):
    raw = _row(report["quality"], measure="CMS165", method="raw")
    adjusted = _row(report["quality"], measure="CMS165", method="adjusted")
    shrunken = _row(report["quality"], measure="CMS165", method="shrunken")
    assert abs(adjusted["score_deprivation_corr"]) < abs(raw["score_deprivation_corr"])
    assert abs(shrunken["score_deprivation_corr"]) < abs(raw["score_deprivation_corr"])
    assert _row(report["quality"], measure="CMS165", method="true")["spearman"] == pytest.approx(1.0)
    assert 0 < adjusted["mean_reliability"] < 1


def test_planted_behaviours_found_and_program_effect_recovered(report):
    exceptions = _row(report["detection"], behaviour="exception_reporting")
    assert exceptions["recall"] == 1.0 and exceptions["precision"] == 1.0
    for row in report["detection"]:
        assert row["precision"] >= 0.8  # what is flagged is gaming
    incentivised = [row for row in report["program_effect"] if row["planted"] < 0]
    assert len(incentivised) == 2
    for row in incentivised:  # 20 clusters: the direction and size, not the 95% coverage
        assert row["upper"] < 0
        assert abs(row["estimate"] - row["planted"]) < abs(row["planted"]) / 2
    (placebo,) = [row for row in report["program_effect"] if row["planted"] == 0]
    assert abs(placebo["estimate"]) < 35 / 10, placebo  # cholesterol (SD about 35 mg/dL) is not incentivised
    honest = {r["check"]: r["flagged"] for r in report["false_flags"]}
    assert honest["exception_reporting"] == 0 and honest["deregistration_high_risk"] == 0


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
