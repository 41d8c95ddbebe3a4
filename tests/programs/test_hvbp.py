"""HVBP scoring model: points, domains, TPS and the exchange function, on values worked by hand from 42 CFR 412.165."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from p4pkit.errors import UserError
from p4pkit.programs.hvbp import (
    Domain,
    achievement_points,
    consistency_points,
    domain_scores,
    exchange_function,
    hvbp_scores,
    improvement_points,
    performance_standards,
    score_measures,
    total_performance_score,
)


def test_achievement_points_between_threshold_and_benchmark():
    # AT 0.5, BM 0.9: 9·(P − AT)/(BM − AT) + 0.5 rounded half up, kept within 1..9.
    performance = [0.5, 0.6, 0.65, 0.7, 0.89]
    # 0.5 → 0.5 → 1;  0.6 → 2.75 → 3;  0.65 → 3.875 → 4;  0.7 → 5.0 → 5;  0.89 → 9.275 → 9
    assert achievement_points(performance, 0.5, 0.9).tolist() == [1, 3, 4, 5, 9]


def test_achievement_points_at_benchmark_and_below_threshold():
    assert achievement_points([0.9, 0.95, 0.4999], 0.5, 0.9).tolist() == [10, 10, 0]


def test_half_points_round_up_despite_binary_fractions():
    # On paper 9·0.18/0.54 + 0.5 = 3.5 → 4, but in binary floating point it comes out as 3.4999999999999996.
    assert achievement_points([0.18], 0.0, 0.54).tolist() == [4]
    # 10·0.24/0.8 − 0.5 = 2.5 → 3 on paper; 2.4999999999999996 in floating point.
    assert improvement_points([0.24], 0.0, 0.8).tolist() == [3]


def test_improvement_points():
    # baseline 0.2, BM 0.6: 10·(P − B)/(BM − B) − 0.5.
    # 0.3 → 2.0 → 2;  0.4 → 4.5 → 5 (half up);  0.59 → 9.25 → 9;  0.6 → at benchmark → 9
    assert improvement_points([0.3, 0.4, 0.59, 0.6], 0.2, 0.6).tolist() == [2, 5, 9, 9]


def test_improvement_is_zero_when_worse_than_baseline_even_above_benchmark():
    # The baseline test comes first: P ≥ BM but P ≤ B earns no improvement points.
    assert improvement_points([0.95, 0.9], 0.96, 0.9).tolist() == [0, 0]


def test_missing_inputs_give_no_points():
    assert np.isnan(improvement_points([0.5], np.nan, 0.9)).all()
    assert np.isnan(achievement_points([np.nan], 0.5, 0.9)).all()


def test_real_fy2024_row_mort_30_ami_and_lower_is_better_hai_2():
    """Facility 010001 in the FY2024 file: MORT-30-AMI 6/7/7 points and HAI-2 (an SIR, lower is better) 3/0/3."""
    rates = pd.DataFrame(
        {
            "entity_id": ["010001", "010001"],
            "measure_id": ["MORT-30-AMI", "HAI-2"],
            "baseline_rate": [0.856752, 0.324],
            "performance_rate": [0.880237, 0.437],
        }
    )
    standards = pd.DataFrame(
        {
            "measure_id": ["MORT-30-AMI", "HAI-2"],
            "domain": ["clinical_outcomes", "safety"],
            "lower_is_better": [False, True],
            "achievement_threshold": [0.869247, 0.650],
            "benchmark": [0.887868, 0.000],
        }
    )
    scored = score_measures(rates, standards).set_index("measure_id")
    # AMI: 9·0.010990/0.018621 + 0.5 = 5.81 → 6;  10·0.023485/0.031116 − 0.5 = 7.05 → 7
    assert scored.loc["MORT-30-AMI", ["achievement_points", "improvement_points", "measure_score"]].tolist() == [6, 7, 7]
    # HAI-2 negated: 9·(0.650 − 0.437)/0.650 + 0.5 = 3.45 → 3; 0.437 is worse than baseline 0.324 → 0
    assert scored.loc["HAI-2", ["achievement_points", "improvement_points", "measure_score"]].tolist() == [3, 0, 3]


def test_consistency_points():
    # r = min over dimensions of (P − floor)/(AT − floor); 20·r − 0.5 rounded half up.
    assert consistency_points([1.0, 1.2, 0.0, -0.1, 0.5, 0.05, 0.025]).tolist() == [20, 20, 0, 0, 10, 1, 0]


def _hcahps(performance: list[float]) -> pd.DataFrame:
    """Eight dimensions, floor 40, AT 60, BM 80, baseline 70, one hospital."""
    measures = [f"D{i}" for i in range(8)]
    rates = pd.DataFrame({"entity_id": "h", "measure_id": measures, "baseline_rate": 70.0, "performance_rate": performance})
    standards = pd.DataFrame(
        {
            "measure_id": measures,
            "domain": "person_and_community_engagement",
            "lower_is_better": False,
            "achievement_threshold": 60.0,
            "benchmark": 80.0,
            "floor": 40.0,
        }
    )
    return score_measures(rates, standards)


def test_person_and_community_engagement_is_base_plus_consistency():
    # Seven dimensions at 80 (10 points each); one at 50: achievement 0, improvement 0 (below baseline),
    # r = (50 − 40)/(60 − 40) = 0.5 → consistency 20·0.5 − 0.5 = 9.5 → 10. Domain = 70 + 10 = 80.
    scores = domain_scores(_hcahps([80.0] * 7 + [50.0]))
    assert scores[["domain", "base_score", "consistency_points", "score"]].values.tolist() == [
        ["person_and_community_engagement", 70.0, 10.0, 80.0]
    ]


def test_hcahps_needs_all_eight_dimensions():
    assert domain_scores(_hcahps([80.0] * 7 + [np.nan])).empty


def test_domain_score_normalises_to_100_and_needs_its_minimum_measures():
    # 010001's clinical outcomes in FY2024: measure scores 7, 8, 0, 1, 1, 6 → 100·23/60 = 38.333…
    scores = pd.DataFrame(
        {
            "entity_id": ["010001"] * 6 + ["lonely"],
            "domain": "clinical_outcomes",
            "measure_score": [7, 8, 0, 1, 1, 6, 10],
        }
    )
    result = domain_scores(scores, [Domain("clinical_outcomes", 1.0, 2)])
    assert result["entity_id"].tolist() == ["010001"]  # one measure is below the 2-measure minimum
    assert result["score"].iloc[0] == pytest.approx(100 * 23 / 60, abs=1e-12)


def test_tps_reweights_over_three_domains_and_needs_three():
    scores = pd.DataFrame(
        {
            "entity_id": ["a", "a", "a", "b", "b"],
            "domain": ["clinical_outcomes", "person_and_community_engagement", "efficiency_and_cost_reduction"]
            + ["clinical_outcomes", "safety"],
            "score": [40.0, 30.0, 60.0, 90.0, 90.0],
        }
    )
    result = total_performance_score(scores).set_index("entity_id")
    # a: safety missing, each remaining 25% becomes 1/3: (40 + 30 + 60)/3 = 43.333…
    assert result.loc["a", "total_performance_score"] == pytest.approx(130 / 3, abs=1e-12)
    assert result.loc["a", "clinical_outcomes_weighted_score"] == pytest.approx(40 / 3, abs=1e-12)
    assert np.isnan(result.loc["b", "total_performance_score"])  # two domains are not enough


def test_tps_reweights_unequal_weights_proportionally():
    # FY2016-style weights 10/25/40/25 with the 40% domain missing: 10/60, 25/60, 25/60.
    domains = [Domain("p", 0.10, 1), Domain("e", 0.25, 1), Domain("o", 0.40, 1), Domain("c", 0.25, 1)]
    scores = pd.DataFrame({"entity_id": "x", "domain": ["p", "e", "c"], "score": [60.0, 30.0, 12.0]})
    tps = total_performance_score(scores, domains)["total_performance_score"].iloc[0]
    assert tps == pytest.approx((0.10 * 60 + 0.25 * 30 + 0.25 * 12) / 0.60, abs=1e-12)


def test_given_combined_score_counts_in_its_domain():
    rates = pd.DataFrame({"entity_id": "h", "measure_id": ["HAI-1"], "baseline_rate": [np.nan], "performance_rate": [0.0]})
    standards = pd.DataFrame(
        {
            "measure_id": ["HAI-1", "Combined SSI"],
            "domain": "safety",
            "lower_is_better": True,
            "achievement_threshold": [0.589, np.nan],
            "benchmark": [0.0, np.nan],
        }
    )
    given = pd.DataFrame({"entity_id": ["h"], "measure_id": ["Combined SSI"], "measure_score": [4.0]})
    domains = [Domain("safety", 1.0, 2)]
    result = hvbp_scores(rates, standards, given, domains)
    # HAI-1 at the benchmark (SIR 0) → 10; with the given 4: 100·14/20 = 70; one domain suffices when min_domains is met
    assert result["safety_score"].iloc[0] == 70.0


def test_rates_for_unknown_measures_are_a_user_error():
    rates = pd.DataFrame({"entity_id": "h", "measure_id": ["NOPE"], "baseline_rate": [1.0], "performance_rate": [1.0]})
    standards = pd.DataFrame(
        {"measure_id": ["X"], "domain": "safety", "lower_is_better": True, "achievement_threshold": [1.0], "benchmark": [0.0]}
    )
    with pytest.raises(UserError, match="no performance standard"):
        score_measures(rates, standards)


def test_measures_below_their_case_minimum_are_not_scored():
    rates = pd.DataFrame(
        {"entity_id": ["big", "small"], "measure_id": "M", "baseline_rate": np.nan, "performance_rate": 0.9, "cases": [25, 24]}
    )
    standards = pd.DataFrame(
        {"measure_id": ["M"], "domain": "d", "lower_is_better": False, "achievement_threshold": [0.5], "benchmark": [0.8], "min_cases": [25]}
    )
    assert score_measures(rates, standards)["entity_id"].tolist() == ["big"]


def test_performance_standards_from_baseline():
    baseline = pd.DataFrame(
        {"measure_id": ["up"] * 20 + ["down"] * 10, "rate": list(range(1, 21)) + list(range(1, 11))}
    )
    standards = performance_standards(baseline, {"down": True}).set_index("measure_id")
    # up: median of 1..20 = 10.5; top decile = best 2 → mean(19, 20) = 19.5; floor = worst = 1
    assert standards.loc["up"].tolist() == [10.5, 19.5, 1.0]
    # down (lower is better): median 5.5; best decile = lowest 1 value → 1; worst = 10
    assert standards.loc["down"].tolist() == [5.5, 1.0, 10.0]


def test_exchange_function_worked_example():
    hospitals = pd.DataFrame(
        {"entity_id": ["a", "b"], "total_performance_score": [50.0, 25.0], "base_operating_drg_payments": [Decimal("1000000"), Decimal("2000000")]}
    )
    result = exchange_function(hospitals).set_index("entity_id")
    # Withheld 2%: 20,000 and 40,000 → pool 60,000. Σ base·TPS/100 = 500,000 + 500,000 → slope 3,000,000/1,000,000 = 3.
    assert result["slope"].iloc[0] == Decimal(3)
    assert result["withheld"].tolist() == [Decimal("20000.00"), Decimal("40000.00")]
    # incentive% = 2% · TPS/100 · 3 → 3% and 1.5%: 30,000 each.
    assert result["incentive_payment"].tolist() == [Decimal("30000.00"), Decimal("30000.00")]
    assert result["net_change"].tolist() == [Decimal("10000.00"), Decimal("-10000.00")]
    assert result["adjustment_factor"].tolist() == [Decimal("1.01"), Decimal("0.995")]


def test_exchange_function_rejects_unusable_inputs():
    zero = pd.DataFrame({"entity_id": ["a"], "total_performance_score": [0.0], "base_operating_drg_payments": [Decimal(5)]})
    with pytest.raises(UserError, match="slope"):
        exchange_function(zero)
    bad = pd.DataFrame({"entity_id": ["a"], "total_performance_score": [101.0], "base_operating_drg_payments": [Decimal(-1)]})
    with pytest.raises(UserError) as error:
        exchange_function(bad)
    assert [p.column for p in error.value.problems] == ["total_performance_score", "base_operating_drg_payments"]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(min_value=0, max_value=10**11), st.floats(min_value=0, max_value=100, allow_nan=False)),
        min_size=1,
        max_size=30,
    ).filter(lambda rows: any(cents > 0 and tps > 0 for cents, tps in rows))
)
def test_exchange_function_is_budget_neutral_to_the_cent(rows):
    hospitals = pd.DataFrame(
        {
            "entity_id": [str(i) for i in range(len(rows))],
            "total_performance_score": [tps for _, tps in rows],
            "base_operating_drg_payments": [Decimal(cents) / 100 for cents, _ in rows],
        }
    )
    result = exchange_function(hospitals)
    assert sum(result["incentive_payment"], Decimal(0)) == sum(result["withheld"], Decimal(0))
    assert all(p >= 0 for p in result["incentive_payment"])
    assert all(p == p.quantize(Decimal("0.01")) for p in result["incentive_payment"])
