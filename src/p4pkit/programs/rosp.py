"""France ROSP (Rémunération sur objectifs de santé publique, successor of CAPI): targets, points, euros.

Tables are pandas DataFrames: one row per doctor × indicator for rates, one row per indicator for
targets and point values, one row per doctor for payments. Rates are percentages.

Rules (convention médicale 2011, revised 2016; methodologies.md §7; `docs/programs/rosp.md` says
which parts were confirmed and which remain [K]):

- targets from the baseline distribution of doctors' rates: intermediate target = 30th percentile,
  final target (objectif cible) = 80th percentile since avenant 6 (50th/90th before) [S fmfpro];
  for indicators where lower is better the percentiles are mirrored (70th and 20th);
- achievement rate (taux de réalisation, 0-1) [K, Annexe of the convention not re-read]: 1 at or
  beyond the final target; otherwise, a doctor who started below the intermediate target is paid for
  progress from the starting rate, (rate − start)/(final − start); a doctor who started at or above
  it is paid for attainment, (rate − intermediate)/(final − intermediate); both clipped to [0, 1];
- an indicator with fewer patients than its minimum is not scored;
- points = indicator points × achievement × patientèle / 800 (points are defined for a reference
  panel of 800 patients) [S]; euros = points × €7 [S]. There are no penalties: a doctor's payment is
  never negative.
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from p4pkit.errors import Problem, UserError
from p4pkit.programs.money import round_money, to_decimal
from p4pkit.programs.tables import require_columns

REFERENCE_PANEL = 800
EURO_PER_POINT = Decimal(7)


def targets_from_baseline(baseline: pd.DataFrame, lower_is_better: dict[str, bool], *,
                          intermediate_percentile: float = 30, final_percentile: float = 80) -> pd.DataFrame:
    """Intermediate and final targets per indicator from the doctors' baseline rates.

    `baseline`: doctor_id, indicator_id, rate. Percentiles use linear interpolation between order
    statistics (numpy's default). Where lower is better the 100 − p percentiles are used, so the
    final target is still the level reached by the best 20% of doctors.
    """
    require_columns(baseline, "ROSP baseline", ("doctor_id", "indicator_id", "rate"))
    rows = []
    for indicator, group in baseline.groupby("indicator_id", sort=True):
        lower = bool(lower_is_better.get(indicator, False))
        pick = (lambda p: 100 - p) if lower else (lambda p: p)
        rates = group["rate"].to_numpy(dtype=float)
        rows.append({
            "indicator_id": indicator,
            "lower_is_better": lower,
            "intermediate_target": float(np.percentile(rates, pick(intermediate_percentile))),
            "final_target": float(np.percentile(rates, pick(final_percentile))),
        })
    return pd.DataFrame(rows)


def achievement_rate(rate: ArrayLike, start: ArrayLike, intermediate: ArrayLike, final: ArrayLike,
                     lower_is_better: ArrayLike) -> np.ndarray:
    """Taux de réalisation (0-1) per doctor × indicator (scalars or arrays); see the module docstring."""
    sign = np.where(np.asarray(lower_is_better, dtype=bool), -1.0, 1.0)  # mirror: "more is better" below
    rate, start, intermediate, final = (sign * np.asarray(v, dtype=float) for v in (rate, start, intermediate, final))
    floor = np.where(start < intermediate, start, intermediate)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.clip((rate - floor) / (final - floor), 0.0, 1.0)
    return np.where(rate >= final, 1.0, np.where(final <= floor, 0.0, share))


def score(rates: pd.DataFrame, indicators: pd.DataFrame, panels: pd.DataFrame, *,
          reference_panel: int = REFERENCE_PANEL) -> pd.DataFrame:
    """Points per doctor × indicator.

    `rates`: doctor_id, indicator_id, rate, start_rate, patients (the indicator's denominator).
    `indicators`: indicator_id, points (for the 800-patient panel at 100%), min_patients,
    intermediate_target, final_target, lower_is_better. `panels`: doctor_id, patientele.
    """
    require_columns(rates, "ROSP rates", ("doctor_id", "indicator_id", "rate", "start_rate", "patients"))
    require_columns(indicators, "ROSP indicators", ("indicator_id", "points", "min_patients", "intermediate_target",
                                                    "final_target", "lower_is_better"))
    require_columns(panels, "ROSP panels", ("doctor_id", "patientele"))
    table = rates.merge(indicators, on="indicator_id", how="left", validate="many_to_one")
    table = table.merge(panels, on="doctor_id", how="left", validate="many_to_one")
    problems = [Problem("ROSP rates", i, "indicator_id", f"{r.indicator_id} has no targets or points")
                for i, r in enumerate(table.itertuples(index=False), start=1) if pd.isna(r.points)]
    problems += [Problem("ROSP panels", None, "doctor_id", f"no patientèle for doctor row {i} of the rates")
                 for i, p in enumerate(table["patientele"], start=1) if pd.isna(p) or p < 0]
    if problems:
        raise UserError("ROSP rates cannot be scored", problems,
                        hint="Give every indicator a row in the indicator table and every doctor a patientèle.")
    table["scored"] = table["patients"] >= table["min_patients"]
    achievement = achievement_rate(table["rate"], table["start_rate"], table["intermediate_target"],
                                   table["final_target"], table["lower_is_better"].astype(bool))
    table["achievement"] = np.where(table["scored"], achievement, 0.0)
    table["earned_points"] = table["points"] * table["achievement"] * table["patientele"] / reference_panel
    return table[["doctor_id", "indicator_id", "scored", "achievement", "earned_points"]]


def payments(points: pd.DataFrame, *, value_per_point: Decimal = EURO_PER_POINT) -> pd.DataFrame:
    """Euros per doctor: total earned points × value per point, rounded once to the cent."""
    totals = points.groupby("doctor_id", sort=True)["earned_points"].sum()
    return pd.DataFrame({
        "doctor_id": totals.index,
        "points": totals.to_numpy(),
        "amount": [round_money(to_decimal(float(p)) * value_per_point) for p in totals],
    })
