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

from dataclasses import dataclass

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


def fit_beta_prior(numerator: ArrayLike, denominator: ArrayLike) -> BetaPrior:
    """Maximum marginal-likelihood Beta(a, b) over entities with a positive denominator.

    Started from the method-of-moments estimate. When the rates vary no more than binomial noise
    explains, the likelihood increases without bound as a + b grows (complete shrinkage); the
    optimiser is bounded at a + b = 1e6, which then shrinks every entity to the mean.
    """
    x = np.asarray(numerator, dtype=float)
    n = np.asarray(denominator, dtype=float)
    keep = n > 0
    x, n = x[keep], n[keep]
    if x.size < 2:
        raise ValueError("shrinkage needs at least two entities with a positive denominator")
    if np.any(x < 0) or np.any(x > n):
        raise ValueError("numerators must lie between 0 and their denominator")
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
    """Posterior means and equal-tailed credible intervals of each entity's true rate."""
    x = np.asarray(numerator, dtype=float)
    n = np.asarray(denominator, dtype=float)
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
    """
    x = np.asarray(estimate, dtype=float)
    s2 = np.asarray(variance, dtype=float)
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
    """Ranks on posterior draws of the true rates, and P(true rate in the worst quartile)."""
    x = np.asarray(numerator, dtype=float)
    n = np.asarray(denominator, dtype=float)
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
