"""`p4p cms hacrp` on small hand-built files in the Provider Data Catalog format of the HACRP hospital file."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from p4pkit.cli import main
from p4pkit.cms.hacrp import hacrp_table, run_hacrp
from p4pkit.errors import UserError

MEASURES = ("PSI 90", "CLABSI", "CAUTI", "SSI", "CDI", "MRSA")
NA = "N/A"


def _row(ccn: str, z: dict[str, float]) -> dict[str, str]:
    """One hospital as CMS writes it: a value and a W Z Score per measure, "N/A" where missing,
    and result columns filled with a deliberately wrong answer (they must be ignored)."""
    row = {"Facility Name": "GENERAL HOSPITAL", "Facility ID": ccn, "State": "AL", "Fiscal Year": "2024"}
    for m in MEASURES:
        value = "PSI 90 Composite Value" if m == "PSI 90" else f"{m} SIR"
        row[value] = "1.000" if m in z else NA
        row[f"{m} W Z Score"] = f"{z[m]:.4f}" if m in z else NA
        row[f"{m} W Z Footnote"] = "" if m in z else "5"
    return row | {"Total HAC Score": "9.9999", "Payment Reduction": "Yes", "Payment Reduction Footnote": ""}


# Hand-worked Total HAC Scores (mean of available z): -1.0, -0.5, 0.0, 0.1, 0.2, 0.3, 0.3, 0.9 and none.
# Eight scores: n·0.75 = 6 → threshold (x6 + x7)/2 = 0.3; only 0.9 lies strictly above it.
WITH_Z = [
    _row("10001", {"PSI 90": -1.2, "CLABSI": -0.8}),
    _row("010002", {"PSI 90": -0.5}),
    _row("010003", {"PSI 90": 0.3, "MRSA": -0.3}),
    _row("010004", {"CAUTI": 0.1}),
    _row("010005", {"PSI 90": 0.1, "CAUTI": 0.2, "SSI": 0.3}),
    _row("010006", {"SSI": 0.3}),
    _row("010007", {"CDI": 0.6, "MRSA": 0.0}),
    _row("010008", {"PSI 90": 0.9}),
    _row("010009", {}),
]
EXPECTED = {
    "Facility ID": [f"0100{i:02d}" for i in range(1, 10)],
    "Total HAC Score": ["-1.0000", "-0.5000", "0.0000", "0.1000", "0.2000", "0.3000", "0.3000", "0.9000", "N/A"],
    "Payment Reduction": ["No"] * 7 + ["Yes", "N/A"],
}


@pytest.fixture
def with_z(tmp_path: Path) -> Path:
    path = tmp_path / "FY_2024_HAC_Reduction_Program_Hospital.csv"
    pd.DataFrame(WITH_Z).to_csv(path, index=False)
    return path


def test_uses_cms_z_scores_and_penalises_strictly_above_the_75th_percentile(with_z: Path, tmp_path: Path):
    run_hacrp(with_z, tmp_path / "out")
    written = pd.read_csv(tmp_path / "out" / "hacrp.csv", dtype=str, keep_default_na=False)
    assert written.to_dict("list") == EXPECTED


def test_result_columns_are_ignored(with_z: Path, tmp_path: Path):
    stripped = tmp_path / "stripped.csv"
    pd.read_csv(with_z, dtype=str).drop(columns=["Total HAC Score", "Payment Reduction"]).to_csv(stripped, index=False)
    pd.testing.assert_frame_equal(hacrp_table(with_z), hacrp_table(stripped))


def test_without_z_columns_z_scores_come_from_the_values(tmp_path: Path):
    # Twenty hospitals with a CDI SIR of 1..19 and 100, nothing else: the Total HAC Score is the CDI z-score,
    # which rises with the SIR. n·0.75 = 15 → threshold between the 15th and 16th (SIR 15 and 16):
    # the five hospitals with SIR 16, 17, 18, 19 and 100 are penalised.
    sirs = list(range(1, 20)) + [100]
    frame = pd.DataFrame(
        {"Facility ID": [f"{330100 + i}" for i in range(20)]}
        | {("PSI 90 Composite Value" if m == "PSI 90" else f"{m} SIR"): NA for m in MEASURES}
    )
    frame["CDI SIR"] = [f"{s:.3f}" for s in sirs]
    path = tmp_path / "hac.csv"
    frame.to_csv(path, index=False)
    table = hacrp_table(path)
    clipped = np.clip(sirs, 1.5, 59.5)  # winsorized at (x1 + x2)/2 and (x19 + x20)/2
    expected_z = (clipped - clipped.mean()) / clipped.std(ddof=1)
    assert table["Total HAC Score"].to_numpy() == pytest.approx(expected_z, abs=1e-12)
    assert table["Payment Reduction"].tolist() == ["No"] * 15 + ["Yes"] * 5


def test_bad_value_exits_2_naming_file_row_and_column(
    with_z: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    frame = pd.read_csv(with_z, dtype=str, keep_default_na=False)
    frame.loc[3, "CLABSI W Z Score"] = "high"
    frame.to_csv(with_z, index=False)
    monkeypatch.setattr(sys, "argv", ["p4p", "cms", "hacrp", "--input", str(with_z), "--out", str(tmp_path / "out")])
    with pytest.raises(SystemExit) as exit_:
        main()
    assert exit_.value.code == 2
    message = " ".join(capsys.readouterr().err.split())
    assert "row 4, column 'CLABSI W Z Score'" in message
    assert not (tmp_path / "out" / "hacrp.csv").exists()


def test_file_without_a_measure_is_refused(tmp_path: Path):
    path = tmp_path / "hac.csv"
    pd.DataFrame(WITH_Z).drop(columns=["MRSA SIR", "MRSA W Z Score"]).to_csv(path, index=False)
    with pytest.raises(UserError) as error:
        hacrp_table(path)
    assert [p.column for p in error.value.problems] == ["MRSA SIR"]
