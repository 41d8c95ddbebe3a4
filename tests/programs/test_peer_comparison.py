"""Peer comparison: Wilson intervals and significance flags, worked by hand."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from p4pkit.errors import UserError
from p4pkit.programs.peer_comparison import compare

Z95 = 1.959963984540054


def _wilson(k, n, z=Z95):
    """Wilson score interval written out from the formula, independent of statsmodels."""
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def test_against_a_national_average():
    rates = pd.DataFrame({"entity_id": ["A", "B", "C"], "numerator": [30, 90, 20], "denominator": [50, 100, 100]})
    out = compare(rates, reference_rate=0.5).set_index("entity_id")
    low, high = _wilson(30, 50)  # 0.4618 .. 0.7239: contains 0.5
    assert (out.loc["A", "ci_low"], out.loc["A", "ci_high"]) == (pytest.approx(low), pytest.approx(high))
    assert out["flag"].to_dict() == {"A": "not different", "B": "better", "C": "worse"}
    # Lower is better (e.g. readmissions): the flags swap.
    flipped = compare(rates, reference_rate=0.5, higher_is_better=False).set_index("entity_id")
    assert flipped["flag"].to_dict() == {"A": "not different", "B": "worse", "C": "better"}


def test_against_the_peer_group():
    rates = pd.DataFrame({"entity_id": ["A", "B", "C", "D", "E"], "peer_group": ["rural"] * 4 + ["urban"],
                          "numerator": [40, 60, 80, 95, 10], "denominator": [100] * 5})
    out = compare(rates).set_index("entity_id")
    # Rural mean of rates = (0.4 + 0.6 + 0.8 + 0.95) / 4 = 0.6875; median 0.7; p25 = 0.55.
    assert out.loc["A", "comparator"] == pytest.approx(0.6875)
    assert out.loc["A", "peer_p50"] == pytest.approx(0.7) and out.loc["A", "peer_p25"] == pytest.approx(0.55)
    assert out.loc["A", "percentile_rank"] == pytest.approx(0.25)
    assert out.loc[["A", "B", "D"], "flag"].to_list() == ["worse", "not different", "better"]
    assert out.loc["E", "flag"] == "not different"  # alone in its group: compared with itself


def test_bad_counts_are_user_errors():
    rates = pd.DataFrame({"entity_id": ["A"], "numerator": [5], "denominator": [4]})
    with pytest.raises(UserError) as caught:
        compare(rates, reference_rate=0.5)
    assert caught.value.problems[0].row == 1
