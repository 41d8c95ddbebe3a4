"""Reliability: how much of the spread between entities' scores is signal rather than noise.

An entity's observed rate is its true rate plus sampling noise. Reliability is the share of the
observed variance that is true between-entity variance (Adams, *The Reliability of Provider
Profiling*, RAND TR-653, 2009):

    R_i = s2_between / (s2_between + s2_within_i / n_i)

where s2_between is the variance of true rates across entities, s2_within_i the patient-level
variance inside entity i (p_i (1 - p_i) for a proportion) and n_i its denominator. R = 0.7 is the
threshold commonly used for payment and public reporting (RAND; CMS cites it for MIPS cost measures).

For proportions under a beta-binomial model with prior Beta(a, b) the same quantity has the closed
form R_i = n_i / (n_i + a + b) — equal to the weight that empirical-Bayes shrinkage puts on the
entity's own data (see `shrinkage.py`). The two functions below give both forms; a test checks
they agree.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def signal_to_noise(between_variance: float, within_variance: ArrayLike, n: ArrayLike) -> np.ndarray:
    """Adams' reliability per entity: between / (between + within / n). Zero where n is zero."""
    within = np.asarray(within_variance, dtype=float)
    size = np.asarray(n, dtype=float)
    noise = np.divide(within, size, out=np.full(np.broadcast(within, size).shape, np.inf), where=size > 0)
    return np.where(size > 0, between_variance / (between_variance + noise), 0.0)


def beta_binomial_reliability(n: ArrayLike, alpha: float, beta: float) -> np.ndarray:
    """Reliability of a proportion with denominator n under the prior Beta(alpha, beta): n / (n + alpha + beta)."""
    size = np.asarray(n, dtype=float)
    return size / (size + alpha + beta)


def meets_publication_rules(
    denominator: ArrayLike,
    reliability: ArrayLike,
    min_denominator: int = 30,
    min_reliability: float = 0.7,
) -> np.ndarray:
    """True where an entity's score is mostly signal: enough patients and reliability at or above the floor.

    Entities that fail are kept out of payment and publication rather than scored on noise; the
    program file sets both floors (defaults: 30 patients, as the public report cards use, and 0.7).
    """
    return (np.asarray(denominator) >= min_denominator) & (np.asarray(reliability, dtype=float) >= min_reliability)
