"""Adapter: MSSP ACO Results public use file (PUF) → `programs.shared_savings` → CMS-named `mssp.csv`.

Reads only inputs: assigned beneficiaries (`N_AB`), total benchmark and expenditure of the assigned
population (`ABtotBnchmk`, `ABtotExp`), track (`Current_Track`), quality results (`QualScore`,
`Met_QPS`, `Met_AltQPS`, `DisAffQual`), the minimum savings rate where the ACO elected it or CMS set
it outside the table (`MinSavPerc`, see below) and the extreme-and-uncontrollable loss reduction
(`DisAdj`). Every result column (`Sav_rate`, `GenSaveLoss`, `FinalShareRate`, `FinalLossRate`,
`EarnSaveLoss`, `BnchmkMinExp`) is ignored and recomputed.

`MinSavPerc` is read for two kinds of ACO only, because it is their input, not a result: two-sided
ACOs elect their symmetric MSR/MLR (0%–2%, or the variable scale), and ACOs below the table's 5,000
beneficiaries get a rate CMS computes from data the PUF does not carry. One-sided ACOs at or above
5,000 get the §425.604(b) table value, computed here.

Both PUF number styles are read: "2.00%" (PY2023) and 2.0 (PY2024); "*", "-" and blanks are missing.
An ACO deemed affected by extreme and uncontrollable circumstances (`DisAffQual` = 1) is treated as
meeting the quality performance standard, as §425.512 provides for such ACOs.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pyarrow as pa

from p4pkit.cms._files import MISSING, parse_numbers, read_cms_csv, write_csv_atomically
from p4pkit.errors import UserError
from p4pkit.programs.money import round_money
from p4pkit.programs.shared_savings import mssp_rules, shared_savings, shared_savings_ledger, table_msr_pct

PUF_MISSING = MISSING | {"*", "-"}
REQUIRED = ("ACO_ID", "Current_Track", "N_AB", "ABtotBnchmk", "ABtotExp", "QualScore", "Met_QPS", "MinSavPerc")
OPTIONAL_NUMBERS = ("Met_AltQPS", "DisAffQual", "DisAdj")
# The model's input columns under the PUF's names, so problems point at the user's file.
PUF_NAMES = {"entity_id": "ACO_ID", "track": "Current_Track", "benchmark": "ABtotBnchmk", "expenditure": "ABtotExp", "msr_pct": "MinSavPerc"}
OUTPUT_COLUMNS = ("ACO_ID", "Sav_rate", "MinSavPerc", "GenSaveLoss", "FinalShareRate", "FinalLossRate", "EarnSaveLoss")


def _percent(rate: Decimal | None) -> Decimal | None:
    """A rate as the PUF prints it: percent, two decimals, half-up."""
    return None if rate is None else round_money(rate)


def _flag(values: pd.Series) -> list[bool]:
    return [bool(v == 1) for v in values]


def mssp_inputs(puf: str | Path, year: int) -> pa.Table:
    """The PUF's input columns mapped onto `shared_savings.INPUT_COLUMNS` (one row per ACO)."""
    rules = mssp_rules(year)
    frame = read_cms_csv(puf, REQUIRED)
    present = [c for c in OPTIONAL_NUMBERS if c in frame.columns]
    numbers = parse_numbers(frame, ["N_AB", "ABtotBnchmk", "ABtotExp", "QualScore", "Met_QPS", "MinSavPerc", *present], Path(puf).name, PUF_MISSING)
    for column in OPTIONAL_NUMBERS:
        if column not in numbers:
            numbers[column] = float("nan")
    tracks = frame["Current_Track"].str.strip()
    assigned = numbers["N_AB"].fillna(0).astype(int)
    elected = [
        None if pd.isna(msr) or (track in rules.tracks and not rules.tracks[track].two_sided and table_msr_pct(n, rules) is not None) else msr
        for track, n, msr in zip(tracks, assigned, numbers["MinSavPerc"])
    ]
    met_standard = [a or b for a, b in zip(_flag(numbers["Met_QPS"]), _flag(numbers["DisAffQual"]))]
    return pa.table(
        {
            "entity_id": frame["ACO_ID"].str.strip(),
            "track": tracks,
            "benchmark": numbers["ABtotBnchmk"],
            "expenditure": numbers["ABtotExp"],
            "assigned_beneficiaries": assigned,
            "quality_score": numbers["QualScore"].fillna(0),
            "met_quality_standard": met_standard,
            "met_alternative_standard": _flag(numbers["Met_AltQPS"]),
            "msr_pct": pa.array(elected, pa.float64()),
            "participant_revenue": pa.nulls(len(frame), pa.float64()),
            "loss_adjustment": numbers["DisAdj"].fillna(0).abs(),
        }
    )


def mssp_results(puf: str | Path, year: int) -> pd.DataFrame:
    """Recompute each ACO's savings rate, MSR, sharing and loss rates and earned savings or losses.

    Returns the CMS-named table written as `mssp.csv`: rates in percent (rounded to 2 decimals, as the
    PUF gives them), `GenSaveLoss` and `EarnSaveLoss` in dollars to the cent. The ledger invariants are
    checked before the table is returned.
    """
    rules = mssp_rules(year)
    try:
        results = shared_savings(mssp_inputs(puf, year), rules, Path(puf).name)
    except UserError as error:
        problems = [replace(p, column=PUF_NAMES.get(p.column, p.column)) for p in error.problems]
        raise UserError(error.message, problems, error.hint) from error
    shared_savings_ledger(results, rules)
    table = results.to_pandas()
    moved = table["outcome"] != "within_corridor"
    return pd.DataFrame(
        {
            "ACO_ID": table["entity_id"],
            "Sav_rate": table["savings_rate_pct"].map(_percent),
            "MinSavPerc": table["msr_pct"].map(_percent),
            "GenSaveLoss": table["gross_savings"].where(moved, Decimal(0)),
            "FinalShareRate": table["final_sharing_rate_pct"].map(_percent),
            "FinalLossRate": table["final_loss_rate_pct"].map(_percent),
            "EarnSaveLoss": table["earned"],
        },
        columns=list(OUTPUT_COLUMNS),
    )


def run_mssp(puf: str | Path, year: int, out_dir: str | Path) -> pd.DataFrame:
    """`p4p cms mssp`: compute `mssp_results` and write `OUT/mssp.csv` atomically."""
    results = mssp_results(puf, year)
    write_csv_atomically(results, out_dir, "mssp.csv")
    return results
