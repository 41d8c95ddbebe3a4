"""Per-entity summaries and summary MeasureReports from `p4p measure run --by-entity FILE`, where
FILE is an attribution table (`p4p attribute --out`): counts that add up to the patient results
of the attributed patients, one summary MeasureReport per measure and entity, and clear errors
for a bad attribution file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from typer.testing import CliRunner

from p4pkit.cli import app
from p4pkit.errors import UserError
from p4pkit.ingest import load_folder
from p4pkit.measures import summarise
from p4pkit.attribution.files import read_attribution
from p4pkit.measures.measurereport import summary_reports
from p4pkit.synth import generate

PERIOD = "2025-01-01:2025-12-31"


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("entities")
    generate(1500, 8, folder / "data")
    load_folder(folder / "data", folder / "store.duckdb")
    runner = CliRunner()
    attributed = runner.invoke(app, ["attribute", "--data", str(folder / "store.duckdb"), "--rule", "registration",
                                     "--period", PERIOD, "--out", str(folder / "practices.parquet")])
    assert attributed.exit_code == 0, attributed.output
    measured = runner.invoke(app, ["measure", "run", "--measures", "CMS122,CMS138", "--data", str(folder / "store.duckdb"),
                                   "--period", PERIOD, "--out", str(folder / "out"), "--by-entity", str(folder / "practices.parquet"),
                                   "--format", "measurereport"])
    assert measured.exit_code == 0, measured.output
    assert "entities summarised" in measured.output
    return folder


def test_entity_counts_add_up_to_the_attributed_patients_results(run):
    by_entity = pd.read_parquet(run / "out" / "summary_by_entity.parquet")
    patients = pd.read_parquet(run / "out" / "patient_results.parquet")
    practices = pd.read_parquet(run / "practices.parquet")[["patient_id", "entity_id", "entity_type"]].dropna(subset=["entity_id"])
    expected = patients.merge(practices, on="patient_id").groupby(["measure_id", "group_index", "entity_id"])[
        ["initial_population", "denominator", "denominator_exclusion", "denominator_exception", "numerator"]].sum()
    found = by_entity.set_index(["measure_id", "group_index", "entity_id"])[
        ["initial_population", "denominator", "exclusions", "exceptions", "numerator"]]
    assert len(found) == len(expected) > 4 and set(by_entity.entity_type) == {"practice"}
    assert (found.to_numpy() == expected.loc[found.index].to_numpy()).all()
    eligible = found.denominator - found.exclusions - found.exceptions
    rates = by_entity.set_index(["measure_id", "group_index", "entity_id"]).rate
    assert ((rates - found.numerator / eligible).abs()[eligible > 0] < 1e-12).all()
    assert set(by_entity.measure_id) == {"CMS122", "CMS138"} and set(by_entity.group_index[by_entity.measure_id == "CMS138"]) == {0, 1, 2}


def test_one_summary_measurereport_per_measure_and_entity(run):
    by_entity = pd.read_parquet(run / "out" / "summary_by_entity.parquet")
    reports = [json.loads(line) for line in (run / "out" / "measurereports_summary.ndjson").read_text().splitlines()]
    assert len(reports) == by_entity.groupby(["measure_id", "entity_id"]).ngroups
    assert {r["type"] for r in reports} == {"summary"}
    assert {r["reporter"]["reference"] for r in reports} == {f"Organization/{e}" for e in by_entity.entity_id}
    cms138 = [r for r in reports if r["measure"].endswith("PreventiveCareAndTobaccoUseScreeningAndCessationInterventionFHIR")]
    assert cms138 and all(len(r["group"]) == 3 for r in cms138)


def test_a_clinician_entity_reports_as_a_practitioner():
    results = pa.table({"measure_id": ["CMS122"], "group_index": pa.array([0], pa.int32()), "period_start": [pd.Timestamp("2025-01-01").date()],
                        "period_end": [pd.Timestamp("2025-12-31").date()], "initial_population": pa.array([1], pa.int8()),
                        "denominator": pa.array([1], pa.int8()), "denominator_exclusion": pa.array([0], pa.int8()),
                        "denominator_exception": pa.array([0], pa.int8()), "numerator": pa.array([1], pa.int8()),
                        "entity_id": ["C7"], "entity_type": ["clinician"]})
    (report,) = summary_reports(summarise(results, by=["entity_id", "entity_type"]), "entity_id", type_column="entity_type")
    assert report["reporter"] == {"reference": "Practitioner/C7"}


BAD_FILES = {
    "a.txt": ("x", r"must end in \.parquet or \.csv"),
    "noentity.csv": ("patient_id,practice\np1,X\n", "no column entity_id, entity_type"),
    "twice.csv": ("patient_id,entity_id,entity_type\np2,X,organization\np1,,\np3,Y,practice\np1,Y,organization\np2,Z,practice\n",
                  r"row 4, column patient_id: patient 'p1' is attributed twice \(first at row 2\)"),
    "nobody.csv": ("patient_id,entity_id,entity_type\np1,X,organization\n,Y,organization\n", "row 2, column patient_id: no patient id"),
}


@pytest.mark.parametrize("name", [*BAD_FILES, "missing.parquet"])
def test_bad_attribution_files_are_user_errors_that_name_the_problem(tmp_path, name):
    content, message = BAD_FILES.get(name, (None, "no such attribution file"))
    if content is not None:
        (tmp_path / name).write_text(content)
    with pytest.raises(UserError, match=message):
        read_attribution(tmp_path / name)


def test_an_attribution_csv_keeps_ids_as_text_and_drops_patients_without_an_entity(tmp_path):
    (tmp_path / "ok.csv").write_text("patient_id,entity_id,entity_type\n001,X,organization\n002,,\n")
    assert read_attribution(tmp_path / "ok.csv").to_pylist() == [{"patient_id": "001", "entity_id": "X", "entity_type": "organization"}]


def test_the_cli_refuses_a_bad_attribution_file_before_reading_any_data(tmp_path):
    (tmp_path / "noentity.csv").write_text("patient_id\np1\n")
    result = CliRunner().invoke(app, ["measure", "run", "--measures", "CMS122", "--data", str(tmp_path / "none.duckdb"),
                                      "--period", PERIOD, "--out", str(tmp_path / "out"), "--by-entity", str(tmp_path / "noentity.csv")])
    output = "".join(result.output.split())  # Rich wraps long lines, even inside the path
    assert result.exit_code == 2 and "noentity.csv:nocolumnentity_id" in output and "Traceback" not in output
    assert not (tmp_path / "out").exists()


def test_every_patient_of_the_data_gets_an_individual_report_per_measure(run):
    """The issue asks for one individual MeasureReport per patient per measure: patients in no
    initial population get one with every count 0, as the official test cases show."""
    patients = pd.read_parquet(run / "data" / "patients.parquet").patient_id
    results = pd.read_parquet(run / "out" / "patient_results.parquet")
    reports = [json.loads(line) for line in (run / "out" / "measurereports.ndjson").read_text().splitlines()]
    assert len(reports) == 2 * len(patients) == 3000
    by_subject = {(r["measure"].rsplit("/", 1)[-1], r["subject"]["reference"]): r for r in reports}
    outside = sorted(set(patients) - set(results.patient_id[results.measure_id == "CMS122"]))[0]
    report = by_subject[("DiabetesGlycemicStatusAssessmentGreaterThan9PercentFHIR", f"Patient/{outside}")]
    assert [p["count"] for g in report["group"] for p in g["population"]] == [0, 0, 0, 0]


def test_a_rerun_replaces_the_whole_output_set(run, tmp_path):
    """A second run into the same folder without --by-entity and MeasureReports leaves none of the
    first run's entity summaries or reports behind."""
    out = tmp_path / "out"
    shutil.copytree(run / "out", out)
    (out / "mine.txt").write_text("kept")
    result = CliRunner().invoke(app, ["measure", "run", "--measures", "CMS125", "--data", str(run / "store.duckdb"),
                                      "--period", PERIOD, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["mine.txt", "patient_results.parquet", "summary.parquet"]
    assert set(pd.read_parquet(out / "patient_results.parquet").measure_id) == {"CMS125"}


@pytest.mark.parametrize(("measures", "message"), [("", "names no measure"), ("CMS122", "is a file")])
def test_no_measure_or_an_out_that_is_a_file_stops_with_nothing_written(run, tmp_path, measures, message):
    (tmp_path / "out").write_text("a file")
    result = CliRunner().invoke(app, ["measure", "run", "--measures", measures, "--data", str(run / "store.duckdb"),
                                      "--period", PERIOD, "--out", str(tmp_path / "out")])
    output = " ".join(result.output.split())  # Rich wraps long lines
    assert result.exit_code == 2 and message in output and "Traceback" not in output
    assert [p.name for p in tmp_path.iterdir()] == ["out"] and (tmp_path / "out").read_text() == "a file"


def test_reports_can_be_limited_to_patients_in_an_initial_population(run, tmp_path):
    result = CliRunner().invoke(app, ["measure", "run", "--measures", "CMS122", "--data", str(run / "store.duckdb"), "--period", PERIOD,
                                      "--out", str(tmp_path / "out"), "--format", "measurereport", "--reports-for", "initial-population"])
    assert result.exit_code == 0, result.output
    reports = (tmp_path / "out" / "measurereports.ndjson").read_text().splitlines()
    assert len(reports) == pd.read_parquet(tmp_path / "out" / "patient_results.parquet").patient_id.nunique() > 0
    wrong = CliRunner().invoke(app, ["measure", "run", "--measures", "CMS122", "--data", str(run / "store.duckdb"), "--period", PERIOD,
                                     "--out", str(tmp_path / "o2"), "--format", "measurereport", "--reports-for", "some"])
    assert wrong.exit_code == 2 and "--reports-for some: not a choice" in " ".join(wrong.output.split())
    alone = CliRunner().invoke(app, ["measure", "run", "--measures", "CMS122", "--data", str(run / "store.duckdb"), "--period", PERIOD,
                                     "--out", str(tmp_path / "o3"), "--reports-for", "initial-population"])
    assert alone.exit_code == 2 and "Add --format measurereport" in " ".join(alone.output.split()) and not (tmp_path / "o3").exists()
