"""QOF binding: the achievement it scores is the risk-adjusted one where the program adjusts an
indicator, and payment floors keep practices out of payment on indicators whose score is mostly
noise; both worked by hand from the run's tables (QOF arithmetic: docs/programs/qof.md)."""

from __future__ import annotations

import json
from decimal import ROUND_HALF_UP, Decimal

import numpy as np
import pandas as pd
import pytest
from bindings_world import DELETE, PROGRAMS, run, run_variant

ADJUSTMENT = {"method": "indirect_standardization", "covariates": ["age", "sex", "comorbidities", "deprivation_quintile"]}
# qof.yaml with its two intermediate outcomes (HbA1c, blood pressure) risk-adjusted, as good-design.yaml adjusts them
ADJUSTED_QOF = {"measures.0.risk_adjustment": ADJUSTMENT, "measures.1.risk_adjustment": ADJUSTMENT}
HYP = ("QOF_HYP_BP140", 14, 40, 77)  # indicator, points, lower and upper thresholds (qof.yaml)


def _paid(out) -> Decimal:
    return Decimal(json.loads((out / "ledger.json").read_text())["totals"]["paid"])


def _performance(out) -> pd.DataFrame:
    em = pd.read_parquet(out / "entity_measures.parquet")
    return em[(em.period == "performance") & (em.group_index == 0)]


def test_risk_adjustment_changes_what_a_qof_program_pays():
    plain, adjusted = run("qof"), run_variant("qof", "adjusted", ADJUSTED_QOF)
    assert _paid(plain) != _paid(adjusted)
    scores = pd.read_parquet(adjusted / "entity_scores.parquet")
    before = pd.read_parquet(plain / "entity_scores.parquet")
    # unadjusted indicators score the same in both runs; adjusted ones do not
    for indicator, same in (("QOF_AST_REVIEW", True), ("QOF_HYP_BP140", False)):
        a = scores[scores.component == indicator].set_index("entity_id").value
        b = before[before.component == indicator].set_index("entity_id").value
        assert np.allclose(a, b.reindex(a.index)) == same, indicator


def test_the_adjusted_achievement_of_a_practice_by_hand():
    out = run_variant("qof", "adjusted", ADJUSTED_QOF)
    indicator, points, lower, upper = HYP
    rows = _performance(out)
    rows = rows[rows.measure_id == indicator].set_index("entity_id")
    assert rows.adjustment.str.startswith("indirect_standardization on age, sex").all()
    # indirect standardisation: adjusted rate = O / E x the overall rate of every practice's eligible patients
    overall = rows.numerator.sum() / rows.performance_denominator.sum()
    scores = pd.read_parquet(out / "entity_scores.parquet")
    scores = scores[scores.component == indicator].set_index("entity_id")
    checked = 0
    for practice, r in rows.iterrows():
        by_hand = min(100.0, 100 * r.numerator / r.expected * overall)
        observed = 100 * r.numerator / r.performance_denominator
        assert scores.value[practice] == pytest.approx(by_hand)
        assert scores.points[practice] == pytest.approx(points * min(1.0, max(0.0, (by_hand - lower) / (upper - lower))))
        assert scores.detail[practice].startswith(f"{indicator}: risk-adjusted achievement {by_hand:.1f}%")
        assert f"observed achievement {observed:.1f}%, adjusted by indirect_standardization on age" in scores.detail[practice]
        checked += abs(by_hand - observed) > 1
    assert checked >= 1  # the adjustment moved at least one practice's achievement by more than a point


def test_a_lower_is_better_adjusted_indicator_scores_the_patients_without_the_event():
    out = run_variant("qof", "adjusted-lower", {**ADJUSTED_QOF, "measures.1.direction": "lower_is_better"})
    rows = _performance(out)
    rows = rows[rows.measure_id == "QOF_HYP_BP140"].set_index("entity_id")
    overall = rows.numerator.sum() / rows.performance_denominator.sum()
    scores = pd.read_parquet(out / "entity_scores.parquet").query("component == 'QOF_HYP_BP140'").set_index("entity_id")
    for practice, r in rows.iterrows():
        adjusted = min(1.0, r.numerator / r.expected * overall)
        assert scores.value[practice] == pytest.approx(100 * (1 - adjusted))


# ---- payment floors ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def good():
    return run("good-design")


def test_the_good_design_pays_only_on_indicators_above_its_payment_floors(good):
    rows = _performance(good)
    # the floors of good-design.yaml: 30 eligible patients and reliability 0.7
    expected = (rows.performance_denominator >= 30) & (rows.reliability.fillna(1.0) >= 0.7)
    assert (rows.meets_payment_floors == expected).all()
    assert (~rows.meets_payment_floors).any() and rows.meets_payment_floors.any()
    scores = pd.read_parquet(good / "entity_scores.parquet")
    per_indicator = scores[scores.component != "total"].merge(rows, left_on=["entity_id", "component"], right_on=["entity_id", "measure_id"])
    below = per_indicator[~per_indicator.meets_payment_floors]
    assert (below.tier == "below payment floors").all() and (below.points == 0).all() and (below.score == 0).all()
    assert below.detail.str.contains("below the payment floors \\(30 patients, reliability 0.7\\)").all()
    paid = pd.read_parquet(good / "payments.parquet")
    assert len(paid) >= 1
    for entry in paid.itertuples(index=False):
        indicator = entry.reason.split(":")[0]
        row = rows[(rows.entity_id == entry.entity_id) & (rows.measure_id == indicator)].iloc[0]
        assert row.performance_denominator >= 30 and row.reliability >= 0.7, (entry.entity_id, indicator)
    # a practice's total counts the points of every indicator it has patients for, those below the floors with none earned
    totals = scores[scores.component == "total"].set_index("entity_id")
    indicators = scores[scores.component != "total"].groupby("entity_id")
    assert totals.max_points.to_dict() == indicators.max_points.sum().to_dict()
    assert totals.points.to_dict() == pytest.approx(indicators.points.sum().to_dict())
    assert totals.score.sum() == pytest.approx(float(_paid(good)))


def test_without_its_floors_the_good_design_pays_on_noise(good):
    unfloored = run_variant("good-design", "no-floors", {"payment.min_denominator": DELETE, "payment.min_reliability": DELETE})
    rows = _performance(unfloored)
    assert rows.meets_payment_floors.all()
    paid = pd.read_parquet(unfloored / "payments.parquet")
    noisy = [e for e in paid.itertuples(index=False)
             if not rows[(rows.entity_id == e.entity_id) & (rows.measure_id == e.reason.split(":")[0])].publishable.iloc[0]]
    assert noisy, "the unfloored design should pay on some indicator below the publication floors"
    assert _paid(unfloored) > _paid(good)


def test_a_paid_indicator_of_the_good_design_by_hand(good):
    """Pounds = points x 220.62 x CPI x APDF, CPI = list size / 9,964, APDF = practice prevalence of the
    indicator's register / prevalence over all participating practices (registers of practices below
    the floors count too: prevalence is not a score)."""
    rows = _performance(good)
    attribution = pd.read_parquet(good / "attribution.parquet").query("period == 'performance'")
    attribution = attribution[attribution.entity_id.notna()]
    lists = attribution.groupby("entity_id").size()
    scores = pd.read_parquet(good / "entity_scores.parquet").set_index(["entity_id", "component"])
    paid = pd.read_parquet(good / "payments.parquet")
    for entry in paid.itertuples(index=False):
        indicator = entry.reason.split(":")[0]
        registers = rows[rows.measure_id == indicator].set_index("entity_id").initial_population
        national = registers.sum() / lists[registers.index].sum()
        apdf = Decimal(float(registers[entry.entity_id] / lists[entry.entity_id] / national))
        cpi = Decimal(int(lists[entry.entity_id])) / Decimal(9964)
        points = Decimal(float(scores.points[(entry.entity_id, indicator)]))
        by_hand = (points * Decimal("220.62") * cpi * apdf).quantize(Decimal("0.01"), ROUND_HALF_UP)
        assert entry.amount == by_hand, (entry.entity_id, indicator)


def test_the_audit_of_a_good_design_run_finds_its_adjusted_rates_and_its_floors(good):
    from typer.testing import CliRunner

    from p4pkit.cli import app

    result = CliRunner().invoke(app, ["audit", str(PROGRAMS / "good-design.yaml"), "--run", str(good), "--format", "json"])
    findings = {(f["principle_id"], f["scope"]): f for f in json.loads(result.stdout)}
    adjusted = findings[("risk_adjustment", "run")]
    assert adjusted["status"] == "pass", adjusted
    assert adjusted["finding"] == "adjusted rates present for QOF_DM_HBA1C58, QOF_HYP_BP140"
    reliability = findings[("minimum_reliability", "run")]
    assert reliability["status"] == "pass" and "were left out of payment" in reliability["finding"], reliability
    assert findings[("minimum_reliability", "design")]["status"] == "pass"
