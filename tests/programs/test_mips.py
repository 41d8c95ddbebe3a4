"""MIPS scoring rules, category and final scores, and the budget-neutral payment adjustment."""

from __future__ import annotations

from decimal import Decimal

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from p4pkit.cms.mips import load_benchmarks
from p4pkit.errors import UserError
from p4pkit.programs.mips import final_scores, measure_points, payment_adjustments, quality_category_score


@pytest.fixture(scope="module")
def bench(shared_data):
    return load_benchmarks(shared_data / "cms/mips_benchmarks/benchmarks_2024.json")


def _result(measure, method, numerator, denominator, reported=100, eligible=100):
    return {"entity_id": "T1", "measure_id": measure, "submission_method": method, "numerator": numerator,
            "denominator": denominator, "reported": reported, "eligible": eligible}


def test_scoring_rules(bench):
    results = pd.DataFrame([
        _result("236", "electronicHealthRecord", 70, 100),  # benchmark scoring: 6.337...
        _result("117", "registry", 50, 50),  # 100% on a topped-out-by-program measure: capped at 7
        _result("236", "electronicHealthRecord", 70, 100, reported=74),  # 74% complete < 75%
        _result("001", "electronicHealthRecord", 5, 19),  # 19 cases < 20
        _result("999", "registry", 10, 20),  # no benchmark
    ])
    scored = measure_points(results, bench)
    assert scored["rule"].to_list() == ["benchmark", "topped-out cap", "below data completeness",
                                        "below case minimum", "no benchmark"]
    assert scored["points"].to_list() == [pytest.approx(6 + 1.02 / 3.02), 7.0, 0.0, 0.0, 0.0]
    small = measure_points(results, bench, small_practice=True)
    assert small["points"].to_list()[2:] == [3.0, 3.0, 3.0]


def test_non_proportion_measures_are_refused(bench):
    cost = bench[bench.metric_type == "costScore"].iloc[0]
    results = pd.DataFrame([_result(cost.measure_id, cost.submission_method, 30, 100)])
    with pytest.raises(UserError):
        measure_points(results, bench)


def test_quality_category_counts_the_best_six():
    points = pd.DataFrame({"entity_id": ["A"] * 7, "points": [10, 8.5, 7, 6.2, 5, 4, 3]})
    assert quality_category_score(points)["quality_score"].iloc[0] == pytest.approx(100 * 40.7 / 60)
    small = quality_category_score(points, small_practice=True)
    assert small["quality_score"].iloc[0] == pytest.approx(100 * 46.7 / 60)
    few = quality_category_score(pd.DataFrame({"entity_id": ["B"], "points": [9.0]}))
    assert few["quality_score"].iloc[0] == pytest.approx(15.0)  # missing measures count zero


def test_final_score_weights_and_reweighting():
    cats = pd.DataFrame({
        "entity_id": ["all", "no_cost", "one"],
        "quality": [80.0, 80.0, 90.0],
        "cost": [50.0, None, None],
        "improvement_activities": [100.0, 100.0, None],
        "promoting_interoperability": [90.0, 90.0, None],
    })
    out = final_scores(cats).set_index("entity_id")
    assert out.loc["all", "final_score"] == pytest.approx(0.3 * 80 + 0.3 * 50 + 0.15 * 100 + 0.25 * 90)  # 76.5
    assert out.loc["no_cost", "final_score"] == pytest.approx(0.55 * 80 + 0.15 * 100 + 0.30 * 90)  # 86
    assert out.loc["one", "final_score"] == 75.0  # scored in one category only: the performance threshold
    small = final_scores(cats, small_practice=True).set_index("entity_id")
    no_pi = final_scores(cats.assign(promoting_interoperability=None), small_practice=True).set_index("entity_id")
    assert small.loc["all", "final_score"] == out.loc["all", "final_score"]  # nothing re-weighted: same weights
    assert no_pi.loc["all", "final_score"] == pytest.approx(0.4 * 80 + 0.3 * 50 + 0.3 * 100)  # 77
    assert no_pi.loc["no_cost", "final_score"] == pytest.approx(0.5 * 80 + 0.5 * 100)  # 90


def test_payment_adjustment_hand_worked():
    scores = pd.DataFrame({
        "entity_id": ["A", "B", "C", "D", "E"],
        "final_score": [100.0, 87.5, 18.75, 50.0, 75.0],
        "allowed_charges": [Decimal(100_000), Decimal(200_000), Decimal(50_000), Decimal(100_000), Decimal(10_000)],
    })
    out = payment_adjustments(scores).set_index("entity_id")
    # Negative side: C at PT/4 gets -9% (-4,500); D: -9% x (75-50)/(75-18.75) = -4% (-4,000). Total 8,500.
    # Positive side before scaling: A 9% x 100,000 = 9,000; B 4.5% x 200,000 = 9,000; SF = 8,500 / 18,000.
    assert out["amount"].to_dict() == {"A": Decimal("4250.00"), "B": Decimal("4250.00"), "C": Decimal("-4500.00"),
                                       "D": Decimal("-4000.00"), "E": Decimal("0.00")}
    assert out.loc["A", "scaling_factor"] == Decimal(8500) / Decimal(18000)
    assert out.loc["D", "adjustment_factor"] == Decimal("-0.04")


def test_invalid_scores_are_user_errors():
    scores = pd.DataFrame({"entity_id": ["A", "B"], "final_score": [101.0, 50.0],
                           "allowed_charges": [Decimal(1), Decimal(-5)]})
    with pytest.raises(UserError) as caught:
        payment_adjustments(scores)
    assert [(p.row, p.column) for p in caught.value.problems] == [(1, "final_score"), (2, "allowed_charges")]


def test_scaling_factor_is_capped_at_three():
    scores = pd.DataFrame({"entity_id": ["A", "C"], "final_score": [100.0, 0.0],
                           "allowed_charges": [Decimal(100_000), Decimal(1_000_000)]})
    out = payment_adjustments(scores).set_index("entity_id")
    assert out.loc["A", "amount"] == Decimal("27000.00") and out.loc["C", "amount"] == Decimal("-90000.00")


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 100), st.integers(1, 10_000_000)), min_size=2, max_size=30))
def test_adjustments_are_budget_neutral_unless_capped(rows):
    scores = pd.DataFrame({"entity_id": [f"E{i}" for i in range(len(rows))],
                           "final_score": [r[0] for r in rows],
                           "allowed_charges": [Decimal(r[1]) / 100 for r in rows]})
    out = payment_adjustments(scores)
    paid = sum((a for a in out["amount"] if a > 0), Decimal(0))
    collected = -sum((a for a in out["amount"] if a < 0), Decimal(0))
    if 0 < out["scaling_factor"].iloc[0] < 3:
        assert abs(paid - collected) <= Decimal("0.01")
    else:  # nobody above the threshold (nothing to pay) or the factor capped at 3
        assert paid <= collected
    assert all(Decimal("-0.09") <= f <= Decimal("0.27") for f in out["adjustment_factor"])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.none(), st.floats(0, 100)), min_size=4, max_size=4), st.floats(0, 10))
def test_final_score_stays_within_0_and_100(category_scores, bonus):
    cats = pd.DataFrame([{"entity_id": "X", "quality": category_scores[0], "cost": category_scores[1],
                          "improvement_activities": category_scores[2],
                          "promoting_interoperability": category_scores[3], "complex_patient_bonus": bonus}])
    assert 0.0 <= final_scores(cats)["final_score"].iloc[0] <= 100.0
