"""Where FHIR resources come from: JSON files (a Bundle or one resource) and bulk-data NDJSON.

Yields each resource with its location, so every later problem can name the file and the line
(NDJSON, counted from 1) or the bundle entry (counted from 1). NDJSON is streamed line by line.
What cannot be a resource (a Bundle entry without one, a line or entry that is not a JSON object
naming its resourceType) is yielded as a `Problem` in its place, so that every such problem of the
input is reported together with the rest; only a file that is not JSON at all stops the reading.
JSON numbers are read as Python floats (the fast C parser); money goes through their shortest
repr (`programs.money.to_decimal`), so an amount written 12.34 is exactly 12.34.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from p4pkit.errors import Problem, UserError
from p4pkit.ingest.fhir.shapes import json_type


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


def located(file: str, row: int | None, value: object, at: str = "", full_url: str | None = None) -> Located | Problem:
    """`value` as a resource, or the problem that keeps it from being one. `at` is where it sits in
    its file as a FHIR path (`Bundle.entry[2].resource`), empty for a whole file, an NDJSON line or
    a resource given in memory."""
    if not isinstance(value, dict):
        return Problem(file, row, at or None, f"not a FHIR resource (a JSON object); it is {json_type(value)}")
    kind = value.get("resourceType")
    path = f"{at}.resourceType" if at else "resourceType"
    if kind is None:
        return Problem(file, row, path, 'missing; every FHIR resource names its type, e.g. "resourceType": "Patient"')
    if not isinstance(kind, str) or not kind:
        return Problem(file, row, path, f"not a resource type name; it is {json_type(kind)}")
    return Located(file, row, value, full_url)


def resources_in_json(name: str, document: object) -> Iterator[Located | Problem]:
    """The resources of one parsed JSON document: a Bundle's entries, or the document itself."""
    found = located(name, None, document)
    if isinstance(found, Problem) or document["resourceType"] != "Bundle":
        yield found
        return
    entries = document.get("entry")
    if entries is None:
        return
    if not isinstance(entries, list):
        yield Problem(name, None, "Bundle.entry", f"not a list (JSON array); it is {json_type(entries)}")
        return
    for number, entry in enumerate(entries, start=1):
        at = f"Bundle.entry[{number - 1}]"
        if not isinstance(entry, dict):
            yield Problem(name, number, at, f"not a Bundle entry (a JSON object); it is {json_type(entry)}")
            continue
        full_url = entry.get("fullUrl")
        if full_url is not None and not isinstance(full_url, str):
            yield Problem(name, number, f"{at}.fullUrl", f"not a string; it is {json_type(full_url)}")
            continue
        if entry.get("resource") is None:
            yield Problem(name, number, f"{at}.resource", "missing; each entry must hold a resource (entries with only a request or response are not read)")
            continue
        yield located(name, number, entry["resource"], f"{at}.resource", full_url)


def read_files(files: list[Path]) -> Iterator[Located | Problem]:
    """Stream the resources of the given files; a file that is not UTF-8 JSON is a `UserError`
    naming file and line."""
    for file in files:
        name = str(file)
        try:
            if file.suffix.lower() == ".ndjson":
                with file.open(encoding="utf-8") as lines:
                    for number, line in enumerate(lines, start=1):
                        if not line.strip():
                            continue
                        try:
                            resource = _loads(line)
                        except json.JSONDecodeError as error:
                            raise UserError("unreadable NDJSON", [Problem(name, number, None, f"not JSON: {error.msg}")]) from None
                        yield located(name, number, resource)
            else:
                try:
                    document = _loads(file.read_text(encoding="utf-8"))
                except json.JSONDecodeError as error:
                    raise UserError("unreadable JSON", [Problem(name, error.lineno, None, f"not JSON: {error.msg}")]) from None
                yield from resources_in_json(name, document)
        except UnicodeDecodeError:
            # Text is decoded a block at a time, so the line is not known.
            raise UserError("unreadable FHIR file", [Problem(name, None, None, "not UTF-8 text; save it as UTF-8, as FHIR JSON is")]) from None
