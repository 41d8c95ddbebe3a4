"""`p4p attribute`: a thin wrapper that writes the table and turns mistakes into exit code 2."""

from __future__ import annotations

from datetime import date

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from attribution_world import by_patient

from cli_helpers import run_p4p
from p4pkit.model.schemas import conform



def write_folder(folder):
    folder.mkdir()
    tables = {
        "organizations": conform("organizations", {"organization_id": ["P1"], "name": ["P1"], "kind": ["practice"]}),
        "patients": conform(
            "patients", {"patient_id": ["A", "B"], "birth_date": [date(1950, 1, 1)] * 2, "sex": ["male", "female"]}
        ),
        "enrollments": conform(
            "enrollments",
            {
                "enrollment_id": ["R1"],
                "patient_id": ["A"],
                "kind": ["practice_list"],
                "organization_id": ["P1"],
                "start_date": [date(2020, 1, 1)],
            },
        ),
    }
    for name, table in tables.items():
        pq.write_table(table, folder / f"{name}.parquet")


def test_attribute_writes_one_row_per_patient(tmp_path, monkeypatch, capsys):
    write_folder(tmp_path / "data")
    out = tmp_path / "out" / "attribution.csv"
    code, err = run_p4p(
        monkeypatch, capsys, "attribute", "--data", str(tmp_path / "data"), "--rule", "registration",
        "--period", "2024-04-01:2025-03-31", "--out", str(out),
    )
    assert code == 0, err
    rows = by_patient(pacsv.read_csv(out))
    assert (rows["A"]["entity_id"], rows["B"]["reason"]) == ("P1", "unattributed: no practice registration (reference date 2025-03-31)")
    assert "registration: 1 patients" in err and "unattributed: 1 patients" in err
    assert "A" not in err.split() and "B" not in err.split()  # no patient ids printed


def test_mistakes_exit_2_without_traceback_or_output(tmp_path, monkeypatch, capsys):
    write_folder(tmp_path / "data")
    out = tmp_path / "attribution.parquet"
    for args, message in [
        (["--rule", "nearest", "--period", "2024-01-01:2024-12-31"], "unknown attribution rule 'nearest'"),
        (["--rule", "registration", "--period", "2024"], "is not START:END"),
        (["--rule", "registration", "--period", "2024-01-01:2024-12-31", "--entity", "aco"], "has no parameter entity"),
    ]:
        code, err = run_p4p(monkeypatch, capsys, "attribute", "--data", str(tmp_path / "data"), "--out", str(out), *args)
        assert code == 2 and message in err and "Traceback" not in err
    assert not out.exists() and list(tmp_path.iterdir()) == [tmp_path / "data"]
