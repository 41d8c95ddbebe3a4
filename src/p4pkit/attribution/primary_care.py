"""The list of primary-care service codes, kept as data (`primary_care_services.csv`).

42 CFR 425.400(c) defines the "primary care services" counted for Shared Savings Program
assignment by HCPCS/CPT code. The shipped list holds the office/outpatient E/M visits (CPT
99202-99215), nursing-facility, domiciliary and home visits, chronic-care and transitional-care
management, advance care planning, behavioural-health integration, the IPPE (G0402) and annual
wellness visits (G0438, G0439), and the ETA/CAH clinic visit G0463 [K: assembled from background
knowledge of the regulation's code list; check against the year's regulation before relying on it].
A program may give its own list (`primary_care_codes` in the program file) in the same CSV format.

CPT is HCPCS level I, so a listed code matches a claim line coded in either system.
"""

from __future__ import annotations

import csv
from importlib import resources
from pathlib import Path

import ibis

from p4pkit.errors import Problem, UserError
from p4pkit.model import codes

CODE_SYSTEMS = (codes.CPT, codes.HCPCS)
_COLUMNS = ("code_system", "code", "description", "group")


def load_primary_care_codes(path: str | Path | None = None) -> ibis.Table:
    """The primary-care codes as an Ibis memtable with one column, `code`."""
    if path is None:
        text = resources.files("p4pkit.attribution").joinpath("primary_care_services.csv").read_text(encoding="utf-8")
        name = "primary_care_services.csv"
    else:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as error:
            raise UserError(f"cannot read primary-care code list {path}: {error.strerror}") from None
        name = str(path)
    return ibis.memtable({"code": sorted(_read_codes(text, name))})


def _read_codes(text: str, name: str) -> set[str]:
    reader = csv.DictReader(text.splitlines())
    if tuple(reader.fieldnames or ()) != _COLUMNS:
        raise UserError(
            f"{name}: wrong header", [Problem(name, 0, None, f"expected columns {', '.join(_COLUMNS)}")]
        )
    found: set[str] = set()
    problems = []
    for row_number, row in enumerate(reader, start=1):
        if codes.canonical_system(row["code_system"] or "") not in CODE_SYSTEMS:
            problems.append(Problem(name, row_number, "code_system", "must be cpt or hcpcs"))
        elif not (row["code"] or "").strip():
            problems.append(Problem(name, row_number, "code", "empty code"))
        else:
            found.add(row["code"].strip())
    if problems:
        raise UserError(f"{name} is not a valid primary-care code list", problems, "Fix the rows listed above.")
    return found
