"""Value sets as data: FHIR ValueSet expansions turned into one (valueset_oid, system, code) table.

Measures name value sets by OID, never by display or URL, because the published content is not
uniform (one expansion's `url` uses https:// where the measures cite http://). The packaged folder
`model/valuesets/` holds the VSAC expansions of every value set the 2025 eCQMs in `p4pkit.measures`
reference; a user folder (`--valuesets DIR`) adds value sets or replaces packaged ones wholesale,
OID by OID, so a newer VSAC release can be dropped in without touching code.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import pyarrow as pa

from p4pkit.errors import Problem, UserError
from p4pkit.store import Store

PACKAGED = Path(__file__).with_name("valuesets")
TABLE = "valuesets"
SCHEMA = pa.schema(
    [
        pa.field("valueset_oid", pa.string(), nullable=False),
        pa.field("system", pa.string(), nullable=False),
        pa.field("code", pa.string(), nullable=False),
    ]
)


def _oid(resource: dict) -> str | None:
    """The OID of a ValueSet: its `id`, else the last segment of its canonical URL."""
    if resource.get("id"):
        return str(resource["id"])
    url = resource.get("url") or ""
    return url.rstrip("/").rsplit("/", 1)[-1] or None


def _contains(items: list[dict]) -> list[tuple[str, str]]:
    """Codes of an expansion, flattening nested `contains` (FHIR allows hierarchical expansions)."""
    codes: list[tuple[str, str]] = []
    for item in items:
        if item.get("system") and item.get("code"):
            codes.append((item["system"], item["code"]))
        codes.extend(_contains(item.get("contains", [])))
    return codes


def read_valueset_folder(folder: str | Path) -> dict[str, list[tuple[str, str]]]:
    """Every ValueSet expansion in `folder` (`*.json`), as OID -> [(system, code)].

    A file that is not an expanded FHIR ValueSet is a user mistake: reported with its name and
    what to fix, all files checked before failing.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"value set folder not found: {folder}", hint="Pass a folder of FHIR ValueSet JSON files.")
    found: dict[str, list[tuple[str, str]]] = {}
    problems: list[Problem] = []
    for path in sorted(folder.glob("*.json")):
        try:
            resource = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as error:
            problems.append(Problem(path.name, None, None, f"not readable JSON ({error})"))
            continue
        oid = _oid(resource) if isinstance(resource, dict) else None
        if not isinstance(resource, dict) or resource.get("resourceType") != "ValueSet" or not oid:
            problems.append(Problem(path.name, None, "resourceType", "not a FHIR ValueSet with an id or url"))
            continue
        if "expansion" not in resource:
            problems.append(Problem(path.name, None, "expansion", "ValueSet has no expansion; export it expanded from VSAC"))
            continue
        found[oid] = _contains(resource["expansion"].get("contains", []))
    if problems:
        raise UserError(f"{len(problems)} problem(s) in value set folder {folder}", problems)
    return found


@cache
def _packaged() -> dict[str, list[tuple[str, str]]]:
    """The packaged expansions, read once per process (they ship with the code)."""
    return read_valueset_folder(PACKAGED)


def valueset_table(extra: str | Path | None = None) -> pa.Table:
    """The packaged value sets, with those in `extra` added or replacing packaged ones by OID."""
    sets = dict(_packaged())
    if extra is not None:
        sets.update(read_valueset_folder(extra))
    rows = sorted({(oid, system, code) for oid, codes in sets.items() for system, code in codes})
    columns = list(zip(*rows)) if rows else [(), (), ()]
    return pa.Table.from_arrays([pa.array(c, pa.string()) for c in columns], schema=SCHEMA)


def load_valuesets(store: Store, extra: str | Path | None = None) -> int:
    """Write the value set table into the store (atomically) and return its row count."""
    table = valueset_table(extra)
    store.replace_tables({TABLE: table})
    return table.num_rows
