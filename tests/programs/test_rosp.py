"""ROSP targets, achievement, prorated points and euros, worked by hand."""

from __future__ import annotations

from decimal import Decimal

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from p4pkit.errors import UserError
from p4pkit.programs.rosp import achievement_rate, payments, score, targets_from_baseline


def test_targets_are_the_30th_and_80th_percentiles_mirrored_when_lower_is_better():
    rates = [float(r) for r in range(0, 101, 10)]  # 11 doctors: 0, 10, ..., 100
    baseline = pd.DataFrame({"doctor_id": [f"D{i}" for i in range(11)] * 2,
                             "indicator_id": ["flu"] * 11 + ["antibiotics"] * 11, "rate": rates * 2})
    targets = targets_from_baseline(baseline, {"antibiotics": True}).set_index("indicator_id")
    assert targets.loc["flu", ["intermediate_target", "final_target"]].to_list() == [30.0, 80.0]
    assert targets.loc["antibiotics", ["intermediate_target", "final_target"]].to_list() == [70.0, 20.0]


@pytest.mark.parametrize(
    ("rate", "start", "expected"),
    [
        (50.0, 20.0, (50 - 20) / (80 - 20)),  # started below the intermediate target: progress
        (50.0, 40.0, (50 - 30) / (80 - 30)),  # started above it: attainment between the targets
        (85.0, 20.0, 1.0),  # beyond the final target
        (10.0, 20.0, 0.0),  # worse than the start: nothing, never negative
    ],
)
def test_achievement_rate(rate, start, expected):
    assert achievement_rate(rate, start, 30.0, 80.0, False) == pytest.approx(expected)


def test_achievement_rate_when_lower_is_better():
    # Antibiotic prescribing: start 90, intermediate 70, final 20, now 45 -> (90 - 45)/(90 - 20).
    assert achievement_rate(45.0, 90.0, 70.0, 20.0, True) == pytest.approx(45 / 70)


def _indicators():
    return pd.DataFrame({"indicator_id": ["flu", "antibiotics"], "points": [35, 20], "min_patients": [20, 20],
                         "intermediate_target": [30.0, 70.0], "final_target": [80.0, 20.0],
                         "lower_is_better": [False, True]})


def test_points_prorated_to_the_800_patient_panel_and_paid_at_7_euros():
    rates = pd.DataFrame({"doctor_id": ["D1", "D1", "D2"], "indicator_id": ["flu", "antibiotics", "antibiotics"],
                          "rate": [50.0, 10.0, 15.0], "start_rate": [20.0, 90.0, 60.0], "patients": [100, 10, 50]})
    panels = pd.DataFrame({"doctor_id": ["D1", "D2"], "patientele": [1200, 400]})
    scored = score(rates, _indicators(), panels)
    # D1 flu: 35 x 0.5 x 1200/800 = 26.25 points; D1 antibiotics: 10 patients < 20, not scored.
    # D2 antibiotics: 15 beats the final target 20 -> 20 x 1 x 400/800 = 10 points.
    assert scored["earned_points"].to_list() == pytest.approx([26.25, 0.0, 10.0])
    assert scored["scored"].to_list() == [True, False, True]
    paid = payments(scored).set_index("doctor_id")
    assert paid["amount"].to_dict() == {"D1": Decimal("183.75"), "D2": Decimal("70.00")}


@given(st.lists(st.tuples(st.floats(0, 100), st.floats(0, 100), st.integers(0, 500), st.integers(0, 3000)),
                min_size=1, max_size=20))
def test_payment_is_never_negative(rows):
    rates = pd.DataFrame({"doctor_id": [f"D{i}" for i in range(len(rows))], "indicator_id": "flu",
                          "rate": [r[0] for r in rows], "start_rate": [r[1] for r in rows],
                          "patients": [r[2] for r in rows]})
    panels = pd.DataFrame({"doctor_id": [f"D{i}" for i in range(len(rows))], "patientele": [r[3] for r in rows]})
    paid = payments(score(rates, _indicators(), panels))
    assert all(a >= 0 for a in paid["amount"])


def test_unknown_indicator_and_missing_panel_are_user_errors():
    rates = pd.DataFrame({"doctor_id": ["D1", "D9"], "indicator_id": ["statins", "flu"], "rate": [50.0, 50.0],
                          "start_rate": [20.0, 20.0], "patients": [100, 100]})
    panels = pd.DataFrame({"doctor_id": ["D1"], "patientele": [800]})
    with pytest.raises(UserError) as caught:
        score(rates, _indicators(), panels)
    assert [p.column for p in caught.value.problems] == ["indicator_id", "doctor_id"]
