"""Adapter: CMS Hospital VBP Provider Data Catalog files → `programs.hvbp` → CMS-named TPS table.

Reads the four domain files as published on the Provider Data Catalog (`hvbp_clinical_outcomes.csv`,
`hvbp_safety.csv`, `hvbp_efficiency_and_cost_reduction.csv`,
`hvbp_person_and_community_engagement.csv`). Only inputs are read: per measure the achievement
threshold, benchmark, HCAHPS floor, baseline and performance rates, plus the published
`Combined SSI Measure Score` (CMS combines HAI-3 and HAI-4 with predicted-infection weights the
files do not carry). Every points and score column CMS publishes is ignored; the model recomputes them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from p4pkit.cms._files import parse_numbers, read_cms_csv, unique_facility_ids, write_csv_atomically
from p4pkit.errors import Problem, UserError
from p4pkit.programs.hvbp import hvbp_scores

FACILITY = "Facility ID"
COMBINED_SSI = "Combined SSI"
HCAHPS_DIMENSIONS = (
    "Communication With Nurses",
    "Communication With Doctors",
    "Responsiveness Of Hospital Staff",
    "Care Transition",
    "Communication About Medicines",
    "Cleanliness And Quietness Of Hospital Environment",
    "Discharge Information",
    "Overall Rating Of Hospital",
)
# file name → (domain, measures scored from rates, measures whose direction is lower-is-better)
DOMAIN_FILES: dict[str, tuple[str, tuple[str, ...], frozenset[str]]] = {
    "hvbp_clinical_outcomes.csv": (
        "clinical_outcomes",
        ("MORT-30-AMI", "MORT-30-HF", "MORT-30-PN", "MORT-30-COPD", "MORT-30-CABG", "COMP-HIP-KNEE"),
        frozenset({"COMP-HIP-KNEE"}),
    ),
    # HAI-3 and HAI-4 are scored only through the published Combined SSI score.
    "hvbp_safety.csv": ("safety", ("HAI-1", "HAI-2", "HAI-5", "HAI-6"), frozenset({"HAI-1", "HAI-2", "HAI-5", "HAI-6"})),
    "hvbp_efficiency_and_cost_reduction.csv": ("efficiency_and_cost_reduction", ("MSPB-1",), frozenset({"MSPB-1"})),
    "hvbp_person_and_community_engagement.csv": ("person_and_community_engagement", HCAHPS_DIMENSIONS, frozenset()),
}
# Output columns named as in CMS's hvbp_tps.csv.
TPS_COLUMNS = {
    "clinical_outcomes_score": "Unweighted Normalized Clinical Outcomes Domain Score",
    "person_and_community_engagement_score": "Unweighted Person And Community Engagement Domain Score",
    "safety_score": "Unweighted Normalized Safety Domain Score",
    "efficiency_and_cost_reduction_score": "Unweighted Normalized Efficiency And Cost Reduction Domain Score",
    "total_performance_score": "Total Performance Score",
}
_STANDARD_FIELDS = {"Achievement Threshold": "achievement_threshold", "Benchmark": "benchmark", "Floor": "floor"}
_RATE_FIELDS = {"Baseline Rate": "baseline_rate", "Performance Rate": "performance_rate"}


def hvbp_tps(input_dir: str | Path) -> pd.DataFrame:
    """Domain scores and TPS for every hospital in the four HVBP files, as a CMS-named table (floats, NaN = none)."""
    input_dir = Path(input_dir)
    rates, standards, given = [], [], []
    for file_name, (domain, measures, lower) in DOMAIN_FILES.items():
        frame_rates, frame_standards, frame_given = _read_domain_file(input_dir / file_name, domain, measures, lower)
        rates.append(frame_rates)
        standards.append(frame_standards)
        given.append(frame_given)
    scores = hvbp_scores(pd.concat(rates, ignore_index=True), pd.concat(standards, ignore_index=True), pd.concat(given))
    hospitals = pd.Index(sorted(set().union(*(r["entity_id"] for r in rates))), name="entity_id")
    table = scores.set_index("entity_id").reindex(hospitals)[list(TPS_COLUMNS)].rename(columns=TPS_COLUMNS)
    return table.rename_axis(FACILITY).reset_index()


def run_hvbp(input_dir: str | Path, out_dir: str | Path) -> pd.DataFrame:
    """`p4p cms hvbp`: compute the TPS table and write it as `out_dir/tps.csv` (12 decimals, as CMS does)."""
    table = hvbp_tps(input_dir)
    printable = table.copy()
    for column in TPS_COLUMNS.values():
        printable[column] = [("Not Available" if np.isnan(v) else f"{v:.12f}") for v in table[column]]
    write_csv_atomically(printable, out_dir, "tps.csv")
    return table


def _read_domain_file(
    path: Path, domain: str, measures: tuple[str, ...], lower: frozenset[str]
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """One domain file → long rates, one standards row per measure, and given Combined SSI scores."""
    consistency = domain == "person_and_community_engagement"
    standard_fields = [f for f in _STANDARD_FIELDS if f != "Floor" or consistency]
    columns = [f"{m} {f}" for m in measures for f in [*standard_fields, *_RATE_FIELDS]]
    combined = [f"{COMBINED_SSI} Measure Score"] if domain == "safety" else []
    frame = read_cms_csv(path, [FACILITY, *columns, *combined])
    numbers = parse_numbers(frame, [*columns, *combined], path.name)
    entity = unique_facility_ids(frame, FACILITY, path.name)
    rates = pd.concat(
        [
            pd.DataFrame({"entity_id": entity, "measure_id": m})
            .join(numbers[[f"{m} {f}" for f in _RATE_FIELDS]].set_axis(list(_RATE_FIELDS.values()), axis=1))
            for m in measures
        ],
        ignore_index=True,
    )
    standards = pd.DataFrame([_standard(numbers, path.name, m, domain, m in lower, standard_fields) for m in measures])
    given = pd.DataFrame(columns=["entity_id", "measure_id", "measure_score"])
    if combined:
        standards.loc[len(standards)] = {"measure_id": COMBINED_SSI, "domain": domain, "lower_is_better": True}
        given = pd.DataFrame({"entity_id": entity, "measure_id": COMBINED_SSI, "measure_score": numbers[combined[0]]})
        given = given[given["measure_score"].notna()]
    return rates, standards, given


def _standard(
    numbers: pd.DataFrame, file: str, measure: str, domain: str, lower_is_better: bool, fields: list[str]
) -> dict[str, object]:
    """One row of the standards table: the measure's domain, direction and national thresholds."""
    row: dict[str, object] = {"measure_id": measure, "domain": domain, "lower_is_better": lower_is_better}
    for field in fields:
        row[_STANDARD_FIELDS[field]] = _one_value(numbers, file, f"{measure} {field}")
    return row


def _one_value(numbers: pd.DataFrame, file: str, column: str) -> float:
    """A performance standard is national: every row must carry the same value (missing rows aside)."""
    values = numbers[column].dropna()
    if values.empty:
        raise UserError(f"{file} has no value in column '{column}'", [Problem(file, None, column, "all rows are missing")])
    first = values.iloc[0]
    differing = values[values != first]
    if not differing.empty:
        raise UserError(
            f"{file}: a performance standard differs between hospitals",
            [Problem(file, int(i) + 1, column, f"{v} differs from {first} on earlier rows") for i, v in differing.items()],
            hint="Thresholds, benchmarks and floors are national values; use the files of one fiscal year, unedited.",
        )
    return float(values.iloc[0])
