"""`p4p cms hrrp` on the official FY2024 hospital file, with the published ERR column removed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from p4pkit.cli import app
from p4pkit.cms.hrrp import hrrp_conditions, run_hrrp

FILE = "cms/hrrp_fy2024/FY_2024_Hospital_Readmissions_Reduction_Program_Hospital.csv"


@pytest.fixture(scope="module")
def published(shared_data: Path) -> pd.DataFrame:
    return pd.read_csv(shared_data / FILE, dtype=str, keep_default_na=False, encoding="utf-8-sig")


@pytest.fixture(scope="module")
def ours(published: pd.DataFrame, tmp_path_factory) -> pd.DataFrame:
    path = tmp_path_factory.mktemp("hrrp") / "inputs.csv"
    published.drop(columns=["Excess Readmission Ratio"]).to_csv(path, index=False)
    return hrrp_conditions(path)


def test_err_recomputed_from_predicted_over_expected(ours, published):
    expected = pd.to_numeric(published["Excess Readmission Ratio"], errors="coerce")
    computed = ours["Excess Readmission Ratio"]
    assert (computed.isna() == expected.isna()).all()
    rows = expected.notna()
    assert int(rows.sum()) == 12_077
    exact = computed[rows] == expected[rows]
    assert int(exact.sum()) == 11_749
    # The other 328 differ by one in the 4th decimal: CMS divides the unrounded rates, the file
    # holds them rounded to 4 decimals. The propagated rounding bound covers every one of them.
    predicted = ours.loc[rows, "Predicted Readmission Rate"]
    bound = 0.5e-4 + computed[rows] * 0.5e-4 * (1 / predicted + 1 / ours.loc[rows, "Expected Readmission Rate"]) + 0.5e-4
    assert ((computed[rows] - expected[rows]).abs() <= bound).all()
    assert (computed[rows] - expected[rows]).abs().max() == pytest.approx(1e-4)


def test_suppression_reproduces_the_published_cells(ours, published):
    for column in ("Number of Readmissions", "Number of Discharges"):
        assert (ours[column] == published[column]).all(), column
    assert int((ours["Number of Readmissions"] == "Too Few to Report").sum()) == 4_187


def test_ids_are_six_characters_and_dates_iso(ours):
    assert ours["Facility ID"].str.len().eq(6).all()
    assert ours["Facility ID"].iloc[0] == "010001"
    assert set(ours["Start Date"]) == {"2019-07-01"} and set(ours["End Date"]) == {"2022-06-30"}


def write_example(folder: Path) -> tuple[Path, Path]:
    """The hand-worked example of tests/programs/test_hrrp.py as CMS-style files."""
    rows = [
        ("10001", "AMI", "1.1"), ("10001", "HF", "1.2"), ("10002", "AMI", "1.0"), ("10002", "HF", "1.0"),
        ("10003", "AMI", "0.9"), ("10003", "HF", "0.8"), ("10004", "AMI", "1.2"), ("10005", "AMI", "1.0"),
    ]
    hospital = pd.DataFrame(
        {
            "Facility Name": "X",
            "Facility ID": [r[0] for r in rows],
            "State": "AL",
            "Measure Name": [f"READM-30-{r[1]}-HRRP" for r in rows],
            "Number of Discharges": "300",
            "Footnote": "",
            "Predicted Readmission Rate": [r[2] for r in rows],
            "Expected Readmission Rate": "1.0",
            "Number of Readmissions": "40",
            "Start Date": "7/1/19",
            "End Date": "6/30/22",
        }
    )
    supplemental = pd.DataFrame(
        {
            "Facility ID": ["10001", "10002", "10003", "10004", "10005"],
            "Peer Group": [1, 1, 1, 2, 2],
            **{f"DRG Ratio {c}": ["0.05"] * 5 if c == "AMI" else (["0.10"] * 5 if c == "HF" else [""] * 5) for c in ("AMI", "HF", "PN", "COPD", "CABG", "HIP-KNEE")},
            "Base Operating DRG Payments": ["1000000", "1000000", "1000000", "2000000", "1000000"],
        }
    )
    hospital_path, supplemental_path = folder / "hospital.csv", folder / "supplemental.csv"
    hospital.to_csv(hospital_path, index=False)
    supplemental.to_csv(supplemental_path, index=False)
    return hospital_path, supplemental_path


def test_payment_adjustment_from_supplemental_inputs(tmp_path):
    hospital, supplemental = write_example(tmp_path)
    payment = run_hrrp(hospital, tmp_path / "out", supplemental)["hrrp_payment.csv"].set_index("Facility ID")
    assert payment["Payment Adjustment Factor"].to_dict() == {"010001": 0.97, "010002": 1.0, "010003": 1.0, "010004": 0.9936, "010005": 1.0}
    assert payment["Neutrality Modifier"].iloc[0] == 1.2857
    assert payment["Peer Group"].tolist() == [1, 1, 1, 2, 2]


def test_cli_writes_both_tables_and_a_bad_supplemental_is_a_user_error(tmp_path):
    hospital, supplemental = write_example(tmp_path)
    runner = CliRunner()
    done = runner.invoke(app, ["cms", "hrrp", "--input", str(hospital), "--supplemental", str(supplemental), "--out", str(tmp_path / "out")])
    assert done.exit_code == 0, done.output
    assert {p.name for p in (tmp_path / "out").iterdir()} == {"hrrp.csv", "hrrp_payment.csv"}
    pd.read_csv(supplemental).drop(columns=["DRG Ratio HF"]).to_csv(supplemental, index=False)
    failed = runner.invoke(app, ["cms", "hrrp", "--input", str(hospital), "--supplemental", str(supplemental), "--out", str(tmp_path / "bad")])
    assert failed.exit_code == 2
    assert "DRG Ratio HF" in failed.output and "Traceback" not in failed.output
    assert not (tmp_path / "bad").exists()
    assert np.isfinite(pd.read_csv(tmp_path / "out" / "hrrp.csv")["Excess Readmission Ratio"]).all()
