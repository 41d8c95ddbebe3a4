"""Measure results as FHIR R4 MeasureReports: individual (one per patient and measure) and summary
(one per entity and measure), in the shape of the HL7 Quality Measure IG (cqfmeasures) test cases.

Each report's `group[i].population[j]` follows the measure's own group definition (its
`measure.json`): the populations a measure does not define (e.g. denominator-exception for
CMS122) are omitted, groups keep the measure's order, and counts come from the long patient x
measure results table of `measures.run_measures` (0/1 per patient; sums for summaries).
Population codes: http://terminology.hl7.org/CodeSystem/measure-population.
"""

from __future__ import annotations

import datetime as dt
import heapq
import json
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from p4pkit.atomic import replacing
from p4pkit.measures.definition import Measure
from p4pkit.measures.library import LIBRARY

POPULATION_SYSTEM = "http://terminology.hl7.org/CodeSystem/measure-population"
# measure-population code → results column.
POPULATION_COLUMNS = {
    "initial-population": "initial_population",
    "denominator": "denominator",
    "denominator-exclusion": "denominator_exclusion",
    "denominator-exception": "denominator_exception",
    "numerator": "numerator",
}
# measure-population code → summarise() count column.
SUMMARY_COLUMNS = {
    "initial-population": "initial_population",
    "denominator": "denominator",
    "denominator-exclusion": "exclusions",
    "denominator-exception": "exceptions",
    "numerator": "numerator",
}
DISPLAY = {
    "initial-population": "Initial Population",
    "denominator": "Denominator",
    "denominator-exclusion": "Denominator Exclusion",
    "denominator-exception": "Denominator Exception",
    "numerator": "Numerator",
}

# Canonical URLs of the library measures, from each official measure.json (ecqm-content-qicore-2024).
CANONICAL_URLS = {
    "CMS122": "https://madie.cms.gov/Measure/DiabetesGlycemicStatusAssessmentGreaterThan9PercentFHIR",
    "CMS125": "https://madie.cms.gov/Measure/BreastCancerScreeningFHIR",
    "CMS130": "https://madie.cms.gov/Measure/ColonCancerScreeningFHIR",
    "CMS138": "https://madie.cms.gov/Measure/PreventiveCareAndTobaccoUseScreeningAndCessationInterventionFHIR",
    "CMS165": "https://madie.cms.gov/Measure/ControllingHighBloodPressureFHIR",
}


@dataclass(frozen=True)
class MeasureShape:
    """What a report names and contains for one measure: its canonical URL and, per group in
    order, the population codes the measure defines."""

    measure_id: str
    url: str
    groups: tuple[tuple[str, ...], ...]


def shape_from_measure_json(measure_id: str, resource: Mapping) -> MeasureShape:
    """The shape a FHIR Measure resource (an eCQM's measure.json) declares."""
    groups = tuple(
        tuple(p["code"]["coding"][0]["code"] for p in group.get("population", ()) if p["code"]["coding"][0]["code"] in POPULATION_COLUMNS)
        for group in resource.get("group", ())
    )
    return MeasureShape(measure_id, resource.get("url") or measure_id, groups)


def shape_from_library(measure: Measure) -> MeasureShape:
    """The shape of a library measure when no measure.json is at hand: exclusions and exceptions
    appear only where the measure defines them; the measure is named by its canonical URL when
    known, else by its id."""
    groups = tuple(
        tuple(
            code
            for code, present in (
                ("initial-population", True),
                ("denominator", True),
                ("denominator-exclusion", bool(group.exclusions)),
                ("denominator-exception", bool(group.exceptions)),
                ("numerator", True),
            )
            if present
        )
        for group in measure.groups
    )
    return MeasureShape(measure.id, CANONICAL_URLS.get(measure.id, measure.id), groups)


def _shape(measure_id: str, shapes: Mapping[str, MeasureShape] | None) -> MeasureShape:
    if shapes and measure_id in shapes:
        return shapes[measure_id]
    return shape_from_library(LIBRARY[measure_id])


def _population(code: str, count: int) -> dict:
    return {"code": {"coding": [{"system": POPULATION_SYSTEM, "code": code, "display": DISPLAY[code]}]}, "count": int(count)}


def _report(shape: MeasureShape, kind: str, period: tuple[dt.date, dt.date], counts: Mapping[int, Mapping[str, int]]) -> dict:
    return {
        "resourceType": "MeasureReport",
        "status": "complete",
        "type": kind,
        "measure": shape.url,
        "period": {"start": period[0].isoformat(), "end": period[1].isoformat()},
        "group": [
            {"population": [_population(code, counts.get(index, {}).get(code, 0)) for code in codes]}
            for index, codes in enumerate(shape.groups)
        ],
    }


def individual_reports(
    results: pa.Table,
    shapes: Mapping[str, MeasureShape] | None = None,
    subjects: Iterable[str] = (),
    period: tuple[dt.date, dt.date] | None = None,
) -> Iterator[dict]:
    """One individual MeasureReport per (measure, patient), in that order, made as they are read
    (a million patients' reports need not all be held at once).

    The runner lists only patients in an initial population; `subjects` adds patients who get a
    report anyway (all counts 0) for every measure in the results or in `shapes`. `period` is
    required only when the results table is empty.
    """
    subjects = sorted(set(subjects))
    measure_ids = sorted(set(results["measure_id"].to_pylist()) | set(shapes or ()))
    if period is None and results.num_rows:
        period = (results["period_start"][0].as_py(), results["period_end"][0].as_py())
    if period is None and measure_ids and subjects:
        raise ValueError("no results to take the period from: pass period=(start, end)")
    columns = ["group_index", "patient_id", *POPULATION_COLUMNS.values()]
    for measure_id in measure_ids:
        counts: dict[str, dict[int, dict[str, int]]] = defaultdict(dict)
        for row in results.filter(pc.equal(results["measure_id"], measure_id)).select(columns).to_pylist():
            counts[row["patient_id"]][row["group_index"]] = {code: row[column] for code, column in POPULATION_COLUMNS.items()}
        shape = _shape(measure_id, shapes)
        # Subjects are sorted once; only the few results outside them are merged in per measure.
        extra = sorted(counts.keys() - set(subjects)) if subjects else sorted(counts)
        for patient in heapq.merge(subjects, extra):
            report = _report(shape, "individual", period, counts.get(patient, {}))
            report["subject"] = {"reference": f"Patient/{patient}"}
            yield report


def summary_reports(
    summary: pa.Table, entity_column: str, shapes: Mapping[str, MeasureShape] | None = None, type_column: str | None = None
) -> list[dict]:
    """One summary MeasureReport per (measure, entity) from `measures.summarise(results, by=[entity])`.

    The entity is the report's `reporter`: `Organization/<id>`, or `Practitioner/<id>` where
    `type_column` says the entity is a clinician (FHIR's reporter may be either); each group carries the population
    counts and, when its performance denominator is not zero, `measureScore` = the performance
    rate (numerator / (denominator - exclusions - exceptions), as proportion scoring defines it).
    """
    by_report: dict[tuple[str, str, dt.date, dt.date], dict[int, dict[str, int]]] = defaultdict(dict)
    scores: dict[tuple, dict[int, float | None]] = defaultdict(dict)
    resources: dict[str, str] = {}
    for row in summary.to_pylist():
        key = (row["measure_id"], str(row[entity_column]), row["period_start"], row["period_end"])
        clinician = type_column is not None and row[type_column] == "clinician"
        resources[key[1]] = "Practitioner" if clinician else "Organization"
        by_report[key][row["group_index"]] = {code: row[column] for code, column in SUMMARY_COLUMNS.items()}
        scores[key][row["group_index"]] = row["rate"]
    reports = []
    for key, groups in sorted(by_report.items()):
        measure_id, entity, start, end = key
        report = _report(_shape(measure_id, shapes), "summary", (start, end), groups)
        report["reporter"] = {"reference": f"{resources[entity]}/{entity}"}
        for index, group in enumerate(report["group"]):
            if scores[key].get(index) is not None:
                group["measureScore"] = {"value": round(scores[key][index], 6)}
        reports.append(report)
    return reports


def write_ndjson(reports: Iterable[dict], path: str | Path) -> Path:
    """Write reports one per line (bulk-data NDJSON), atomically: a crash leaves no partial file."""
    path = Path(path)
    with replacing(path) as scratch, scratch.open("w", encoding="utf-8") as out:
        for report in reports:
            out.write(json.dumps(report, separators=(",", ":")) + "\n")
    return path


def write_measurereports(
    results: pa.Table,
    out: str | Path,
    shapes: Mapping[str, MeasureShape] | None = None,
    subjects: Iterable[str] = (),
    period: tuple[dt.date, dt.date] | None = None,
) -> Path:
    """`out/measurereports.ndjson`: an individual MeasureReport per patient and measure of the
    results, and for every patient of `subjects` (see `individual_reports`). Returns the file written."""
    return write_ndjson(individual_reports(results, shapes, subjects, period), Path(out) / "measurereports.ndjson")


def write_summary_measurereports(summary_by_entity: pa.Table, out: str | Path) -> Path:
    """`out/measurereports_summary.ndjson`: a summary MeasureReport per measure and entity of
    `measures.files` summary_by_entity table (entity_id, entity_type). Returns the file written."""
    reports = summary_reports(summary_by_entity, "entity_id", type_column="entity_type")
    return write_ndjson(reports, Path(out) / "measurereports_summary.ndjson")
