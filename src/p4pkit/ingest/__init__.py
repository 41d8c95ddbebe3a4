"""Outside data into the canonical tables: validated CSV/Parquet folders (`load_folder`) and FHIR R4.

The only place that knows outside formats of patient-level data. Problems are values (file, row,
column, reason) gathered into one `UserError`, which the CLI turns into a message and exit code 2.
"""

from p4pkit.ingest.load import LoadReport, load_folder

__all__ = ["LoadReport", "load_folder"]
