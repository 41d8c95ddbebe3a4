"""UK Quality and Outcomes Framework (England): indicator points and practice payments.

Tables are pandas DataFrames, one row per practice × indicator (results, points, payments) or per
practice × indicator group (registers). Achievement is a percentage (0-100).

Formulas (NHS England QOF guidance 2023/24 and the Statement of Financial Entitlements, Annex D; see
`docs/programs/qof.md` for what was confirmed and what is still [K]):

- achievement D = 100 × A / (B − C): A numerator, B eligible patients, C Personalised Care Adjustments
  (PCAs, the successor of exception reporting);
- points H = G × (D − E)/(F − E), 0 when D ≤ E and G when D ≥ F (E lower, F upper threshold, G the
  indicator's maximum points);
- payment = H × £ per point × CPI × APDF, with CPI = practice list size / national average list size
  and APDF = practice prevalence / national prevalence of the indicator group's register. Indicators
  whose group has no prevalence (`NO_PREVALENCE_FLAG`) and the Quality Improvement domain use CPI only.
  England has used this linear APDF since 2009/10; the square-root and floor of 2004-2009 are gone.

The 2023/24 indicator catalogue (76 indicators, 635 points) is read from NHS England's published
`INDICATOR_REFERENCE_CONTROL.csv`. Thresholds are not in that file: they come from the guidance, as a
table the program supplies.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from p4pkit.errors import Problem, UserError
from p4pkit.programs.money import round_money, to_decimal
from p4pkit.programs.tables import require_columns

# £ per QOF point and the national average practice population the CPI divides by, by financial
# year, as announced with each year's SFE (2021/22: pleasefireme.com digest; 2022/23: Lincs LMC via
# methodologies.md §6; 2023/24: BMA via Practice Business; 2024/25: Pulse [S]).
POUNDS_PER_POINT: dict[str, Decimal] = {
    "2021/22": Decimal("201.16"),
    "2022/23": Decimal("207.56"),
    "2023/24": Decimal("213.43"),
    "2024/25": Decimal("220.62"),
}
NATIONAL_AVERAGE_LIST_SIZE: dict[str, int] = {
    "2021/22": 9085,
    "2022/23": 9374,
    "2023/24": 9639,
    "2024/25": 9964,
}


def load_indicator_catalogue(path: str | Path) -> pd.DataFrame:
    """The QOF indicator catalogue: indicator_code, group_code, domain_code, max_points, is_register,
    is_manual, prevalence_adjusted (False for groups without prevalence and for the QI domain)."""
    raw = pd.read_csv(path, dtype=str)
    needed = ("INDICATOR_CODE", "GROUP_CODE", "DOMAIN_CODE", "INDICATOR_POINT_VALUE", "REGISTER_FLAG",
              "NO_PREVALENCE_FLAG", "AUTOMATIC_MANUAL_ENTRY")
    require_columns(raw, str(path), needed)
    return pd.DataFrame({
        "indicator_code": raw["INDICATOR_CODE"],
        "group_code": raw["GROUP_CODE"],
        "domain_code": raw["DOMAIN_CODE"],
        "max_points": raw["INDICATOR_POINT_VALUE"].astype(int),
        "is_register": raw["REGISTER_FLAG"].eq("1"),
        "is_manual": raw["AUTOMATIC_MANUAL_ENTRY"].eq("M"),
        "prevalence_adjusted": raw["NO_PREVALENCE_FLAG"].isna() & raw["DOMAIN_CODE"].ne("QI"),
    })


def threshold_points(achievement: ArrayLike, lower: ArrayLike, upper: ArrayLike, max_points: ArrayLike) -> np.ndarray:
    """Points for achievement (percent; scalars or arrays): 0 at or below the lower threshold, full
    points at or above the upper threshold, linear in between (QOF guidance, "calculation of
    achievement"). The thresholds must satisfy lower < upper."""
    share = np.clip((np.asarray(achievement, dtype=float) - lower) / (np.asarray(upper) - lower), 0.0, 1.0)
    return max_points * share


def score_indicators(results: pd.DataFrame, catalogue: pd.DataFrame, thresholds: pd.DataFrame) -> pd.DataFrame:
    """Points per practice × indicator.

    `results`: practice_id, indicator_code, numerator, eligible, pcas. For register indicators the
    numerator is the register size and for manual QI indicators 1 when the activity was done: both earn
    their full points when the numerator is above zero. Other indicators need a row in `thresholds`
    (indicator_code, lower, upper, in percent, lower < upper).
    """
    require_columns(results, "QOF results", ("practice_id", "indicator_code", "numerator", "eligible", "pcas"))
    require_columns(thresholds, "QOF thresholds", ("indicator_code", "lower", "upper"))
    merged = results.merge(catalogue, on="indicator_code", how="left", validate="many_to_one")
    merged = merged.merge(thresholds, on="indicator_code", how="left", validate="many_to_one")
    known = merged["max_points"].notna()
    flat = (merged["is_register"].fillna(False) | merged["is_manual"].fillna(False)).astype(bool)
    graded = known & ~flat
    problems = [Problem("QOF results", i + 1, "indicator_code", f"{code} is not in the catalogue")
                for i, code in zip(np.flatnonzero(~known), merged.loc[~known, "indicator_code"])]
    for code in merged.loc[graded & ~(merged["lower"] < merged["upper"]), "indicator_code"].unique():
        problems.append(Problem("QOF thresholds", None, "indicator_code", f"no lower < upper thresholds for {code}"))
    problems += [Problem("QOF results", i + 1, "pcas", "more PCAs than eligible patients")
                 for i in np.flatnonzero((graded & (merged["pcas"] > merged["eligible"])).to_numpy())]
    if problems:
        raise UserError("QOF results cannot be scored", problems,
                        hint="Use the 2023/24 indicator codes and give lower/upper thresholds for every indicator scored on achievement.")
    eligible = (merged["eligible"] - merged["pcas"]).astype(float)
    achievement = (100.0 * merged["numerator"] / eligible.where(eligible > 0)).fillna(0.0)
    merged["achievement"] = achievement.where(~flat)
    merged["points"] = np.where(
        flat,
        np.where(merged["numerator"] > 0, merged["max_points"], 0.0),
        threshold_points(achievement, merged["lower"].fillna(0.0), merged["upper"].fillna(1.0), merged["max_points"]),
    ).astype(float)
    return merged[["practice_id", "indicator_code", "group_code", "prevalence_adjusted", "max_points",
                   "achievement", "points"]]


def prevalence_factors(registers: pd.DataFrame, list_sizes: pd.DataFrame,
                       national_prevalence: Mapping[str, float] | None = None) -> pd.DataFrame:
    """APDF per practice × group: practice prevalence (register / list size) ÷ national prevalence.

    `registers`: practice_id, group_code, register. `list_sizes`: practice_id, list_size. National
    prevalence per group is taken from `national_prevalence` (a fraction) when given, else computed
    from the practices in the table (Σ registers / Σ list sizes), right when the table is all England.
    """
    require_columns(registers, "QOF registers", ("practice_id", "group_code", "register"))
    require_columns(list_sizes, "QOF list sizes", ("practice_id", "list_size"))
    table = registers.merge(list_sizes, on="practice_id", how="left", validate="many_to_one")
    if table["list_size"].isna().any() or (table["list_size"] <= 0).any():
        raise UserError("every practice with a register needs a positive list size",
                        [Problem("QOF list sizes", None, "list_size", "missing or not positive")])
    if national_prevalence is None:
        totals = table.groupby("group_code")[["register", "list_size"]].sum()
        national_prevalence = (totals["register"] / totals["list_size"]).to_dict()
    table["practice_prevalence"] = table["register"] / table["list_size"]
    table["national_prevalence"] = table["group_code"].map(national_prevalence)
    table["apdf"] = table["practice_prevalence"] / table["national_prevalence"]
    return table[["practice_id", "group_code", "practice_prevalence", "national_prevalence", "apdf"]]


def payments(points: pd.DataFrame, list_sizes: pd.DataFrame, apdf: pd.DataFrame, *,
             value_per_point: Decimal, national_average_list_size: int) -> pd.DataFrame:
    """£ per practice × indicator: points × value_per_point × CPI × APDF (APDF only where the
    indicator is prevalence adjusted), rounded half-up to the penny once per line."""
    require_columns(list_sizes, "QOF list sizes", ("practice_id", "list_size"))
    table = points.merge(list_sizes, on="practice_id", how="left", validate="many_to_one")
    table = table.merge(apdf[["practice_id", "group_code", "apdf"]], on=["practice_id", "group_code"], how="left")
    missing = table["prevalence_adjusted"] & table["apdf"].isna() & (table["points"] > 0)
    if missing.any():
        first = table[missing].iloc[0]
        raise UserError("prevalence-adjusted indicators need the practice's register",
                        [Problem("QOF registers", None, "group_code", f"no register for group {first.group_code}")])
    national = to_decimal(national_average_list_size)
    amounts, cpis = [], []
    for row in table.itertuples(index=False):
        cpi = to_decimal(int(row.list_size)) / national
        factor = to_decimal(float(row.apdf)) if row.prevalence_adjusted and row.points > 0 else Decimal(1)
        cpis.append(cpi)
        amounts.append(round_money(to_decimal(float(row.points)) * value_per_point * cpi * factor))
    table["cpi"] = cpis
    table["amount"] = amounts
    return table[["practice_id", "indicator_code", "points", "cpi", "apdf", "amount"]]
