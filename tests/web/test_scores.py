"""The portal's numbers on the hand-made population of conftest.py, worked out by hand."""

from __future__ import annotations

import math
from decimal import Decimal

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from p4pkit.web.scores import (
    PREVIEW_POOL, clinician_gaps, clinician_scores, payment_preview, peer_deciles, report_cards,
)

from conftest import PRACTICE, patient_id, portal_data

Z = 1.959963984540054


def wilson(x: int, n: int) -> tuple[float, float]:
    """Wilson 1927 score interval, written out: (p + z²/2n ± z √(p(1-p)/n + z²/4n²)) / (1 + z²/n)."""
    p = x / n
    centre = p + Z * Z / (2 * n)
    half = Z * math.sqrt(p * (1 - p) / n + Z * Z / (4 * n * n))
    return (centre - half) / (1 + Z * Z / n), (centre + half) / (1 + Z * Z / n)


@pytest.fixture(scope="module")
def data():
    return portal_data()


def test_clinician_scores_leave_excluded_patients_out(data):
    scores = clinician_scores(data).set_index(["measure_id", "clinician_id"])
    row = scores.loc[("CMS165", "CA1")]
    assert (row["numerator"], row["exclusions"], row["performance_denominator"]) == (40, 5, 60)
    assert row["rate"] == pytest.approx(40 / 60)
    assert (row["rate_lower"], row["rate_upper"]) == pytest.approx(wilson(40, 60))


def test_gaps_are_missed_aims_in_the_measure_direction(data):
    # CMS165: in the performance denominator, not in the numerator (20 of CA1's 60; the 5 excluded are no gap).
    gaps = clinician_gaps(data, "CA1", "CMS165")
    assert set(gaps["patient_id"].to_pylist()) == {patient_id("CA1", i) for i in range(40, 60)}
    # CMS122 is inverse: the 8 patients in its numerator are the gaps.
    inverse = clinician_gaps(data, "CA1", "CMS122")
    assert set(inverse["patient_id"].to_pylist()) == {patient_id("CA1", i) for i in range(8)}
    assert inverse["evidence_event_ids"][0].as_py() == [f"E-{patient_id('CA1', 0)}-CMS122"]


def test_peer_deciles_are_percentiles_of_clinician_rates(data):
    deciles = peer_deciles(clinician_scores(data))[("CMS165", 0)]
    # Rates 1/3, 1/2, 3/5, 2/3, 37/40: the median is 3/5; the 10th percentile is 1/3 + 0.4 x (1/2 - 1/3).
    assert deciles[4] == pytest.approx(0.6)
    assert deciles[0] == pytest.approx(1 / 3 + 0.4 * (1 / 2 - 1 / 3))


def test_payment_preview_points_and_an_exact_split(data):
    preview = payment_preview(clinician_scores(data), data.measures).set_index("clinician_id")
    # CB1 has the best rate on both measures (92.5%, and 10% on the inverse CMS122): full points twice.
    assert preview.loc["CB1", "points"] == pytest.approx(20.0)
    # CD1 is worst on both: no points, no money.
    assert preview.loc["CD1", "points"] == 0.0 and preview.loc["CD1", "payment"] == Decimal("0.00")
    # CA1 on CMS165: 2/3 between the 20th (0.4667) and 80th (0.7183) percentiles -> 10 x 0.2/0.2517.
    low, high = 1 / 3 + 0.8 * (1 / 6), 2 / 3 + 0.2 * (0.925 - 2 / 3)
    cms122_low, cms122_high = 0.5 + 0.8 * 0.2, 0.8 + 0.2 * 0.1
    expected = 10 * (2 / 3 - low) / (high - low) + 10 * (0.8 - cms122_low) / (cms122_high - cms122_low)
    assert preview.loc["CA1", "points"] == pytest.approx(expected)
    assert sum(preview["payment"], Decimal(0)) == PREVIEW_POOL
    assert all(isinstance(p, Decimal) and p == p.quantize(Decimal("0.01")) for p in preview["payment"])


def test_report_card_rows_floor_suppression_and_tiers(data):
    card = report_cards(data)[("CMS165", 0)].set_index("entity_id")
    assert "ORG_C" not in card.index  # 20 patients: below the 30-patient floor
    assert (card.loc["ORG_A", "numerator"], card.loc["ORG_A", "denominator"]) == (60, 100)
    assert (card.loc["ORG_A", "lower"], card.loc["ORG_A", "upper"]) == pytest.approx(wilson(60, 100))
    # 60/100 against all practices' 186/320 = 58.1%: the interval holds it. 40/120 lies below it.
    assert card.loc["ORG_A", "tier"] == "not different"
    assert card.loc["ORG_D", "tier"] == "worse"
    # ORG_B: 74 of 80, so 6 did not meet the aim: hidden, with the rate and tier derived from it.
    assert pd.isna(card.loc["ORG_B", "numerator"]) and pd.isna(card.loc["ORG_B", "rate"]) and pd.isna(card.loc["ORG_B", "tier"])
    # The total counts every practice, shown or not.
    assert (card.loc["All practices", "numerator"], card.loc["All practices", "denominator"]) == (186, 320)
    assert card.loc["All practices", "rate"] == pytest.approx(186 / 320)


def test_report_cards_never_show_a_small_count(data):
    for table in report_cards(data).values():
        counts = pd.concat([table["numerator"], table["denominator"], table["denominator"] - table["numerator"]]).dropna()
        assert not counts.between(1, 10).any()
        assert set(table["entity_id"]) <= set(PRACTICE.values()) | {"All practices"}


def test_report_cards_publish_nobody_under_a_higher_floor(data):
    cards = report_cards(data, min_denominator=1000)
    assert all(list(t["entity_id"]) == ["All practices"] for t in cards.values())


practice_counts = st.lists(
    st.integers(0, 80).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n))), min_size=2, max_size=6
)


@settings(max_examples=25, deadline=None)
@given(practice_counts)
def test_no_published_count_is_small_and_no_hidden_count_leaks(counts):
    """Whatever the practices' counts: a shown count (numerator, denominator or their difference) is
    0 or at least 11, a practice under the floor never appears, and a hidden count hides its rate."""
    practices = {f"C{i}": f"ORG_{i}" for i in range(len(counts))}
    data = portal_data({"CMS165": dict(zip(practices, counts))}, practices, {})
    cards = report_cards(data)
    if not any(n for n, _ in counts):
        assert cards == {}
        return
    table = cards[("CMS165", 0)]
    for row in table.to_dict("records"):
        shown = [v for v in (row["numerator"], row["denominator"]) if not pd.isna(v)]
        if len(shown) == 2:
            shown.append(row["denominator"] - row["numerator"])
        assert not [v for v in shown if 1 <= v <= 10]
        if pd.isna(row["numerator"]) and row["entity_id"] != "All practices":
            assert pd.isna(row["rate"]) and pd.isna(row["lower"]) and pd.isna(row["tier"])
    small = {f"ORG_{i}" for i, (n, _) in enumerate(counts) if n < 30}
    assert not small & set(table["entity_id"])
