"""Risk-adjusted outcome measures: expected values, observed/expected, and predicted/expected.

Outcomes (readmission, mortality, ED use, cost) depend heavily on who a provider treats. Comparing
raw rates punishes providers with sicker or poorer patients and pushes them to avoid such patients,
which the physicians' principles (AMA Opinion 8.056; VMS resolution) forbid. Two standard methods:

Indirect standardisation (observed / expected). A patient-level GLM of the outcome on case-mix
covariates, fitted on all entities, gives each patient's expected value; per entity,
O/E = sum(observed) / sum(expected), and the risk-standardised rate = O/E x overall rate.

Log-odds effect (`log_odds_effects`). O/E is a ratio of probabilities, and a ratio's spread depends
on the level it is taken at: where the outcome sits near a clinical threshold (blood pressure just
under 140 mm[Hg] in deprived patients), the same difference in care moves more patients across it,
so entities with low expected rates get O/E ratios spread wider and crowd both tails of a league
table, and a worst-quartile penalty then leans towards them even when the ratios' mean does not.
The alternative keeps the GLM's case-mix coefficients and gives each entity one additive shift on
the log-odds scale, alpha_j, solving sum_i expit(eta_i + alpha_j) = O_j (eta_i the patient's
linear predictor): the conditional-likelihood estimate of a fixed entity effect with the case-mix
coefficients held at their pooled values, i.e. the fixed-effect analogue of the random intercept
below (Normand and Shahian, "Statistical and clinical aspects of hospital outcomes profiling",
Statistical Science 2007;22:206-226, section 4, compare the two). An additive log-odds shift is
what a latent-threshold outcome with a constant effect of care gives, whatever the patient's risk.
Its variance is 1 / sum_i p_i (1 - p_i) at the solution (the Fisher information).

Hierarchical predicted / expected (the CMS method for HRRP's excess readmission ratio and the
hospital mortality measures; Krumholz et al., Circulation 2006; CMS HRRP methodology reports). A
logistic model with a random intercept per entity:
    logit P(y_ij = 1) = alpha_j + x_ij' beta,   alpha_j ~ N(mu, tau^2).
"Predicted" for entity j sums expit(alpha_j + x'beta) over its patients (its own, shrunken,
intercept); "expected" sums expit(mu + x'beta) (an average entity with the same patients). The
ratio (ERR) is shrunk towards 1 for small entities, as reliability demands. Fitted with
statsmodels' variational-Bayes mixed GLM (`BinomialBayesMixedGLM.fit_vb`), a maintained library
rather than a hand-written optimiser.

Which covariates to use (and whether social risk is among them) is the program file's choice; the
alternative to adjusting for social risk is to compare entities within peer groups (see
`peer_groups`), as HRRP does by dual-eligible proportion.

Inputs are patient-level pandas DataFrames (one row per patient or stay).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from numbers import Integral

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats
from numpy.typing import ArrayLike
from statsmodels.genmod.bayes_mixed_glm import BinomialBayesMixedGLM

FAMILIES = {
    "binomial": sm.families.Binomial,
    "poisson": sm.families.Poisson,
    "gamma": lambda: sm.families.Gamma(link=sm.families.links.Log()),
}


def _design(frame: pd.DataFrame, covariates: Sequence[str]) -> pd.DataFrame:
    """Numeric design matrix with an intercept; categorical covariates become indicator columns."""
    design = pd.get_dummies(frame[list(covariates)], drop_first=True, dtype=float)
    return sm.add_constant(design, has_constant="add")


def expected_values(frame: pd.DataFrame, outcome: str, covariates: Sequence[str], family: str = "binomial") -> np.ndarray:
    """Each patient's expected outcome from a GLM fitted on everyone (binomial, poisson or gamma-log)."""
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; choose one of {sorted(FAMILIES)}")
    design = _design(frame, covariates)
    model = sm.GLM(frame[outcome].astype(float), design, family=FAMILIES[family]())
    return np.asarray(model.fit().predict(design))


def garwood_limits(observed: ArrayLike, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Garwood's exact Poisson limits of observed counts (Biometrika 1936): chi-square quantiles of
    2O at (1 - level)/2 and of 2O + 2 at (1 + level)/2, halved; 0 below when O = 0. Divided by the
    expected count they are the usual interval of a standardised ratio O/E."""
    observed = np.asarray(observed, float)
    tail = (1 - level) / 2
    lower = np.where(observed > 0, stats.chi2.ppf(tail, 2 * np.maximum(observed, 1e-12)) / 2, 0.0)
    return lower, stats.chi2.ppf(1 - tail, 2 * (observed + 1)) / 2


def observed_expected(
    frame: pd.DataFrame, entity: str, outcome: str, expected: np.ndarray | pd.Series, level: float = 0.95
) -> pd.DataFrame:
    """Per entity: n, observed, expected, O/E with an exact Poisson interval, and the risk-standardised rate.

    The interval treats the observed count as Poisson with mean (O/E) x E (Garwood's exact limits),
    which is the usual interval for a standardised ratio.
    """
    data = pd.DataFrame({entity: frame[entity].to_numpy(), "observed": frame[outcome].to_numpy(float), "expected": np.asarray(expected, float)})
    table = data.groupby(entity, sort=True).agg(n=("observed", "size"), observed=("observed", "sum"), expected=("expected", "sum"))
    overall_rate = data["observed"].sum() / len(data)
    lower_count, upper_count = garwood_limits(table["observed"], level)
    table["oe_ratio"] = table["observed"] / table["expected"]
    table["oe_lower"] = lower_count / table["expected"]
    table["oe_upper"] = upper_count / table["expected"]
    table["risk_standardised_rate"] = table["oe_ratio"] * overall_rate
    return table.reset_index()


def log_odds_effects(frame: pd.DataFrame, entity: str, outcome: str, expected: np.ndarray | pd.Series, iterations: int = 60) -> pd.DataFrame:
    """Per entity: n, observed, the log-odds shift `effect` and its `variance` (module docstring).

    Solved by bisection on [-20, 20] for every entity at once (the expected count is increasing
    in the shift, so bisection cannot fail). An entity with no events, or only events, has no
    finite estimate; its observed count is moved half an event inside (0.5 or n - 0.5), the usual
    continuity correction, so it ranks at the extreme without an infinite score.
    """
    codes, entities = pd.factorize(frame[entity], sort=True)
    groups = len(entities)
    p = np.clip(np.asarray(expected, float), 1e-12, 1 - 1e-12)
    eta = np.log(p / (1 - p))
    n = np.bincount(codes, minlength=groups).astype(float)
    observed = np.bincount(codes, frame[outcome].to_numpy(float), groups)
    target = np.clip(observed, 0.5, n - 0.5)
    low, high = np.full(groups, -20.0), np.full(groups, 20.0)
    for _ in range(iterations):
        middle = (low + high) / 2
        above = np.bincount(codes, 1 / (1 + np.exp(-(eta + middle[codes]))), groups) > target
        high, low = np.where(above, middle, high), np.where(above, low, middle)
    effect = (low + high) / 2
    fitted = 1 / (1 + np.exp(-(eta + effect[codes])))
    information = np.bincount(codes, fitted * (1 - fitted), groups)
    return pd.DataFrame({entity: entities, "n": n.astype(int), "observed": observed, "effect": effect, "variance": 1 / information})


def predicted_expected(frame: pd.DataFrame, entity: str, outcome: str, covariates: Sequence[str]) -> pd.DataFrame:
    """Per entity: n, observed, predicted, expected and their ratio (the HRRP-style ERR).

    Fits the random-intercept logistic model described in the module docstring.
    """
    design = _design(frame, covariates)
    codes, entities = pd.factorize(frame[entity], sort=True)
    membership = pd.get_dummies(pd.Categorical(codes), dtype=float)
    membership.columns = [f"entity[{i}]" for i in range(len(entities))]
    model = BinomialBayesMixedGLM(
        frame[outcome].astype(float).to_numpy(),
        design.to_numpy(),
        membership.to_numpy(),
        np.zeros(membership.shape[1], dtype=int),
        fep_names=list(design.columns),
        vc_names=list(membership.columns),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # VB's own convergence note; the estimates are checked in tests
        fit = model.fit_vb()
    fixed = np.asarray(fit.fe_mean)
    intercepts = np.asarray(fit.vc_mean)  # in the order of the membership columns, i.e. entity codes
    linear = design.to_numpy() @ fixed
    predicted = 1 / (1 + np.exp(-(linear + intercepts[codes])))
    expected = 1 / (1 + np.exp(-linear))
    data = pd.DataFrame({"code": codes, "observed": frame[outcome].to_numpy(float), "predicted": predicted, "expected": expected})
    table = data.groupby("code").agg(n=("observed", "size"), observed=("observed", "sum"), predicted=("predicted", "sum"), expected=("expected", "sum"))
    table.insert(0, entity, entities[table.index.to_numpy()])
    table["excess_ratio"] = table["predicted"] / table["expected"]
    table["between_entity_sd"] = float(np.exp(fit.vcp_mean[0]))
    return table.reset_index(drop=True)


def peer_groups(share: pd.Series | np.ndarray, groups: int = 5) -> np.ndarray:
    """Peer group 1..groups by quantile of a share (e.g. dual-eligible proportion), as HRRP stratifies.

    Group 1 holds the lowest shares. Ties at a cut point go to the lower group. Every share must be
    known: a missing (NaN) share would make every cut point NaN and put everyone in group 1, so it
    is refused (ValueError naming `share`), as is a `groups` that is not a whole number of at least 1.
    """
    if isinstance(groups, bool) or not isinstance(groups, Integral) or groups < 1:
        raise ValueError(f"groups must be a whole number, 1 or more, not {groups!r}")
    values = np.asarray(share, dtype=float)
    missing = np.flatnonzero(~np.isfinite(values))
    if missing.size:
        raise ValueError(f"share must be known for every entity: {missing.size} missing or infinite (first at position {missing[0]})")
    cuts = np.quantile(values, np.linspace(0, 1, groups + 1)[1:-1])
    return np.searchsorted(cuts, values, side="left") + 1
