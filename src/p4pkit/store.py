"""The analytic store: the one way to open the canonical tables as Ibis expressions.

DuckDB (a file, or memory) is the default engine. No other module opens connections of its own:
stages take a `Store` and ask it for tables, so the same code can later run on another backend.

Writes go through `replace_tables`, which swaps every given table in one transaction, so an
interrupted load leaves the store exactly as it was.

Two facts about the pinned engines shape this module: ibis 12's `create_table` from an in-memory
Arrow table emits SQL that DuckDB 2.0 rejects, so tables are written through the DuckDB connection
itself and read through Ibis; and DuckDB 2.0 refuses new work on a connection while an `execute()`
result is unfinished, so Arrow results come from `connection.sql(...).to_arrow_table()` and scalar queries are
read with `fetchall()` (a `fetchone()` leaves the result unfinished).
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import ibis
import pyarrow as pa

from p4pkit.model.schemas import TABLES


class Store:
    """An open analytic store. Use as a context manager or call `close()`."""

    def __init__(self, path: str | Path | None = None, *, read_only: bool = False, memory_limit: str | None = None):
        self.path = None if path is None else Path(path)
        database = ":memory:" if self.path is None else str(self.path)
        config = {"memory_limit": memory_limit} if memory_limit else {}
        self.connection = duckdb.connect(database, read_only=read_only, config=config)
        self.backend = ibis.duckdb.from_connection(self.connection)

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.connection.close()

    def has_table(self, name: str) -> bool:
        rows = self.connection.execute(
            "select count(*) from information_schema.tables where table_name = ? and table_schema = 'main'",
            [name],
        ).fetchall()
        return bool(rows[0][0])

    def table(self, name: str) -> ibis.Table:
        """An Ibis table expression over a stored table."""
        return self.backend.table(name)

    def arrow(self, name: str) -> pa.Table:
        """A whole stored table as Arrow (for small tables and tests), in its canonical schema."""
        data = self.connection.sql(f'select * from "{name}"').to_arrow_table()
        return data.cast(TABLES[name].schema) if name in TABLES else data

    def count(self, name: str) -> int:
        return int(self.connection.execute(f'select count(*) from "{name}"').fetchall()[0][0])

    def replace_tables(self, tables: dict[str, pa.Table]) -> None:
        """Create or replace each table from Arrow data, all in one transaction (all or nothing).

        Canonical tables are cast to their schema first so the store always holds canonical types.
        """
        con = self.connection
        con.execute("begin transaction")
        try:
            for name, data in tables.items():
                if name in TABLES:
                    data = data.select(TABLES[name].schema.names).cast(TABLES[name].schema)
                view = f"__incoming_{name}"
                con.register(view, data)
                try:
                    con.execute(f'create or replace table "{name}" as select * from "{view}"')
                finally:
                    con.unregister(view)
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise
