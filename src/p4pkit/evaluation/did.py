"""Difference-in-differences and event-study estimates of a program's effect.

A program's effect is the change in participants' outcomes beyond the change non-participants saw
over the same time (or, within participants, the change in incentivised measures beyond that in
non-incentivised ones: the `treated` column says which rows are the incentivised side). The
regression form (Angrist and Pischke, *Mostly Harmless Econometrics*, 2009, section 5.2):

    y_it = a + b treated_i + c post_t + d (treated_i x post_t) + e_it,

where d is the difference in differences: (mean treated post - mean treated pre) - (mean control
post - mean control pre). With `fixed_effects`, entity and period dummies replace `treated` and
`post` (the two-way fixed-effects form). Outcomes of patients in one entity move together, so
standard errors are clustered by entity and intervals use Student's t with G - 1 degrees of freedom
for G clusters (Cameron and Miller, "A practitioner's guide to cluster-robust inference", J Human
Resources 2015;50:317-372); fitted with statsmodels OLS.

Event study: one coefficient per period for treated x period, relative to the last period before the
program (the reference, fixed at zero), with entity and period fixed effects. The pre-program
coefficients should be near zero if the two groups were on parallel paths; `event_study` reports a
joint Wald test that they all are (the pre-trend check).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import statsmodels.formula.api as smf

INTERACTION = "treated_x_post"


def _fit(frame: pd.DataFrame, formula: str, cluster: str):
    groups = pd.factorize(frame[cluster])[0]
    return smf.ols(formula, data=frame).fit(cov_type="cluster", cov_kwds={"groups": groups}, use_t=True)


def _prepared(frame: pd.DataFrame, outcome: str, columns: Sequence[str]) -> pd.DataFrame:
    data = frame[[outcome, *dict.fromkeys(columns)]].dropna().copy()
    data["_y"] = data[outcome].astype(float)
    return data


def difference_in_differences(
    frame: pd.DataFrame,
    outcome: str,
    treated: str,
    post: str,
    cluster: str,
    *,
    fixed_effects: tuple[str, str] | None = None,
    level: float = 0.95,
) -> pd.DataFrame:
    """One-row table: the DiD estimate with its cluster-robust standard error, interval and p-value.

    `treated` and `post` are 0/1 (or boolean) columns; `cluster` names the entity column; with
    `fixed_effects=(entity, period)` the model uses entity and period dummies instead of the main
    effects. Rows with a missing value in any used column are dropped.
    """
    columns = [treated, post, cluster, *(fixed_effects or ())]
    data = _prepared(frame, outcome, columns)
    data[INTERACTION] = data[treated].astype(float) * data[post].astype(float)
    if fixed_effects:
        entity, period = fixed_effects
        formula = f"_y ~ {INTERACTION} + C(Q('{entity}')) + C(Q('{period}'))"
    else:
        data["_treated"], data["_post"] = data[treated].astype(float), data[post].astype(float)
        formula = f"_y ~ _treated + _post + {INTERACTION}"
    fit = _fit(data, formula, cluster)
    low, high = fit.conf_int(alpha=1 - level).loc[INTERACTION]
    return pd.DataFrame(
        {
            "estimate": [float(fit.params[INTERACTION])],
            "std_error": [float(fit.bse[INTERACTION])],
            "lower": [float(low)],
            "upper": [float(high)],
            "p_value": [float(fit.pvalues[INTERACTION])],
            "observations": [int(fit.nobs)],
            "clusters": [int(data[cluster].nunique())],
            "level": [level],
        }
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
    level: float = 0.95,
) -> EventStudy:
    """Event-study coefficients of treated x period relative to the last period before `first_post`.

    `period` must sort in time order (years, "2024Q1" strings, dates); `first_post` is the first
    period the program runs. Entity (`cluster`) and period fixed effects; clustered errors as in
    `difference_in_differences`.
    """
    data = _prepared(frame, outcome, [treated, period, cluster])
    periods = sorted(data[period].unique())
    pre = [p for p in periods if p < first_post]
    if not pre:
        raise ValueError("an event study needs at least one period before the program starts")
    reference = pre[-1]
    names = {}
    for i, p in enumerate(periods):
        if p == reference:
            continue
        names[p] = f"event_{i}"
        data[names[p]] = data[treated].astype(float) * (data[period] == p).astype(float)
    formula = f"_y ~ {' + '.join(names.values())} + C(Q('{cluster}')) + C(Q('{period}'))"
    fit = _fit(data, formula, cluster)
    intervals = fit.conf_int(alpha=1 - level)
    rows = [
        {"period": p, "estimate": 0.0 if p == reference else float(fit.params[names[p]]),
         "std_error": 0.0 if p == reference else float(fit.bse[names[p]]),
         "lower": 0.0 if p == reference else float(intervals.loc[names[p], 0]),
         "upper": 0.0 if p == reference else float(intervals.loc[names[p], 1]), "pre": p < first_post}
        for p in periods
    ]
    tested = [names[p] for p in pre if p != reference]
    if tested:
        test = fit.f_test(" , ".join(f"{name} = 0" for name in tested))
        statistic, p_value = float(np.squeeze(test.fvalue)), float(test.pvalue)
    else:
        statistic, p_value = float("nan"), float("nan")
    return EventStudy(pd.DataFrame(rows), statistic, p_value, len(tested))
