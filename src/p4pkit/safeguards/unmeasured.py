"""Unmeasured care: does care that earns money crowd out care that does not?

Incentives pull effort towards what is measured. In the UK Quality and Outcomes Framework,
incentivised indicators rose after 2004 while comparable non-incentivised ones stayed near their
trend and, once incentives plateaued, fell below it (Doran et al., "Effect of financial incentives on
incentivised and non-incentivised clinical activities: longitudinal analysis of data from the UK
Quality and Outcomes Framework", BMJ 2011;342:d3590). The opposite, spill-over, is possible too: seed
003 cites a 2014 hospital study where mortality fell more for conditions the program did not pay for.
The American College of Physicians' warning quoted there is about exactly this neglect of
"other, potentially more important elements of care".

The statistic compares two groups of proportion measures, incentivised (the program's) and
comparable non-incentivised ones (chosen by the user, e.g. cancer screening or smoking status
beside diabetes and blood-pressure control), before and after a change (program start, or the
baseline against the performance period):

- each measure's rate in a window is its numerator over its performance denominator pooled over
  the window's periods; a group's rate is the unweighted mean of its measures' rates, so a large
  measure does not drown a small one;
- change of a group = post rate - pre rate; gap change = change(incentivised) - change(non-
  incentivised), the difference in differences of Doran's contrast without the trend model;
- variances treat each measure-window rate as binomial, p(1 - p)/n, and the rates as independent:
  var(group rate) = sum of its measures' variances / k^2. The same patients counted in both windows
  or both groups correlate positively, which makes the true variance of a difference smaller, so
  the 95% normal intervals are conservative;
- WARN ("neglect") when the non-incentivised change is below zero with its whole interval and the
  incentivised change is above zero with its whole interval.

`period_rates` takes any long table of patient results with a `period` column (a run's
`patient_measures`, or `results_over_periods` for measures computed from the data, e.g. over
`annual_periods` with `periods_after(periods, program_start)` as the post window).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa
from scipy import stats

from p4pkit.measures import Period, run_measures
from p4pkit.safeguards.equity import with_counts
from p4pkit.store import Store

Z95 = float(stats.norm.ppf(0.975))


def annual_periods(first_start: date, years: int) -> dict[str, Period]:
    """`years` consecutive one-year periods from `first_start`, named by their first day, e.g. for
    rates per year either side of a program start."""
    periods = {}
    for n in range(years):
        start = first_start.replace(year=first_start.year + n)
        end = first_start.replace(year=first_start.year + n + 1) - timedelta(days=1)
        periods[start.isoformat()] = Period(start, end)
    return periods


def periods_after(periods: Mapping[str, Period], program_start: date) -> list[str]:
    """Names of the periods that begin on or after the program start: the 'post' window."""
    return [name for name, period in periods.items() if period.start >= program_start]


def results_over_periods(store: Store, measure_ids: Iterable[str], periods: Mapping[str, Period]) -> pa.Table:
    """Patient results of `measure_ids` in each named period, with a `period` column."""
    parts = []
    for name, period in periods.items():
        results = run_measures(store, list(measure_ids), period)
        parts.append(results.append_column("period", pa.array([name] * results.num_rows, pa.string())))
    return pa.concat_tables(parts)


def period_rates(results: ibis.Table, incentivised: Iterable[str]) -> pd.DataFrame:
    """Per period and proportion measure (first population group): numerator, performance
    denominator, rate, and whether the measure is incentivised."""
    rows = with_counts(results.filter((results.scoring == "proportion") & (results.group_index == 0)))
    table = (
        rows.group_by(["period", "measure_id"])
        .aggregate(numerator=rows.met.sum(), denominator=rows.counted.sum())
        .order_by(["period", "measure_id"])
        .to_pandas()
    )
    table["rate"] = table.numerator / table.denominator.where(table.denominator > 0)
    table["incentivised"] = table.measure_id.isin(set(incentivised))
    return table


@dataclass(frozen=True)
class Change:
    """A change in rate (post - pre) with its 95% interval."""

    estimate: float
    lower: float
    upper: float


@dataclass(frozen=True)
class UnmeasuredCare:
    """Pre and post rates of both groups, their changes, and the change in the gap between them."""

    incentivised_pre: float
    incentivised_post: float
    non_incentivised_pre: float
    non_incentivised_post: float
    incentivised_change: Change
    non_incentivised_change: Change
    gap_change: Change

    @property
    def neglect(self) -> bool:
        """Non-incentivised care clearly fell while incentivised care clearly rose."""
        return self.non_incentivised_change.upper < 0 < self.incentivised_change.lower


def _group_rate(rates: pd.DataFrame, incentivised: bool, periods: set[str]) -> tuple[float, float]:
    """(mean of measure rates, its variance) for one group in one window."""
    rows = rates[(rates.incentivised == incentivised) & rates.period.isin(periods)]
    pooled = rows.groupby("measure_id")[["numerator", "denominator"]].sum()
    pooled = pooled[pooled.denominator > 0]
    if pooled.empty:
        return float("nan"), float("nan")
    p = pooled.numerator / pooled.denominator
    k = len(p)
    return float(p.mean()), float((p * (1 - p) / pooled.denominator).sum() / k**2)


def _change(post: tuple[float, float], pre: tuple[float, float]) -> Change:
    estimate, se = post[0] - pre[0], np.sqrt(post[1] + pre[1])
    return Change(estimate, estimate - Z95 * se, estimate + Z95 * se)


def unmeasured_care(rates: pd.DataFrame, post_periods: Iterable[str]) -> UnmeasuredCare:
    """The statistic of the module notes from `period_rates` output; periods not in `post_periods` are 'pre'."""
    post = set(post_periods)
    pre = set(rates.period) - post
    inc_pre, inc_post = _group_rate(rates, True, pre), _group_rate(rates, True, post)
    non_pre, non_post = _group_rate(rates, False, pre), _group_rate(rates, False, post)
    inc, non = _change(inc_post, inc_pre), _change(non_post, non_pre)
    gap_estimate = inc.estimate - non.estimate
    gap_se = np.sqrt(inc_post[1] + inc_pre[1] + non_post[1] + non_pre[1])
    gap = Change(gap_estimate, gap_estimate - Z95 * gap_se, gap_estimate + Z95 * gap_se)
    return UnmeasuredCare(inc_pre[0], inc_post[0], non_pre[0], non_post[0], inc, non, gap)


def group_series(rates: pd.DataFrame) -> pd.DataFrame:
    """Per period: the mean rate of incentivised and of non-incentivised measures (for a chart)."""
    rows = rates[rates.denominator > 0]
    series = rows.groupby(["period", "incentivised"], as_index=False).rate.mean()
    series["group"] = np.where(series.incentivised, "incentivised", "not incentivised")
    return series[["period", "group", "rate"]]
