"""FHIR MeasureReport output: group and population shape from measure.json, individual and
summary reports with hand-worked counts, atomic NDJSON."""

from __future__ import annotations

import datetime as dt
import json

import pyarrow as pa
import pytest

from p4pkit.measures import summarise
from p4pkit.measures.library import LIBRARY
from p4pkit.measures.measurereport import (
    POPULATION_SYSTEM,
    individual_reports,
    shape_from_library,
    shape_from_measure_json,
    summary_reports,
    write_ndjson,
)

PERIOD = (dt.date(2025, 1, 1), dt.date(2025, 12, 31))


def _results(rows: list[tuple]) -> pa.Table:
    """Rows of (measure_id, group_index, patient_id, ip, den, excl, exc, num)."""
    names = ["measure_id", "group_index", "patient_id", "initial_population", "denominator", "denominator_exclusion", "denominator_exception", "numerator"]
    columns = {name: [row[i] for row in rows] for i, name in enumerate(names)}
    columns["period_start"] = [PERIOD[0]] * len(rows)
    columns["period_end"] = [PERIOD[1]] * len(rows)
    return pa.table(columns).cast(
        pa.schema([pa.field(n, pa.string() if n in ("measure_id", "patient_id") else pa.date32() if n.startswith("period") else pa.int32()) for n in columns])
    )


def _counts(report: dict) -> list[list[tuple[str, int]]]:
    return [[(p["code"]["coding"][0]["code"], p["count"]) for p in g["population"]] for g in report["group"]]


@pytest.mark.parametrize("measure_id", ["CMS122", "CMS125", "CMS130", "CMS138", "CMS165"])
def test_library_measures_define_the_populations_of_their_official_measure_json(shared_data, measure_id):
    official = json.loads((shared_data / "ecqm" / "measures" / measure_id / "measure.json").read_text())
    from_json = shape_from_measure_json(measure_id, official)
    assert shape_from_library(LIBRARY[measure_id]) == from_json
    assert from_json.url.startswith("https://madie.cms.gov/Measure/")


def test_individual_reports_keep_group_order_and_omit_undefined_populations():
    results = _results([("CMS138", 0, "a", 1, 1, 0, 0, 1), ("CMS138", 1, "a", 1, 1, 0, 0, 0), ("CMS138", 2, "a", 1, 1, 1, 0, 0)])
    reports = list(individual_reports(results, subjects=["a", "b"]))
    assert [r["subject"]["reference"] for r in reports] == ["Patient/a", "Patient/b"]
    first = reports[0]
    assert (first["status"], first["type"], first["period"]) == ("complete", "individual", {"start": "2025-01-01", "end": "2025-12-31"})
    assert first["group"][0]["population"][0]["code"]["coding"][0]["system"] == POPULATION_SYSTEM
    assert _counts(first) == [
        [("initial-population", 1), ("denominator", 1), ("denominator-exclusion", 0), ("numerator", 1)],
        [("initial-population", 1), ("denominator", 1), ("denominator-exclusion", 0), ("numerator", 0)],
        [("initial-population", 1), ("denominator", 1), ("denominator-exclusion", 1), ("numerator", 0)],
    ]
    assert all(count == 0 for group in _counts(reports[1]) for _, count in group)  # outside the initial population


def test_summary_reports_count_and_score_per_entity():
    """Practice X: 4 patients, 1 excluded, 2 in the numerator → score 2 / (4 - 1) = 0.666667."""
    results = _results(
        [("CMS122", 0, p, 1, 1, excl, 0, num) for p, excl, num in (("a", 0, 1), ("b", 0, 1), ("c", 1, 0), ("d", 0, 0))]
        + [("CMS122", 0, "e", 1, 1, 1, 0, 0)]
    )
    results = results.append_column("entity_id", pa.array(["X", "X", "X", "X", "Y"]))
    x, y = summary_reports(summarise(results, by=["entity_id"]), "entity_id")
    assert (x["type"], x["reporter"]["reference"]) == ("summary", "Organization/X")
    assert _counts(x) == [[("initial-population", 4), ("denominator", 4), ("denominator-exclusion", 1), ("numerator", 2)]]
    assert x["group"][0]["measureScore"] == {"value": 0.666667}
    assert "measureScore" not in y["group"][0]  # everyone excluded: no rate, not zero


def test_write_ndjson_is_one_report_per_line_and_leaves_no_temporary_file(tmp_path):
    reports = list(individual_reports(_results([("CMS125", 0, "a", 1, 1, 0, 0, 1)])))
    path = write_ndjson(reports, tmp_path / "out" / "measurereports.ndjson")
    assert [json.loads(line) for line in path.read_text().splitlines()] == reports
    assert [p.name for p in path.parent.iterdir()] == ["measurereports.ndjson"]
