"""Hospital-Acquired Condition Reduction Program (HACRP): winsorized z-scores, Total HAC Score, 1% penalty.

Sources: SSA §1886(p) and 42 CFR 412.170–412.172 (the worst-performing quartile of applicable
hospitals is paid 99% of what it would otherwise be paid); `reference/methodologies.md` §3, where
the FY2024 file confirms the score and penalty rules below on 2,972 and 2,928 hospitals.

* Per measure (CMS PSI 90 composite and the NHSN SIRs for CLABSI, CAUTI, SSI, CDI, MRSA; higher is
  worse): winsorize the hospitals' results at the 5th and 95th percentiles, then
  z = (x_w − mean(x_w)) / sd(x_w), with the sample standard deviation (n − 1).
* Total HAC Score (FY2020 on) = the mean of the hospital's available measure z-scores. Earlier years
  weighted domains (FY2018–FY2019: PSI 15% / HAI 85%); pass `domains` and `domain_weights` to
  reproduce them: each domain score is the mean of its measures' z-scores and the weights are
  re-normalised over the domains the hospital has.
* Payment reduction: hospitals whose Total HAC Score is strictly above the 75th percentile of all
  Total HAC Scores; a hospital exactly at the percentile is not penalised. No score → "N/A".

Percentiles: SAS's default definition (PROC UNIVARIATE PCTLDEF=5, the empirical distribution
function with averaging; numpy's "averaged_inverted_cdf"). CMS computes its programs in SAS; the
CMS documents we could read do not name the definition, so this is the default a SAS program would
get. With n·p an integer it averages the two neighbouring order statistics, otherwise it takes the
next one up, so at most a quarter of hospitals can lie strictly above the 75th percentile.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

import numpy as np
import pandas as pd

PERCENTILE_METHOD = "averaged_inverted_cdf"
WINSOR_LIMITS = (5.0, 95.0)
PENALTY_PERCENTILE = 75.0
# §1886(p)(1): penalised hospitals are paid 99 percent of the amount otherwise payable.
PAYMENT_FACTOR_PENALISED = Decimal("0.99")


def winsorized_z_scores(values, limits: tuple[float, float] = WINSOR_LIMITS) -> np.ndarray:
    """Winsorized z-score of each value among all non-missing values (NaN stays NaN).

    Values are clipped to the `limits` percentiles, then standardised with the mean and sample
    standard deviation of the clipped values. Fewer than two values, or no spread, gives NaN.
    """
    x = np.asarray(values, dtype=float)
    present = ~np.isnan(x)
    z = np.full(x.shape, np.nan)
    if present.sum() < 2:
        return z
    low, high = np.percentile(x[present], limits, method=PERCENTILE_METHOD)
    clipped = np.clip(x[present], low, high)
    spread = clipped.std(ddof=1)
    if spread > 0:
        z[present] = (clipped - clipped.mean()) / spread
    return z


def measure_z_scores(results: pd.DataFrame) -> pd.DataFrame:
    """Long table entity_id, measure_id, value → the same rows plus z_score (winsorized within each measure)."""
    out = results.copy()
    out["z_score"] = np.nan
    for _, rows in out.groupby("measure_id", sort=False):
        out.loc[rows.index, "z_score"] = winsorized_z_scores(rows["value"].to_numpy(dtype=float))
    return out


def total_hac_scores(
    z_scores: pd.DataFrame,
    domains: Mapping[str, str] | None = None,
    domain_weights: Mapping[str, float] | None = None,
) -> pd.DataFrame:
    """entity_id, measure_id, z_score → entity_id, total_hac_score (NaN when the hospital has no z-score).

    Without `domains` every measure counts equally (FY2020 on). With `domains` (measure → domain)
    and `domain_weights` (domain → weight), the score is the weighted mean of domain means over the
    domains present.
    """
    entities = pd.Index(z_scores["entity_id"].drop_duplicates(), name="entity_id")
    scored = z_scores[z_scores["z_score"].notna()]
    if domains is None:
        total = scored.groupby("entity_id")["z_score"].mean()
    else:
        weights = pd.Series(domain_weights)
        by_domain = scored.assign(domain=scored["measure_id"].map(domains)).dropna(subset=["domain"])
        means = by_domain.pivot_table(index="entity_id", columns="domain", values="z_score", aggfunc="mean")
        means = means.reindex(columns=weights.index)
        used = means.notna().mul(weights, axis=1)
        total = (means.fillna(0) * used).sum(axis=1) / used.sum(axis=1).replace(0, np.nan)
    return total.reindex(entities).rename("total_hac_score").reset_index()


def payment_reductions(scores: pd.DataFrame, percentile: float = PENALTY_PERCENTILE) -> pd.DataFrame:
    """entity_id, total_hac_score → adds payment_reduction ("Yes"/"No"/"N/A"), threshold and payment_factor.

    The threshold is the `percentile` of the scored hospitals' Total HAC Scores; "Yes" strictly
    above it. payment_factor is 0.99 for "Yes", 1 for "No", None for "N/A" (§1886(p)(1)).
    """
    out = scores.copy()
    values = out["total_hac_score"].to_numpy(dtype=float)
    present = ~np.isnan(values)
    threshold = float(np.percentile(values[present], percentile, method=PERCENTILE_METHOD)) if present.any() else np.nan
    out["payment_reduction"] = np.where(~present, "N/A", np.where(values > threshold, "Yes", "No"))
    out["threshold"] = threshold
    factors = {"Yes": PAYMENT_FACTOR_PENALISED, "No": Decimal(1), "N/A": None}
    out["payment_factor"] = [factors[flag] for flag in out["payment_reduction"]]
    return out


def hacrp_scores(results: pd.DataFrame, percentile: float = PENALTY_PERCENTILE) -> pd.DataFrame:
    """Measure results → Total HAC Score and payment reduction per hospital (FY2020+ rules).

    `results`: entity_id, measure_id and either `value` (measure result; z-scores are computed here
    over all hospitals given) or `z_score` (already winsorized, e.g. CMS's national values), or both.
    A measure with any z_score given uses the given z-scores (they come from the national file; mixing
    them with z-scores computed on another population would be meaningless); other measures get
    z-scores computed from their values.
    """
    table = results.copy()
    if "z_score" not in table:
        table["z_score"] = np.nan
    if "value" in table:
        computed = measure_z_scores(table[["entity_id", "measure_id", "value"]])["z_score"]
        given_by_measure = table.groupby("measure_id")["z_score"].transform(lambda z: z.notna().any())
        table["z_score"] = table["z_score"].where(given_by_measure, computed)
    return payment_reductions(total_hac_scores(table), percentile)
