"""Unmeasured care: rates per period, the gap statistic and its interval, worked by hand."""

from __future__ import annotations

from datetime import date

import ibis
import numpy as np
import pandas as pd
import pytest

from p4pkit.safeguards.unmeasured import annual_periods, group_series, period_rates, periods_after, unmeasured_care

Z = 1.959964


def _rates(rows: list[tuple[str, str, int, int, bool]]) -> pd.DataFrame:
    table = pd.DataFrame(rows, columns=["period", "measure_id", "numerator", "denominator", "incentivised"])
    table["rate"] = table.numerator / table.denominator
    return table


def test_period_rates_count_the_performance_denominator_of_the_first_group():
    columns = ["period", "measure_id", "group_index", "scoring", "denominator", "denominator_exclusion", "denominator_exception", "numerator"]
    rows = [
        ("pre", "INC", 0, "proportion", 1, 0, 0, 1),
        ("pre", "INC", 0, "proportion", 1, 0, 0, 0),
        ("pre", "INC", 0, "proportion", 1, 1, 0, 0),  # excluded
        ("pre", "INC", 1, "proportion", 1, 0, 0, 1),  # second population group: left out
        ("pre", "OTHER", 0, "proportion", 1, 0, 1, 0),  # exception
        ("pre", "OTHER", 0, "proportion", 1, 0, 0, 1),
        ("post", "INC", 0, "proportion", 0, 0, 0, 0),  # initial population only
        ("post", "INC", 0, "proportion", 1, 0, 0, 1),
    ]
    rates = period_rates(ibis.memtable(pd.DataFrame(rows, columns=columns)), ["INC"])
    assert rates[["period", "measure_id", "numerator", "denominator", "incentivised"]].values.tolist() == [
        ["post", "INC", 1, 1, True],
        ["pre", "INC", 1, 2, True],
        ["pre", "OTHER", 1, 1, False],
    ]


def test_incentivised_care_rising_while_other_care_falls_is_neglect():
    rates = _rates([("pre", "I", 40, 100, True), ("post", "I", 60, 100, True), ("pre", "N", 50, 100, False), ("post", "N", 30, 100, False)])
    u = unmeasured_care(rates, ["post"])
    # variances .4*.6/100 = .0024 twice (I), .5*.5/100 = .0025 and .3*.7/100 = .0021 (N)
    assert u.incentivised_change.estimate == pytest.approx(0.2)
    assert u.incentivised_change.lower == pytest.approx(0.2 - Z * np.sqrt(0.0048), abs=1e-6)
    assert u.non_incentivised_change.estimate == pytest.approx(-0.2)
    assert u.non_incentivised_change.upper == pytest.approx(-0.2 + Z * np.sqrt(0.0046), abs=1e-6)
    assert u.gap_change.estimate == pytest.approx(0.4)
    assert u.gap_change.upper - u.gap_change.estimate == pytest.approx(Z * np.sqrt(0.0094), abs=1e-6)
    assert u.neglect


def test_a_group_rate_is_the_unweighted_mean_of_its_measures_pooled_over_the_window():
    rates = _rates(
        [
            ("y1", "I1", 20, 50, True), ("y2", "I1", 20, 50, True),  # pre: 40/100 = .4
            ("y1", "I2", 40, 50, True),  # pre: .8 on 50
            ("y3", "I1", 50, 100, True), ("y3", "I2", 45, 50, True),  # post: .5 and .9
            ("y1", "N", 10, 20, False), ("y3", "N", 12, 20, False),
        ]
    )
    u = unmeasured_care(rates, ["y3"])
    assert u.incentivised_pre == pytest.approx(0.6)
    assert u.incentivised_post == pytest.approx(0.7)
    # var(pre) = (.4*.6/100 + .8*.2/50) / 4 = .0014; var(post) = (.25/100 + .09/50) / 4 = .001075
    assert u.incentivised_change.upper - 0.1 == pytest.approx(Z * np.sqrt(0.0014 + 0.001075), abs=1e-6)
    assert u.non_incentivised_change.estimate == pytest.approx(0.1)
    assert not u.neglect


def test_a_small_fall_inside_the_interval_is_not_called_neglect():
    rates = _rates([("pre", "I", 40, 50, True), ("post", "I", 45, 50, True), ("pre", "N", 25, 50, False), ("post", "N", 23, 50, False)])
    u = unmeasured_care(rates, ["post"])
    assert u.non_incentivised_change.estimate == pytest.approx(-0.04)
    assert u.non_incentivised_change.upper > 0
    assert not u.neglect


def test_group_series_gives_each_group_mean_rate_per_period():
    rates = _rates([("y1", "I1", 1, 2, True), ("y1", "I2", 3, 4, True), ("y1", "N", 1, 4, False)])
    series = group_series(rates)
    assert series.values.tolist() == [["y1", "not incentivised", 0.25], ["y1", "incentivised", 0.625]]


def test_annual_periods_and_the_post_window_after_a_program_start():
    periods = annual_periods(date(2003, 4, 1), 3)
    assert list(periods) == ["2003-04-01", "2004-04-01", "2005-04-01"]
    assert (periods["2003-04-01"].start, periods["2003-04-01"].end) == (date(2003, 4, 1), date(2004, 3, 31))
    assert periods_after(periods, date(2004, 4, 1)) == ["2004-04-01", "2005-04-01"]
