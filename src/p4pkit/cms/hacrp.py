"""Adapter: CMS HAC Reduction Program hospital file (Provider Data Catalog) → `programs.hacrp` → `hacrp.csv`.

The file ("FY_2024_HAC_Reduction_Program_Hospital.csv" and its siblings) has one row per hospital:
Facility Name, Facility ID, State, Fiscal Year, `PSI 90 Composite Value`, `PSI 90 W Z Score`,
`<m> SIR` and `<m> W Z Score` for m in CLABSI, CAUTI, SSI, CDI, MRSA, then `Total HAC Score` and
`Payment Reduction`; recent years add footnote and date columns. Missing values are written "N/A"
(older files: "Not Available").

The winsorized z-score columns are used when present: CMS computes them over the full national file,
which a subset cannot reproduce. Without them, z-scores are computed from the measure values of the
hospitals in the file. `Total HAC Score` and `Payment Reduction` are results and are ignored.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from p4pkit.cms._files import parse_numbers, read_cms_csv, unique_facility_ids, write_csv_atomically
from p4pkit.errors import Problem, UserError
from p4pkit.programs.hacrp import hacrp_scores

FACILITY = "Facility ID"
# measure → column holding its result
MEASURE_VALUES = {
    "PSI 90": "PSI 90 Composite Value",
    "CLABSI": "CLABSI SIR",
    "CAUTI": "CAUTI SIR",
    "SSI": "SSI SIR",
    "CDI": "CDI SIR",
    "MRSA": "MRSA SIR",
}
OUTPUT_COLUMNS = [FACILITY, "Total HAC Score", "Payment Reduction"]


def hacrp_table(path: str | Path) -> pd.DataFrame:
    """Total HAC Score (float, NaN = none) and Payment Reduction (Yes/No/N/A) per hospital in the file."""
    path = Path(path)
    frame = read_cms_csv(path, [FACILITY])
    columns = {m: [c for c in (value, f"{m} W Z Score") if c in frame.columns] for m, value in MEASURE_VALUES.items()}
    lacking = [m for m, found in columns.items() if not found]
    if lacking:
        raise UserError(
            f"{path.name} lacks measure columns",
            [Problem(path.name, None, MEASURE_VALUES[m], f"neither this nor '{m} W Z Score' is present") for m in lacking],
            hint="Use the HAC Reduction Program hospital file as published, with its header row unchanged.",
        )
    numbers = parse_numbers(frame, [c for found in columns.values() for c in found], path.name)
    entity = unique_facility_ids(frame, FACILITY, path.name)
    results = pd.concat(
        [
            pd.DataFrame(
                {
                    "entity_id": entity,
                    "measure_id": m,
                    "value": numbers[value] if value in numbers else np.nan,
                    "z_score": numbers[f"{m} W Z Score"] if f"{m} W Z Score" in numbers else np.nan,
                }
            )
            for m, value in MEASURE_VALUES.items()
        ],
        ignore_index=True,
    )
    scores = hacrp_scores(results)
    return pd.DataFrame(
        {
            FACILITY: scores["entity_id"],
            "Total HAC Score": scores["total_hac_score"],
            "Payment Reduction": scores["payment_reduction"],
        }
    )


def run_hacrp(path: str | Path, out_dir: str | Path) -> pd.DataFrame:
    """`p4p cms hacrp`: write `out_dir/hacrp.csv`, the Total HAC Score with 4 decimals as CMS publishes it."""
    table = hacrp_table(path)
    printable = table.assign(
        **{"Total HAC Score": ["N/A" if np.isnan(v) else f"{v:.4f}" for v in table["Total HAC Score"]]}
    )
    write_csv_atomically(printable[OUTPUT_COLUMNS], out_dir, "hacrp.csv")
    return table
