"""docs/data-model.md describes every column of every canonical table, in that table's section."""

from __future__ import annotations

import re
from pathlib import Path

from p4pkit.model.schemas import TABLES


def _sections() -> dict[str, str]:
    text = (Path(__file__).resolve().parents[2] / "docs" / "data-model.md").read_text()
    parts = re.split(r"^## (\S+)\s*$", text, flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def test_every_table_has_a_section():
    assert set(TABLES) <= set(_sections())


def test_every_column_has_a_row_in_its_table_section():
    sections = _sections()
    missing = [
        f"{name}.{column}"
        for name, spec in TABLES.items()
        for column in spec.schema.names
        if f"| `{column}` |" not in sections.get(name, "")
    ]
    assert missing == []


def test_documented_columns_exist_and_say_whether_required():
    sections = _sections()
    for name, spec in TABLES.items():
        rows = re.findall(r"^\| `(\w+)` \| [^|]+ \| (yes|no) \|", sections[name], flags=re.MULTILINE)
        assert dict(rows) == {f.name: "no" if f.nullable else "yes" for f in spec.schema}, name
