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

    def write_queries(self, queries: dict[str, str], *, append: bool = False) -> None:
        """Write canonical tables from SQL queries on this connection, all in one transaction.

        Ingest validates tens of millions of rows in temporary tables of this connection; writing
        them from a query keeps them inside DuckDB instead of passing them through Python. Each
        table is replaced, or with `append` added to (created when missing, and given any column
        the canonical schema gained since it was stored). Values are cast to the canonical types.
        """
        con = self.connection
        con.execute("begin transaction")
        try:
            for name, query in queries.items():
                self._write_query(name, query, append)
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise

    def _write_query(self, name: str, query: str, append: bool) -> None:
        schema = TABLES[name].schema
        casts = ", ".join(f'cast("{f.name}" as {duckdb_type(f.type)}) as "{f.name}"' for f in schema)
        select = f"select {casts} from ({query})"
        if not (append and self.has_table(name)):
            self.connection.execute(f'create or replace table "{name}" as {select}')
            return
        stored = {row[0] for row in self.connection.execute(f'select column_name from (describe "{name}")').fetchall()}
        for f in schema:
            if f.name not in stored:
                self.connection.execute(f'alter table "{name}" add column "{f.name}" {duckdb_type(f.type)}')
        self.connection.execute(f'insert into "{name}" by name {select}')


_DUCKDB_TYPES = {
    pa.string(): "VARCHAR",
    pa.bool_(): "BOOLEAN",
    pa.int8(): "TINYINT",
    pa.int16(): "SMALLINT",
    pa.int32(): "INTEGER",
    pa.int64(): "BIGINT",
    pa.float32(): "FLOAT",
    pa.float64(): "DOUBLE",
    pa.date32(): "DATE",
    pa.timestamp("us"): "TIMESTAMP",
}


def duckdb_type(arrow_type: pa.DataType) -> str:
    """The DuckDB SQL type that stores an Arrow type of the canonical schemas without loss."""
    if pa.types.is_decimal(arrow_type):
        return f"DECIMAL({arrow_type.precision}, {arrow_type.scale})"
    return _DUCKDB_TYPES[arrow_type]
