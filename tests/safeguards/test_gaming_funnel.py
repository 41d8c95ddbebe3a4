"""Funnel limits and flags: Spiegelhalter's interpolated binomial limits worked by hand, the
revised peer rate, the winsorised overdispersion factor and the chart."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from hypothesis import given, settings
from hypothesis import strategies as st

from p4pkit.safeguards.funnel import FLAG_COLUMNS, additive_tau2, binomial_limit, funnel_chart, funnel_flags, winsorised_phi


def test_binomial_limit_interpolates_as_spiegelhalter_appendix():
    # Bin(2, 0.5): F(1) = 0.75, F(2) = 1. The 0.99865 quantile is r = 2;
    # a = (1 - 0.99865) / (1 - 0.75) = 0.0054, limit = (2 - 0.0054) / 2 = 0.9973.
    q = 0.99865
    assert binomial_limit(0.5, np.array([2]), q)[0] == pytest.approx((2 - (1 - q) / 0.25) / 2)
    assert binomial_limit(0.5, np.array([2]), q)[0] == pytest.approx(0.9973)


def test_binomial_limit_approaches_the_normal_limit_for_large_sizes():
    n = np.array([200_000])
    normal = 0.1 + 3 * np.sqrt(0.1 * 0.9 / n)
    assert binomial_limit(0.1, n, 0.99865)[0] == pytest.approx(normal[0], abs=2e-5)


def test_winsorised_phi_by_hand():
    # p0 = 0.5, n = 100: SD 0.05; rates give z = -2, -1, 0, 1, 2. The 10% / 90% quantiles of
    # those are -1.6 and 1.6, so phi = (1.6^2 + 1 + 0 + 1 + 1.6^2) / 5 = 1.424.
    size = np.full(5, 100.0)
    count = np.array([40.0, 45.0, 50.0, 55.0, 60.0])
    assert winsorised_phi(count, size, 0.5) == pytest.approx(1.424)


def outlier_counts() -> pd.DataFrame:
    return pd.DataFrame({"entity_id": ["A", "B", "C", "D", "E", "F"], "count": [50, 10, 10, 10, 10, 10], "size": [100] * 6})


def test_outlier_flagged_and_peer_rate_revised_without_it():
    flags = funnel_flags(outlier_counts(), "demo", describe="patients")
    assert list(flags.columns[: len(FLAG_COLUMNS)]) == list(FLAG_COLUMNS)
    assert flags["flagged"].tolist() == [True, False, False, False, False, False]
    assert flags["peer_rate"].iloc[0] == pytest.approx(0.1)  # 50 / 500 without A
    assert flags["statistic"].iloc[0] == pytest.approx(0.5)
    assert "50 of 100 patients: rate 50.00%" in flags["evidence"].iloc[0]


def test_pooled_peer_rate_without_revision():
    flags = funnel_flags(outlier_counts(), "demo", revise=False)
    assert flags["peer_rate"].iloc[0] == pytest.approx(100 / 600)
    assert flags["flagged"].tolist() == [True, False, False, False, False, False]


def test_peer_rate_falls_to_zero_when_only_the_outlier_has_events():
    # Pooled: 10 / 2000 = 0.5%; Bin(500, 0.005) has mean 2.5, so 10 is far beyond 3 SD. Without A
    # the peers have no events at all, and the limit is zero.
    counts = pd.DataFrame({"entity_id": ["A", "B", "C", "D"], "count": [10, 0, 0, 0], "size": [500] * 4})
    flags = funnel_flags(counts, "demo")
    assert flags["flagged"].tolist() == [True, False, False, False]
    assert flags["peer_rate"].iloc[0] == 0.0
    assert flags["limit"].tolist() == [0.0] * 4


@settings(max_examples=40, deadline=None)
@given(rate=st.floats(0.01, 0.9), sizes=st.lists(st.integers(20, 5000), min_size=3, max_size=30))
def test_entities_at_the_peer_rate_are_never_flagged(rate, sizes):
    size = np.array(sizes)
    counts = pd.DataFrame({"entity_id": [f"E{i}" for i in range(len(size))], "count": np.floor(rate * size), "size": size})
    flags = funnel_flags(counts, "demo", overdispersion=True)
    assert not flags["flagged"].any()


def test_overdispersion_widens_limits_only_when_honest_entities_vary():
    rng = np.random.default_rng(3)
    size = np.full(40, 1000)
    varied = rng.binomial(size, rng.beta(20, 180, 40))  # true rates vary around 10%
    counts = pd.DataFrame({"entity_id": [f"E{i}" for i in range(40)], "count": varied, "size": size})
    plain = funnel_flags(counts, "demo")
    adjusted = funnel_flags(counts, "demo", overdispersion=True)
    assert (adjusted["limit"] > plain["limit"]).all()
    assert adjusted["flagged"].sum() <= plain["flagged"].sum()
    assert "overdispersion phi" in adjusted["evidence"].iloc[0]


def test_funnel_chart_layers_limits_and_points():
    chart = funnel_chart(funnel_flags(outlier_counts(), "demo"), "Exception reporting")
    limits, points = chart["layer"]
    assert {row["label"] for row in limits["data"]["values"]} == {"2 SD upper", "2 SD lower", "3 SD upper", "3 SD lower", "peer rate"}
    assert len(points["data"]["values"]) == 6
    assert chart["title"] == "Exception reporting"


def test_flags_are_the_exact_one_sided_binomial_test():
    # 42 entities of 300 patients, pooled rate p0 = (40 x 3 + 10 + 11) / 12,600 = 1.12% (3.4 expected
    # events): the 3-SD quantile of Bin(300, p0) is 10. A count of 10 has P(X >= 10) = 0.23% > 0.135%
    # and is not flagged (the interpolated limit, just under 10/300, would flag it); 11 has
    # P(X >= 11) = 0.07% and is.
    peers = pd.DataFrame({"entity_id": [f"P{i}" for i in range(40)], "count": 3, "size": 300})
    counts = pd.concat([peers, pd.DataFrame({"entity_id": ["A", "B"], "count": [10, 11], "size": [300, 300]})], ignore_index=True)
    flags = funnel_flags(counts, "demo", revise=False).set_index("entity_id")
    p0 = 141 / 12600
    assert flags.loc["A", "limit"] == pytest.approx(10 / 300)
    assert stats.binom.sf(9, 300, p0) > stats.norm.sf(3) > stats.binom.sf(10, 300, p0)
    assert not flags.loc["A", "flagged"] and flags.loc["B", "flagged"]
    assert binomial_limit(p0, np.array([300]), 0.99865)[0] < 10 / 300


def test_additive_overdispersion_by_hand():
    # Three entities of 1,000 at 8%, 10% and 12%: p0 = 10%, s = sqrt(0.09 / 1000) = 0.0094868,
    # z = -2.108, 0, 2.108; winsorised at the 10% / 90% quantiles (+/- 1.687): phi = 2 x 1.687^2 / 3
    # = 1.897; w = 1000 / 0.09 each, so tau2 = (3 phi - 2) / (3w - w) = 1.6614e-4 (Spiegelhalter 2005 s3.4).
    count, size = np.array([80.0, 100.0, 120.0]), np.full(3, 1000.0)
    z = 0.02 / np.sqrt(0.09 / 1000)
    phi = 2 * (0.8 * z) ** 2 / 3
    w = 1000 / 0.09
    assert additive_tau2(count, size, 0.1) == pytest.approx((3 * phi - 2) / (2 * w), rel=1e-9)
    assert additive_tau2(count, size, 0.1) == pytest.approx(1.6614e-4, rel=1e-3)
    assert additive_tau2(np.array([99.0, 100.0, 101.0]), size, 0.1) == 0.0  # less spread than chance


def test_additive_limits_widen_more_for_large_entities():
    # Honest rates that truly vary by an SD of 1 point around 10%: the additive limit's distance from
    # the peer rate is the binomial one stretched by sqrt(1 + tau2 n / (p0 (1 - p0))), so it grows
    # with n relative to the binomial, while the multiplicative one stretches every size alike.
    rng = np.random.default_rng(5)
    size = np.tile([200, 1000, 5000], 30)
    count = rng.binomial(size, np.clip(rng.normal(0.10, 0.01, size.size), 0.01, 0.99))
    counts = pd.DataFrame({"entity_id": [f"E{i}" for i in range(size.size)], "count": count, "size": size})
    additive = funnel_flags(counts, "demo", overdispersion="additive")
    plain = funnel_flags(counts, "demo")
    p0 = additive["peer_rate"].iloc[0]
    inside = ~plain["flagged"].to_numpy()  # tau2 comes from the entities inside the binomial limits
    tau2 = additive_tau2(count[inside].astype(float), size[inside].astype(float), p0)
    stretch = (additive["limit"] - p0) / (plain["limit"] - p0)
    assert stretch.to_numpy() == pytest.approx(np.sqrt(1 + tau2 * size / (p0 * (1 - p0))), rel=1e-9)
    assert stretch[size == 5000].min() > stretch[size == 200].max()
    assert "between-entity SD" in additive["evidence"].iloc[0]
    with pytest.raises(ValueError, match="overdispersion"):
        funnel_flags(counts, "demo", overdispersion="both")
