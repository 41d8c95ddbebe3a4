"""`load_folder` reports its progress: each file as it is checked (parents before children), then the
storing of the rows; a failing load reports the files it got to and stores nothing."""

from __future__ import annotations

import pytest

from p4pkit.errors import UserError
from p4pkit.ingest import load_folder
from p4pkit.synth import generate


def test_each_file_then_the_storing_is_reported(tmp_path):
    generate(200, 3, tmp_path / "data")
    steps = []
    load_folder(tmp_path / "data", tmp_path / "store.duckdb", on_progress=lambda *step: steps.append(step))
    files = sorted(p.name for p in (tmp_path / "data").glob("*.parquet"))
    reported = [step.removeprefix("checking ") for step, _, _ in steps[:-1]]
    assert sorted(reported) == files  # every file once
    order = reported.index
    assert order("organizations.parquet") < order("clinicians.parquet") < order("patients.parquet") < order("encounters.parquet") < order("events.parquet")
    assert [done for _, done, _ in steps] == list(range(len(files) + 1))
    assert {total for _, _, total in steps} == {len(files) + 1}
    assert steps[-1][0] == "storing the rows"


def test_a_failing_load_never_reports_storing(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "patients.csv").write_text("patient_id,birth_date,sex\na,not-a-date,female\n", encoding="utf-8")
    steps = []
    with pytest.raises(UserError):
        load_folder(tmp_path / "data", tmp_path / "store.duckdb", on_progress=lambda *step: steps.append(step))
    assert steps == [("checking patients.csv", 0, 2)]
    assert not (tmp_path / "store.duckdb").exists()
