"""Shrinkage, reliability and rank uncertainty against hand-worked values and closed forms."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from p4pkit.risk.reliability import beta_binomial_reliability, meets_publication_rules, signal_to_noise
from p4pkit.risk.shrinkage import BetaPrior, fit_beta_prior, rank_uncertainty, shrink, shrink_normal


def test_signal_to_noise_hand_worked():
    # between 0.01; within 0.25 / 25 patients = 0.01 of noise -> 0.01 / 0.02
    assert signal_to_noise(0.01, 0.25, 25) == pytest.approx(0.5)
    assert signal_to_noise(0.01, [0.25, 0.25], [0, 225]).tolist() == pytest.approx([0.0, 0.9])


def test_beta_binomial_reliability_equals_the_adams_form():
    prior = BetaPrior(6.0, 4.0)
    n = np.array([1, 10, 40, 250])
    mean = prior.mean
    total = prior.alpha + prior.beta
    expected_within = mean * (1 - mean) * total / (total + 1)  # E[p(1-p)] under the prior
    adams = signal_to_noise(prior.variance, expected_within, n)
    assert beta_binomial_reliability(n, prior.alpha, prior.beta) == pytest.approx(adams)
    assert beta_binomial_reliability([10], 6, 4)[0] == pytest.approx(0.5)


def test_posterior_mean_and_weight_hand_worked():
    result = shrink([3, 0], [10, 0], prior=BetaPrior(2.0, 8.0))
    # (3 + 2) / (10 + 2 + 8) = 0.25; an entity with no data sits at the prior mean 0.2
    assert result.shrunk.tolist() == pytest.approx([0.25, 0.2])
    assert result.reliability.tolist() == pytest.approx([0.5, 0.0])
    assert result.raw[0] == pytest.approx(0.3) and np.isnan(result.raw[1])
    # the interval is the Beta(5, 15) 2.5% and 97.5% quantiles
    assert result.lower[0] == pytest.approx(0.0915, abs=5e-4)
    assert result.upper[0] == pytest.approx(0.4557, abs=5e-4)


def test_fit_recovers_a_known_prior():
    rng = np.random.default_rng(7)
    true_p = rng.beta(20, 5, size=3000)
    n = rng.integers(30, 200, size=true_p.size)
    x = rng.binomial(n, true_p)
    prior = fit_beta_prior(x, n)
    assert prior.mean == pytest.approx(0.8, abs=0.01)
    assert prior.alpha + prior.beta == pytest.approx(25, rel=0.2)


def test_no_real_variation_shrinks_everyone_to_the_mean():
    x = np.array([50, 49, 51, 50, 50, 52, 48])
    n = np.full(x.size, 100)
    result = shrink(x, n)
    assert result.prior.alpha + result.prior.beta > 1e4
    assert np.ptp(result.shrunk) < 0.01


def test_shrinkage_pulls_small_entities_more():
    x = np.array([9, 90, 40, 45, 50, 55, 60])
    n = np.array([10, 100, 100, 100, 100, 100, 100])
    result = shrink(x, n)
    mean = result.prior.mean
    # both have raw rate 0.9; the 10-patient entity moves further towards the mean
    assert abs(result.shrunk[0] - mean) < abs(result.shrunk[1] - mean)
    assert result.reliability[0] < result.reliability[1]


def test_rank_uncertainty_separates_clear_cases():
    x = np.array([990, 10, 500, 510, 490, 505, 495, 500])
    n = np.full(x.size, 1000)
    ranks = rank_uncertainty(x, n, higher_is_better=True, draws=2000)
    assert ranks.prob_worst_quartile[1] == pytest.approx(1.0)
    assert ranks.prob_worst_quartile[0] == pytest.approx(0.0)
    assert ranks.median_rank[0] == 1 and ranks.median_rank[1] == 8
    inverse = rank_uncertainty(x, n, higher_is_better=False, draws=2000)
    assert inverse.prob_worst_quartile[0] == pytest.approx(1.0)


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 60), st.integers(1, 60)), min_size=4, max_size=30).map(
        lambda pairs: [(min(x, n), n) for x, n in pairs]
    )
)
def test_worst_quartile_probabilities_sum_to_its_size(pairs):
    x = np.array([p[0] for p in pairs])
    n = np.array([p[1] for p in pairs])
    ranks = rank_uncertainty(x, n, prior=BetaPrior(2.0, 2.0), draws=200)
    assert ranks.prob_worst_quartile.sum() == pytest.approx(x.size // 4)
    assert np.all((ranks.rank_lower >= 1) & (ranks.rank_upper <= x.size))


def test_publication_rules_need_both_size_and_reliability():
    assert meets_publication_rules([29, 30, 500], [0.9, 0.69, 0.7]).tolist() == [False, False, True]


def test_fit_rejects_impossible_numerators():
    with pytest.raises(ValueError):
        fit_beta_prior([5, 1], [4, 10])


def test_shrink_normal_by_hand():
    # Estimates 0.5 and 1.5, each with variance 0.04: w = 25, centre 1, Q = 25 x 0.25 x 2 = 12.5,
    # tau2 = (12.5 - 1) / (50 - 25) = 0.46, reliability 0.46 / 0.50 = 0.92 (DerSimonian-Laird).
    result = shrink_normal([0.5, 1.5], [0.04, 0.04])
    assert result.centre == pytest.approx(1.0) and result.tau2 == pytest.approx(0.46)
    assert result.reliability == pytest.approx([0.92, 0.92])
    assert result.shrunk == pytest.approx([1 - 0.92 * 0.5, 1 + 0.92 * 0.5])
    # Spread no wider than chance (Q below k - 1): tau2 0, everyone shrunk to the centre.
    flat = shrink_normal([0.9, 1.1], [0.04, 0.04])
    assert flat.tau2 == 0.0 and flat.shrunk == pytest.approx([1.0, 1.0])


def test_shrink_normal_with_one_entity_returns_it_unshrunk_and_says_so():
    # One estimate cannot show between-entity variance (the DerSimonian-Laird denominator is 0):
    # no shrinkage is possible, so the estimate is its own centre and tau2 and reliability are undefined.
    with pytest.warns(RuntimeWarning, match="one entity"):
        result = shrink_normal([0.3], [0.1])
    assert result.centre == pytest.approx(0.3) and result.shrunk.tolist() == pytest.approx([0.3])
    assert np.isnan(result.tau2) and np.isnan(result.reliability).all()


@pytest.mark.parametrize(
    ("estimate", "variance", "message"),
    [
        ([], [], "estimate is empty"),
        ([0.3, 0.5], [0.1], "same length"),
        ([np.nan, 0.5, 0.1], [0.1, 0.1, 0.1], "estimate must be finite"),
        ([0.3, 0.5, 0.1], [0.0, 0.1, 0.1], "variance must be finite and positive"),
        ([0.3, 0.5, 0.1], [-0.1, 0.1, 0.1], "variance must be finite and positive"),
    ],
)
def test_shrink_normal_refuses_what_it_cannot_shrink(estimate, variance, message):
    with pytest.raises(ValueError, match=message):
        shrink_normal(estimate, variance)


@pytest.mark.parametrize(
    ("numerator", "denominator", "message"),
    [
        ([1, 2, 3], [-5, 20, 30], "denominator must be 0 or more: -5 at position 0"),
        ([1, 2, 3], [10, np.nan, 30], "denominator must be finite"),
        ([1, 25, 3], [10, 20, 30], "numerator 25 over denominator 20 at position 1"),
        ([1, 2], [10, 20, 30], "same length"),
    ],
)
def test_shrink_and_ranks_refuse_counts_that_cannot_be_binomial(numerator, denominator, message):
    # Before: a negative denominator was dropped from the prior's fit but shrunk anyway (to 0.1).
    with pytest.raises(ValueError, match=message):
        shrink(numerator, denominator)
    with pytest.raises(ValueError, match=message):
        shrink(numerator, denominator, prior=BetaPrior(2.0, 8.0))  # no fit to catch it
    with pytest.raises(ValueError, match=message):
        rank_uncertainty(numerator, denominator, prior=BetaPrior(2.0, 8.0), draws=10)


@pytest.mark.parametrize("level", [1.5, 1.0, 0.0, -0.5, float("nan")])
def test_a_credible_level_outside_zero_and_one_is_refused(level):
    # Before: shrink(level=1.5) returned NaN limits silently.
    with pytest.raises(ValueError, match="level must lie strictly between 0 and 1"):
        shrink([3, 5, 9], [10, 20, 30], level=level)
    with pytest.raises(ValueError, match="level must lie strictly between 0 and 1"):
        rank_uncertainty([3, 5, 9, 1], [10] * 4, level=level, draws=10)


@pytest.mark.parametrize("draws", [0, -1, 2.5, True])
def test_rank_uncertainty_needs_at_least_one_draw(draws):
    # Before: draws=0 raised IndexError from inside NumPy.
    with pytest.raises(ValueError, match="draws must be a whole number, 1 or more"):
        rank_uncertainty([3, 5, 9, 1], [10] * 4, draws=draws)
    assert rank_uncertainty([3, 5, 9, 1], [10] * 4, draws=np.int64(1)).median_rank.shape == (4,)
