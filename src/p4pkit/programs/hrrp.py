"""Hospital Readmissions Reduction Program (HRRP): excess readmission ratios, public-reporting
suppression and the payment adjustment factor.

Formulas and sources (numbers in `programs/rules/hrrp.yaml`; confirmations in docs/programs/hrrp.md):

    ERR_c        = predicted rate_c / expected rate_c, published to 4 decimals            (§412.152)
    counts_c     = the condition has ≥ 25 eligible discharges
    peer group   = quintile of the dual-eligible proportion                      (SSA §1886(q)(3)(D))
    strat_h      = Σ_c DRG ratio_hc × max(0, ERR_hc − median ERR_c of the peer group)   (FY2019 on)
    unstrat_h    = Σ_c DRG ratio_hc × max(0, ERR_hc − 1)                         (§412.152, pre-FY2019)
    PAF_h        = max(floor, 1 − NM × strat_h)                                         (§412.154(c))
    NM           = Σ_h payments_h × unstrat_h ÷ Σ_h payments_h × strat_h, so that the stratified
                   method's total payments for excess readmissions equal the unstratified method's
                   (budget neutrality of the stratification); the floor is applied afterwards

DRG ratio_hc = base-operating DRG payments for condition-c discharges ÷ those for all discharges.
The floor is 0.97 from FY2015 (the 3% cap). Public files show "Too Few to Report" for fewer than 11
readmissions, with the discharge count "N/A" so it cannot be worked back.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from p4pkit.errors import Problem, UserError
from p4pkit.programs.ledger import Ledger
from p4pkit.programs.money import to_decimal
from p4pkit.risk.outcome import peer_groups

CONDITIONS = ("AMI", "HF", "PN", "COPD", "CABG", "HIP-KNEE")
TOO_FEW = "Too Few to Report"
NOT_AVAILABLE = "N/A"


@dataclass(frozen=True)
class HrrpRules:
    """The fiscal year's HRRP numbers."""

    floor: float
    min_cases: int
    peer_groups: int
    err_decimals: int
    min_reported_count: int


def hrrp_rules(fiscal_year: int) -> HrrpRules:
    """The rules in force for a fiscal year (the floor steps 0.99 → 0.98 → 0.97 from FY2013 to FY2015)."""
    raw = yaml.safe_load((Path(str(resources.files("p4pkit.programs"))) / "rules" / "hrrp.yaml").read_text())
    floors = {int(year): float(floor) for year, floor in raw["floor_by_fiscal_year"].items()}
    if fiscal_year < min(floors):
        raise UserError(f"HRRP payment adjustments start in FY{min(floors)}; got FY{fiscal_year}.")
    floor = floors[max(year for year in floors if year <= fiscal_year)]
    return HrrpRules(floor, int(raw["min_cases"]), int(raw["peer_groups"]), int(raw["err_decimals"]), int(raw["min_reported_count"]))


def excess_readmission_ratio(predicted: pd.Series, expected: pd.Series, decimals: int = 4) -> pd.Series:
    """ERR = predicted / expected, rounded half-up to `decimals` as CMS publishes it; NaN where either is missing.

    Computed in Decimal from the rates' shortest decimal form, so a published tie rounds the way
    CMS's own rounding would from the same two numbers.
    """
    quantum = Decimal(1).scaleb(-decimals)

    def ratio(p: float, e: float) -> float:
        if pd.isna(p) or pd.isna(e) or e == 0:
            return float("nan")
        return float((to_decimal(p) / to_decimal(e)).quantize(quantum, rounding=ROUND_HALF_UP))

    return pd.Series([ratio(p, e) for p, e in zip(predicted, expected)], index=predicted.index, dtype=float)


def public_counts(readmissions: pd.Series, discharges: pd.Series, min_reported: int = 11) -> pd.DataFrame:
    """The readmission and discharge counts as a public file may show them.

    Fewer than `min_reported` readmissions → "Too Few to Report", and the discharge count → "N/A" so
    the small count cannot be derived from a published rate. Missing counts stay missing ("N/A");
    a count already shown as "Too Few to Report" stays suppressed.
    """
    shown_readmissions, shown_discharges = [], []
    for readmitted, discharged in zip(readmissions, discharges):
        if readmitted == TOO_FEW or (not _missing(readmitted) and float(readmitted) < min_reported):
            shown_readmissions.append(TOO_FEW)
            shown_discharges.append(NOT_AVAILABLE)
            continue
        shown_readmissions.append(NOT_AVAILABLE if _missing(readmitted) else str(int(readmitted)))
        shown_discharges.append(NOT_AVAILABLE if _missing(discharged) else str(int(discharged)))
    return pd.DataFrame({"readmissions": shown_readmissions, "discharges": shown_discharges}, index=readmissions.index)


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))


def _counting(conditions: pd.DataFrame, rules: HrrpRules) -> pd.Series:
    """Conditions that count toward the payment: an ERR and ≥ min_cases discharges.

    A published ERR whose discharge count is suppressed (null) counts: CMS publishes an ERR only for
    conditions with at least 25 cases, and otherwise footnotes the row instead.
    """
    discharges = conditions["discharges"]
    return conditions["err"].notna() & (discharges.isna() | (discharges >= rules.min_cases))


def payment_adjustment(
    conditions: pd.DataFrame,
    hospitals: pd.DataFrame,
    rules: HrrpRules,
    neutrality_modifier: float | None = None,
) -> pd.DataFrame:
    """Payment adjustment factor per hospital.

    `conditions`: hospital_id, condition, err, discharges (null = suppressed), drg_ratio.
    `hospitals`: hospital_id and either peer_group (1..5) or dual_proportion; base_operating_payments
    is needed to solve the neutrality modifier unless `neutrality_modifier` is given.
    Returns hospital_id, peer_group, stratified_excess, unstratified_excess, neutrality_modifier,
    payment_adjustment_factor (not rounded: CMS publishes it to 4 decimals).
    """
    hospitals = hospitals.copy()
    if "peer_group" not in hospitals or hospitals["peer_group"].isna().all():
        if "dual_proportion" not in hospitals or hospitals["dual_proportion"].isna().any():
            raise UserError(
                "HRRP peer groups need every hospital's dual proportion or peer group.",
                [Problem("supplemental file", None, "Dual Proportion", "missing for some hospitals")],
            )
        hospitals["peer_group"] = peer_groups(hospitals["dual_proportion"], rules.peer_groups)
    rows = conditions[_counting(conditions, rules)].merge(hospitals[["hospital_id", "peer_group"]], on="hospital_id")
    medians = rows.groupby(["peer_group", "condition"])["err"].median().rename("median_err")
    rows = rows.join(medians, on=["peer_group", "condition"])
    rows["stratified"] = rows["drg_ratio"] * (rows["err"] - rows["median_err"]).clip(lower=0)
    rows["unstratified"] = rows["drg_ratio"] * (rows["err"] - 1).clip(lower=0)
    excess = rows.groupby("hospital_id")[["stratified", "unstratified"]].sum()
    result = hospitals[["hospital_id", "peer_group"]].join(excess, on="hospital_id").fillna({"stratified": 0.0, "unstratified": 0.0})
    if neutrality_modifier is None:
        neutrality_modifier = _solve_neutrality(result, hospitals)
    result["neutrality_modifier"] = neutrality_modifier
    result["payment_adjustment_factor"] = np.maximum(rules.floor, 1 - neutrality_modifier * result["stratified"])
    return result.rename(columns={"stratified": "stratified_excess", "unstratified": "unstratified_excess"})


def _solve_neutrality(result: pd.DataFrame, hospitals: pd.DataFrame) -> float:
    """NM = Σ_h payments_h × unstrat_h ÷ Σ_h payments_h × strat_h: the one factor that makes the
    stratified method's total payments for excess readmissions equal the unstratified method's.

    Both totals are taken before the floor, as estimated payments for excess readmissions (the floor
    is then applied per hospital); equalising after the floor has no solution whenever the
    stratified method concentrates penalties on fewer hospitals than the floor lets it collect from.
    1 when the stratified method finds no excess at all.
    """
    if "base_operating_payments" not in hospitals or hospitals["base_operating_payments"].isna().any():
        raise UserError(
            "Solving the HRRP neutrality modifier needs every hospital's base-operating DRG payments.",
            [Problem("supplemental file", None, "Base Operating DRG Payments", "missing for some hospitals")],
            hint="Add the column, or give the published neutrality modifier instead.",
        )
    payments = result[["hospital_id"]].merge(hospitals[["hospital_id", "base_operating_payments"]], on="hospital_id")
    weights = payments["base_operating_payments"].to_numpy(float)
    stratified = float(np.sum(weights * result["stratified"].to_numpy(float)))
    unstratified = float(np.sum(weights * result["unstratified"].to_numpy(float)))
    return 1.0 if stratified == 0 else unstratified / stratified


def hrrp_ledger(adjustments: pd.DataFrame, hospitals: pd.DataFrame) -> Ledger:
    """Penalties in dollars, (1 − PAF) × base-operating DRG payments, checked against the ledger invariants.

    Only hospitals in `hospitals` (the applicable hospitals) may be penalised.
    """
    ledger = Ledger(program="HRRP", participants=frozenset(hospitals["hospital_id"]))
    payments = hospitals.set_index("hospital_id")["base_operating_payments"]
    for hospital, factor in zip(adjustments["hospital_id"], adjustments["payment_adjustment_factor"]):
        reduction = (1 - to_decimal(float(factor))) * to_decimal(float(payments[hospital]))
        ledger.add(hospital, reduction, "penalty", f"readmissions payment adjustment factor {factor:.4f}")
    ledger.check()
    return ledger
