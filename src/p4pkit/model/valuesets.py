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


def _json_type(value: object) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    return {str: "a string", list: "a list (JSON array)", dict: "an object", type(None): "null"}.get(type(value), type(value).__name__)


def _oid(file: str, resource: dict, problems: list[Problem]) -> str | None:
    """The OID of a ValueSet: its `id`, else the last segment of its canonical URL."""
    for element in ("id", "url"):
        value = resource.get(element)
        if value is not None and not isinstance(value, str):
            problems.append(Problem(file, None, f"ValueSet.{element}", f"not a string; it is {_json_type(value)}"))
            return None
    if resource.get("id"):
        return resource["id"]
    oid = (resource.get("url") or "").rstrip("/").rsplit("/", 1)[-1]
    if not oid:
        problems.append(Problem(file, None, "ValueSet.id", "missing; give the value set's OID as its id (or a url ending in it)"))
    return oid or None


def _contains(file: str, items: object, at: str, problems: list[Problem]) -> list[tuple[str, str]]:
    """Codes of an expansion, flattening nested `contains` (FHIR allows hierarchical expansions).

    Every entry needs a system and a code, except an abstract one (a heading of a hierarchical
    expansion, which is not itself a member); `at` is the FHIR path of `items` for problems.
    """
    if not isinstance(items, list):
        problems.append(Problem(file, None, at, f"not a list (JSON array); it is {_json_type(items)}"))
        return []
    codes: list[tuple[str, str]] = []
    for number, item in enumerate(items):
        where = f"{at}[{number}]"
        if not isinstance(item, dict):
            problems.append(Problem(file, None, where, f"not an expansion entry (a JSON object); it is {_json_type(item)}"))
            continue
        system, code = item.get("system"), item.get("code")
        wrong = [name for name, value in (("system", system), ("code", code)) if value is not None and not isinstance(value, str)]
        problems += [Problem(file, None, f"{where}.{name}", f"not a string; it is {_json_type(item[name])}") for name in wrong]
        if not wrong and code and system:
            codes.append((system, code))
        elif not wrong and code:
            problems.append(Problem(file, None, f"{where}.system", "missing; a code needs the code system it comes from"))
        elif not wrong and item.get("abstract") is not True:
            reason = "missing; every entry of an expansion needs a system and a code (only an abstract heading may go without)"
            problems.append(Problem(file, None, f"{where}.code", reason))
        if item.get("contains") is not None:
            codes.extend(_contains(file, item["contains"], f"{where}.contains", problems))
    return codes


def read_valueset_folder(folder: str | Path) -> dict[str, list[tuple[str, str]]]:
    """Every ValueSet expansion in `folder` (`*.json`), as OID -> [(system, code)].

    A file that is not an expanded FHIR ValueSet is a user mistake: reported with its name, the
    FHIR path of what is wrong and what to fix, all files checked before failing. So is a folder
    with no `*.json` file, and two files holding the same OID.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"value set folder not found: {folder}", hint="Pass a folder of FHIR ValueSet JSON files.")
    files = sorted(folder.glob("*.json"))
    if not files:
        others = sorted(p.name for p in folder.iterdir())
        held = f"it holds only {', '.join(others[:5])}{', ...' if len(others) > 5 else ''}" if others else "it is empty"
        raise UserError(
            f"no value set file (*.json) in value set folder {folder}: {held}",
            hint="Put FHIR ValueSet expansions exported from VSAC in it as .json files.",
        )
    found: dict[str, list[tuple[str, str]]] = {}
    first_file: dict[str, str] = {}
    problems: list[Problem] = []
    for path in files:
        try:
            resource = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            problems.append(Problem(path.name, None, None, f"not readable JSON ({error})"))
            continue
        if not isinstance(resource, dict) or resource.get("resourceType") != "ValueSet":
            problems.append(Problem(path.name, None, "resourceType", "not a FHIR ValueSet"))
            continue
        count = len(problems)
        oid = _oid(path.name, resource, problems)
        expansion = resource.get("expansion")
        if expansion is None:
            problems.append(Problem(path.name, None, "ValueSet.expansion", "ValueSet has no expansion; export it expanded from VSAC"))
        elif not isinstance(expansion, dict):
            problems.append(Problem(path.name, None, "ValueSet.expansion", f"not an object; it is {_json_type(expansion)}"))
        else:
            codes = _contains(path.name, expansion.get("contains", []), "ValueSet.expansion.contains", problems)
        if len(problems) > count or oid is None:
            continue
        if oid in found:
            problems.append(Problem(path.name, None, "ValueSet.id", f"value set {oid} is also in {first_file[oid]}; keep one file per value set"))
            continue
        found[oid], first_file[oid] = codes, path.name
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
