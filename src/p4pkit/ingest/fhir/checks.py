"""Impossible dates in FHIR input, the same rules CSV ingest applies (`model.schemas.TableSpec`):
an interval may not end before it starts, and care may not be dated before the patient's birth or
after their death. Vectorised over the finished Arrow tables; only the offending rows are visited.

Reasons name the canonical columns, never the dates themselves (a date can identify a patient).
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from p4pkit.errors import Problem
from p4pkit.model.schemas import TABLES

Where = tuple[str, int | None, str]


def _rows(mask: pa.ChunkedArray | pa.Array) -> list[int]:
    return pc.indices_nonzero(pc.fill_null(mask, False)).to_pylist()


def _as_day(column: pa.ChunkedArray) -> pa.ChunkedArray:
    return column if pa.types.is_date32(column.type) else pc.cast(column, pa.date32())


def date_problems(tables: dict[str, pa.Table], where: dict[str, list[Where]]) -> list[Problem]:
    """Problems for intervals that end before they start and care outside the patient's life
    (checked against patients in the same input; patients only in the store are not re-read)."""
    problems: list[Problem] = []
    patients = tables["patients"]
    for name, spec in TABLES.items():
        table = tables[name]
        if table.num_rows == 0:
            continue
        for start, end in spec.intervals:
            for i in _rows(pc.less(table[end], table[start])):
                problems.append(Problem(*where[name][i], f"ends before it starts ({name}.{end} < {name}.{start})"))
        if not spec.patient_dated:
            continue
        position = pc.index_in(table["patient_id"], value_set=patients["patient_id"])
        birth = pc.take(patients["birth_date"], position)
        death = pc.take(patients["death_date"], position)
        for column in spec.patient_dated:
            day = _as_day(table[column])
            for label, mask in (("before the patient's birth", pc.less(day, birth)), ("after the patient's death", pc.greater(day, death))):
                for i in _rows(mask):
                    problems.append(Problem(*where[name][i], f"dated {label} ({name}.{column})"))
    return problems
