"""Attribution over files, for the CLI and notebooks: read a data folder or store, write one file.

The input is opened with the measures' `open_data` (a folder of canonical tables is validated as
`p4p load` does; a DuckDB store is attached read-only), so attribution and measures read data the
same way. The output is written to a temporary file beside the target and moved into place, so a
failed run leaves nothing behind.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from p4pkit.attribution import RULES, attribute
from p4pkit.data import open_data
from p4pkit.errors import UserError
from p4pkit.measures.timing import Period

WRITERS = {".parquet": pq.write_table, ".csv": pacsv.write_csv}


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
    out.parent.mkdir(parents=True, exist_ok=True)
    handle, scratch = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    os.close(handle)
    try:
        writer(table, scratch)
        os.replace(scratch, out)
    except BaseException:
        Path(scratch).unlink(missing_ok=True)
        raise
    return table


def summary(table: pa.Table) -> pa.Table:
    """Patients per step (registration, step 1, step 2, plurality, unattributed): no patient ids."""
    steps = table.column("step").fill_null("unattributed")
    counts = steps.value_counts()
    return pa.table({"step": counts.field("values"), "patients": counts.field("counts")}).sort_by("step")
