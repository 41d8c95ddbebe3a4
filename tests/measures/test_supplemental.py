"""Supplemental data (age band, sex, deprivation, payer) and CMS130's age strata on results."""

from __future__ import annotations

from datetime import date

import pyarrow as pa

from p4pkit.measures import summarise
from p4pkit.measures.supplemental import with_supplemental
from p4pkit.model.schemas import conform

from measure_tables import store_with


def test_breakdowns_and_strata():
    store = store_with([("a", "1975-06-01", "female"), ("b", "1960-06-01", "male"), ("c", "1978-03-01", "female")], [])
    store.replace_tables(
        {
            "enrollments": conform(
                "enrollments",
                {
                    "enrollment_id": ["old", "new", "ended"],
                    "patient_id": ["b", "b", "a"],
                    "kind": ["payer", "payer", "payer"],
                    "organization_id": ["o1", "o2", "o1"],
                    "plan": ["commercial", "medicare_ffs", "medicaid"],
                    "start_date": [date(2010, 1, 1), date(2025, 1, 1), date(2020, 1, 1)],
                    "end_date": [None, None, date(2024, 12, 31)],
                },
            )
        }
    )
    results = pa.table(
        {
            "measure_id": ["CMS130"] * 3,
            "group_index": pa.array([0, 0, 0], pa.int32()),
            "patient_id": ["a", "b", "c"],
            "period_start": [date(2025, 1, 1)] * 3,
            "period_end": [date(2025, 12, 31)] * 3,
            "initial_population": [1, 1, 1],
            "denominator": [1, 1, 1],
            "denominator_exclusion": [0, 0, 0],
            "denominator_exception": [0, 0, 0],
            "numerator": [1, 0, 1],
        }
    )
    rows = {r["patient_id"]: r for r in with_supplemental(store, results).to_pylist()}
    # a turns 50 in 2025 (stratum 50-75); c is 47 (stratum 46-49); b is 65.
    assert (rows["a"]["age_band"], rows["a"]["stratum"], rows["a"]["payer"]) == ("45-64", "age 50-75", None)
    assert (rows["b"]["age_band"], rows["b"]["sex"], rows["b"]["payer"]) == ("65-74", "male", "medicare_ffs")
    assert rows["c"]["stratum"] == "age 46-49"
    by_stratum = {r["stratum"]: r["rate"] for r in summarise(with_supplemental(store, results), by=["stratum"]).to_pylist()}
    assert by_stratum == {"age 46-49": 1.0, "age 50-75": 0.5}
    store.close()
