"""How a load behaves as a whole: quarantine, append and replace, atomicity, formats and the CLI."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from ingest_folders import WORLD, snapshot, world, write_csv, write_parquet

from p4pkit.errors import UserError
from p4pkit.ingest import load as load_module
from p4pkit.ingest import load_folder
from p4pkit.model.schemas import TABLES
from p4pkit.store import Store

P4P = Path(sys.executable).with_name("p4p")


def bad_world() -> dict:
    """The world with one bad patient (and so their enrollment, encounter, event) and one bad event."""
    return world(patients={1: {"sex": "M"}}, events={0: {"value_unit": "furlongs"}})


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_quarantine_sets_aside_exactly_the_bad_rows_and_loads_the_rest(tmp_path, suffix):
    db, quarantine = tmp_path / "store.duckdb", tmp_path / f"rejected{suffix}"
    report = load_folder(write_csv(tmp_path / "in", bad_world()), db, quarantine)
    assert report.rows_quarantined == {
        "organizations": 0, "clinicians": 0, "patients": 1, "enrollments": 1, "encounters": 1, "events": 2, "claim_lines": 0,
    }
    assert report.rows_loaded["events"] == 1 and report.rows_loaded["patients"] == 2
    with Store(db) as store:
        assert store.arrow("patients").column("patient_id").to_pylist() == ["P1", "P3"]
        assert store.arrow("events").column("event_id").to_pylist() == ["E3"]
    rows = pq.read_table(quarantine).to_pylist() if suffix == ".parquet" else list(csv.DictReader(quarantine.open()))
    assert [(r["source_file"], int(r["row"])) for r in rows] == [
        ("patients.csv", 2), ("enrollments.csv", 2), ("encounters.csv", 2), ("events.csv", 1), ("events.csv", 2),
    ]
    assert rows[0]["reasons"] == "sex: 'M' is not one of: female, male, other, unknown"
    assert rows[0]["sex"] == "M" and rows[0]["birth_date"] == "1960-07-15"
    assert rows[3]["reasons"].startswith("value_unit: unit 'furlongs' cannot be converted for LOINC 4548-4")
    assert rows[4]["reasons"] == (
        "encounter_id: refers to encounters.csv row 2, which was rejected; patient_id: refers to patients.csv row 2, which was rejected"
    )


def test_a_clean_load_still_writes_an_empty_quarantine_file(tmp_path):
    quarantine = tmp_path / "rejected.csv"
    quarantine.write_text("stale,from,an,earlier,load\n")
    load_folder(write_csv(tmp_path / "in", WORLD), tmp_path / "store.duckdb", quarantine)
    header, *rows = quarantine.read_text().splitlines()
    assert header.startswith("source_file,row,reasons,organization_id,name,kind") and rows == []


def test_csv_and_parquet_give_identical_stores(tmp_path):
    from_csv, from_parquet = tmp_path / "csv.duckdb", tmp_path / "parquet.duckdb"
    load_folder(write_csv(tmp_path / "csv", WORLD), from_csv)
    load_folder(write_parquet(tmp_path / "parquet", WORLD), from_parquet)
    assert sorted(p.name for p in (tmp_path / "parquet").iterdir())[0] == "claim_lines.parquet"
    csv_tables, parquet_tables = snapshot(from_csv), snapshot(from_parquet)
    assert set(csv_tables) == set(TABLES)
    assert csv_tables == parquet_tables


def test_loads_append_and_refuse_rows_already_stored(tmp_path):
    db = tmp_path / "store.duckdb"
    load_folder(write_csv(tmp_path / "people", {k: WORLD[k] for k in ("organizations", "clinicians", "patients")}), db)
    load_folder(write_csv(tmp_path / "care", {k: WORLD[k] for k in ("enrollments", "encounters", "events", "claim_lines")}), db)
    with Store(db) as store:
        assert {name: store.count(name) for name in TABLES} == {name: len(rows) for name, rows in WORLD.items()}
    with pytest.raises(UserError, match="6 problem"):
        load_folder(write_csv(tmp_path / "people", {}), db)


def test_replace_reloads_a_corrected_folder_idempotently(tmp_path):
    db = tmp_path / "store.duckdb"
    load_folder(write_csv(tmp_path / "first", WORLD), db)
    corrected = world(patients={2: {"birth_date": "1985-11-03"}})
    for _ in range(2):
        load_folder(write_csv(tmp_path / "second", corrected), db, replace=True)
    with Store(db) as store:
        assert store.count("patients") == 3
        assert str(store.arrow("patients").column("birth_date")[2]) == "1985-11-03"


def test_replace_refuses_to_leave_stored_rows_pointing_at_nothing(tmp_path):
    db = tmp_path / "store.duckdb"
    load_folder(write_csv(tmp_path / "first", WORLD), db)
    before = snapshot(db)
    with pytest.raises(UserError) as caught:
        load_folder(write_csv(tmp_path / "fewer", {"patients": WORLD["patients"][:1]}), db, replace=True)
    assert snapshot(db) == before
    files = [(p.file, p.column) for p in caught.value.problems]
    assert files == [
        ("enrollments (in the store)", "patient_id"),
        ("encounters (in the store)", "patient_id"),
        ("events (in the store)", "patient_id"),
    ]
    assert caught.value.problems[0].reason.startswith("1 stored rows refer to patient_id values the new patients.csv does not hold")


def test_an_interrupted_write_leaves_the_store_as_it_was(tmp_path, monkeypatch):
    db = tmp_path / "store.duckdb"
    load_folder(write_csv(tmp_path / "first", {k: WORLD[k] for k in ("organizations", "clinicians", "patients")}), db)
    before = snapshot(db)
    written = []
    real_publish = load_module._publish

    def crash_on_the_second_table(store, source, **how):
        if written:
            raise KeyboardInterrupt("interrupted half-way")
        written.append(source.table)
        real_publish(store, source, **how)

    monkeypatch.setattr(load_module, "_publish", crash_on_the_second_table)
    with pytest.raises(KeyboardInterrupt):
        load_folder(write_csv(tmp_path / "care", {k: WORLD[k] for k in ("enrollments", "encounters", "events")}), db)
    assert written == ["enrollments"]
    assert snapshot(db) == before


def test_an_interrupted_first_load_leaves_no_store(tmp_path, monkeypatch):
    def crash(store, source, **how):
        raise RuntimeError("power cut")

    monkeypatch.setattr(load_module, "_publish", crash)
    with pytest.raises(RuntimeError):
        load_folder(write_csv(tmp_path / "in", WORLD), tmp_path / "store.duckdb")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]


def test_a_killed_load_leaves_the_store_as_it_was(tmp_path):
    db = tmp_path / "store.duckdb"
    load_folder(write_csv(tmp_path / "first", {"organizations": WORLD["organizations"]}), db)
    before = snapshot(db)
    folder = write_csv(tmp_path / "people", {"patients": WORLD["patients"]})
    script = (
        "import os, signal; from p4pkit.ingest import load as load_module\n"
        "real = load_module._publish\n"
        "def killed(*args, **how):\n    real(*args, **how); os.kill(os.getpid(), signal.SIGKILL)\n"
        "load_module._publish = killed\n"
        f"from p4pkit.ingest import load_folder; load_folder({str(folder)!r}, {str(db)!r})\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True)
    assert result.returncode == -9
    assert snapshot(db) == before


def test_cli_exits_2_with_the_problems_and_no_traceback(tmp_path):
    db = tmp_path / "store.duckdb"
    result = subprocess.run([P4P, "load", str(write_csv(tmp_path / "in", bad_world())), "--db", str(db)], capture_output=True, text=True)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "6 problem(s) found; nothing was loaded." in result.stderr
    assert "patients.csv, row 2, column 'sex'" in result.stderr
    assert not db.exists()


def test_cli_loads_with_quarantine_and_prints_the_summary(tmp_path):
    from typer.testing import CliRunner

    from p4pkit.cli import app

    db, quarantine = tmp_path / "store.duckdb", tmp_path / "rejected.csv"
    args = ["load", str(write_csv(tmp_path / "in", bad_world())), "--db", str(db), "--quarantine", str(quarantine)]
    result = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "│ events        │ events.csv        │ 3         │ 1           │ 2 " in result.output
    assert "5 rows set aside with their reasons in" in result.output


def test_replace_refuses_patients_whose_new_dates_contradict_stored_care(tmp_path):
    db = tmp_path / "store.duckdb"
    load_folder(write_csv(tmp_path / "first", WORLD), db)
    before = snapshot(db)
    later_birth = world(patients={0: {"birth_date": "2024-01-03"}})["patients"]
    with pytest.raises(UserError) as caught:
        load_folder(write_csv(tmp_path / "again", {"patients": later_birth}), db, replace=True)
    assert snapshot(db) == before
    after = "before the patient's birth date in the new patients file"
    assert [str(p) for p in caught.value.problems] == [
        f"encounters (in the store), column 'start': 1 stored rows would be {after}",
        f"encounters (in the store), column 'end': 1 stored rows would be {after}",
        f"events (in the store), column 'start': 2 stored rows would be {after}",
        f"claim_lines (in the store), column 'service_start': 1 stored rows would be {after}",
    ]


def test_a_load_runs_under_a_small_memory_limit_and_a_malformed_limit_is_refused(tmp_path):
    db = tmp_path / "store.duckdb"
    rows = [{"patient_id": f"P{i}", "birth_date": "1970-01-01", "sex": "female"} for i in range(50_000)]
    report = load_folder(write_csv(tmp_path / "in", {"patients": rows}), db, memory_limit="64MB")
    assert report.rows_loaded == {"patients": 50_000}
    with pytest.raises(UserError, match="memory limit 'lots' is not a size"):
        load_folder(tmp_path / "in", tmp_path / "other.duckdb", memory_limit="lots")


def test_a_file_that_is_not_a_store_and_a_missing_folder_are_user_errors(tmp_path):
    folder = write_csv(tmp_path / "in", {"organizations": WORLD["organizations"]})
    not_a_store = tmp_path / "notes.duckdb"
    not_a_store.write_text("shopping list")
    with pytest.raises(UserError, match="cannot open the store"):
        load_folder(folder, not_a_store)
    assert not_a_store.read_text() == "shopping list"
    with pytest.raises(UserError, match="does not exist"):
        load_folder(folder, tmp_path / "nowhere" / "store.duckdb")
    with pytest.raises(UserError, match="does not exist"):
        load_folder(folder, tmp_path / "store.duckdb", tmp_path / "nowhere" / "rejected.csv")


def test_appending_to_a_stored_table_adds_the_good_rows_and_leaves_no_staged_table(tmp_path):
    db, quarantine = tmp_path / "store.duckdb", tmp_path / "rejected.csv"
    load_folder(write_csv(tmp_path / "first", {"patients": WORLD["patients"][:2]}), db)
    later = [WORLD["patients"][2], dict(WORLD["patients"][0], patient_id="P4", sex="robot")]
    report = load_folder(write_csv(tmp_path / "later", {"patients": later}), db, quarantine)
    assert (report.rows_loaded, report.rows_quarantined) == ({"patients": 1}, {"patients": 1})
    with Store(db) as store:
        assert store.arrow("patients").column("patient_id").to_pylist() == ["P1", "P2", "P3"]
        tables = store.connection.sql("select table_name from duckdb_tables()").fetchall()
    assert sorted(name for (name,) in tables) == ["patients"]


def test_parquet_columns_of_another_type_are_parsed_and_checked_like_csv(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    text_dates = {"patient_id": ["P1", "P2"], "birth_date": ["1950-03-01", "1960-02-30"], "sex": ["female", "male"]}
    pq.write_table(pa.table(text_dates), folder / "patients.parquet")
    with pytest.raises(UserError) as caught:
        load_folder(folder, tmp_path / "store.duckdb")
    assert [str(p) for p in caught.value.problems] == ["patients.parquet, row 2, column 'birth_date': not a date (YYYY-MM-DD)"]
