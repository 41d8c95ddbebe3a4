"""Peer-comparison binding: each clinic's rate against the pooled rate with a Wilson interval
(statsmodels, independently of p4pkit's own), and no money."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from bindings_world import run
from statsmodels.stats.proportion import proportion_confint


@pytest.fixture(scope="module")
def out():
    return run("peer-comparison")


def test_rates_intervals_and_flags_against_the_pooled_rate(out):
    em = pd.read_parquet(out / "entity_measures.parquet").query("period == 'performance' and group_index == 0")
    scores = pd.read_parquet(out / "entity_scores.parquet")
    flags = set()
    for measure, higher_is_better in {"CMS122": False, "CMS138": True}.items():
        rows = em[(em.measure_id == measure) & (em.performance_denominator > 0)].set_index("entity_id")
        pooled = rows.numerator.sum() / rows.performance_denominator.sum()
        shown = scores[scores.component == measure].set_index("entity_id")
        assert set(shown.index) == set(rows.index)
        for entity, r in rows.iterrows():
            low, high = proportion_confint(r.numerator, r.performance_denominator, alpha=0.05, method="wilson")
            better, worse = (low > pooled, high < pooled) if higher_is_better else (high < pooled, low > pooled)
            flag = "better" if better else "worse" if worse else "not different"
            assert shown.value[entity] == pytest.approx(r.numerator / r.performance_denominator)
            assert shown.score[entity] == pytest.approx(pooled)
            assert shown.tier[entity] == flag
            flags.add(flag)
    assert flags >= {"not different", "better"} or flags >= {"not different", "worse"}


def test_feedback_moves_no_money(out):
    ledger = json.loads((out / "ledger.json").read_text())
    assert ledger["entries"] == 0 and set(ledger["totals"].values()) == {"0", "0.00"}
