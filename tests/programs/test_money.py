"""Money rounding and exact allocation."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from p4pkit.programs.money import allocate, round_money


def test_round_half_up_to_the_cent():
    assert round_money(Decimal("2.345")) == Decimal("2.35")
    assert round_money(Decimal("-2.345")) == Decimal("-2.35")
    assert round_money(2.675) == Decimal("2.68")  # float repr, not binary 2.67499999...
    assert round_money(np.float64(2.675)) == Decimal("2.68")


def test_allocate_three_ways_gives_the_odd_cent_to_the_first_largest_remainder():
    assert allocate(Decimal("100.00"), [1, 1, 1]) == [Decimal("33.34"), Decimal("33.33"), Decimal("33.33")]


def test_allocate_in_proportion():
    assert allocate(Decimal("10.00"), [1, 3]) == [Decimal("2.50"), Decimal("7.50")]


def test_allocate_rejects_bad_weights():
    with pytest.raises(ValueError):
        allocate(Decimal("1"), [0, 0])
    with pytest.raises(ValueError):
        allocate(Decimal("1"), [1, -1])


@given(
    total=st.decimals(min_value=-10**9, max_value=10**9, places=2, allow_nan=False, allow_infinity=False),
    weights=st.lists(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=50).filter(any),
)
def test_allocation_sums_to_the_pot_exactly(total, weights):
    parts = allocate(total, weights)
    assert sum(parts, Decimal(0)) == total
    assert all(abs(p) <= abs(total) for p in parts)
    assert all(p == 0 for p, w in zip(parts, weights) if w == 0)
