"""Entity summaries of patient-level results: counts, performance rate and its Wilson interval.

Performance rate, as eCQM proportion scoring defines it (CMS eCQM Logic and Implementation
Guidance; HL7 CQF Measures IG, proportion scoring):

    rate = numerator / (denominator - denominator exclusions - denominator exceptions)

Exclusions and exceptions leave the denominator, and the numerator only counts patients who were
neither excluded nor (by construction of the runner) excepted. When the performance denominator is
zero the rate is null, not zero. The 95% interval is Wilson's score interval (Wilson 1927), which
stays inside [0, 1] and behaves at small denominators where the normal approximation does not;
computed with statsmodels `proportion_confint(method="wilson")`.

Measures that observe numbers per patient (runner columns `numerator_value`, `denominator_value`)
are scored on the sums of those observations instead, times the measure's `rate_multiplier`:

- outcome counted in episodes (readmitted index stays / index stays): rate = sum num / sum den,
  Wilson interval on those episode counts;
- ratio (ED visits per 1,000 member-years): rate = sum num / sum den x multiplier, with the exact
  Poisson interval for the count (Garwood F., "Fiducial limits for the Poisson distribution",
  Biometrika 1936;28:437-442: chi-square quantiles 2k at alpha/2 and 2k+2 at 1-alpha/2, halved)
  divided by the exposure;
- continuous-variable (allowed amount per member-month): rate = sum num / sum den, the ratio
  estimator over patients, with the t interval from its linearised variance
  v(r) = n / (n - 1) x sum (y_i - r m_i)^2 / (sum m_i)^2 on n - 1 degrees of freedom
  (Cochran W.G., Sampling Techniques, 3rd ed. 1977, section 6.4), which respects that one
  patient's months and dollars go together.

`numerator_total` and `denominator_total` carry those sums (null for proportion measures).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from scipy import stats
from statsmodels.stats.proportion import proportion_confint

from p4pkit.errors import UserError

KEYS = ("measure_id", "group_index", "period_start", "period_end")
COUNTS = {
    "initial_population": "initial_population",
    "denominator": "denominator",
    "denominator_exclusion": "exclusions",
    "denominator_exception": "exceptions",
    "numerator": "numerator",
}
# Every results column `summarise` reads (observed values and scoring where the table has them).
SUMMARISED = (*KEYS, *COUNTS, "scoring", "rate_multiplier", "numerator_value", "denominator_value")


def wilson_interval(numerator: np.ndarray, denominator: np.ndarray, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval per row; NaN where the denominator is zero."""
    numerator = np.asarray(numerator, dtype=float)
    denominator = np.asarray(denominator, dtype=float)
    safe = np.where(denominator > 0, denominator, 1.0)
    with np.errstate(invalid="ignore"):
        low, high = proportion_confint(numerator, safe, alpha=1 - confidence, method="wilson")
    empty = denominator <= 0
    # At 0/n and n/n the exact bounds are 0 and 1, which floating point misses by ~1e-18.
    low = np.where(numerator <= 0, 0.0, low)
    high = np.where(numerator >= denominator, 1.0, high)
    return np.where(empty, np.nan, low), np.where(empty, np.nan, high)


def poisson_interval(count: np.ndarray, exposure: np.ndarray, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Exact (Garwood) interval of a Poisson rate count / exposure; NaN where exposure is zero."""
    count = np.asarray(count, dtype=float)
    exposure = np.asarray(exposure, dtype=float)
    alpha = 1 - confidence
    with np.errstate(divide="ignore", invalid="ignore"):
        low = np.where(count > 0, stats.chi2.ppf(alpha / 2, 2 * count) / 2, 0.0) / exposure
        high = stats.chi2.ppf(1 - alpha / 2, 2 * count + 2) / 2 / exposure
    empty = exposure <= 0
    return np.where(empty, np.nan, low), np.where(empty, np.nan, high)


def ratio_estimate_interval(
    n: np.ndarray, sum_y: np.ndarray, sum_m: np.ndarray, sum_yy: np.ndarray, sum_mm: np.ndarray, sum_ym: np.ndarray,
    confidence: float = 0.95,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ratio estimate sum y / sum m and its t interval (Cochran 1977, 6.4) from per-group sums of
    n patients' y, m and their squares and products; NaN where fewer than two patients or no m."""
    n, sum_y, sum_m = (np.asarray(a, dtype=float) for a in (n, sum_y, sum_m))
    with np.errstate(divide="ignore", invalid="ignore"):
        r = sum_y / sum_m
        residual_ss = np.maximum(np.asarray(sum_yy) - 2 * r * np.asarray(sum_ym) + r * r * np.asarray(sum_mm), 0.0)
        se = np.sqrt(n / (n - 1) * residual_ss) / sum_m
        t = stats.t.ppf(1 - (1 - confidence) / 2, n - 1)
    usable = (n >= 2) & (sum_m > 0)
    r = np.where(sum_m > 0, r, np.nan)
    return r, np.where(usable, r - t * se, np.nan), np.where(usable, r + t * se, np.nan)


def _observed_rates(grouped: pa.Table, sums: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rate and interval per group for measures scored on observations (see the module docstring)."""
    scoring = np.asarray(grouped["scoring"].to_pylist(), dtype=object)
    multiplier = grouped["rate_multiplier"].to_numpy()
    y, m = sums["y"], sums["m"]
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(m > 0, y / m, np.nan)
    wilson = wilson_interval(y, m)
    poisson = poisson_interval(y, m)
    _, cv_low, cv_high = ratio_estimate_interval(sums["n"], y, m, sums["yy"], sums["mm"], sums["ym"])
    low = np.select([scoring == "ratio", scoring == "continuous-variable"], [poisson[0], cv_low], wilson[0])
    high = np.select([scoring == "ratio", scoring == "continuous-variable"], [poisson[1], cv_high], wilson[1])
    return rate * multiplier, low * multiplier, high * multiplier


def _observation_sums(results: pa.Table, keys: list[str]) -> pa.Table:
    """Per group: patients observed, sums of numerator (y) and denominator (m) observations and of
    their squares and products (what the ratio-estimator variance needs)."""
    y = results["numerator_value"].cast(pa.float64())
    m = results["denominator_value"].cast(pa.float64())
    observed = pc.and_(pc.is_valid(m), pc.is_valid(y))
    y0, m0 = pc.if_else(observed, y, 0.0), pc.if_else(observed, m, 0.0)
    table = pa.table(
        {
            **{k: results[k] for k in keys},
            "n": pc.cast(observed, pa.int64()),
            "y": y0,
            "m": m0,
            "yy": pc.multiply(y0, y0),
            "mm": pc.multiply(m0, m0),
            "ym": pc.multiply(y0, m0),
            "valued": pc.cast(pc.is_valid(m), pa.int64()),
        }
    )
    sums = table.group_by(keys).aggregate([(c, "sum") for c in ("n", "y", "m", "yy", "mm", "ym", "valued")])
    return pa.table({**{k: sums[k] for k in keys}, **{c: sums[f"{c}_sum"] for c in ("n", "y", "m", "yy", "mm", "ym", "valued")}})


def summarise(results: pa.Table, by: Sequence[str] = ()) -> pa.Table:
    """Counts, rate and Wilson 95% interval per measure, group, period and the `by` columns
    (clinician, practice, organization, ACO, a stratifier...: join them onto `results` first)."""
    missing = [c for c in (*KEYS, *COUNTS, *by) if c not in results.column_names]
    if missing:
        raise UserError(
            f"cannot summarise: results lack column(s) {missing}",
            hint="Join the entity column (e.g. attribution's entity_id) onto the patient results first.",
        )
    if "scoring" not in results.column_names:
        # A results table from before observations existed: every measure was a proportion.
        n_rows = results.num_rows
        results = results.append_column("scoring", pa.array(["proportion"] * n_rows, pa.string()))
        results = results.append_column("rate_multiplier", pa.array([1.0] * n_rows, pa.float64()))
        results = results.append_column("numerator_value", pa.nulls(n_rows, pa.float64()))
        results = results.append_column("denominator_value", pa.nulls(n_rows, pa.float64()))
    keys = [*KEYS, *by, "scoring", "rate_multiplier"]
    counted = results.select([*keys, *COUNTS]).cast(
        pa.schema([results.schema.field(k) for k in keys] + [pa.field(c, pa.int64()) for c in COUNTS])
    )
    grouped = counted.group_by(keys).aggregate([(c, "sum") for c in COUNTS])
    grouped = pa.table(
        {**{k: grouped[k] for k in keys}, **{name: grouped[f"{column}_sum"] for column, name in COUNTS.items()}}
    ).sort_by([(k, "ascending") for k in keys])
    eligible = pc.subtract(pc.subtract(grouped["denominator"], grouped["exclusions"]), grouped["exceptions"])
    eligible_np = eligible.to_numpy()
    numerator_np = grouped["numerator"].to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(eligible_np > 0, numerator_np / np.where(eligible_np > 0, eligible_np, 1), np.nan)
    low, high = wilson_interval(numerator_np, eligible_np)
    sums = _observation_sums(results, keys).sort_by([(k, "ascending") for k in keys])
    sums_np = {c: sums[c].to_numpy().astype(float) for c in ("n", "y", "m", "yy", "mm", "ym")}
    # Ratio and continuous-variable groups are always scored on observations; outcome groups when
    # they observed episodes.
    per_patient = pc.is_in(grouped["scoring"], pa.array(["ratio", "continuous-variable"])).to_numpy(zero_copy_only=False)
    valued = per_patient | (sums["valued"].to_numpy() > 0)
    observed_rate, observed_low, observed_high = _observed_rates(grouped, sums_np)
    rate, low, high = (np.where(valued, o, p) for o, p in ((observed_rate, rate), (observed_low, low), (observed_high, high)))
    grouped = grouped.append_column("performance_denominator", eligible)
    for name, column in (("numerator_total", "y"), ("denominator_total", "m")):
        grouped = grouped.append_column(name, pa.array(sums_np[column], pa.float64(), mask=~valued))
    for name, values in (("rate", rate), ("rate_lower", low), ("rate_upper", high)):
        grouped = grouped.append_column(name, pa.array(values, pa.float64(), mask=np.isnan(values)))
    return grouped.sort_by([(k, "ascending") for k in keys])
