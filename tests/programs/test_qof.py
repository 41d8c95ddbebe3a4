"""QOF points and payments, worked by hand from the 2023/24 guidance formulas and the official catalogue."""

from __future__ import annotations

from decimal import Decimal

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from p4pkit.errors import UserError
from p4pkit.programs.qof import (
    NATIONAL_AVERAGE_LIST_SIZE,
    POUNDS_PER_POINT,
    load_indicator_catalogue,
    payments,
    prevalence_factors,
    score_indicators,
    threshold_points,
)

# Illustrative thresholds (percent) for the hand-worked examples; real ones come from the guidance.
THRESHOLDS = pd.DataFrame({"indicator_code": ["AF006", "SMOK002"], "lower": [40.0, 50.0], "upper": [70.0, 90.0]})


@pytest.fixture(scope="module")
def catalogue(shared_data):
    return load_indicator_catalogue(shared_data / "cms/qof_2023_24/QOF2324_INDICATOR_REFERENCE_CONTROL.csv")


def test_catalogue_2023_24(catalogue):
    assert len(catalogue) == 76 and catalogue["max_points"].sum() == 635
    by_code = catalogue.set_index("indicator_code")
    assert by_code.loc["AF006", "max_points"] == 12 and by_code.loc["AF006", "prevalence_adjusted"]
    assert not by_code.loc["SMOK002", "prevalence_adjusted"]  # smoking group: no prevalence
    assert not by_code.loc["QI013", "prevalence_adjusted"] and by_code.loc["QI013", "is_manual"]
    assert by_code.loc["AF001", "is_register"]
    assert catalogue.groupby("domain_code")["max_points"].sum().to_dict() == {"CL": 401, "PH": 160, "QI": 74}


@pytest.mark.parametrize(("achievement", "points"), [(30.0, 0.0), (40.0, 0.0), (55.0, 6.0), (70.0, 12.0), (99.0, 12.0)])
def test_points_below_at_between_and_above_thresholds(achievement, points):
    assert threshold_points(achievement, 40.0, 70.0, 12) == pytest.approx(points)


def _practice_results():
    return pd.DataFrame({
        "practice_id": ["P1", "P1", "P1", "P1"],
        "indicator_code": ["AF006", "SMOK002", "AF001", "QI013"],
        "numerator": [60, 95, 200, 0],
        "eligible": [110, 100, 0, 0],
        "pcas": [10, 0, 0, 0],
    })


def test_practice_pounds_for_an_indicator(catalogue):
    scored = score_indicators(_practice_results(), catalogue, THRESHOLDS).set_index("indicator_code")
    # AF006: 60 / (110 - 10) = 60% -> 12 x (60 - 40)/(70 - 40) = 8 points.
    assert scored.loc["AF006", "achievement"] == pytest.approx(60.0)
    assert scored.loc["AF006", "points"] == pytest.approx(8.0)
    assert scored.loc["SMOK002", "points"] == 25.0  # 95% >= upper threshold
    assert scored.loc["AF001", "points"] == 5.0  # register produced
    assert scored.loc["QI013", "points"] == 0.0  # QI activity not done

    lists = pd.DataFrame({"practice_id": ["P1", "P2"], "list_size": [8000, 12000]})
    registers = pd.DataFrame({"practice_id": ["P1", "P2"], "group_code": ["AF", "AF"], "register": [200, 200]})
    # National AF prevalence given as 2%: P1 prevalence 200/8000 = 2.5% -> APDF 1.25.
    apdf = prevalence_factors(registers, lists, {"AF": 0.02})
    assert apdf.set_index("practice_id").loc["P1", "apdf"] == pytest.approx(1.25)
    paid = payments(scored.reset_index(), lists, apdf, value_per_point=POUNDS_PER_POINT["2023/24"],
                    national_average_list_size=10_000).set_index("indicator_code")
    # CPI = 8000 / 10000 = 0.8. AF006: 8 x £213.43 x 0.8 x 1.25 = £1,707.44; SMOK002 (CPI only): 25 x 213.43 x 0.8.
    assert paid.loc["AF006", "amount"] == Decimal("1707.44")
    assert paid.loc["SMOK002", "amount"] == Decimal("4268.60")
    assert paid.loc["AF001", "amount"] == Decimal("1067.15")  # 5 x 213.43 x 0.8 x 1.25


def test_2023_24_point_value_and_national_average_list_size(catalogue):
    scored = score_indicators(_practice_results(), catalogue, THRESHOLDS)
    lists = pd.DataFrame({"practice_id": ["P1"], "list_size": [8000]})
    apdf = prevalence_factors(pd.DataFrame({"practice_id": ["P1"], "group_code": ["AF"], "register": [200]}), lists,
                              {"AF": 0.02})
    paid = payments(scored, lists, apdf, value_per_point=POUNDS_PER_POINT["2023/24"],
                    national_average_list_size=NATIONAL_AVERAGE_LIST_SIZE["2023/24"]).set_index("indicator_code")
    # CPI = 8000 / 9639. AF006: 8 x 213.43 x 8000/9639 x 1.25 = 1771.387... -> £1,771.39.
    assert paid.loc["AF006", "amount"] == Decimal("1771.39")
    assert paid.loc["SMOK002", "amount"] == Decimal("4428.47")  # 25 x 213.43 x 8000/9639 = 4428.469...
    # The value per patient has been frozen: £ per point / national average list is 2.214p every year.
    per_patient = {year: POUNDS_PER_POINT[year] / NATIONAL_AVERAGE_LIST_SIZE[year] for year in POUNDS_PER_POINT}
    assert all(abs(v - Decimal("0.022142")) < Decimal("0.000002") for v in per_patient.values())


def test_national_prevalence_from_the_practices_given():
    lists = pd.DataFrame({"practice_id": ["P1", "P2"], "list_size": [8000, 12000]})
    registers = pd.DataFrame({"practice_id": ["P1", "P2"], "group_code": ["AF", "AF"], "register": [200, 200]})
    apdf = prevalence_factors(registers, lists).set_index("practice_id")
    # National = 400 / 20000 = 2%; P2 = 200 / 12000 = 1.667% -> APDF 0.8333.
    assert apdf.loc["P2", "apdf"] == pytest.approx((200 / 12000) / 0.02)


def test_unknown_indicator_and_missing_thresholds_are_user_errors(catalogue):
    results = pd.DataFrame({"practice_id": ["P1", "P1"], "indicator_code": ["XX999", "DM012"],
                            "numerator": [1, 1], "eligible": [2, 2], "pcas": [0, 0]})
    with pytest.raises(UserError) as caught:
        score_indicators(results, catalogue, THRESHOLDS)
    assert [p.column for p in caught.value.problems] == ["indicator_code", "indicator_code"]


@given(st.floats(0, 100), st.floats(0, 100), st.floats(0, 60), st.floats(0.5, 60), st.integers(1, 30))
def test_points_bounded_and_monotone(a, b, lower, width, max_points):
    low, high = sorted((a, b))
    upper = lower + width
    p_low = threshold_points(low, lower, upper, max_points)
    p_high = threshold_points(high, lower, upper, max_points)
    assert 0.0 <= p_low <= p_high <= max_points
