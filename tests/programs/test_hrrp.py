"""HRRP model: ERR rounding, suppression and the payment adjustment factor, worked by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from p4pkit.errors import UserError
from p4pkit.programs.hrrp import excess_readmission_ratio, hrrp_ledger, hrrp_rules, payment_adjustment, public_counts

RULES = hrrp_rules(2024)


def test_floor_steps_to_097_from_fy2015():
    assert [hrrp_rules(year).floor for year in (2013, 2014, 2015, 2024)] == [0.99, 0.98, 0.97, 0.97]
    with pytest.raises(UserError):
        hrrp_rules(2012)


def test_err_is_predicted_over_expected_rounded_half_up_to_4_decimals():
    predicted = pd.Series([23.1263, 1.00005, 3.0, np.nan])
    expected = pd.Series([21.0184, 1.0, 2.0, 1.0])
    # 23.1263 / 21.0184 = 1.100288..., 1.00005 is a tie → 1.0001, 1.5 exact, missing stays missing.
    assert excess_readmission_ratio(predicted, expected).tolist()[:3] == [1.1003, 1.0001, 1.5]
    assert np.isnan(excess_readmission_ratio(predicted, expected).iloc[3])


def test_fewer_than_11_readmissions_are_too_few_to_report_and_hide_discharges():
    shown = public_counts(pd.Series([10.0, 11.0, np.nan, "Too Few to Report"], dtype=object), pd.Series([200.0, 150.0, np.nan, np.nan]))
    assert shown["readmissions"].tolist() == ["Too Few to Report", "11", "N/A", "Too Few to Report"]
    assert shown["discharges"].tolist() == ["N/A", "150", "N/A", "N/A"]


def example():
    """Two peer groups. Group 1: AMI ERRs 1.10/1.00/0.90 and HF 1.20/1.00/0.80 (medians 1.00);
    group 2: AMI 1.20/1.00 (median 1.10). DRG ratios AMI 0.05, HF 0.10. H2's CABG has 20 cases."""
    conditions = pd.DataFrame(
        [
            ("H1", "AMI", 1.10, 300, 0.05), ("H2", "AMI", 1.00, 300, 0.05), ("H3", "AMI", 0.90, 300, 0.05),
            ("H1", "HF", 1.20, 300, 0.10), ("H2", "HF", 1.00, 300, 0.10), ("H3", "HF", 0.80, None, 0.10),
            ("H2", "CABG", 1.50, 20, 0.10),
            ("H4", "AMI", 1.20, 300, 0.05), ("H5", "AMI", 1.00, 300, 0.05),
        ],
        columns=["hospital_id", "condition", "err", "discharges", "drg_ratio"],
    )
    hospitals = pd.DataFrame(
        {
            "hospital_id": ["H1", "H2", "H3", "H4", "H5"],
            "peer_group": [1, 1, 1, 2, 2],
            "base_operating_payments": [1_000_000.0, 1_000_000.0, 1_000_000.0, 2_000_000.0, 1_000_000.0],
        }
    )
    return conditions, hospitals


def test_neutrality_modifier_equalises_dollar_penalties_then_the_floor_applies():
    # Unstratified: H1 0.05×0.10 + 0.10×0.20 = 0.025, H4 0.05×0.20 = 0.010 → $25,000 + $20,000 = $45,000.
    # Stratified:   H1 0.025, H4 0.05×(1.20 − 1.10) = 0.005 → $25,000 + $10,000 = $35,000; NM = 45/35.
    # PAF H1 = max(0.97, 1 − 0.025 × 9/7 = 0.967857) = 0.97; H4 = 1 − 0.005 × 9/7 = 0.993571.
    conditions, hospitals = example()
    result = payment_adjustment(conditions, hospitals, RULES).set_index("hospital_id")
    assert result["neutrality_modifier"].iloc[0] == pytest.approx(9 / 7)
    assert result["payment_adjustment_factor"].to_dict() == pytest.approx({"H1": 0.97, "H2": 1.0, "H3": 1.0, "H4": 1 - 0.045 / 7, "H5": 1.0})
    assert result.loc["H2", "stratified_excess"] == 0  # the 20-case CABG does not count
    ledger = hrrp_ledger(result.reset_index(), hospitals)
    assert float(ledger.totals()["recovered"]) == pytest.approx(30_000 + 2_000_000 * 0.045 / 7, abs=0.01)


def test_a_given_neutrality_modifier_is_used_as_is():
    conditions, hospitals = example()
    result = payment_adjustment(conditions, hospitals.drop(columns="base_operating_payments"), RULES, neutrality_modifier=0.9)
    assert result.set_index("hospital_id")["payment_adjustment_factor"]["H1"] == pytest.approx(1 - 0.9 * 0.025)


def test_solving_the_modifier_without_payments_is_a_user_error():
    conditions, hospitals = example()
    with pytest.raises(UserError, match="base-operating"):
        payment_adjustment(conditions, hospitals.drop(columns="base_operating_payments"), RULES)


def test_peer_groups_are_quintiles_of_dual_proportion():
    conditions, hospitals = example()
    duals = pd.DataFrame({"hospital_id": [f"H{i}" for i in range(1, 11)], "dual_proportion": np.linspace(0.1, 1.0, 10), "base_operating_payments": 1.0})
    result = payment_adjustment(conditions, duals, RULES)
    assert result["peer_group"].tolist() == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]


@settings(max_examples=40, deadline=None)
@given(
    errs=st.lists(st.floats(min_value=0.5, max_value=1.6), min_size=6, max_size=40),
    ratio=st.floats(min_value=0.001, max_value=0.4),
)
def test_paf_respects_floor_and_unfloored_totals_match_the_unstratified_method(errs, ratio):
    n = len(errs)
    conditions = pd.DataFrame({"hospital_id": [f"H{i}" for i in range(n)], "condition": "HF", "err": errs, "discharges": 100, "drg_ratio": ratio})
    hospitals = pd.DataFrame({"hospital_id": [f"H{i}" for i in range(n)], "peer_group": [1 + i % 2 for i in range(n)], "base_operating_payments": 1e6})
    result = payment_adjustment(conditions, hospitals, RULES)
    paf = result["payment_adjustment_factor"]
    assert (paf >= RULES.floor).all() and (paf <= 1).all()
    modifier = result["neutrality_modifier"].iloc[0]
    if result["stratified_excess"].sum() > 0:
        assert (modifier * result["stratified_excess"]).sum() == pytest.approx(result["unstratified_excess"].sum())
    unfloored = paf > RULES.floor
    assert np.allclose(paf[unfloored], 1 - modifier * result["stratified_excess"][unfloored])
