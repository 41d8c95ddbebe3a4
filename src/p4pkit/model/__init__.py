"""The canonical vocabulary of p4pkit: table schemas, code systems and value sets.

Imports nothing else of p4pkit, so that every other package can depend on it.
"""

from p4pkit.model.schemas import TABLES, TableSpec, empty_table

__all__ = ["TABLES", "TableSpec", "empty_table"]
