"""Funnel plots: is an entity's rate further from its peers' than chance allows at its size?

A funnel plot (Spiegelhalter, "Funnel plots for comparing institutional performance", Statistics
in Medicine 2005;24:1185-1202) draws each entity's rate y = count / size against its size n, with
control limits around the peer rate p0 that narrow as n grows. For a proportion the limits are
quantiles of Binomial(n, p0), interpolated so that they are smooth in n (Spiegelhalter 2005,
appendix A.1.1):

    r = the q-quantile of Bin(n, p0),  a = (F(r) - q) / (F(r) - F(r - 1)),  limit = (r - a) / n.

Limits at 3 standard deviations (q = 0.001 and 0.999, the 99.8% limits) are the paper's "alarm"
limits. Gaming checks look one way only (too many exceptions, too many removals), so an entity is
flagged when its rate lies above the upper limit: at most 0.135% of honest entities by chance.

The interpolated limit draws a smooth funnel, but as a flagging rule it lets a count of exactly r
through: with few expected events P(X >= r) is several times 1 - q (at 3 expected events the
3-SD quantile is 9 and P(X >= 9) is about 0.37%, not 0.135%). Flags therefore use the exact one-sided
test, count > r, i.e. P(X >= count) <= 1 - q, and the reported limit is r / n, the highest rate
that is not flagged; the chart keeps the interpolated curves.

Two choices, both said in the evidence text:

- Peer rate. Pooling every entity lets a minority of gamers raise the bar for everyone. As in
  Shewhart control charts, the centre line is re-estimated without the entities found out of
  control until no more are (Montgomery, *Introduction to Statistical Quality Control*, 7th ed.,
  6.2.2, "revision of control limits"). `revise=False` keeps the pooled rate.
- Overdispersion. When honest entities differ more than binomial noise allows, limits are too
  narrow. Spiegelhalter's multiplicative adjustment (2005, section 3.3): phi = mean of squared
  z-scores after winsorising the 10% most extreme at each end; when phi > 1 the limits widen by
  sqrt(phi) about the peer rate. Spiegelhalter writes them p0 +/- z sqrt(phi p0 (1 - p0) / n),
  the normal approximation; here the binomial limit's distance from p0 is stretched instead,
  p0 + sqrt(phi) (r / n - p0), which is the paper's limit wherever the normal
  approximation holds and, for rare events at small sizes (an exception rate of 1% in 100
  patients), keeps the binomial's heavier upper tail that the normal limit would cut off, giving
  more false flags than 3 SD implies. Peer rate and phi both come from the entities inside the
  binomial limits once the revision has settled; with phi estimated on all entities, a large
  share of gamers would widen the limits until none of them stood out. Off by default
  (`overdispersion=False`); the exception-reporting check turns it on (`True` or
  "multiplicative"), because honest practices' rates differ beyond chance (patients who decline).
- Additive overdispersion (`overdispersion="additive"`; Spiegelhalter 2005, section 3.4, the
  random-effects funnel). A multiplicative phi widens every limit by the same factor, so it
  assumes the excess spread shrinks with size like binomial noise. When honest entities differ
  in their true rates (a list's ages drive how many new diagnoses its patients get), that spread
  does not shrink: large entities' limits then stay too narrow and large honest entities are
  flagged. The additive model gives each entity's rate the variance p0 (1 - p0) / n + tau2, with
  tau2 = max(0, (I phi - (I - 1)) / (sum w - sum w^2 / sum w)), w = n / (p0 (1 - p0)), phi the
  winsorised mean squared z over the I entities inside the settled binomial limits (the
  DerSimonian-Laird moment estimator on winsorised z-scores, as the paper writes it). The binomial
  limit's distance from p0 is stretched by sqrt(1 + tau2 n / (p0 (1 - p0))), the ratio of the two
  standard deviations at that size. The coding-intensity check uses it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from p4pkit.reports.charts import funnel_plot

MAX_REVISIONS = 50  # revisions settle in a few rounds; the cap only guards against cycling
FLAG_COLUMNS = ("entity_id", "check", "statistic", "limit", "flagged", "evidence")


def binomial_limit(p0: float, n: np.ndarray, q: float) -> np.ndarray:
    """The interpolated q-quantile of Binomial(n, p0) / n (Spiegelhalter 2005, appendix A.1.1)."""
    size = np.asarray(n, dtype=float)
    r = stats.binom.ppf(q, size, p0)
    at_r = stats.binom.cdf(r, size, p0)
    below_r = stats.binom.cdf(r - 1, size, p0)
    step = np.where(at_r > below_r, at_r - below_r, 1.0)
    a = np.clip((at_r - q) / step, 0.0, 1.0)
    return np.where(size > 0, (r - a) / np.where(size > 0, size, 1.0), np.nan)


def winsorised_phi(count: np.ndarray, size: np.ndarray, p0: float, share: float = 0.1) -> float:
    """Spiegelhalter's overdispersion factor: mean squared z-score after 10% winsorising each tail."""
    z = (count / size - p0) / np.sqrt(p0 * (1 - p0) / size)
    low, high = np.quantile(z, [share, 1 - share])
    return float(np.mean(np.clip(z, low, high) ** 2))


def additive_tau2(count: np.ndarray, size: np.ndarray, p0: float, share: float = 0.1) -> float:
    """Spiegelhalter's additive (random-effects) between-entity variance of the rates, section 3.4."""
    phi = winsorised_phi(count, size, p0, share)
    w = size / (p0 * (1 - p0))
    return max(0.0, (len(size) * phi - (len(size) - 1)) / float(w.sum() - (w**2).sum() / w.sum()))


def _pooled(count: np.ndarray, size: np.ndarray, inside: np.ndarray) -> float:
    return float(count[inside].sum() / size[inside].sum()) if inside.any() else 0.0


def _upper(p0: float, size: np.ndarray, sigmas: float, stretch: float | np.ndarray = 1.0) -> np.ndarray:
    """The exact binomial limit (highest count not flagged, over n), its distance from p0 stretched."""
    binomial = stats.binom.ppf(stats.norm.cdf(sigmas), size, p0) / size
    return p0 + stretch * (binomial - p0)


def funnel_flags(
    counts: pd.DataFrame,
    check: str,
    *,
    sigmas: float = 3.0,
    revise: bool = True,
    overdispersion: bool | str = False,
    describe: str = "",
) -> pd.DataFrame:
    """Flag entities whose rate `count / size` lies above the upper funnel limit around the peer rate.

    `counts` has one row per entity: `entity_id`, `count`, `size`. Returns the flag table
    (`FLAG_COLUMNS` plus `size`, `count`, `peer_rate`), one row per entity with a positive size;
    `statistic` is the entity's rate and `limit` the upper limit at its size. `describe` names
    what is counted (e.g. "of 412 patients with an HbA1c or BP record had one recorded as not done").
    `overdispersion`: False, True or "multiplicative", or "additive" (module docstring).
    """
    if overdispersion not in (False, True, "multiplicative", "additive"):
        raise ValueError(f"overdispersion must be False, 'multiplicative' or 'additive', not {overdispersion!r}")
    data = counts[counts["size"] > 0].reset_index(drop=True)
    count = data["count"].to_numpy(float)
    size = data["size"].to_numpy(float)
    inside = np.ones(len(data), dtype=bool)
    for _ in range(MAX_REVISIONS):
        p0 = _pooled(count, size, inside)
        upper = _upper(p0, size, sigmas) if 0 < p0 < 1 else np.zeros_like(size)
        flagged = count / size > upper
        if not revise or np.array_equal(inside, ~flagged):
            break
        inside = ~flagged
    estimable = bool(overdispersion) and 0 < p0 < 1 and inside.sum() > 2
    phi = max(1.0, winsorised_phi(count[inside], size[inside], p0)) if estimable and overdispersion != "additive" else 1.0
    tau2 = additive_tau2(count[inside], size[inside], p0) if estimable and overdispersion == "additive" else 0.0
    if phi > 1 or tau2 > 0:
        stretch = np.sqrt(phi) if phi > 1 else np.sqrt(1 + tau2 * size / (p0 * (1 - p0)))
        upper = _upper(p0, size, sigmas, stretch)
        flagged = count / size > upper
    peer = "peer rate re-estimated without flagged entities" if revise else "pooled peer rate"
    spread = (f", overdispersion phi {phi:.2f}" if phi > 1
              else f", additive overdispersion (between-entity SD {np.sqrt(tau2):.2%})" if tau2 > 0 else ", binomial limits")
    evidence = [
        f"{int(c)} of {int(n)} {describe}: rate {c / n:.2%} against {peer} {p0:.2%}{spread}; "
        f"{sigmas:g}-SD upper limit at this size {u:.2%}"
        for c, n, u in zip(count, size, upper)
    ]
    return pd.DataFrame(
        {
            "entity_id": data["entity_id"].astype(str),
            "check": check,
            "statistic": count / size,
            "limit": upper,
            "flagged": flagged,
            "evidence": evidence,
            "size": size.astype(int),
            "count": count.astype(int),
            "peer_rate": p0,
        }
    )


def funnel_chart(flags: pd.DataFrame, title: str, sigmas: float = 3.0, points: int = 60) -> dict:
    """Vega-Lite funnel plot of one check's flag table: rates against size with 2- and 3-SD limits."""
    p0 = float(flags["peer_rate"].iloc[0])
    sizes = np.unique(np.geomspace(max(1, flags["size"].min()), flags["size"].max(), points).round())
    limits = []
    for s in (2.0, sigmas):
        for label, q in ((f"{s:g} SD upper", stats.norm.cdf(s)), (f"{s:g} SD lower", stats.norm.cdf(-s))):
            values = binomial_limit(p0, sizes, q) if 0 < p0 < 1 else np.full(sizes.shape, p0)
            limits.append(pd.DataFrame({"size": sizes, "limit": values, "label": label}))
    limits.append(pd.DataFrame({"size": sizes[[0, -1]], "limit": p0, "label": "peer rate"}))
    points_frame = flags[["entity_id", "size", "statistic", "flagged"]].rename(columns={"statistic": "rate"})
    return funnel_plot(points_frame, "size", "rate", pd.concat(limits, ignore_index=True), title)
