"""Empirical-Bayes (beta-binomial) shrinkage of process-measure rates, with rank uncertainty.

Small practices' raw rates swing with chance, so league tables built on them reward luck and
punish small lists. The beta-binomial model treats each entity's true rate p_i as drawn from a
population distribution Beta(a, b) and its numerator as Binomial(n_i, p_i). With (a, b) estimated
from all entities by maximum marginal likelihood, the posterior for entity i is

    p_i | x_i  ~  Beta(a + x_i, b + n_i - x_i),    posterior mean = (x_i + a) / (n_i + a + b),

a weighted average of the entity's own rate (weight n_i / (n_i + a + b), its reliability) and the
population mean a / (a + b). (Efron & Morris 1975; the beta-binomial form as in Gelman et al.,
*Bayesian Data Analysis*, 3rd ed., §5.3.)

Rank uncertainty: ranks are computed on posterior draws, giving an interval for each entity's
rank and the probability that it truly belongs in the worst quartile — the question a penalty
that falls on "the worst 25%" has to answer.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from numbers import Integral

import numpy as np
from numpy.typing import ArrayLike
from scipy import optimize, special, stats


@dataclass(frozen=True)
class BetaPrior:
    """The population distribution of true rates, Beta(alpha, beta)."""

    alpha: float
    beta: float

    @property
    def mean(self) -> float:
        return self.alpha / (self.alpha + self.beta)

    @property
    def variance(self) -> float:
        total = self.alpha + self.beta
        return self.alpha * self.beta / (total**2 * (total + 1))


def _marginal_log_likelihood(log_params: np.ndarray, x: np.ndarray, n: np.ndarray) -> float:
    a, b = np.exp(log_params)
    return float(
        np.sum(special.betaln(x + a, n - x + b) - special.betaln(a, b))
    )  # the binomial coefficients do not depend on (a, b) and are left out


def _counts(numerator: ArrayLike, denominator: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Numerators and denominators as float arrays, refused (ValueError naming the argument) unless
    they are one value per entity, finite, with 0 <= numerator <= denominator."""
    x = np.asarray(numerator, dtype=float)
    n = np.asarray(denominator, dtype=float)
    if x.ndim != 1 or n.ndim != 1 or x.shape != n.shape:
        raise ValueError(f"numerator and denominator must be one value per entity, of the same length (got shapes {x.shape} and {n.shape})")
    for name, values in (("numerator", x), ("denominator", n)):
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            raise ValueError(f"{name} must be finite: {values[bad[0]]} at position {bad[0]}")
    negative = np.flatnonzero(n < 0)
    if negative.size:
        raise ValueError(f"denominator must be 0 or more: {n[negative[0]]:g} at position {negative[0]}")
    outside = np.flatnonzero((x < 0) | (x > n))
    if outside.size:
        i = outside[0]
        raise ValueError(f"numerators must lie between 0 and their denominator: numerator {x[i]:g} over denominator {n[i]:g} at position {i}")
    return x, n


def _check_level(level: float) -> float:
    """A credible level strictly between 0 and 1 (ValueError otherwise)."""
    if not 0 < level < 1:  # also refuses NaN
        raise ValueError(f"level must lie strictly between 0 and 1 (e.g. 0.95), not {level}")
    return float(level)


def fit_beta_prior(numerator: ArrayLike, denominator: ArrayLike) -> BetaPrior:
    """Maximum marginal-likelihood Beta(a, b) over entities with a positive denominator.

    Started from the method-of-moments estimate. When the rates vary no more than binomial noise
    explains, the likelihood increases without bound as a + b grows (complete shrinkage); the
    optimiser is bounded at a + b = 1e6, which then shrinks every entity to the mean.
    """
    x, n = _counts(numerator, denominator)
    keep = n > 0
    x, n = x[keep], n[keep]
    if x.size < 2:
        raise ValueError("shrinkage needs at least two entities with a positive denominator")
    rates = x / n
    mean = float(np.clip(np.average(rates, weights=n), 1e-6, 1 - 1e-6))
    spread = float(np.var(rates))
    concentration = mean * (1 - mean) / spread - 1 if spread > 0 else 1e6
    concentration = float(np.clip(concentration, 1e-2, 1e6))
    start = np.log([mean * concentration, (1 - mean) * concentration])
    bounds = [(np.log(1e-4), np.log(1e6))] * 2
    result = optimize.minimize(
        lambda p: -_marginal_log_likelihood(p, x, n), start, method="L-BFGS-B", bounds=bounds
    )
    a, b = np.exp(result.x)
    return BetaPrior(float(a), float(b))


@dataclass(frozen=True)
class ShrunkRates:
    """Per-entity posterior summaries, in the order of the input arrays."""

    prior: BetaPrior
    raw: np.ndarray
    shrunk: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    reliability: np.ndarray


def shrink(numerator: ArrayLike, denominator: ArrayLike, prior: BetaPrior | None = None, level: float = 0.95) -> ShrunkRates:
    """Posterior means and equal-tailed credible intervals of each entity's true rate.

    Raises ValueError for counts that cannot be binomial (a negative denominator, a numerator
    outside 0..denominator, a missing value) and for a `level` outside (0, 1).
    """
    x, n = _counts(numerator, denominator)
    level = _check_level(level)
    prior = prior or fit_beta_prior(x, n)
    post_a = prior.alpha + x
    post_b = prior.beta + n - x
    tail = (1 - level) / 2
    raw = np.divide(x, n, out=np.full_like(x, np.nan), where=n > 0)
    return ShrunkRates(
        prior=prior,
        raw=raw,
        shrunk=post_a / (post_a + post_b),
        lower=stats.beta.ppf(tail, post_a, post_b),
        upper=stats.beta.ppf(1 - tail, post_a, post_b),
        reliability=n / (n + prior.alpha + prior.beta),
    )


@dataclass(frozen=True)
class ShrunkEstimates:
    """Normal random-effects shrinkage: per-entity shrunk estimates and reliabilities."""

    centre: float
    tau2: float
    shrunk: np.ndarray
    reliability: np.ndarray


def shrink_normal(estimate: ArrayLike, variance: ArrayLike) -> ShrunkEstimates:
    """Shrink estimates with known sampling variances towards their precision-weighted centre.

    For scores that are not proportions (an outcome measure's adjusted ratio or log-odds effect),
    the normal random-effects model: estimate_j ~ N(theta_j, s2_j), theta_j ~ N(mu, tau2). The
    between-entity variance tau2 is the DerSimonian-Laird moment estimate (DerSimonian & Laird,
    Controlled Clinical Trials 1986;7:177-188; Spiegelhalter 2005 section 3.4 uses it for the
    random-effects funnel): w = 1 / s2, mu = sum w x / sum w, Q = sum w (x - mu)^2,
    tau2 = max(0, (Q - (k - 1)) / (sum w - sum w^2 / sum w)). Reliability R_j = tau2 / (tau2 + s2_j)
    (Adams 2009) and the posterior mean mu + R_j (x_j - mu).

    One entity: tau2 cannot be estimated from a single estimate (the moment estimator's denominator
    is 0), so no shrinkage is possible. The estimate is returned unshrunk as its own centre, with
    tau2 and reliability NaN (undefined), and a RuntimeWarning says so. Estimates must be finite and
    variances finite and positive (ValueError naming the argument otherwise).
    """
    x = np.asarray(estimate, dtype=float)
    s2 = np.asarray(variance, dtype=float)
    if x.ndim != 1 or s2.ndim != 1 or x.shape != s2.shape:
        raise ValueError(f"estimate and variance must be one value per entity, of the same length (got shapes {x.shape} and {s2.shape})")
    if x.size == 0:
        raise ValueError("estimate is empty: shrinkage needs at least one entity")
    bad = np.flatnonzero(~np.isfinite(x))
    if bad.size:
        raise ValueError(f"estimate must be finite: {x[bad[0]]} at position {bad[0]}")
    bad = np.flatnonzero(~(np.isfinite(s2) & (s2 > 0)))
    if bad.size:
        raise ValueError(f"variance must be finite and positive: {s2[bad[0]]} at position {bad[0]}")
    if x.size == 1:
        warnings.warn("shrink_normal: one entity, so the between-entity variance cannot be estimated and no "
                      "shrinkage is possible; the estimate is returned unshrunk, tau2 and reliability NaN", RuntimeWarning, stacklevel=2)
        return ShrunkEstimates(float(x[0]), float("nan"), x.copy(), np.full(1, np.nan))
    w = 1 / s2
    centre = float((w * x).sum() / w.sum())
    q = float((w * (x - centre) ** 2).sum())
    tau2 = max(0.0, (q - (x.size - 1)) / float(w.sum() - (w**2).sum() / w.sum()))
    reliability = tau2 / (tau2 + s2)
    return ShrunkEstimates(centre, tau2, centre + reliability * (x - centre), reliability)


@dataclass(frozen=True)
class RankUncertainty:
    """Per entity: median rank, rank interval and the probability of being in the worst quartile.

    Rank 1 is the best entity. Computed from posterior draws, so reproducible for a seed.
    """

    median_rank: np.ndarray
    rank_lower: np.ndarray
    rank_upper: np.ndarray
    prob_worst_quartile: np.ndarray


def rank_uncertainty(
    numerator: ArrayLike,
    denominator: ArrayLike,
    higher_is_better: bool = True,
    prior: BetaPrior | None = None,
    draws: int = 4000,
    level: float = 0.95,
    seed: int = 0,
) -> RankUncertainty:
    """Ranks on posterior draws of the true rates, and P(true rate in the worst quartile).

    Raises ValueError as `shrink` does, and for `draws` that is not a whole number of at least 1.
    """
    x, n = _counts(numerator, denominator)
    level = _check_level(level)
    if isinstance(draws, bool) or not isinstance(draws, Integral) or draws < 1:
        raise ValueError(f"draws must be a whole number, 1 or more, not {draws!r}")
    prior = prior or fit_beta_prior(x, n)
    rng = np.random.default_rng(seed)
    samples = rng.beta(prior.alpha + x, prior.beta + n - x, size=(draws, x.size))
    goodness = samples if higher_is_better else -samples
    # rank 1 = best: sort descending by goodness within each draw
    ranks = (-goodness).argsort(axis=1).argsort(axis=1) + 1
    worst_cut = x.size - int(np.floor(x.size / 4))  # ranks above this are the worst quarter
    tail = (1 - level) / 2
    return RankUncertainty(
        median_rank=np.median(ranks, axis=0),
        rank_lower=np.quantile(ranks, tail, axis=0),
        rank_upper=np.quantile(ranks, 1 - tail, axis=0),
        prob_worst_quartile=(ranks > worst_cut).mean(axis=0),
    )
