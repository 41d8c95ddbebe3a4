"""`atomic.replacing`: the new file appears whole or not at all, and no temporary file is left."""

from __future__ import annotations

import pytest

import os

from p4pkit.atomic import publishing, replacing, scratch_folder
from p4pkit.errors import UserError


def test_a_completed_write_replaces_the_file_and_leaves_nothing_else(tmp_path):
    target = tmp_path / "out" / "table.csv"
    with replacing(target) as scratch:
        assert scratch.parent == target.parent and not target.exists()
        scratch.write_text("new")
    assert target.read_text() == "new" and [p.name for p in target.parent.iterdir()] == ["table.csv"]


def test_a_failed_write_keeps_the_old_file_and_removes_the_temporary_one(tmp_path):
    target = tmp_path / "table.csv"
    target.write_text("old")
    with pytest.raises(RuntimeError), replacing(target) as scratch:
        scratch.write_text("half")
        raise RuntimeError("the writer failed")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["table.csv"]


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_what_is_put_in_place_gets_the_users_umask_not_the_scratch_files_owner_only_mode(tmp_path, umask_022):
    with replacing(tmp_path / "table.csv") as scratch:
        scratch.write_text("new")
    folder = scratch_folder(tmp_path / "run")
    assert oct((tmp_path / "table.csv").stat().st_mode & 0o777) == "0o644" and oct(folder.stat().st_mode & 0o777) == "0o755"


def test_an_output_set_replaces_the_earlier_set_and_leaves_other_files(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    for name in ("a.parquet", "b.ndjson", "notes.txt"):
        (out / name).write_text("earlier")
    with publishing(out, ["a.parquet", "b.ndjson"]) as scratch:
        (scratch / "a.parquet").write_text("new")
    assert {p.name: p.read_text() for p in out.iterdir()} == {"a.parquet": "new", "notes.txt": "earlier"}
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no scratch folder left


def test_a_failed_output_set_leaves_the_folder_as_it_was(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.parquet").write_text("earlier")
    with pytest.raises(RuntimeError), publishing(out, ["a.parquet"]) as scratch:
        (scratch / "a.parquet").write_text("half")
        raise RuntimeError("the run failed")
    assert (out / "a.parquet").read_text() == "earlier" and [p.name for p in tmp_path.iterdir()] == ["out"]


def test_an_out_that_is_a_file_or_holds_a_folder_of_an_output_name_is_refused_before_any_work(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(UserError, match="is a file"), publishing(tmp_path / "file", ["a.parquet"]):
        pytest.fail("the block ran")
    (tmp_path / "out" / "a.parquet").mkdir(parents=True)
    with pytest.raises(UserError, match="holds a folder named a.parquet"), publishing(tmp_path / "out", ["a.parquet"]):
        pytest.fail("the block ran")


def test_an_output_set_is_built_inside_its_folder_and_a_folder_made_for_a_failed_run_is_removed(tmp_path):
    with publishing(tmp_path / "out", ["a.parquet"]) as scratch:
        assert scratch.parent == tmp_path / "out"  # renames stay on out's file system, wherever it is mounted
        (scratch / "a.parquet").write_text("new")
    with pytest.raises(RuntimeError), publishing(tmp_path / "new", ["a.parquet"]):
        raise RuntimeError("the run failed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"] and [p.name for p in (tmp_path / "out").iterdir()] == ["a.parquet"]
