"""Value sets as data (packaged, added, overridden) and the `p4p measure run` command."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from p4pkit.cli import app
from p4pkit.errors import UserError
from p4pkit.model.valuesets import PACKAGED, read_valueset_folder, valueset_table

from measure_tables import store_with


def test_packaged_value_sets_match_by_oid_whatever_the_url_scheme(shared_data: Path):
    packaged = read_valueset_folder(PACKAGED)
    official = sorted(p.stem for p in (shared_data / "ecqm" / "valuesets").glob("*.json"))
    assert sorted(packaged) == official and len(official) == 69
    # Payer Type's url uses https://, yet it is found by its OID.
    assert "2.16.840.1.114222.4.11.3591" in packaged
    diabetes = packaged["2.16.840.1.113883.3.464.1003.103.12.1001"]
    assert ("http://snomed.info/sct", "44054006") in diabetes


def test_user_folder_adds_and_overrides(tmp_path: Path):
    expansion = {"contains": [{"system": "http://loinc.org", "code": "1-1"}]}
    (tmp_path / "mine.json").write_text(json.dumps({"resourceType": "ValueSet", "id": "9.9.9", "expansion": expansion}))
    (tmp_path / "over.json").write_text(
        json.dumps({"resourceType": "ValueSet", "url": "http://x/ValueSet/2.16.840.1.113883.3.464.1003.103.12.1001", "expansion": expansion})
    )
    rows = valueset_table(tmp_path).to_pylist()
    assert {"valueset_oid": "9.9.9", "system": "http://loinc.org", "code": "1-1"} in rows
    assert [r["code"] for r in rows if r["valueset_oid"] == "2.16.840.1.113883.3.464.1003.103.12.1001"] == ["1-1"]


def test_unexpanded_value_set_is_a_user_error(tmp_path: Path):
    (tmp_path / "bare.json").write_text(json.dumps({"resourceType": "ValueSet", "id": "1.2"}))
    (tmp_path / "junk.json").write_text("{not json")
    with pytest.raises(UserError) as caught:
        read_valueset_folder(tmp_path)
    assert [p.file for p in caught.value.problems] == ["bare.json", "junk.json"]


def test_cli_runs_measures_on_a_duckdb_store_without_touching_it(tmp_path: Path):
    store = store_with([("a", "1960-01-01", "female")], [])
    db = tmp_path / "data.duckdb"
    store.connection.execute(f"attach '{db}' as target")
    for name in ("patients", "events", "encounters"):
        store.connection.execute(f"create table target.{name} as select * from {name}")
    store.connection.execute("detach target")
    store.close()
    before = db.read_bytes()
    result = CliRunner().invoke(
        app, ["measure", "run", "--measures", "CMS125", "--data", str(db), "--period", "2025-01-01:2025-12-31", "--out", str(tmp_path / "out")]
    )
    assert result.exit_code == 0, result.output
    assert db.read_bytes() == before
    results = pq.read_table(tmp_path / "out" / "patient_results.parquet")
    assert results.num_rows == 0 and "evidence_event_ids" in results.column_names
    assert pq.read_table(tmp_path / "out" / "summary.parquet").num_rows == 0


def test_cli_unknown_measure_exits_2(tmp_path: Path):
    result = CliRunner().invoke(
        app, ["measure", "run", "--measures", "CMS1", "--data", str(tmp_path / "none.duckdb"), "--period", "2025-01-01:2025-12-31", "--out", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert "unknown measure 'CMS1'" in result.output and "Traceback" not in result.output


def _valueset(folder: Path, name: str, contains: object, **extra) -> Path:
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(json.dumps({"resourceType": "ValueSet", "id": "1.2.3", "expansion": {"contains": contains}, **extra}))
    return folder


@pytest.mark.parametrize(
    ("contains", "path", "reason"),
    [
        ("x", "ValueSet.expansion.contains", "not a list (JSON array); it is a string"),
        ([{"system": "http://loinc.org"}], "ValueSet.expansion.contains[0].code", "missing; every entry of an expansion needs a system and a code"),
        ([{"code": "1-1"}], "ValueSet.expansion.contains[0].system", "missing; a code needs the code system it comes from"),
        ([{"system": "http://loinc.org", "code": 11}], "ValueSet.expansion.contains[0].code", "not a string; it is a number"),
        (["1-1"], "ValueSet.expansion.contains[0]", "not an expansion entry (a JSON object); it is a string"),
        ([{"abstract": True, "contains": {"code": "1"}}], "ValueSet.expansion.contains[0].contains", "not a list (JSON array); it is an object"),
    ],
)
def test_malformed_expansions_name_file_and_path(tmp_path: Path, contains, path, reason):
    with pytest.raises(UserError) as caught:
        read_valueset_folder(_valueset(tmp_path / "vs", "mine.json", contains))
    (problem,) = caught.value.problems
    assert (problem.file, problem.column) == ("mine.json", path) and problem.reason.startswith(reason)
    assert str(tmp_path / "vs") in caught.value.message


def test_abstract_headings_group_codes_without_being_codes(tmp_path: Path):
    heading = {"abstract": True, "display": "Group", "contains": [{"system": "http://loinc.org", "code": "1-1"}]}
    assert read_valueset_folder(_valueset(tmp_path / "vs", "mine.json", [heading])) == {"1.2.3": [("http://loinc.org", "1-1")]}


def test_a_folder_without_value_sets_or_with_one_twice_is_a_user_error(tmp_path: Path):
    (tmp_path / "vs").mkdir()
    (tmp_path / "vs" / "notes.txt").write_text("to do")
    with pytest.raises(UserError) as caught:
        read_valueset_folder(tmp_path / "vs")
    assert caught.value.message == f"no value set file (*.json) in value set folder {tmp_path / 'vs'}: it holds only notes.txt"
    codes = [{"system": "http://loinc.org", "code": "1-1"}]
    _valueset(tmp_path / "vs", "a.json", codes)
    _valueset(tmp_path / "vs", "b.json", codes)
    with pytest.raises(UserError) as caught:
        read_valueset_folder(tmp_path / "vs")
    assert [(p.file, p.column, p.reason) for p in caught.value.problems] == [
        ("b.json", "ValueSet.id", "value set 1.2.3 is also in a.json; keep one file per value set")
    ]


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"mine.json": {"resourceType": "ValueSet", "id": "1.2.3", "expansion": {"contains": "x"}}}, "mine.json, column 'ValueSet.expansion.contains': not a list"),
        ({"mine.json": {"resourceType": "ValueSet", "id": "1.2.3", "expansion": {"contains": [{"system": "http://loinc.org"}]}}}, "mine.json, column 'ValueSet.expansion.contains[0].code': missing"),
        ({"notes.txt": "to do"}, "no value set file (*.json) in value set folder"),
    ],
)
def test_measure_run_with_bad_value_sets_exits_2_and_writes_nothing(tmp_path: Path, monkeypatch, files, expected):
    """The reviewer's runs: `p4p measure run --measures CMS122 --fhir DIR --valuesets VSDIR`."""
    from p4pkit import cli

    monkeypatch.setattr(cli.console, "width", 10_000)  # no line wrapping inside long paths
    (tmp_path / "vs").mkdir()
    for name, content in files.items():
        (tmp_path / "vs" / name).write_text(content if isinstance(content, str) else json.dumps(content))
    (tmp_path / "fhir").mkdir()
    patient = {"resourceType": "Patient", "id": "p1", "birthDate": "1960-01-01", "gender": "female"}
    (tmp_path / "fhir" / "Patient.ndjson").write_text(json.dumps(patient) + "\n")
    result = CliRunner().invoke(
        app,
        ["measure", "run", "--measures", "CMS122", "--fhir", str(tmp_path / "fhir"), "--period", "2025-01-01:2025-12-31",
         "--out", str(tmp_path / "out"), "--valuesets", str(tmp_path / "vs")],
    )
    assert result.exit_code == 2, result.output
    assert expected in result.output and "Traceback" not in result.output
    assert not (tmp_path / "out").exists()
