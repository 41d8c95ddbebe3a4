"""Entity summaries of patient-level results: counts, performance rate and its Wilson interval.

Performance rate, as eCQM proportion scoring defines it (CMS eCQM Logic and Implementation
Guidance; HL7 CQF Measures IG, proportion scoring):

    rate = numerator / (denominator - denominator exclusions - denominator exceptions)

Exclusions and exceptions leave the denominator, and the numerator only counts patients who were
neither excluded nor (by construction of the runner) excepted. When the performance denominator is
zero the rate is null, not zero. The 95% interval is Wilson's score interval (Wilson 1927), which
stays inside [0, 1] and behaves at small denominators where the normal approximation does not;
computed with statsmodels `proportion_confint(method="wilson")`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
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


def summarise(results: pa.Table, by: Sequence[str] = ()) -> pa.Table:
    """Counts, rate and Wilson 95% interval per measure, group, period and the `by` columns
    (clinician, practice, organization, ACO, a stratifier...: join them onto `results` first)."""
    missing = [c for c in (*KEYS, *COUNTS, *by) if c not in results.column_names]
    if missing:
        raise UserError(
            f"cannot summarise: results lack column(s) {missing}",
            hint="Join the entity column (e.g. attribution's entity_id) onto the patient results first.",
        )
    keys = [*KEYS, *by]
    counted = results.select([*keys, *COUNTS]).cast(
        pa.schema([results.schema.field(k) for k in keys] + [pa.field(c, pa.int64()) for c in COUNTS])
    )
    grouped = counted.group_by(keys).aggregate([(c, "sum") for c in COUNTS])
    grouped = pa.table(
        {**{k: grouped[k] for k in keys}, **{name: grouped[f"{column}_sum"] for column, name in COUNTS.items()}}
    )
    eligible = pc.subtract(pc.subtract(grouped["denominator"], grouped["exclusions"]), grouped["exceptions"])
    eligible_np = eligible.to_numpy()
    numerator_np = grouped["numerator"].to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(eligible_np > 0, numerator_np / np.where(eligible_np > 0, eligible_np, 1), np.nan)
    low, high = wilson_interval(numerator_np, eligible_np)
    grouped = grouped.append_column("performance_denominator", eligible)
    for name, values in (("rate", rate), ("rate_lower", low), ("rate_upper", high)):
        grouped = grouped.append_column(name, pa.array(values, pa.float64(), mask=np.isnan(values)))
    return grouped.sort_by([(k, "ascending") for k in keys])
