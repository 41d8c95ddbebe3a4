"""MIPS binding: decile points, final score and budget-neutral adjustment for clinicians, worked by hand
from the run's tables and the store's claims (42 CFR 414.1380, 414.1405; methodologies.md §4)."""

from __future__ import annotations

import json
from decimal import ROUND_HALF_UP, Decimal

import duckdb
import numpy as np
import pandas as pd
import pytest
from bindings_world import run, run_variant, store

MEASURES = ("CMS130", "CMS138", "CMS165")  # all higher is better
CENT = Decimal("0.01")


@pytest.fixture(scope="module")
def out():
    return run("mips")


@pytest.fixture(scope="module")
def tables(out):
    em = pd.read_parquet(out / "entity_measures.parquet")
    return em[em.group_index == 0], pd.read_parquet(out / "entity_scores.parquet"), pd.read_parquet(out / "payments.parquet")


def _points(rate: float, cuts: np.ndarray) -> float:
    """Decile d starts at the 10(d-1)th percentile; d.0 up to d+1 inside it; decile 10 earns 10."""
    decile = 1 + int((cuts <= rate).sum())
    if decile == 10:
        return 10.0
    low = 0.0 if decile == 1 else cuts[decile - 2]
    return decile + (rate - low) / (cuts[decile - 1] - low)


def _final_score(em: pd.DataFrame, clinician: str) -> float:
    earned = 0.0
    for measure in MEASURES:
        base = em[(em.measure_id == measure) & (em.period == "baseline") & (em.performance_denominator >= 20)]
        cuts = np.percentile(100 * base.numerator / base.performance_denominator, [10, 20, 30, 40, 50, 60, 70, 80, 90])
        row = em[(em.measure_id == measure) & (em.period == "performance") & (em.entity_id == clinician)]
        if len(row) and row.performance_denominator.iloc[0] >= 20:
            earned += _points(100 * row.numerator.iloc[0] / row.performance_denominator.iloc[0], cuts)
    quality = 100 * earned / 30
    return 0.55 * quality + 0.15 * 100 + 0.30 * 100  # cost re-weighted: quality 55, IA 15, PI 30


def _allowed(clinician: str) -> Decimal:
    with duckdb.connect(str(store()), read_only=True) as con:
        total = con.execute(
            "select sum(allowed_amount) from claim_lines where rendering_clinician_id = ? and year(service_start) = 2025",
            [clinician],
        ).fetchone()[0]
    return Decimal(total)


def test_a_penalised_clinicians_score_and_penalty_by_hand(tables):
    em, scores, payments = tables
    totals = scores[scores.component == "total"]
    clinician = totals[totals.tier == "penalised"].entity_id.iloc[0]
    final = _final_score(em, clinician)
    assert totals.set_index("entity_id").score[clinician] == pytest.approx(final)
    factor = max(-0.09, -0.09 * (75 - final) / (75 - 18.75))
    expected = (_allowed(clinician) * Decimal(str(float(-factor)))).quantize(CENT, ROUND_HALF_UP)
    penalty = payments[(payments.entity_id == clinician) & (payments.kind == "penalty")].amount
    assert penalty.tolist() == [pytest.approx(expected, abs=CENT)]


def test_bonuses_follow_the_scores_above_the_threshold_and_balance_the_penalties(tables, out):
    em, scores, payments = tables
    totals = scores[scores.component == "total"].set_index("entity_id")
    winners = totals[totals.tier == "bonus"].index
    assert len(winners) >= 2
    # Each bonus is allowed x 9% x (FS - 75)/25 x the one scaling factor: the ratios cancel it.
    weights = {c: _allowed(c) * Decimal(str(float(_final_score(em, c) - 75))) for c in winners}
    bonus = payments[payments.kind == "bonus"].set_index("entity_id").amount
    first, second = winners[:2]
    assert float(bonus[first] / bonus[second]) == pytest.approx(float(weights[first] / weights[second]), rel=1e-3)
    ledger = json.loads((out / "ledger.json").read_text())
    assert ledger["budget_neutral"]
    assert abs(Decimal(ledger["totals"]["paid"]) - Decimal(ledger["totals"]["recovered"])) <= CENT


def test_a_risk_adjusted_measure_is_scored_on_its_adjusted_rate_against_adjusted_benchmarks():
    out = run_variant("mips", "adjusted", {"measures.1.risk_adjustment": {"method": "logistic", "covariates": ["age", "sex", "comorbidities"]}})
    em = pd.read_parquet(out / "entity_measures.parquet").query("group_index == 0 and measure_id == 'CMS165'")
    adjusted = 100 * em.adjusted_rate.clip(upper=1)
    base = em[(em.period == "baseline") & (em.performance_denominator >= 20)]
    cuts = np.percentile(adjusted[base.index], [10, 20, 30, 40, 50, 60, 70, 80, 90])
    scores = pd.read_parquet(out / "entity_scores.parquet").query("component == 'CMS165'").set_index("entity_id")
    performance = em[(em.period == "performance") & (em.performance_denominator >= 20)].set_index("entity_id")
    assert len(performance) >= 2
    moved = 0
    for clinician, r in performance.iterrows():
        rate = 100 * min(1.0, r.adjusted_rate)
        assert scores.value[clinician] == pytest.approx(rate)
        assert scores.points[clinician] == pytest.approx(_points(rate, cuts))
        assert "CMS165: risk-adjusted " in scores.detail[clinician]
        moved += abs(rate - 100 * r.numerator / r.performance_denominator) > 0.5
    assert moved >= 1


def test_payment_floors_leave_a_measure_out_without_docking_the_clinician(out):
    floored = run_variant("mips", "floors", {"payment.min_reliability": 0.85})
    em = pd.read_parquet(floored / "entity_measures.parquet").query("group_index == 0 and period == 'performance'")
    below = em[~em.meets_payment_floors]
    assert len(below) >= 1 and (em.meets_payment_floors == (em.reliability.fillna(1) >= 0.85)).all()
    scores = pd.read_parquet(floored / "entity_scores.parquet")
    shown = set(zip(scores.entity_id, scores.component))
    assert not shown & set(zip(below.entity_id, below.measure_id))
    # the quality category counts the measures left: min(6, 3 - those below the floors)
    quality = scores[scores.component == "quality"].set_index("entity_id")
    for clinician, left_out in below.groupby("entity_id").size().items():
        if clinician in quality.index:
            assert quality.detail[clinician].endswith(f"from the best {3 - left_out} measures")
