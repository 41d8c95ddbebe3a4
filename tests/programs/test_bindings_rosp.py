"""ROSP binding: one clinician's points and euros worked by hand from the run's own tables (methodologies.md §7)."""

from __future__ import annotations

import json
from decimal import ROUND_HALF_UP, Decimal

import numpy as np
import pandas as pd
import pytest
from bindings_world import run


@pytest.fixture(scope="module")
def out():
    return run("rosp")


def _rates(out, measure, period):
    em = pd.read_parquet(out / "entity_measures.parquet")
    rows = em[(em.measure_id == measure) & (em.period == period) & (em.group_index == 0) & em.rate.notna()]
    return rows.set_index("entity_id")


def test_targets_are_baseline_percentiles_mirrored_for_lower_is_better(out):
    scores = pd.read_parquet(out / "entity_scores.parquet")
    for measure, (low, high) in {"CMS130": (30, 80), "CMS122": (70, 20)}.items():
        baseline = _rates(out, measure, "baseline")
        rates = 100 * baseline.rate[baseline.performance_denominator >= 5].to_numpy()
        targets = f"targets {np.percentile(rates, low):.1f}% / {np.percentile(rates, high):.1f}%"
        assert scores[scores.component == measure].detail.str.contains(targets, regex=False).all()


def test_one_clinicians_points_and_payment_by_hand(out):
    scores = pd.read_parquet(out / "entity_scores.parquet")
    baseline, current = _rates(out, "CMS130", "baseline"), _rates(out, "CMS130", "performance")
    rates = 100 * baseline.rate[baseline.performance_denominator >= 5].to_numpy()
    intermediate, final = np.percentile(rates, 30), np.percentile(rates, 80)
    attribution = pd.read_parquet(out / "attribution.parquet")
    panels = attribution[attribution.period == "performance"].entity_id.value_counts()
    rows = scores[(scores.component == "CMS130") & (scores.score > 0) & (scores.score < 1)]
    assert len(rows), "no clinician between the targets"
    row = rows.iloc[0]
    doctor = row.entity_id
    rate = 100 * current.rate[doctor]
    start = 100 * baseline.rate[doctor] if doctor in baseline.index else np.nan
    floor = start if start < intermediate else intermediate  # progress from below, attainment from above
    achievement = min(1.0, max(0.0, (rate - floor) / (final - floor)))
    assert row.value == pytest.approx(rate)
    assert row.score == pytest.approx(achievement)
    assert row.points == pytest.approx(35 * achievement * panels[doctor] / 800)

    total = scores[(scores.entity_id == doctor) & (scores.component == "total")].iloc[0]
    earned = scores[(scores.entity_id == doctor) & scores.component.isin(["CMS122", "CMS130"])].points.sum()
    euros = (Decimal(str(float(earned))) * 7).quantize(Decimal("0.01"), ROUND_HALF_UP)
    payments = pd.read_parquet(out / "payments.parquet")
    assert total.points == pytest.approx(earned)
    assert payments[payments.entity_id == doctor].amount.tolist() == ([euros] if euros else [])


def test_rosp_only_pays_bonuses_within_its_envelope(out):
    payments = pd.read_parquet(out / "payments.parquet")
    ledger = json.loads((out / "ledger.json").read_text())
    assert set(payments.kind) == {"bonus"} and ledger["upside_only"]
    assert Decimal(ledger["totals"]["paid"]) <= Decimal(ledger["totals"]["funded"])
