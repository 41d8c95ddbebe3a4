"""Capitation with a quality withhold (NY VBP Level 3), worked by hand, and its ledger entries."""

from __future__ import annotations

from decimal import Decimal

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from p4pkit.errors import UserError
from p4pkit.programs.capitation import ledger_entries, returned_share, settle
from p4pkit.programs.ledger import Ledger

TIERS = [(90.0, Decimal("1")), (75.0, Decimal("0.5"))]


def _members():
    return pd.DataFrame({"entity_id": ["IPA1", "IPA2"], "member_months": [1000, 240], "quality_score": [85.0, 60.0]})


def test_proportional_return():
    out = settle(_members(), pmpm=Decimal("412.37"), quality_withhold_percent=Decimal(2)).set_index("entity_id")
    # IPA1: 1000 x 412.37 = 412,370.00; 2% = 8,247.40; 85% of it back = 7,010.29 (7,010.29 exactly: 8247.40 x .85).
    assert out.loc["IPA1", ["capitation", "withheld", "returned", "net"]].to_list() == [
        Decimal("412370.00"), Decimal("8247.40"), Decimal("7010.29"), Decimal("411132.89")]
    # IPA2: 240 x 412.37 = 98,968.80; 2% = 1,979.38 (1,979.376 rounded); 60% = 1,187.63 (1,187.628).
    assert out.loc["IPA2", ["capitation", "withheld", "returned"]].to_list() == [
        Decimal("98968.80"), Decimal("1979.38"), Decimal("1187.63")]


def test_tiered_return_and_ledger():
    out = settle(_members(), pmpm=Decimal("412.37"), quality_withhold_percent=Decimal(2), tiers=TIERS)
    assert out["returned"].to_list() == [Decimal("4123.70"), Decimal("0.00")]  # 85 reaches the 75 tier: half
    entries = ledger_entries(out)
    assert entries["kind"].to_list() == ["capitation", "withhold", "withhold_return", "capitation", "withhold"]
    ledger = Ledger(program="vbp-level-3")
    for row in entries.itertuples(index=False):
        ledger.add(row.entity_id, row.amount, row.kind, row.reason)
    totals = ledger.check()
    assert totals["paid"] == Decimal("412370.00") + Decimal("98968.80") + Decimal("4123.70")
    assert totals["withheld"] == Decimal("8247.40") + Decimal("1979.38")


def test_per_entity_pmpm_overrides_the_program_rate():
    members = _members().assign(pmpm=[Decimal("500.00"), None])
    out = settle(members, pmpm=Decimal("412.37"), quality_withhold_percent=Decimal(0))
    assert out["capitation"].to_list() == [Decimal("500000.00"), Decimal("98968.80")]


def test_out_of_range_score_is_a_user_error():
    with pytest.raises(UserError) as caught:
        settle(_members().assign(quality_score=[101.0, 50.0]), pmpm=Decimal(1), quality_withhold_percent=Decimal(2))
    assert caught.value.problems[0].row == 1 and caught.value.problems[0].column == "quality_score"


@given(st.floats(0, 100), st.floats(0, 100))
def test_return_never_exceeds_the_withhold_and_grows_with_quality(a, b):
    low, high = sorted((a, b))
    for tiers in (None, TIERS):
        assert 0 <= returned_share(low, tiers) <= returned_share(high, tiers) <= 1
