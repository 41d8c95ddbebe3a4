"""Peer comparison feedback: each entity's rate against a reference or its peers, with a significance flag.

No money moves: this is the confidential feedback report style of physician-group programs (as in the
Greater Buffalo United ACO reports), where each practice sees its rate beside the state or national
average, or beside its peer group's mean and percentiles, and whether the difference is beyond chance.

Tables are pandas DataFrames, one row per entity: entity_id, numerator, denominator, and peer_group
when comparing within peer groups. Rates are proportions (0-1).

- Interval: Wilson score interval for a binomial proportion at the chosen significance level
  (Wilson 1927; Brown, Cai & DasGupta 2001 recommend it over the Wald interval for small n), the
  same interval the measure summaries report (`measures.summary.wilson_interval`).
- Comparator: a given reference rate (state or national average), or the peer group's mean of entity
  rates (each entity counts once, as in the percentiles shown beside it).
- Flag: "better" or "worse" when the interval lies wholly on one side of the comparator (direction
  from `higher_is_better`), else "not different".

`compare_intervals` does the comparator and flag for rates whose interval was worked out elsewhere:
a risk-adjusted rate O/E × overall rate with the exact Poisson (Garwood) interval of O/E
(`adjusted_interval`), the interval the measure summaries use for counts (Garwood F., Biometrika
1936;28:437-442). Compared with the overall rate, "better"/"worse" then says that O/E excludes 1:
the entity did better or worse than expected for its own patients.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from p4pkit.errors import Problem, UserError
from p4pkit.measures.summary import wilson_interval
from p4pkit.programs.tables import require_columns
from p4pkit.risk.outcome import garwood_limits

PEER_PERCENTILES = (25, 50, 75, 90)


def compare(rates: pd.DataFrame, *, reference_rate: float | None = None, significance_level: float = 0.05,
            higher_is_better: bool = True) -> pd.DataFrame:
    """Rate, interval, comparator and flag per entity.

    With `reference_rate` every entity is compared with that rate; without it, with its peer group
    (column `peer_group`), and the group's percentiles and the entity's percentile rank are added.
    """
    require_columns(rates, "peer comparison rates", ("entity_id", "numerator", "denominator"))
    bad = [Problem("peer comparison rates", i, "denominator", "must be positive and at least the numerator")
           for i, (n, d) in enumerate(zip(rates["numerator"], rates["denominator"]), start=1) if not 0 <= n <= d or d <= 0]
    if bad:
        raise UserError("rates cannot be compared", bad)
    table = rates.copy()
    table["rate"] = table["numerator"] / table["denominator"]
    table["ci_low"], table["ci_high"] = wilson_interval(table["numerator"], table["denominator"], 1 - significance_level)
    return compare_intervals(table, reference_rate=reference_rate, higher_is_better=higher_is_better)


def adjusted_interval(observed: pd.Series, expected: pd.Series, overall_rate: float, significance_level: float = 0.05) -> tuple[pd.Series, pd.Series]:
    """The interval of a risk-adjusted rate O/E × overall rate: Garwood's exact Poisson limits of the
    observed count (`risk.outcome.garwood_limits`) divided by the expected count, times the overall rate."""
    lower, upper = garwood_limits(observed, 1 - significance_level)
    scale = overall_rate / expected.to_numpy(float)
    return pd.Series(lower * scale, index=observed.index), pd.Series(upper * scale, index=observed.index)


def compare_intervals(table: pd.DataFrame, *, reference_rate: float | None = None, higher_is_better: bool = True) -> pd.DataFrame:
    """Comparator and flag per entity for rates with their intervals (columns entity_id, rate,
    ci_low, ci_high, and peer_group without `reference_rate`), as `compare` defines them."""
    require_columns(table, "peer comparison rates", ("entity_id", "rate", "ci_low", "ci_high"))
    table = table.copy()
    if reference_rate is not None:
        table["comparator"] = float(reference_rate)
    else:
        require_columns(table, "peer comparison rates", ("peer_group",))
        table = table.join(_peer_statistics(table), on="peer_group")
        table["percentile_rank"] = table.groupby("peer_group")["rate"].rank(pct=True)
    above = table["ci_low"] > table["comparator"]
    below = table["ci_high"] < table["comparator"]
    better, worse = (above, below) if higher_is_better else (below, above)
    table["flag"] = np.select([better, worse], ["better", "worse"], default="not different")
    return table


def _peer_statistics(table: pd.DataFrame) -> pd.DataFrame:
    """Per peer group: the mean of entity rates (the comparator) and its percentiles."""
    grouped = table.groupby("peer_group")["rate"]
    summary = pd.DataFrame({"comparator": grouped.mean()})
    for p in PEER_PERCENTILES:
        summary[f"peer_p{p}"] = grouped.quantile(p / 100)
    return summary
