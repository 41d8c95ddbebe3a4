"""Where FHIR resources come from: JSON files (a Bundle or one resource) and bulk-data NDJSON.

Yields each resource with its location, so every later problem can name the file and the line
(NDJSON, counted from 1) or the bundle entry (counted from 1). NDJSON is streamed line by line.
JSON numbers are read as Python floats (the fast C parser); money goes through their shortest
repr (`programs.money.to_decimal`), so an amount written 12.34 is exactly 12.34.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from p4pkit.errors import Problem, UserError


@dataclass(frozen=True)
class Located:
    """One resource and where it was read: `row` is the NDJSON line or Bundle entry number (from 1),
    None for a file holding a single resource. `full_url` is the Bundle entry's fullUrl."""

    file: str
    row: int | None
    resource: dict
    full_url: str | None = None


_loads = json.loads


def input_files(path: str | Path) -> list[Path]:
    """Every `*.json` and `*.ndjson` file under a folder (recursively, sorted), or the file itself."""
    root = Path(path)
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise UserError(f"FHIR input not found: {root}", hint="Give a folder of *.json / *.ndjson files or one such file.")
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in (".json", ".ndjson"))
    if not files:
        raise UserError(f"no *.json or *.ndjson files under {root}", hint="FHIR input is Bundles or resources as JSON, or bulk-data NDJSON.")
    return files


def resources_in_json(name: str, document: object) -> Iterator[Located]:
    """The resources of one parsed JSON document: a Bundle's entries, or the document itself."""
    if not isinstance(document, dict) or "resourceType" not in document:
        raise UserError(
            f"{name} is not a FHIR resource",
            [Problem(name, None, "resourceType", "a FHIR JSON file must be one resource or a Bundle")],
        )
    if document["resourceType"] != "Bundle":
        yield Located(name, None, document)
        return
    for number, entry in enumerate(document.get("entry", ()), start=1):
        resource = entry.get("resource")
        if isinstance(resource, dict):
            yield Located(name, number, resource, entry.get("fullUrl"))


def read_files(files: list[Path]) -> Iterator[Located]:
    """Stream the resources of the given files; unreadable JSON is a `UserError` naming file and line."""
    for file in files:
        name = str(file)
        if file.suffix.lower() == ".ndjson":
            with file.open(encoding="utf-8") as lines:
                for number, line in enumerate(lines, start=1):
                    if not line.strip():
                        continue
                    try:
                        resource = _loads(line)
                    except json.JSONDecodeError as error:
                        raise UserError("unreadable NDJSON", [Problem(name, number, None, f"not JSON: {error.msg}")]) from None
                    if not isinstance(resource, dict) or "resourceType" not in resource:
                        raise UserError("unreadable NDJSON", [Problem(name, number, "resourceType", "each line must be one FHIR resource")])
                    yield Located(name, number, resource)
        else:
            try:
                document = _loads(file.read_text(encoding="utf-8"))
            except json.JSONDecodeError as error:
                raise UserError("unreadable JSON", [Problem(name, error.lineno, None, f"not JSON: {error.msg}")]) from None
            yield from resources_in_json(name, document)
