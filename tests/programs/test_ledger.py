"""Ledger invariants: hand-worked cases and Hypothesis properties over random runs."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from p4pkit.programs.ledger import Entry, Ledger, LedgerInvariantError
from p4pkit.programs.money import allocate

cents = st.integers(min_value=1, max_value=10**9).map(lambda c: Decimal(c) / 100)
weights = st.lists(st.integers(min_value=1, max_value=1_000), min_size=1, max_size=30)


def test_totals_add_each_kind_once():
    ledger = Ledger("demo", participants=frozenset({"a", "b"}))
    ledger.add("a", Decimal("100"), "withhold", "2% withhold")
    ledger.add("a", Decimal("60"), "withhold_return", "quality met")
    ledger.add("b", Decimal("25.005"), "bonus", "top decile")
    ledger.add("b", Decimal("10"), "penalty", "late reporting")
    ledger.add("b", Decimal("0"), "bonus", "zero is not recorded")
    assert ledger.totals() == {
        "funded": Decimal("0.00"),
        "withheld": Decimal("100.00"),
        "paid": Decimal("85.01"),  # 60 + 25.01 (half-up)
        "recovered": Decimal("10.00"),
    }
    assert len(ledger.to_arrow()) == 4


@pytest.mark.parametrize(
    ("amount", "kind"), [(Decimal("-1"), "bonus"), (Decimal("1.001"), "bonus"), (1, "bonus"), (Decimal("1"), "gift")]
)
def test_entries_are_non_negative_decimal_cents_of_a_known_kind(amount, kind):
    with pytest.raises(ValueError):
        Entry("a", amount, kind, "bad")


def paid_out_pool(pot: Decimal, shares: list[int]) -> Ledger:
    """An upside-only bonus pool split in proportion to `shares`."""
    ledger = Ledger("bonus pool", upside_only=True, funded=pot)
    for i, part in enumerate(allocate(pot, shares)):
        ledger.add(f"e{i}", part, "bonus", "share of the pool")
    return ledger


@settings(max_examples=80, deadline=None)
@given(pot=cents, shares=weights)
def test_upside_only_program_paying_out_its_pot_holds(pot, shares):
    assert paid_out_pool(pot, shares).check()["paid"] == pot


@settings(max_examples=80, deadline=None)
@given(pot=cents, shares=weights)
def test_upside_only_program_paying_one_cent_more_than_funded_fails(pot, shares):
    ledger = paid_out_pool(pot, shares)
    ledger.add("e0", Decimal("0.01"), "bonus", "rounding slip")
    with pytest.raises(LedgerInvariantError, match="upside-only"):
        ledger.check()


@settings(max_examples=80, deadline=None)
@given(penalties=st.lists(cents, min_size=1, max_size=20), shares=weights)
def test_budget_neutral_program_redistributing_what_it_collects_nets_to_zero(penalties, shares):
    ledger = Ledger("exchange", budget_neutral=True)
    for i, amount in enumerate(penalties):
        ledger.add(f"p{i}", amount, "penalty", "below the benchmark")
    for i, part in enumerate(allocate(sum(penalties), shares)):
        ledger.add(f"b{i}", part, "bonus", "above the benchmark")
    ledger.check()


@settings(max_examples=80, deadline=None)
@given(penalties=st.lists(cents, min_size=1, max_size=20), extra=st.integers(min_value=2, max_value=10**6))
def test_budget_neutral_program_off_by_more_than_a_cent_fails(penalties, extra):
    ledger = Ledger("exchange", budget_neutral=True)
    for i, amount in enumerate(penalties):
        ledger.add(f"p{i}", amount, "penalty", "below the benchmark")
    ledger.add("b", sum(penalties) + Decimal(extra) / 100, "bonus", "over-distributed")
    with pytest.raises(LedgerInvariantError, match="nets to"):
        ledger.check()


@settings(max_examples=50, deadline=None)
@given(members=st.sets(st.text(alphabet="abcdef", min_size=1, max_size=4), min_size=1, max_size=10), outsider=st.text(alphabet="xyz", min_size=1, max_size=4))
def test_non_participants_never_appear_in_penalties(members, outsider):
    ledger = Ledger("hrrp", participants=frozenset(members))
    for member in members:
        ledger.add(member, Decimal("1.00"), "penalty", "excess readmissions")
    ledger.add(outsider, Decimal("5.00"), "bonus", "bonuses may go to anyone")
    ledger.check()
    ledger.add(outsider, Decimal("1.00"), "shared_loss", "not a participant")
    with pytest.raises(LedgerInvariantError, match="non-participant"):
        ledger.check()
