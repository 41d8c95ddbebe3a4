"""One test per class of bad input: the problem names file, 1-based data row and column, and the
store is exactly as it was before the load."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from ingest_folders import WORLD, snapshot, world, write_csv

from p4pkit.errors import Problem, UserError
from p4pkit.ingest import load_folder
from p4pkit.model.codes import ICD10CM
from p4pkit.store import Store

REFERENCE = ("organizations", "clinicians")


@pytest.fixture(scope="module")
def reference_store(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("reference")
    path = folder / "store.duckdb"
    load_folder(write_csv(folder / "in", {t: WORLD[t] for t in REFERENCE}), path)
    return path


@pytest.fixture
def db(tmp_path: Path, reference_store: Path) -> Path:
    """A store already holding the organizations and clinicians of the world (a copy per test)."""
    return Path(shutil.copy(reference_store, tmp_path / "store.duckdb"))


def care(**changes) -> dict:
    """The world's patient-level tables (not the stored reference tables), with changes."""
    return {t: rows for t, rows in world(**changes).items() if t not in REFERENCE}


def refused(tmp_path: Path, db: Path, tables: dict) -> UserError:
    """Load `tables` and return the UserError, after checking that the store did not change."""
    before = snapshot(db)
    with pytest.raises(UserError) as caught:
        load_folder(write_csv(tmp_path / "in", tables), db)
    assert snapshot(db) == before
    return caught.value


def test_the_world_loads(tmp_path, db):
    report = load_folder(write_csv(tmp_path / "in", care()), db)
    assert report.rows_loaded == {"patients": 3, "enrollments": 2, "encounters": 2, "events": 3, "claim_lines": 1}
    assert report.problem_count == 0


def test_unknown_file_name_is_named_with_the_accepted_names(tmp_path, db):
    folder = write_csv(tmp_path / "in", care())
    (folder / "patients.csv").rename(folder / "patient.csv")
    error = refused_folder(folder, db)
    (problem,) = error.problems
    assert (problem.file, problem.row, problem.column) == ("patient.csv", None, None)
    assert "accepted names are organizations.csv, organizations.parquet" in problem.reason
    assert "claim_lines.parquet" in problem.reason


def test_hidden_files_and_folders_are_ignored(tmp_path, db):
    folder = write_csv(tmp_path / "in", care())
    (folder / ".DS_Store").write_bytes(b"\0")
    (folder / "truth").mkdir()
    (folder / "truth" / "notes.txt").write_text("not a table")
    assert load_folder(folder, db).rows_loaded["patients"] == 3


def refused_folder(folder: Path, db: Path) -> UserError:
    before = snapshot(db)
    with pytest.raises(UserError) as caught:
        load_folder(folder, db)
    assert snapshot(db) == before
    return caught.value


def test_missing_required_column(tmp_path, db):
    tables = care()
    for row in tables["patients"]:
        del row["sex"]
    error = refused(tmp_path, db, tables)
    assert error.problems == (Problem("patients.csv", None, "sex", "required column missing; add a column named sex"),)


def test_unknown_column(tmp_path, db):
    error = refused(tmp_path, db, care(patients={i: {"gender": "f"} for i in range(3)}))
    (problem,) = error.problems
    assert (problem.file, problem.row, problem.column) == ("patients.csv", None, "gender")
    assert problem.reason.startswith("not a column of patients; columns are: patient_id, birth_date, sex")


TIMESTAMP = "a timestamp (YYYY-MM-DD HH:MM:SS, UTC unless an offset such as +01:00 is given)"
ONE_BAD_VALUE = {
    # unparseable values of each type
    "date": ("patients", 1, "birth_date", "15/07/1960", "not a date (YYYY-MM-DD)"),
    "timestamp": ("encounters", 0, "start", "2024-01-02 25:00", f"not {TIMESTAMP}"),
    "number": ("events", 0, "value_num", "seven", "not a number"),
    "boolean": ("events", 2, "negated", "maybe", "not true or false"),
    "money": ("claim_lines", 0, "allowed_amount", "$125.50", "not an amount (digits and a decimal point, no currency sign)"),
    "whole number": ("claim_lines", 0, "line_number", "1.5", "not a whole number"),
    # values outside a closed vocabulary
    "sex": ("patients", 2, "sex", "F", "'F' is not one of: female, male, other, unknown"),
    "encounter class": (
        "encounters", 1, "encounter_class", "IMP", "'IMP' is not one of: ambulatory, emergency, home, inpatient, observation, virtual",
    ),
    # impossible dates
    "event before birth": ("events", 0, "start", "1949-12-31 23:00:00", "before the patient's birth date"),
    "claim before birth": ("claim_lines", 0, "service_start", "1950-02-28", "before the patient's birth date"),
    "stay after death": ("encounters", 1, "end", "2024-07-01 09:00:00", "after the patient's death date"),
    "enrollment ends before it starts": ("enrollments", 1, "end_date", "2020-12-31", "before start_date of the same row"),
    "encounter ends before it starts": ("encounters", 0, "end", "2024-01-02 09:59:59", "before start of the same row"),
}


@pytest.mark.parametrize(("table", "index", "column", "value", "reason"), ONE_BAD_VALUE.values(), ids=ONE_BAD_VALUE.keys())
def test_one_bad_value_is_named_by_file_row_and_column(tmp_path, db, table, index, column, value, reason):
    error = refused(tmp_path, db, care(**{table: {index: {column: value}}}))
    assert error.problems[0] == Problem(f"{table}.csv", index + 1, column, reason)


def test_money_is_given_to_the_cent(tmp_path, db):
    error = refused(tmp_path, db, care(claim_lines={0: {"paid_amount": "100.405"}}))
    assert error.problems == (Problem("claim_lines.csv", 1, "paid_amount", "more than two decimal places; give money to the cent"),)


def test_null_in_required_column(tmp_path, db):
    error = refused(tmp_path, db, care(events={1: {"kind": ""}}))
    assert error.problems == (Problem("events.csv", 2, "kind", "required value missing"),)


def test_vocabulary_ignores_case_and_spaces(tmp_path, db):
    load_folder(write_csv(tmp_path / "in", care(patients={0: {"sex": " Female"}})), db)
    with Store(db) as store:
        assert store.arrow("patients").column("sex").to_pylist() == ["female", "male", "other"]


def test_code_system_aliases_become_canonical_uris(tmp_path, db):
    load_folder(write_csv(tmp_path / "in", care(events={1: {"code_system": "ICD10CM"}})), db)
    with Store(db) as store:
        assert store.arrow("events").column("code_system").to_pylist()[1] == ICD10CM


def test_unknown_code_system_and_code_without_system(tmp_path, db):
    error = refused(tmp_path, db, care(events={1: {"code_system": "icd9"}}, claim_lines={0: {"diagnosis_system": ""}}))
    assert error.problems[0].file == "events.csv"
    assert (error.problems[0].row, error.problems[0].column) == (2, "code_system")
    assert error.problems[0].reason.startswith("'icd9' is neither a code system URI nor one of: cpt, cvx")
    assert Problem("claim_lines.csv", 1, "diagnosis_code", "a code needs its code system in column diagnosis_system") in error.problems


@pytest.mark.parametrize(
    ("table", "index", "column", "target"),
    [
        ("events", 0, "patient_id", "patients.csv or the store"),
        ("encounters", 0, "clinician_id", "the store"),
        ("enrollments", 1, "organization_id", "the store"),
        ("events", 2, "encounter_id", "encounters.csv or the store"),
    ],
)
def test_unknown_reference(tmp_path, db, table, index, column, target):
    error = refused(tmp_path, db, care(**{table: {index: {column: "NOPE"}}}))
    assert error.problems[0] == Problem(f"{table}.csv", index + 1, column, f"unknown {column}: not in {target}")


def test_unknown_parent_organization(tmp_path):
    tables = world(organizations={1: {"parent_id": "O9"}})
    db = tmp_path / "new.duckdb"
    with pytest.raises(UserError) as caught:
        load_folder(write_csv(tmp_path / "in", tables), db)
    assert caught.value.problems[0] == Problem("organizations.csv", 2, "parent_id", "unknown organization_id: not in organizations.csv or the store")
    assert not db.exists()


def test_a_rejected_organization_rejects_its_whole_subtree(tmp_path):
    tables = {"organizations": world(organizations={0: {"kind": "hospice"}})["organizations"]}
    tables["organizations"].append({"organization_id": "O3", "name": "Team Three", "kind": "network", "parent_id": "O2"})
    with pytest.raises(UserError) as caught:
        load_folder(write_csv(tmp_path / "in", tables), tmp_path / "new.duckdb")
    assert [(p.row, p.column, p.reason) for p in caught.value.problems] == [
        (1, "kind", "'hospice' is not one of: aco, clinician_group, hospital, network, payer, practice"),
        (2, "parent_id", "refers to organizations.csv row 1, which was rejected"),
        (3, "parent_id", "refers to organizations.csv row 2, which was rejected"),
    ]


def test_references_resolve_against_the_store(tmp_path, db):
    load_folder(write_csv(tmp_path / "people", {"patients": WORLD["patients"]}), db)
    report = load_folder(write_csv(tmp_path / "care", {"events": [dict(WORLD["events"][1], encounter_id="")]}), db)
    assert report.rows_loaded == {"events": 1}


def test_rows_depending_on_a_rejected_row_are_rejected_with_that_reason(tmp_path, db):
    error = refused(tmp_path, db, care(patients={1: {"sex": "M"}}))
    dependants = [p for p in error.problems if p.file != "patients.csv"]
    reason = "refers to patients.csv row 2, which was rejected"
    assert dependants == [
        Problem("enrollments.csv", 2, "patient_id", reason),
        Problem("encounters.csv", 2, "patient_id", reason),
        Problem("events.csv", 2, "encounter_id", "refers to encounters.csv row 2, which was rejected"),
        Problem("events.csv", 2, "patient_id", reason),
    ]


def test_duplicate_primary_key_within_the_file(tmp_path, db):
    tables = care()
    tables["events"].append(dict(tables["events"][0]))
    error = refused(tmp_path, db, tables)
    reason = "primary key (event_id) repeated at rows 1, 4"
    assert error.problems == (Problem("events.csv", 1, "event_id", reason), Problem("events.csv", 4, "event_id", reason))


def test_duplicate_primary_key_against_the_store(tmp_path, db):
    error = refused(tmp_path, db, {"clinicians": WORLD["clinicians"]})
    assert error.problems == (
        Problem(
            "clinicians.csv", 1, "clinician_id",
            "primary key (clinician_id) is already in the store; loads append, so reload a corrected table with --replace",
        ),
    )


def test_unknown_unit_for_a_normalised_code(tmp_path, db):
    error = refused(tmp_path, db, care(events={2: {"value_unit": "psi"}}))
    assert error.problems == (
        Problem("events.csv", 3, "value_unit", "unit 'psi' cannot be converted for LOINC 8480-6; use one of: mm[Hg], mmHg, kPa"),
    )


def test_missing_unit_for_a_normalised_code(tmp_path, db):
    error = refused(tmp_path, db, care(events={0: {"value_unit": ""}}))
    assert error.problems == (
        Problem("events.csv", 1, "value_unit", "a missing unit cannot be converted for LOINC 4548-4; use one of: %, percent, mmol/mol"),
    )


def test_units_are_normalised_on_load(tmp_path, db):
    changes = {0: {"code": "59261-8", "value_num": "58", "value_unit": "mmol/mol"}, 2: {"value_num": "16", "value_unit": "kPa"}}
    load_folder(write_csv(tmp_path / "in", care(events=changes)), db)
    with Store(db) as store:
        rows = store.arrow("events").select(["code", "value_num", "value_unit"]).to_pylist()
    assert rows[0]["code"] == "4548-4" and rows[0]["value_unit"] == "%"
    assert rows[0]["value_num"] == pytest.approx(7.45784)
    assert rows[2]["value_unit"] == "mm[Hg]" and rows[2]["value_num"] == pytest.approx(120.00992)


def test_timestamps_with_an_offset_are_stored_in_utc(tmp_path, db):
    load_folder(write_csv(tmp_path / "in", care(events={0: {"start": "2024-01-02T11:15:00+01:00"}})), db)
    with Store(db) as store:
        assert str(store.arrow("events").column("start")[0]) == "2024-01-02 10:15:00"


def test_malformed_csv_is_refused_without_echoing_the_line(tmp_path, db):
    folder = write_csv(tmp_path / "in", {"patients": WORLD["patients"]})
    (folder / "patients.csv").write_text("patient_id,birth_date,sex\nSECRET-ID,1950-01-01,female,extra\n")
    error = refused_folder(folder, db)
    (problem,) = error.problems
    assert problem.file == "patients.csv" and "Line: 2" in problem.reason
    assert "SECRET-ID" not in error.render()


def test_a_file_that_is_not_utf8_is_refused(tmp_path, db):
    folder = write_csv(tmp_path / "in", {"patients": WORLD["patients"]})
    (folder / "patients.csv").write_bytes("patient_id,birth_date,sex,né\n".encode("latin-1"))
    error = refused_folder(folder, db)
    assert error.problems == (Problem("patients.csv", None, None, "the header is not UTF-8 text; save the file as UTF-8 CSV"),)


def test_row_numbers_hold_in_a_large_file(tmp_path, db):
    rows = [{"patient_id": f"P{i}", "birth_date": "1970-01-01", "sex": "female"} for i in range(60_000)]
    rows[57_321]["birth_date"] = "1970-02-30"
    error = refused(tmp_path, db, {"patients": rows})
    assert error.problems == (Problem("patients.csv", 57_322, "birth_date", "not a date (YYYY-MM-DD)"),)
