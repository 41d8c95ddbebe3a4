"""The official eCQM test cases (cqframework/ecqm-content-qicore-2024, CC0) as canonical tables.

Each `../shared/data/ecqm/measures/<CMS id>/<uuid>.json` holds `{"name": title, "bundle": Bundle}`;
the Bundle has the Patient, their clinical resources and the EXPECTED individual MeasureReport.
The MeasureReport is the answer, not clinical data: it is taken out before ingest.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from p4pkit.ingest.fhir import read_resources
from p4pkit.measures.measurereport import MeasureShape, shape_from_measure_json

ECQM = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "ecqm" / "measures"
MEASURES = ("CMS122", "CMS125", "CMS130", "CMS138", "CMS165")
# Test cases per measure in the shared copy (files other than measure.json / terminology.json).
CASE_COUNTS = {"CMS122": 34, "CMS125": 40, "CMS130": 40, "CMS138": 30, "CMS165": 41}


@dataclass(frozen=True)
class Case:
    """One official test case: what goes in (tables) and what must come out (expected)."""

    measure_id: str
    title: str
    file: Path
    resources: tuple[dict, ...]
    expected_report: dict

    @property
    def patient_id(self) -> str:
        return next(r["id"] for r in self.resources if r["resourceType"] == "Patient")

    @property
    def expected(self) -> list[dict[str, int]]:
        """Expected populations: per group, in the MeasureReport's order, code → count."""
        return [
            {p["code"]["coding"][0]["code"]: p["count"] for p in group.get("population", ())}
            for group in self.expected_report["group"]
        ]

    @property
    def period(self) -> tuple[dt.date, dt.date]:
        period = self.expected_report["period"]
        return dt.date.fromisoformat(period["start"][:10]), dt.date.fromisoformat(period["end"][:10])

    @cached_property
    def tables(self) -> dict[str, pa.Table]:
        return read_resources(self.resources, source=str(self.file))


def case_files(measure_id: str) -> list[Path]:
    folder = ECQM / measure_id
    return sorted(p for p in folder.glob("*.json") if p.name not in ("measure.json", "terminology.json"))


def load_case(measure_id: str, file: Path) -> Case:
    document = json.loads(file.read_text(encoding="utf-8"))
    resources = [entry["resource"] for entry in document["bundle"]["entry"]]
    reports = [r for r in resources if r["resourceType"] == "MeasureReport"]
    if len(reports) != 1:
        raise ValueError(f"{file}: expected one MeasureReport, found {len(reports)}")
    clinical = tuple(r for r in resources if r["resourceType"] != "MeasureReport")
    return Case(measure_id, document["name"], file, clinical, reports[0])


def cases(measure_id: str) -> list[Case]:
    """Every official test case of a measure, in file order."""
    return [load_case(measure_id, file) for file in case_files(measure_id)]


def measure_shape(measure_id: str) -> MeasureShape:
    """The measure's canonical URL and population groups, from its official measure.json."""
    resource = json.loads((ECQM / measure_id / "measure.json").read_text(encoding="utf-8"))
    return shape_from_measure_json(measure_id, resource)


# Keys that are unique within one case only (resource ids such as "Encounter-1" recur across
# cases); patient ids are the case UUIDs and unique already.
CASE_LOCAL_KEYS = {"events": ("event_id", "encounter_id"), "encounters": ("encounter_id",)}


def combined_tables(all_cases: list[Case]) -> dict[str, pa.Table]:
    """The tables of many cases in one store, so a measure runs once over all its cases:
    case-local ids get the case's patient id as prefix, which keeps them apart."""
    parts: dict[str, list[pa.Table]] = {}
    for case in all_cases:
        for name, table in case.tables.items():
            for column in CASE_LOCAL_KEYS.get(name, ()):
                prefixed = pc.binary_join_element_wise(case.patient_id, table[column], ":")
                table = table.set_column(table.schema.get_field_index(column), column, prefixed)
            parts.setdefault(name, []).append(table)
    return {name: pa.concat_tables(tables) for name, tables in parts.items()}
