"""`generate` and `p4p synth`: deterministic for a seed, atomic, with user errors named and exit code 2."""

from __future__ import annotations

import json
import sys
from datetime import date

import numpy as np
import pytest

import p4pkit.synth.writer as writer
from p4pkit.cli import main
from p4pkit.errors import UserError
from p4pkit.model.schemas import TABLES
from p4pkit.synth import BEHAVIOURS, generate
from p4pkit.synth.world import npi_like


def files(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_same_seed_gives_byte_identical_output_and_another_seed_does_not(tmp_path):
    first, again, other = (tmp_path / name for name in ("a", "b", "c"))
    generate(1_500, 3, first, behaviours=BEHAVIOURS)
    generate(1_500, 3, again, behaviours=BEHAVIOURS)
    generate(1_500, 4, other, behaviours=BEHAVIOURS)
    expected = {f"{name}.parquet" for name in TABLES} | {
        f"truth/{name}" for name in ("practices.parquet", "hospitals.parquet", "clinician_groups.parquet", "clinicians.parquet",
                                     "conditions.parquet", "patients.parquet", "behaviours.parquet",
                                     "behaviour_patients.parquet", "params.json")}
    assert set(files(first)) == expected
    assert files(first) == files(again)
    differing = {name for name, data in files(first).items() if files(other)[name] != data}
    assert {f"{name}.parquet" for name in ("patients", "events", "encounters", "claim_lines")} <= differing


def test_progress_is_reported_for_each_stage_and_chunk_in_order(tmp_path):
    steps = []
    generate(1_200, 5, tmp_path / "w", chunk_size=500, on_progress=lambda step, done, total: steps.append((done, total)))
    assert steps[0] == (0, 5) and steps[-1] == (5, 5)  # 3 chunks + 2 stages
    assert [d for d, _ in steps] == sorted(d for d, _ in steps)


def test_params_json_records_every_parameter_and_the_seed(tmp_path):
    generate(500, 42, tmp_path / "w", behaviours=["upcoding"], program_start=date(2024, 7, 1))
    params = json.loads((tmp_path / "w" / "truth" / "params.json").read_text())
    assert params["seed"] == 42 and params["n_patients"] == 500
    assert params["behaviours"] == ["upcoding"] and params["program_start"] == "2024-07-01"
    assert params["start"] == "2023-01-01" and params["end"] == "2025-12-31"


def test_a_failed_run_leaves_no_trace(tmp_path, monkeypatch):
    def explode(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(writer, "care_tables", explode)
    with pytest.raises(RuntimeError):
        generate(500, 1, tmp_path / "w")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"behaviours": ["exception_reporting", "gaming"]}, "unknown behaviour(s): gaming"),
        ({"program_start": date(2030, 1, 1)}, "outside the data"),
        ({"n_patients": 10}, "too few"),
        ({"seed": -1}, "--seed -1: a seed is a whole number, 0 or more"),
        ({"seed": 1.5}, "--seed 1.5: a seed is a whole number"),
    ],
)
def test_user_mistakes_are_user_errors(tmp_path, kwargs, message):
    arguments = {"n_patients": 500, "seed": 1, "out_dir": tmp_path / "w", **kwargs}
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
        generate(**arguments)
    assert not (tmp_path / "w").exists()


def test_an_existing_non_empty_folder_is_refused(tmp_path):
    (tmp_path / "w").mkdir()
    (tmp_path / "w" / "keep.txt").write_text("mine")
    with pytest.raises(UserError, match="not empty"):
        generate(500, 1, tmp_path / "w")
    assert (tmp_path / "w" / "keep.txt").read_text() == "mine"


def run_cli(monkeypatch, capsys, *args) -> tuple[int, str, str]:
    """Run `p4p synth ...` through the real entry point, in process; returns (exit code, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", ["p4p", "synth", *args])
    with pytest.raises(SystemExit) as exit_info:
        main()
    captured = capsys.readouterr()
    return exit_info.value.code or 0, captured.out, captured.err


def test_cli_writes_the_world_and_prints_the_prevalence_report(tmp_path, monkeypatch, capsys):
    code, out, err = run_cli(monkeypatch, capsys, "--patients", "600", "--seed", "9", "--out", str(tmp_path / "w"),
                             "--behaviours", "upcoding,program_effect", "--program-start", "2024-04-01")
    assert code == 0, err
    assert "hypertension" in out and "claim_lines" in out
    assert "P0000" not in out + err  # no patient identifiers on screen
    params = json.loads((tmp_path / "w" / "truth" / "params.json").read_text())
    assert params["behaviours"] == ["program_effect", "upcoding"] and params["program_start"] == "2024-04-01"


def test_cli_user_error_exits_2_without_traceback(tmp_path, monkeypatch, capsys):
    code, _, err = run_cli(monkeypatch, capsys, "--patients", "600", "--out", str(tmp_path / "w"), "--behaviours", "gaming")
    assert code == 2
    assert "unknown behaviour(s): gaming" in err and "Traceback" not in err


def test_clinician_ids_are_valid_npis():
    """NPI check digit: Luhn over '80840' + the first nine digits (CMS NPI standard); 1234567893 is CMS's example."""
    assert npi_like(np.array([23456789])).to_pylist() == ["1234567893"]
    assert npi_like(np.array([0, 1])).to_pylist() == ["1000000004", "1000000012"]


def test_a_numpy_whole_number_is_a_seed():
    import numpy as np

    from p4pkit.synth import check_seed

    check_seed(np.int64(3))
