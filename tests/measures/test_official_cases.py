"""Every official eCQM test case: FHIR Bundle → canonical tables → run_measures → MeasureReport,
compared population by population with the expected MeasureReport inside the Bundle.

All cases of a measure share one store and one run (their patients are distinct), which keeps the
185 cases fast; each case is still its own test with its own verdict.
"""

from __future__ import annotations

from functools import cache

import pyarrow as pa
import pytest
from ecqm_cases import CASE_COUNTS, MEASURES, Case, case_files, cases, combined_tables, measure_shape

from p4pkit.measures import run_measures
from p4pkit.measures.measurereport import individual_reports
from p4pkit.store import Store

# Official expectations p4pkit deliberately does not reproduce, with the reason. Strict: if one
# starts passing, the test fails so the entry gets removed.
DIVERGENCES = {
    "45e01fed-56bb-483d-a860-af3d566bda11.json": (
        "DementiaMedAsReferenceCQLIT412 expects the dementia medication to be missed because the "
        "MedicationRequest names it by medicationReference (the authoring engine's retrieve does not "
        "follow the reference, MADiE issue CQLIT-412); FHIR ingest resolves the Medication's code, "
        "so the frailty-and-dementia exclusion applies"
    ),
    **dict.fromkeys(
        ("6630d394-c81d-42f5-a218-40b73a2a4949.json", "8956ebb5-d3c0-4112-a34a-200961713efd.json"),
        "NUMPass GMIGreaterThan9 / HbA1cGreaterThan9 expect the numerator although their only result is the coded "
        "value 'Yes', exactly as in NUMFail HbA1cLessThan9, which expects no numerator: under the CQL a coded value "
        "is neither '> 9 %' nor null, so the three expectations cannot all hold; p4pkit follows the CQL and the "
        "NUMFail case (the exported cases appear to have lost their numeric results)",
    ),
}
CASES = [
    pytest.param(measure_id, index, marks=[pytest.mark.xfail(strict=True, reason=DIVERGENCES[file.name])] if file.name in DIVERGENCES else [])
    for measure_id in MEASURES
    for index, file in enumerate(case_files(measure_id))
]


@cache
def _run(measure_id: str) -> tuple[list[Case], pa.Table]:
    """The measure's cases and its results over all of them (one period: every case uses 2025)."""
    all_cases = cases(measure_id)
    (period,) = {case.period for case in all_cases}
    with Store() as store:
        store.replace_tables(combined_tables(all_cases))
        results = run_measures(store, [measure_id], f"{period[0]}:{period[1]}")
    return all_cases, results


def test_every_measure_has_its_official_cases():
    assert {m: len(case_files(m)) for m in MEASURES} == CASE_COUNTS


def test_expected_reports_follow_the_measure_group_definitions():
    for measure_id in MEASURES:
        shape = measure_shape(measure_id)
        for case in cases(measure_id):
            assert [list(group) for group in case.expected] == [list(codes) for codes in shape.groups], case.title


@pytest.mark.parametrize(("measure_id", "index"), CASES, ids=[f"{p.values[0]}-{p.values[1]:02d}" for p in CASES])
def test_official_case(measure_id, index):
    all_cases, results = _run(measure_id)
    case = all_cases[index]
    mine = results.filter(pa.compute.equal(results["patient_id"], case.patient_id))
    shape = measure_shape(measure_id)
    (report,) = individual_reports(mine, {measure_id: shape}, subjects=[case.patient_id], period=case.period)
    actual = [{p["code"]["coding"][0]["code"]: p["count"] for p in group["population"]} for group in report["group"]]
    assert report["subject"]["reference"] == f"Patient/{case.patient_id}"
    assert report["measure"] == shape.url
    assert actual == case.expected, f"{case.title} ({case.file.name})"
