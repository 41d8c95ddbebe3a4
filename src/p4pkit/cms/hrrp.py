"""Adapter: CMS HRRP hospital file (+ optional supplemental inputs) → `programs.hrrp` → CMS-named tables.

The hospital file is the Provider Data Catalog "Hospital Readmissions Reduction Program" CSV (one row
per hospital × condition). Read as inputs: facility id, measure name, discharges, predicted and
expected readmission rates, readmissions, start and end dates. The published `Excess Readmission
Ratio` is a result and is ignored. Copies saved by a spreadsheet program lose the ids' leading zeros
and write dates as m/d/yy: ids are padded back to 6 characters and dates written as ISO dates.

The optional supplemental file (one row per hospital) carries what the payment adjustment needs and
the public file lacks:

| column | meaning |
| --- | --- |
| `Facility ID` | CCN of an applicable (IPPS) hospital |
| `Peer Group` or `Dual Proportion` | peer group 1–5, or the dual-eligible proportion it is derived from |
| `DRG Ratio AMI`, `DRG Ratio HF`, `DRG Ratio PN`, `DRG Ratio COPD`, `DRG Ratio CABG`, `DRG Ratio HIP-KNEE` | base-operating DRG payments for the condition ÷ those for all discharges (blank = 0) |
| `Base Operating DRG Payments` | optional: the hospital's base-operating DRG payments in dollars; needed to solve the neutrality modifier and to put penalties in the ledger |
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from p4pkit.cms._files import facility_ids, parse_numbers, read_cms_csv, write_csv_atomically
from p4pkit.errors import Problem, UserError
from p4pkit.programs.hrrp import CONDITIONS, excess_readmission_ratio, hrrp_ledger, hrrp_rules, payment_adjustment, public_counts

FACILITY = "Facility ID"
MEASURE = "Measure Name"
DISCHARGES = "Number of Discharges"
READMISSIONS = "Number of Readmissions"
PREDICTED = "Predicted Readmission Rate"
EXPECTED = "Expected Readmission Rate"
ERR = "Excess Readmission Ratio"
DATES = ("Start Date", "End Date")
REQUIRED = (FACILITY, MEASURE, DISCHARGES, PREDICTED, EXPECTED, READMISSIONS, *DATES)
PAYMENTS = "Base Operating DRG Payments"


def _condition(measure: str) -> str:
    """READM-30-HIP-KNEE-HRRP → HIP-KNEE."""
    return measure.strip().removeprefix("READM-30-").removesuffix("-HRRP")


def _dates(frame: pd.DataFrame, file: str) -> pd.DataFrame:
    """m/d/yy (spreadsheet copies) or m/d/yyyy and ISO dates, as ISO dates; unreadable dates are errors."""
    out, problems = {}, []
    for column in DATES:
        parsed = pd.Series(pd.NaT, index=frame.index)
        for layout in ("%m/%d/%y", "%m/%d/%Y", "%Y-%m-%d"):
            parsed = parsed.fillna(pd.to_datetime(frame[column], format=layout, errors="coerce"))
        for position in parsed.isna().to_numpy().nonzero()[0]:
            problems.append(Problem(file, int(position) + 1, column, f"'{frame[column].iloc[position]}' is not a date (m/d/yy or YYYY-MM-DD)"))
        out[column] = parsed.dt.date.astype(str)
    if problems:
        raise UserError(f"{file} has unreadable dates", problems)
    return pd.DataFrame(out, index=frame.index)


def hrrp_conditions(hospital_file: str | Path, fiscal_year: int = 2024) -> pd.DataFrame:
    """Recomputed ERRs and public-reporting suppression, one row per hospital × condition (CMS names)."""
    name = Path(hospital_file).name
    frame = read_cms_csv(hospital_file, REQUIRED)
    numbers = parse_numbers(frame, [DISCHARGES, PREDICTED, EXPECTED, READMISSIONS], name)
    rules = hrrp_rules(fiscal_year)
    readmissions = numbers[READMISSIONS].astype(object).where(frame[READMISSIONS].str.strip() != "Too Few to Report", "Too Few to Report")
    shown = public_counts(readmissions, numbers[DISCHARGES], rules.min_reported_count)
    out = pd.DataFrame(
        {
            FACILITY: facility_ids(frame[FACILITY]),
            MEASURE: frame[MEASURE].str.strip(),
            DISCHARGES: shown["discharges"],
            ERR: excess_readmission_ratio(numbers[PREDICTED], numbers[EXPECTED], rules.err_decimals),
            PREDICTED: numbers[PREDICTED],
            EXPECTED: numbers[EXPECTED],
            READMISSIONS: shown["readmissions"],
        }
    )
    return pd.concat([out, _dates(frame, name)], axis=1)


def _supplemental(path: str | Path) -> pd.DataFrame:
    name = Path(path).name
    frame = read_cms_csv(path, [FACILITY])
    ratio_columns = [f"DRG Ratio {c}" for c in CONDITIONS]
    missing = [c for c in ratio_columns if c not in frame.columns]
    if missing or not ({"Peer Group", "Dual Proportion"} & set(frame.columns)):
        problems = [Problem(name, None, c, "column missing") for c in missing]
        if not ({"Peer Group", "Dual Proportion"} & set(frame.columns)):
            problems.append(Problem(name, None, "Peer Group", "give 'Peer Group' or 'Dual Proportion'"))
        raise UserError(f"{name} lacks columns the HRRP payment adjustment needs", problems)
    optional = [c for c in ("Peer Group", "Dual Proportion", PAYMENTS) if c in frame.columns]
    numbers = parse_numbers(frame, [*ratio_columns, *optional], name)
    numbers[ratio_columns] = numbers[ratio_columns].fillna(0.0)
    numbers.insert(0, "hospital_id", facility_ids(frame[FACILITY]))
    return numbers.rename(columns={"Peer Group": "peer_group", "Dual Proportion": "dual_proportion", PAYMENTS: "base_operating_payments"})


def hrrp_payment(conditions: pd.DataFrame, supplemental: str | Path, fiscal_year: int, neutrality_modifier: float | None = None) -> pd.DataFrame:
    """Payment adjustment factor per hospital from `hrrp_conditions` output and the supplemental file."""
    hospitals = _supplemental(supplemental)
    long = conditions.assign(condition=conditions[MEASURE].map(_condition), hospital_id=conditions[FACILITY])
    long["discharges"] = pd.to_numeric(long[DISCHARGES], errors="coerce")
    ratios = hospitals.melt(id_vars="hospital_id", value_vars=[f"DRG Ratio {c}" for c in CONDITIONS], var_name="condition", value_name="drg_ratio")
    ratios["condition"] = ratios["condition"].str.removeprefix("DRG Ratio ")
    long = long.rename(columns={ERR: "err"}).merge(ratios, on=["hospital_id", "condition"])
    adjustments = payment_adjustment(long[["hospital_id", "condition", "err", "discharges", "drg_ratio"]], hospitals, hrrp_rules(fiscal_year), neutrality_modifier)
    if "base_operating_payments" in hospitals and hospitals["base_operating_payments"].notna().all():
        hrrp_ledger(adjustments, hospitals)
    return pd.DataFrame(
        {
            FACILITY: adjustments["hospital_id"],
            "Peer Group": adjustments["peer_group"].astype(int),
            "Neutrality Modifier": adjustments["neutrality_modifier"].round(4),
            "Payment Adjustment Factor": adjustments["payment_adjustment_factor"].round(4),
            "Payment Reduction Percentage": ((1 - adjustments["payment_adjustment_factor"]) * 100).round(4),
        }
    )


def run_hrrp(
    hospital_file: str | Path,
    out_dir: str | Path,
    supplemental: str | Path | None = None,
    fiscal_year: int = 2024,
    neutrality_modifier: float | None = None,
) -> dict[str, pd.DataFrame]:
    """`p4p cms hrrp`: write `hrrp.csv` (ERRs, suppression) and, with supplemental inputs, `hrrp_payment.csv`.

    Everything is computed before anything is written, so a failing run writes nothing.
    """
    tables = {"hrrp.csv": hrrp_conditions(hospital_file, fiscal_year)}
    if supplemental is not None:
        tables["hrrp_payment.csv"] = hrrp_payment(tables["hrrp.csv"], supplemental, fiscal_year, neutrality_modifier)
    for name, table in tables.items():
        write_csv_atomically(table, out_dir, name)
    return tables
