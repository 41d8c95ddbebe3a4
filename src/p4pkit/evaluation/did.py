"""Difference-in-differences and event-study estimates of a program's effect.

A program's effect is the change in participants' outcomes beyond the change non-participants saw
over the same time (or, within participants, the change in incentivised measures beyond that in
non-incentivised ones: the `treated` column says which rows are the incentivised side). The
regression form (Angrist and Pischke, *Mostly Harmless Econometrics*, 2009, section 5.2):

    y_it = a + b treated_i + c post_t + d (treated_i x post_t) + e_it,

where d is the difference in differences: (mean treated post - mean treated pre) - (mean control
post - mean control pre). With `absorb`, a fixed effect per level of that column (the entity, or
patients nested in it) replaces `treated`, and a dummy per `period` replaces `post` (the two-way
fixed-effects form). Outcomes of patients in one entity move together, so
standard errors are clustered by entity and intervals use Student's t with G - 1 degrees of freedom
for G clusters (Cameron and Miller, "A practitioner's guide to cluster-robust inference", J Human
Resources 2015;50:317-372).

Entity fixed effects are absorbed rather than estimated: by the Frisch-Waugh-Lovell theorem the
coefficients of a regression with entity dummies equal those of the regression of entity-demeaned
y on entity-demeaned regressors, with the same residuals (Cameron and Miller 2015, section IV.A).
A dummy column per entity would make the design matrix observations x entities: at a million
patients in practices of 500 that is two million readings by two thousand columns, tens of
gigabytes. The cluster-robust (CR1) variance is the sandwich (X'X)^-1 (sum_g X_g'u_g u_g'X_g)
(X'X)^-1 on the demeaned regressors, times G / (G - 1) x (N - 1) / (N - K), where K counts the
absorbed entity effects too, so the figures equal statsmodels' OLS with dummies and
`cov_type="cluster"` (a test checks this). When the absorbed effects are nested in the clusters
(patients within practices), Cameron and Miller (section IV.A) would leave them out of K; counting
them, as here, widens intervals by sqrt((N - K_without) / (N - K)), about 15% at four readings a
patient: conservative, and kept so the figures stay equal to the dummy regression.

Event study: one coefficient per period for treated x period, relative to the last period before the
program (the reference, fixed at zero), with period fixed effects and fixed effects for the entity
or, with `absorb`, another column such as the patient. The pre-program
coefficients should be near zero if the two groups were on parallel paths; `event_study` reports a
joint Wald test that they all are (the pre-trend check), F with (q, G - 1) degrees of freedom.

One vocabulary for both functions: `cluster` is the column the errors are clustered by, `absorb`
the column whose fixed effects are absorbed by demeaning (the name Stata's `areg` and `reghdfe` and
linearmodels' `AbsorbingLS` give it), and `period` the time column that gets a dummy per level. The
two kinds of effect are fitted differently (one demeaned away, thousands of levels; the other a few
estimated dummies), so each gets its own argument, named the same in both functions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

INTERACTION = "treated_x_post"


@dataclass(frozen=True)
class _Fit:
    """OLS coefficients with their cluster-robust covariance and inference degrees of freedom."""

    names: list[str]
    params: np.ndarray
    cov: np.ndarray
    df: int
    nobs: int

    def row(self, name: str, level: float) -> dict:
        i = self.names.index(name)
        se = float(np.sqrt(self.cov[i, i]))
        t = stats.t.ppf(0.5 + level / 2, self.df)
        estimate = float(self.params[i])
        p_value = float(2 * stats.t.sf(abs(estimate / se), self.df)) if se > 0 else float("nan")
        return {"estimate": estimate, "std_error": se, "lower": estimate - t * se, "upper": estimate + t * se, "p_value": p_value}

    def wald(self, names: Sequence[str]) -> tuple[float, float]:
        """F statistic and p-value of the joint hypothesis that the named coefficients are all zero."""
        index = [self.names.index(n) for n in names]
        b = self.params[index]
        statistic = float(b @ np.linalg.solve(self.cov[np.ix_(index, index)], b)) / len(index)
        return statistic, float(stats.f.sf(statistic, len(index), self.df))


def _demeaned(values: np.ndarray, codes: np.ndarray, groups: int) -> np.ndarray:
    counts = np.bincount(codes, minlength=groups).astype(float)
    if values.ndim == 1:
        return values - (np.bincount(codes, values, groups) / counts)[codes]
    means = np.stack([np.bincount(codes, column, groups) for column in values.T], axis=1) / counts[:, None]
    return values - means[codes]


def _fit(y: np.ndarray, design: pd.DataFrame, cluster: np.ndarray, absorb: np.ndarray | None = None) -> _Fit:
    """OLS of y on `design` (plus absorbed fixed effects for the `absorb` codes) with CR1 errors."""
    x = design.to_numpy(float)
    extra = 0
    if absorb is not None:
        codes, levels = pd.factorize(absorb)
        y, x, extra = _demeaned(y, codes, len(levels)), _demeaned(x, codes, len(levels)), len(levels)
    bread = np.linalg.pinv(x.T @ x)
    params = bread @ (x.T @ y)
    scores = x * (y - x @ params)[:, None]
    groups, n_groups = pd.factorize(cluster)[0], int(pd.Series(cluster).nunique())
    summed = np.stack([np.bincount(groups, column, n_groups) for column in scores.T], axis=1)
    nobs, k = len(y), x.shape[1] + extra
    cov = bread @ (summed.T @ summed) @ bread * (n_groups / (n_groups - 1) * (nobs - 1) / (nobs - k))
    return _Fit(list(design.columns), params, cov, n_groups - 1, nobs)


def _prepared(frame: pd.DataFrame, outcome: str, columns: Sequence[str]) -> pd.DataFrame:
    data = frame[[outcome, *dict.fromkeys(columns)]].dropna().reset_index(drop=True)
    data["_y"] = data[outcome].astype(float)
    return data


def _period_dummies(values: pd.Series) -> pd.DataFrame:
    """Indicator columns for every period but the first (the intercept is absorbed with the entity)."""
    return pd.get_dummies(pd.Categorical(values), prefix="period", drop_first=True, dtype=float)


def difference_in_differences(
    frame: pd.DataFrame,
    outcome: str,
    treated: str,
    post: str,
    cluster: str,
    *,
    absorb: str | None = None,
    period: str | None = None,
    level: float = 0.95,
) -> pd.DataFrame:
    """One-row table: the DiD estimate with its cluster-robust standard error, interval and p-value.

    `treated` and `post` are 0/1 (or boolean) columns; `cluster` names the entity column. Without
    `absorb` the model has the main effects of `treated` and `post`. With `absorb` (the entity, or
    a column nested in it such as the patient) it has fixed effects for that column and for
    `period` (default `post`: before and after) instead, as `event_study` has. Rows with a missing
    value in any used column are dropped.
    """
    if period is not None and absorb is None:
        raise ValueError("period fixed effects come with absorbed ones: give `absorb` (the entity or the patient) too")
    period = period or post
    data = _prepared(frame, outcome, [treated, post, cluster, *((absorb, period) if absorb else ())])
    interaction = pd.DataFrame({INTERACTION: data[treated].astype(float) * data[post].astype(float)})
    if absorb:
        design = pd.concat([interaction, _period_dummies(data[period])], axis=1)
        fit = _fit(data["_y"].to_numpy(), design, data[cluster].to_numpy(), absorb=data[absorb].to_numpy())
    else:
        design = pd.DataFrame({"const": 1.0, "_treated": data[treated].astype(float), "_post": data[post].astype(float)}).join(interaction)
        fit = _fit(data["_y"].to_numpy(), design, data[cluster].to_numpy())
    return pd.DataFrame(
        [{**fit.row(INTERACTION, level), "observations": fit.nobs, "clusters": int(data[cluster].nunique()), "level": level}]
    )


@dataclass(frozen=True)
class EventStudy:
    """Per-period effects (the reference period's is zero) and the joint pre-trend test."""

    coefficients: pd.DataFrame  # period, estimate, std_error, lower, upper, pre
    pretrend_statistic: float  # F statistic of the joint test that every pre-period coefficient is 0
    pretrend_p_value: float
    pretrend_periods: int


def event_study(
    frame: pd.DataFrame,
    outcome: str,
    treated: str,
    period: str,
    first_post: object,
    cluster: str,
    *,
    absorb: str | None = None,
    level: float = 0.95,
) -> EventStudy:
    """Event-study coefficients of treated x period relative to the last period before `first_post`.

    `period` must sort in time order (years, "2024Q1" strings, dates); `first_post` is the first
    period the program runs. Period fixed effects, and fixed effects for `absorb` (default the
    entity, `cluster`); clustered errors as in `difference_in_differences`. Pass a patient column
    as `absorb` (patients nested in the clustered entities) to compare each patient with themself,
    as the DiD with `absorb=patient, period=period` does: the pre-trend test then cannot be moved
    by a change in who is measured, only by a change in the same patients' readings.
    """
    absorb = absorb or cluster
    data = _prepared(frame, outcome, list(dict.fromkeys([treated, period, cluster, absorb])))
    periods = sorted(data[period].unique())
    pre = [p for p in periods if p < first_post]
    if not pre:
        raise ValueError("an event study needs at least one period before the program starts")
    reference = pre[-1]
    names = {p: f"event_{i}" for i, p in enumerate(periods) if p != reference}
    treated_values = data[treated].astype(float).to_numpy()
    events = pd.DataFrame({name: treated_values * (data[period] == p).to_numpy() for p, name in names.items()})
    design = pd.concat([events, _period_dummies(data[period])], axis=1)
    fit = _fit(data["_y"].to_numpy(), design, data[cluster].to_numpy(), absorb=data[absorb].to_numpy())
    zero = {"estimate": 0.0, "std_error": 0.0, "lower": 0.0, "upper": 0.0}
    rows = []
    for p in periods:
        values = zero if p == reference else {k: v for k, v in fit.row(names[p], level).items() if k != "p_value"}
        rows.append({"period": p, **values, "pre": p < first_post})
    tested = [names[p] for p in pre if p != reference]
    statistic, p_value = fit.wald(tested) if tested else (float("nan"), float("nan"))
    return EventStudy(pd.DataFrame(rows), statistic, p_value, len(tested))
