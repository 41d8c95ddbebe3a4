"""`atomic.replacing`: the new file appears whole or not at all, and no temporary file is left."""

from __future__ import annotations

import pytest

from p4pkit.atomic import replacing


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
