"""`cms._files`: the CSV helpers the HVBP and HACRP adapters (and other CMS adapters) read files with."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from p4pkit.cms._files import facility_ids, parse_numbers, read_cms_csv, unique_facility_ids, write_csv_atomically
from p4pkit.errors import UserError


def test_parse_numbers_reads_cms_spellings():
    frame = pd.DataFrame({"v": ["9.09%", "1,234", "7 out of 10", "-0.25", "Not Available", "N/A", "--", "", " 3 "]})
    values = parse_numbers(frame, ["v"], "f.csv")["v"].tolist()
    assert values[:4] == [9.09, 1234.0, 7.0, -0.25]
    assert all(math.isnan(v) for v in values[4:8])
    assert values[8] == 3.0


def test_parse_numbers_reports_every_bad_cell():
    frame = pd.DataFrame({"a": ["1", "x"], "b": ["2 of 10", "3"]})
    with pytest.raises(UserError) as error:
        parse_numbers(frame, ["a", "b"], "f.csv")
    assert [(p.file, p.row, p.column) for p in error.value.problems] == [("f.csv", 2, "a"), ("f.csv", 1, "b")]


def test_read_keeps_leading_zeros_and_checks_columns(tmp_path: Path):
    path = tmp_path / "f.csv"
    path.write_text('"Facility ID","Score"\n010001,1\n', encoding="utf-8")
    assert read_cms_csv(path, ["Facility ID"])["Facility ID"].tolist() == ["010001"]
    with pytest.raises(UserError) as error:
        read_cms_csv(path, ["Facility ID", "Benchmark"])
    assert [(p.file, p.column) for p in error.value.problems] == [("f.csv", "Benchmark")]
    with pytest.raises(UserError, match="not found"):
        read_cms_csv(tmp_path / "absent.csv")


def test_read_falls_back_to_latin_1(tmp_path: Path):
    path = tmp_path / "f.csv"
    path.write_bytes("Facility ID,Facility Name\n010001,HÔPITAL\n".encode("latin-1"))
    assert read_cms_csv(path)["Facility Name"].tolist() == ["HÔPITAL"]


def test_facility_ids_are_padded_back_to_six_characters():
    assert facility_ids(pd.Series(["10001", "010001", "05T123", " 330101 "])).tolist() == ["010001", "010001", "05T123", "330101"]


def test_repeated_and_blank_facility_ids_are_refused():
    frame = pd.DataFrame({"Facility ID": ["010001", "10001", ""]})
    with pytest.raises(UserError) as error:
        unique_facility_ids(frame, "Facility ID", "f.csv")
    assert sorted(p.row for p in error.value.problems) == [2, 3]


def test_atomic_write_replaces_whole_file_and_leaves_no_temporary(tmp_path: Path):
    write_csv_atomically(pd.DataFrame({"a": [1]}), tmp_path / "out", "t.csv")
    write_csv_atomically(pd.DataFrame({"a": [2, 3]}), tmp_path / "out", "t.csv")
    assert pd.read_csv(tmp_path / "out" / "t.csv")["a"].tolist() == [2, 3]
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["t.csv"]
