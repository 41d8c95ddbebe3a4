"""Attribution over files, for the CLI and notebooks: read a data folder or store, write one file,
and read such a file back (`read_attribution`, for per-entity measure summaries).

The input is opened with the measures' `open_data` (a folder of canonical tables is validated as
`p4p load` does; a DuckDB store is attached read-only), so attribution and measures read data the
same way. The output is written to a temporary file beside the target and moved into place, so a
failed run leaves nothing behind.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from p4pkit.atomic import replacing
from p4pkit.attribution import RULES, attribute
from p4pkit.data import open_data
from p4pkit.errors import UserError
from p4pkit.measures.timing import Period

WRITERS = {".parquet": pq.write_table, ".csv": pacsv.write_csv}
# What another stage needs of an attribution file: who answers for each patient.
ENTITY_COLUMNS = ("patient_id", "entity_id", "entity_type")
READERS = {
    ".parquet": pq.read_table,
    # Ids stay text ("001"), and an empty entity is no entity.
    ".csv": lambda path: pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(
        column_types={c: pa.string() for c in ENTITY_COLUMNS}, strings_can_be_null=True)),
}


def attribute_files(
    data: str | Path, rule: str, period: Period | str, out: str | Path, *, engine: str = "duckdb", spark_url: str | None = None,
    **parameters: object
) -> pa.Table:
    """Run attribution rule `rule` over `data` on `engine` (Spark: at the Connect server `spark_url`,
    else local) and write the contract table to `out` (.parquet or .csv)."""
    out = Path(out)
    writer = WRITERS.get(out.suffix.lower())
    if writer is None:
        raise UserError(f"{out}: the output file must end in .parquet or .csv")
    if rule not in RULES:
        raise UserError(f"unknown attribution rule '{rule}'", hint=f"Choose one of: {', '.join(RULES)}.")
    period = Period.parse(period) if isinstance(period, str) else period
    with open_data(data, engine, spark_url) as store:
        table = attribute(store, rule, period, **parameters)
    with replacing(out) as scratch:
        writer(table, scratch)
    return table


def summary(table: pa.Table) -> pa.Table:
    """Patients per step (registration, step 1, step 2, plurality, unattributed): no patient ids."""
    steps = table.column("step").fill_null("unattributed")
    counts = steps.value_counts()
    return pa.table({"step": counts.field("values"), "patients": counts.field("counts")}).sort_by("step")


def read_attribution(path: str | Path) -> pa.Table:
    """patient_id, entity_id, entity_type of an attribution file (.parquet or .csv, as
    `attribute_files` writes it, or a payer's own), for the patients it attributes. A missing file
    or column, a row without a patient, or a patient listed twice is a user error naming the file,
    row and column."""
    path = Path(path)
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise UserError(f"{path}: an attribution file must end in .parquet or .csv")
    if not path.is_file():
        raise UserError(f"{path}: no such attribution file", hint="Write one with p4p attribute --out FILE.")
    table = reader(path)
    missing = [c for c in ENTITY_COLUMNS if c not in table.column_names]
    if missing:
        raise UserError(f"{path}: no column {', '.join(missing)}", hint="The file needs patient_id, entity_id and entity_type, as p4p attribute writes.")
    table = table.select(list(ENTITY_COLUMNS)).cast(pa.schema([pa.field(c, pa.string()) for c in ENTITY_COLUMNS]))
    patients = table["patient_id"]
    if patients.null_count:
        row = int(np.flatnonzero(pc.is_null(patients).to_numpy(zero_copy_only=False))[0]) + 1
        raise UserError(f"{path}: row {row}, column patient_id: no patient id")
    ids = patients.to_numpy(zero_copy_only=False)
    _, first_index, which = np.unique(ids, return_index=True, return_inverse=True)
    again = np.flatnonzero(first_index[which] != np.arange(len(ids)))  # rows whose patient came earlier
    if len(again):
        row, first = int(again[0]), int(first_index[which[again[0]]])
        raise UserError(f"{path}: row {row + 1}, column patient_id: patient '{ids[row]}' is attributed twice (first at row {first + 1})",
                        hint="One row per patient: attribute each period to its own file.")
    return table.filter(pc.is_valid(table["entity_id"]))
