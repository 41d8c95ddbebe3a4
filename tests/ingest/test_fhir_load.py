"""load_fhir: FHIR into a store, merged by primary key, all or nothing; and the CLI path over FHIR."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from p4pkit.cli import app, main
from p4pkit.errors import UserError
from p4pkit.ingest.fhir import load_fhir
from p4pkit.model.schemas import TABLES
from p4pkit.store import Store

def _write(folder: Path, name: str, resources: list[dict]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("".join(json.dumps(r) + "\n" for r in resources))
    return path


def _patient(pid: str, birth: str = "1960-01-01") -> dict:
    return {"resourceType": "Patient", "id": pid, "birthDate": birth, "gender": "male"}


def _observation(oid: str, pid: str, value: float) -> dict:
    return {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "subject": {"reference": f"Patient/{pid}"},
        "code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
        "effectiveDateTime": "2025-03-01T10:00:00Z",
        "valueQuantity": {"value": value, "unit": "mmHg", "code": "mm[Hg]"},
    }


def test_load_creates_every_table_and_references_may_point_into_the_store(tmp_path):
    db = tmp_path / "store.duckdb"
    assert load_fhir(_write(tmp_path / "a", "Patient.ndjson", [_patient("p1")]), db)["patients"] == 1
    counts = load_fhir(_write(tmp_path / "b", "Observation.ndjson", [_observation("o1", "p1", 150)]), db)
    assert counts["events"] == 1 and counts["patients"] == 0
    with Store(db, read_only=True) as store:
        assert all(store.has_table(name) for name in TABLES)
        assert store.count("patients") == 1
        assert store.arrow("events").select(["event_id", "patient_id", "value_num"]).to_pylist() == [
            {"event_id": "Observation/o1", "patient_id": "p1", "value_num": 150.0}
        ]


def test_a_resent_resource_replaces_its_row_and_others_stay(tmp_path):
    db = tmp_path / "store.duckdb"
    load_fhir(_write(tmp_path / "a", "all.ndjson", [_patient("p1"), _patient("p2"), _observation("o1", "p1", 150)]), db)
    load_fhir(_write(tmp_path / "b", "fix.ndjson", [_observation("o1", "p1", 135), _observation("o2", "p2", 120)]), db)
    with Store(db, read_only=True) as store:
        values = dict(store.connection.sql("select event_id, value_num from events").fetchall())
        assert values == {"Observation/o1": 135.0, "Observation/o2": 120.0}
        assert store.count("patients") == 2


def test_a_problem_leaves_the_store_as_it_was(tmp_path):
    db = tmp_path / "store.duckdb"
    load_fhir(_write(tmp_path / "a", "all.ndjson", [_patient("p1"), _observation("o1", "p1", 150)]), db)
    bad = _write(tmp_path / "b", "bad.ndjson", [_patient("p3"), _observation("o1", "p1", 99), _observation("o9", "nobody", 1)])
    with pytest.raises(UserError) as caught:
        load_fhir(bad, db)
    assert [(p.row, p.column) for p in caught.value.problems] == [(3, "Observation.subject")]
    assert caught.value.problems[0].reason == "refers to a Patient that is in neither the input nor the store; include that resource"
    with Store(db, read_only=True) as store:
        assert store.count("patients") == 1
        assert store.connection.sql("select value_num from events").fetchall() == [(150.0,)]


def test_a_failed_load_into_a_new_store_leaves_no_file(tmp_path):
    bad = _write(tmp_path / "in", "bad.ndjson", [_observation("o1", "nobody", 1)])
    (tmp_path / "db").mkdir()
    with pytest.raises(UserError):
        load_fhir(bad, tmp_path / "db" / "new.duckdb")
    assert list((tmp_path / "db").iterdir()) == []


def test_measure_run_over_fhir_writes_measurereports(tmp_path, shared_data):
    case = json.loads((shared_data / "ecqm/measures/CMS165/6885264d-efbf-4e48-99a2-2e8ce29d61ba.json").read_text())
    expected = next(e["resource"] for e in case["bundle"]["entry"] if e["resource"]["resourceType"] == "MeasureReport")
    case["bundle"]["entry"] = [e for e in case["bundle"]["entry"] if e["resource"]["resourceType"] != "MeasureReport"]
    (tmp_path / "fhir").mkdir()
    (tmp_path / "fhir" / "case.json").write_text(json.dumps(case["bundle"]))
    arguments = ["measure", "run", "--measures", "CMS165", "--fhir", str(tmp_path / "fhir"), "--period", "2025-01-01:2025-12-31"]
    run = CliRunner().invoke(app, [*arguments, "--out", str(tmp_path / "out"), "--format", "measurereport"])
    assert run.exit_code == 0, run.output
    (report,) = [json.loads(line) for line in (tmp_path / "out" / "measurereports.ndjson").read_text().splitlines()]
    assert report["measure"] == expected["measure"]
    assert report["subject"]["reference"] == "Patient/6885264d-efbf-4e48-99a2-2e8ce29d61ba"
    assert [[(p["code"]["coding"][0]["code"], p["count"]) for p in g["population"]] for g in report["group"]] == [
        [(p["code"]["coding"][0]["code"], p["count"]) for p in g["population"]] for g in expected["group"]
    ]


def test_measure_run_over_bad_fhir_exits_2_without_traceback(tmp_path, monkeypatch, capsys):
    _write(tmp_path / "fhir", "Observation.ndjson", [_observation("o1", "nobody", 1)])
    arguments = ["measure", "run", "--measures", "CMS165", "--fhir", str(tmp_path / "fhir"), "--period", "2025-01-01:2025-12-31"]
    monkeypatch.setattr(sys, "argv", ["p4p", *arguments, "--out", str(tmp_path / "out")])
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 2
    stderr = capsys.readouterr().err
    assert "Traceback" not in stderr and "Observation.subject" in stderr
    assert not (tmp_path / "out").exists()
