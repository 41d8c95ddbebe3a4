"""Peer-comparison binding: each clinic's rate against the pooled rate with a Wilson interval
(statsmodels, independently of p4pkit's own), and no money."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from bindings_world import run, run_variant
from scipy.stats import chi2
from statsmodels.stats.proportion import proportion_confint

from p4pkit.errors import UserError


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


# ---- declared risk adjustment and social-risk peer groups ----------------------------------------

ADJUSTED = {"measures.1.risk_adjustment": {"method": "logistic", "covariates": ["age", "sex", "comorbidities"]}}


def test_a_risk_adjusted_measure_is_compared_on_its_adjusted_rate():
    out = run_variant("peer-comparison", "adjusted", ADJUSTED)
    em = pd.read_parquet(out / "entity_measures.parquet").query("period == 'performance' and group_index == 0")
    rows = em[(em.measure_id == "CMS165") & (em.performance_denominator > 0)].set_index("entity_id")
    overall = rows.numerator.sum() / rows.performance_denominator.sum()
    shown = pd.read_parquet(out / "entity_scores.parquet").query("component == 'CMS165'").set_index("entity_id")
    assert set(shown.index) == set(rows.index)
    for entity, r in rows.iterrows():
        # Garwood's exact limits of the observed count, over the expected count, times the overall rate
        low = (chi2.ppf(0.025, 2 * r.numerator) / 2 if r.numerator else 0.0) / r.expected * overall
        high = chi2.ppf(0.975, 2 * (r.numerator + 1)) / 2 / r.expected * overall
        flag = "better" if low > overall else "worse" if high < overall else "not different"
        assert shown.value[entity] == pytest.approx(r.numerator / r.expected * overall)
        assert shown.score[entity] == pytest.approx(overall)
        assert shown.tier[entity] == flag
        assert f"interval {100 * low:.1f}-{100 * high:.1f}%" in shown.detail[entity]
        assert shown.detail[entity].startswith(f"CMS165: risk-adjusted {100 * shown.value[entity]:.1f}%")
    # the unadjusted measures are compared as before
    plain = pd.read_parquet(run("peer-comparison") / "entity_scores.parquet").query("component == 'CMS138'")
    again = pd.read_parquet(out / "entity_scores.parquet").query("component == 'CMS138'")
    assert plain.detail.tolist() == again.detail.tolist()


def test_social_risk_peer_groups_are_the_comparison_groups():
    out = run_variant("peer-comparison", "peer-groups", {
        "scoring.comparator": "peer_group",
        "measures.1.social_risk": {"adjustment": "peer_grouping", "peer_groups": 2, "grouping_variable": "social_risk_share"},
    })
    em = pd.read_parquet(out / "entity_measures.parquet").query("period == 'performance' and group_index == 0")
    rows = em[(em.measure_id == "CMS165") & (em.performance_denominator > 0)].set_index("entity_id")
    assert rows.peer_group.nunique() == 2
    rates = rows.numerator / rows.performance_denominator
    means = rates.groupby(rows.peer_group).mean()
    shown = pd.read_parquet(out / "entity_scores.parquet").query("component == 'CMS165'").set_index("entity_id")
    for entity, r in rows.iterrows():
        assert shown.score[entity] == pytest.approx(means[r.peer_group])
        assert shown.detail[entity].endswith(f"social-risk peer group's rates (peer group {r.peer_group}): {shown.tier[entity]}")


def test_more_peer_groups_than_entities_is_refused_when_the_entities_are_known():
    with pytest.raises(UserError, match=r"measure CMS165 \(baseline period\): 50 social-risk peer groups for \d+ entities"):
        run_variant("peer-comparison", "fifty-groups", {
            "scoring.comparator": "peer_group", "measures.1.social_risk": {"adjustment": "peer_grouping", "peer_groups": 50},
        })
