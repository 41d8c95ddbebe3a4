"""`p4p cms hvbp` on CMS's FY2024 Hospital VBP files, with every published points and score column removed.

Acceptance: the recomputed domain scores and TPS equal CMS's `hvbp_tps.csv` at its published precision
(12 decimals, compared as the written text) for the 2,474 hospitals.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pandas as pd
import pytest

from p4pkit.cli import main
from p4pkit.cms.hvbp import DOMAIN_FILES, TPS_COLUMNS, run_hvbp
from p4pkit.errors import UserError

RESULT_SUFFIXES = (
    "Achievement Points",
    "Improvement Points",
    "Measure Score",
    "Dimension Score",
    "Hcahps Base Score",
    "Hcahps Consistency Score",
)
KEPT = "Combined SSI Measure Score"  # CMS's weighting of HAI-3/HAI-4 needs data the files lack


def _inputs_only(source: Path, target: Path) -> Path:
    target.mkdir(parents=True, exist_ok=True)
    for name in DOMAIN_FILES:
        frame = pd.read_csv(source / name, dtype=str, keep_default_na=False)
        results = [c for c in frame.columns if c.endswith(RESULT_SUFFIXES) and c != KEPT]
        frame.drop(columns=results).to_csv(target / name, index=False)
    return target


@pytest.fixture(scope="module")
def inputs(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = _inputs_only(shared_data / "cms" / "hvbp_fy2024", tmp_path_factory.mktemp("hvbp_inputs"))
    remaining = [c for name in DOMAIN_FILES for c in pd.read_csv(folder / name, nrows=0).columns]
    assert not [c for c in remaining if c.endswith(RESULT_SUFFIXES) and c != KEPT]
    return folder


def test_tps_and_domain_scores_match_cms_for_every_hospital(inputs: Path, shared_data: Path, tmp_path: Path):
    run_hvbp(inputs, tmp_path)
    mine = pd.read_csv(tmp_path / "tps.csv", dtype=str, keep_default_na=False)
    published = pd.read_csv(shared_data / "cms" / "hvbp_fy2024" / "hvbp_tps.csv", dtype=str, keep_default_na=False)
    assert list(mine.columns) == ["Facility ID", *TPS_COLUMNS.values()]
    both = mine.merge(published, on="Facility ID", suffixes=("", " (CMS)"), validate="one_to_one")
    assert len(both) == len(published) == 2474
    agree = pd.concat([both[c] == both[f"{c} (CMS)"] for c in TPS_COLUMNS.values()], axis=1).all(axis=1)
    assert int(agree.sum()) == 2474, both.loc[~agree, ["Facility ID", "Total Performance Score", "Total Performance Score (CMS)"]]


def test_cli_writes_tps_csv(inputs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(sys, "argv", ["p4p", "cms", "hvbp", "--input", str(inputs), "--out", str(tmp_path / "out")])
    with pytest.raises(SystemExit) as exit_:
        main()
    assert exit_.value.code in (0, None)
    assert len(pd.read_csv(tmp_path / "out" / "tps.csv")) == 2474


def _broken_copy(inputs: Path, tmp_path: Path, file: str, edit) -> Path:
    folder = tmp_path / "broken"
    shutil.copytree(inputs, folder)
    frame = pd.read_csv(folder / file, dtype=str, keep_default_na=False)
    edit(frame).to_csv(folder / file, index=False)
    return folder


def test_unreadable_rate_exits_2_naming_file_row_and_column(
    inputs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    def edit(frame: pd.DataFrame) -> pd.DataFrame:
        frame.loc[2, "MSPB-1 Performance Rate"] = "0,98x"
        return frame

    folder = _broken_copy(inputs, tmp_path, "hvbp_efficiency_and_cost_reduction.csv", edit)
    out = tmp_path / "out"
    monkeypatch.setattr(sys, "argv", ["p4p", "cms", "hvbp", "--input", str(folder), "--out", str(out)])
    with pytest.raises(SystemExit) as exit_:
        main()
    assert exit_.value.code == 2
    message = " ".join(capsys.readouterr().err.split())  # the console wraps long lines
    assert "hvbp_efficiency_and_cost_reduction.csv, row 3, column 'MSPB-1 Performance Rate'" in message
    assert "Traceback" not in message
    assert not (out / "tps.csv").exists()


def test_missing_column_is_named(inputs: Path, tmp_path: Path):
    folder = _broken_copy(inputs, tmp_path, "hvbp_safety.csv", lambda f: f.drop(columns=["HAI-5 Benchmark"]))
    with pytest.raises(UserError) as error:
        run_hvbp(folder, tmp_path / "out")
    assert [(p.file, p.column) for p in error.value.problems] == [("hvbp_safety.csv", "HAI-5 Benchmark")]


def test_standards_that_differ_between_hospitals_are_refused(inputs: Path, tmp_path: Path):
    def edit(frame: pd.DataFrame) -> pd.DataFrame:
        frame.loc[10, "MORT-30-HF Benchmark"] = "0.9"
        return frame

    folder = _broken_copy(inputs, tmp_path, "hvbp_clinical_outcomes.csv", edit)
    with pytest.raises(UserError) as error:
        run_hvbp(folder, tmp_path / "out")
    assert [(p.row, p.column) for p in error.value.problems] == [(11, "MORT-30-HF Benchmark")]
