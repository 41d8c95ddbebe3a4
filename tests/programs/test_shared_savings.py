"""Shared savings model: hand-worked examples from §425.604/§425.605/§425.610 and the PY2023 rules."""

from __future__ import annotations

from decimal import Decimal

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from p4pkit.errors import UserError
from p4pkit.programs.shared_savings import (
    mssp_rules,
    ny_vbp_rules,
    shared_savings,
    shared_savings_ledger,
    table_msr_pct,
)

RULES = mssp_rules(2023)


def run(rules=RULES, **entity) -> dict:
    row = {
        "entity_id": "X",
        "assigned_beneficiaries": 12_000,
        "quality_score": 80.0,
        "met_quality_standard": True,
        "met_alternative_standard": False,
        "msr_pct": None,
        "participant_revenue": None,
        "loss_adjustment": None,
        **entity,
    }
    schema = pa.schema([("msr_pct", pa.float64()), ("participant_revenue", pa.float64()), ("loss_adjustment", pa.float64())])
    table = pa.Table.from_pylist([row])
    for field in schema:
        table = table.set_column(table.schema.get_field_index(field.name), field, table[field.name].cast(field.type))
    return shared_savings(table, rules).to_pylist()[0]


@pytest.mark.parametrize(
    ("assigned", "msr"),
    [(5_000, "3.9"), (5_500, "3.75"), (10_000, "3.0"), (12_000, "2.88"), (20_000, "2.5"), (59_999, "2.00002"), (60_000, "2.0"), (250_000, "2.0")],
)
def test_msr_table_interpolates_inside_each_band(assigned, msr):
    assert table_msr_pct(assigned, RULES) == Decimal(msr)


def test_msr_table_does_not_cover_fewer_than_5000():
    assert table_msr_pct(4_999, RULES) is None
    with pytest.raises(UserError, match="minimum savings rate"):
        run(track="B", benchmark=1e6, expenditure=9e5, assigned_beneficiaries=4_999)


def test_one_sided_savings_above_the_msr_are_shared_at_40_percent_less_sequestration():
    # 12,000 beneficiaries: MSR 2.88%. Savings 4% ≥ MSR: 4,000,000 × 40% × (1 − 2%) = 1,568,000.
    result = run(track="B", benchmark=100_000_000, expenditure=96_000_000)
    assert result["savings_rate_pct"] == Decimal("4")
    assert result["msr_pct"] == Decimal("2.88")
    assert result["earned"] == Decimal("1568000.00")
    assert result["outcome"] == "shared_savings"


def test_savings_below_the_msr_earn_nothing():
    result = run(track="B", benchmark=100_000_000, expenditure=97_500_000)
    assert (result["earned"], result["outcome"]) == (Decimal("0.00"), "within_corridor")


def test_savings_cap_is_20_percent_of_benchmark_for_enhanced():
    # 3,000,000 × 75% = 2,250,000 > cap 2,000,000; paid 2,000,000 × 0.98.
    result = run(track="EN", benchmark=10_000_000, expenditure=7_000_000, msr_pct=2.0)
    assert result["earned"] == Decimal("1960000.00")


def test_enhanced_losses_are_capped_at_15_percent_of_benchmark():
    # quality 80 → loss rate 100 − 0.75 × 80 = 40%; 5,000,000 × 40% = 2,000,000 > cap 1,500,000.
    result = run(track="EN", benchmark=10_000_000, expenditure=15_000_000, msr_pct=2.0)
    assert result["final_loss_rate_pct"] == Decimal("40")
    assert result["earned"] == Decimal("-1500000.00")
    assert result["outcome"] == "shared_loss"


def test_basic_losses_use_30_percent_and_the_revenue_cap_when_revenue_is_known():
    # Level E: 2,000,000 × 30% = 600,000; caps 4% × 50M = 2M and 8% × 5M revenue = 400,000.
    without_revenue = run(track="E", benchmark=50_000_000, expenditure=52_000_000, msr_pct=1.0)
    with_revenue = run(track="E", benchmark=50_000_000, expenditure=52_000_000, msr_pct=1.0, participant_revenue=5_000_000)
    assert without_revenue["earned"] == Decimal("-600000.00")
    assert with_revenue["earned"] == Decimal("-400000.00")


def test_losses_inside_the_mlr_corridor_are_not_shared():
    result = run(track="E", benchmark=50_000_000, expenditure=50_400_000, msr_pct=1.0)
    assert result["earned"] == Decimal("0.00")


def test_loss_adjustment_reduces_shared_losses_after_the_cap():
    # PY2023 A2029: 15,884,998 × 40% = 6,353,999.2, less the disaster adjustment 2,649,296.
    result = run(track="EN", benchmark=411_525_337, expenditure=427_410_335, msr_pct=0.0, quality_score=82.45, loss_adjustment=2_649_296)
    assert result["earned"] == Decimal("-3704703.20")


def test_quality_gate_full_sliding_scale_and_none():
    full = run(track="B", benchmark=1e8, expenditure=9e7, quality_score=76.59)
    sliding = run(track="B", benchmark=1e8, expenditure=9e7, quality_score=76.59, met_quality_standard=False, met_alternative_standard=True)
    none = run(track="EN", benchmark=1e8, expenditure=9e7, msr_pct=0.0, met_quality_standard=False)
    assert full["final_sharing_rate_pct"] == Decimal("40")
    assert sliding["final_sharing_rate_pct"] == Decimal("30.636")  # 40 × 76.59%
    assert sliding["earned"] == Decimal("3002328.00")  # 10,000,000 × 30.636% × 0.98
    assert (none["final_sharing_rate_pct"], none["earned"]) == (Decimal("0"), Decimal("0.00"))
    assert none["final_loss_rate_pct"] == Decimal("75")


@pytest.mark.parametrize(("quality", "loss_rate"), [(100, "40"), (77.94, "41.545"), (60, "55"), (10, "75")])
def test_enhanced_loss_rate_is_one_minus_75_percent_of_quality_within_40_and_75(quality, loss_rate):
    assert run(track="EN", benchmark=1e8, expenditure=1e8, msr_pct=0.0, quality_score=quality)["final_loss_rate_pct"] == Decimal(loss_rate)


def test_unknown_track_is_a_user_error():
    with pytest.raises(UserError) as caught:
        run(track="Z", benchmark=1e6, expenditure=1e6)
    assert caught.value.problems[0].column == "track"


def test_ny_vbp_level_1_is_upside_only_and_level_2_shares_losses():
    rules = ny_vbp_rules()
    assert run(rules, track="L1", benchmark=1_000_000, expenditure=900_000)["earned"] == Decimal("50000.00")
    assert run(rules, track="L1", benchmark=1_000_000, expenditure=1_200_000)["earned"] == Decimal("0.00")
    assert run(rules, track="L2", benchmark=1_000_000, expenditure=950_000)["earned"] == Decimal("45000.00")
    # 200,000 × 90% = 180,000, stop-loss at 10% of the benchmark.
    assert run(rules, track="L2", benchmark=1_000_000, expenditure=1_200_000)["earned"] == Decimal("-100000.00")


amounts = st.integers(min_value=1_000_000, max_value=2_000_000_000)


@settings(max_examples=60, deadline=None)
@given(
    benchmark=amounts,
    ratio=st.floats(min_value=0.6, max_value=1.4),
    track=st.sampled_from(sorted(RULES.tracks)),
    quality=st.floats(min_value=0, max_value=100),
    assigned=st.integers(min_value=5_000, max_value=200_000),
)
def test_earned_never_exceeds_savings_or_caps(benchmark, ratio, track, quality, assigned):
    expenditure = round(benchmark * ratio)
    result = run(track=track, benchmark=benchmark, expenditure=expenditure, quality_score=quality, assigned_beneficiaries=assigned, msr_pct=1.0 if RULES.tracks[track].two_sided else None)
    spec = RULES.tracks[track]
    earned, gross = result["earned"], Decimal(benchmark - expenditure)
    assert earned <= max(gross, Decimal(0))
    assert earned <= Decimal(benchmark) * spec.savings_cap_pct / 100
    if not spec.two_sided:
        assert earned >= 0
    else:
        assert -earned <= Decimal(benchmark) * spec.loss_cap_benchmark_pct / 100 + Decimal("0.01")


def test_ledger_of_a_one_sided_run_is_upside_only_and_balanced_against_savings():
    table = pa.table(
        {
            "entity_id": ["a", "b"],
            "track": ["A", "B"],
            "benchmark": [1e8, 1e8],
            "expenditure": [9e7, 1.1e8],
            "assigned_beneficiaries": [60_000, 60_000],
            "met_quality_standard": [True, True],
        }
    )
    rules = RULES
    ledger = shared_savings_ledger(shared_savings(table, rules), rules)
    assert ledger.upside_only
    assert ledger.totals()["paid"] == Decimal("3920000.00")  # 10,000,000 × 40% × 0.98
    assert ledger.totals()["funded"] == Decimal("10000000.00")
