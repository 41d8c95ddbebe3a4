"""The analytic store: the one way to open the canonical tables as Ibis expressions.

DuckDB (a file, or memory) is the default engine. No other module opens connections of its own:
stages take a `Store` and ask it for tables, so the same code can later run on another backend.

Writes go through `replace_tables`, which swaps every given table in one transaction, so an
interrupted load leaves the store exactly as it was.

Spark (`engine="spark"`) is the other engine: the same Ibis expressions run on Ibis's PySpark
backend, over canonical tables attached from Parquet (validated by DuckDB ingest first: ingest
stays DuckDB's job). Large data on DuckDB can also be attached from Parquet as views instead of
copied, with `memory_limit` and `temp_directory` so work beyond the limit spills to disk.

Two facts about the pinned engines shape this module: ibis 12's `create_table` from an in-memory
Arrow table emits SQL that DuckDB 2.0 rejects, so tables are written through the DuckDB connection
itself and read through Ibis; and DuckDB 2.0 refuses new work on a connection while an `execute()`
result is unfinished, so Arrow results come from `connection.sql(...).to_arrow_table()` and scalar queries are
read with `fetchall()` (a `fetchone()` leaves the result unfinished).
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import duckdb
import ibis
import pyarrow as pa

from p4pkit.errors import UserError
from p4pkit.model.schemas import TABLES

ENGINES = ("duckdb", "spark")


class Store:
    """An open analytic store. Use as a context manager or call `close()`."""

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        read_only: bool = False,
        memory_limit: str | None = None,
        temp_directory: str | Path | None = None,
        engine: str = "duckdb",
        spark_url: str | None = None,
    ):
        """DuckDB: `path` is the database file (memory when None); `memory_limit` (e.g. "4GB") and
        `temp_directory` (where work beyond it spills) default to the environment variables
        P4P_DUCKDB_MEMORY_LIMIT and P4P_DUCKDB_TEMP_DIRECTORY. Spark: `path`, when given, is a
        folder of canonical Parquet tables to attach; `spark_url` a Spark Connect server, else local."""
        if engine not in ENGINES:
            raise UserError(f"unknown engine '{engine}'", hint=f"Choose one of: {', '.join(ENGINES)}.")
        self.engine = engine
        self.path = None if path is None else Path(path)
        self._views: dict[str, str] = {}
        if engine == "spark":
            from p4pkit.engine.spark import send_memtables_as_arrow, spark_session

            self.connection = None
            self._checkpoints: list = []
            self.spark = spark_session(spark_url)
            self.backend = ibis.pyspark.connect(self.spark)
            send_memtables_as_arrow(self.backend, self.spark)
            self._prefix = f"p4p_{uuid.uuid4().hex[:12]}_"
            if self.path is not None:
                self.attach_parquet(self.path)
            return
        database = ":memory:" if self.path is None else str(self.path)
        # An operator can bound every store a process opens (runs open theirs deep inside).
        memory_limit = memory_limit or os.environ.get("P4P_DUCKDB_MEMORY_LIMIT")
        temp_directory = temp_directory or os.environ.get("P4P_DUCKDB_TEMP_DIRECTORY")
        config = {"memory_limit": memory_limit} if memory_limit else {}
        if temp_directory:
            config["temp_directory"] = str(temp_directory)
        self.connection = duckdb.connect(database, read_only=read_only, config=config)
        self.backend = ibis.duckdb.from_connection(self.connection)

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self.engine == "spark":
            for view in self._views.values():
                self.spark.catalog.dropTempView(view)
            self._views.clear()
            self._checkpoints.clear()
            return
        self.connection.close()

    def attach_parquet(self, folder: str | Path) -> list[str]:
        """Attach each canonical table found in `folder` (`<table>.parquet`, a file or a folder of
        parts) as a view, so the data are streamed from Parquet instead of copied. Returns the names.

        Why: copying tens of millions of rows into the store doubles the disk and the time of a
        run whose data were already canonical Parquet (the synthetic generator's output, or an
        export); DuckDB and Spark both read Parquet column by column and skip what a query does
        not need. The files are trusted to hold canonical columns: validate foreign files with
        `p4p load` first.
        """
        attached = []
        for name in TABLES:
            source = Path(folder) / f"{name}.parquet"
            if not source.exists():
                continue
            pattern = str(source / "**" / "*.parquet") if source.is_dir() else str(source)
            if self.engine == "spark":
                view = self._prefix + name
                self.backend.read_parquet(str(source), table_name=view)
                self._views[name] = view
            else:
                literal = pattern.replace("'", "''")
                self.connection.execute(f"create or replace view \"{name}\" as select * from read_parquet('{literal}')")
            attached.append(name)
        return attached

    def export_parquet(self, folder: str | Path) -> list[str]:
        """Write every canonical table of this DuckDB store to `folder/<table>.parquet` (the
        inverse of `attach_parquet`; how validated data reach Spark). Returns the names."""
        written = []
        for name in TABLES:
            if self.has_table(name):
                target = str(Path(folder) / f"{name}.parquet").replace("'", "''")
                self.connection.execute(f"copy (select * from \"{name}\") to '{target}' (format parquet)")
                written.append(name)
        return written

    def materialise(self, table: ibis.Table) -> ibis.Table:
        """Spark: `table` computed now and kept as a plain relation for the rest of the session.

        Why: Spark's planner works on one tree in which every use of an expression is inlined
        again; measure groups that reuse building blocks make trees whose planning took minutes
        for one eCQM on 2,000 patients. A local checkpoint cuts the lineage, so later plans see a
        leaf. (Ibis registers in-memory tables only when it executes, so that is done first.)

        The checkpointed frame is kept until `close()`: under Spark Connect, a client-side frame
        that is garbage-collected tells the server to release the relation cached for it.
        """
        if self.engine != "spark":
            raise UserError("materialise is for the Spark engine", hint="On DuckDB create a temporary table instead.")
        self.backend._run_pre_execute_hooks(table)  # noqa: SLF001 - ibis 12 has no public hook for this
        view = f"{self._prefix}block_{uuid.uuid4().hex[:12]}"
        frame = self.spark.sql(self.backend.compile(table)).localCheckpoint(eager=True)
        frame.createOrReplaceTempView(view)
        self._checkpoints.append(frame)
        self._views[view] = view
        return self.backend.table(view)

    def has_table(self, name: str) -> bool:
        if self.engine == "spark":
            return name in self._views
        rows = self.connection.execute(
            "select count(*) from information_schema.tables where table_name = ? and table_schema = 'main'",
            [name],
        ).fetchall()
        return bool(rows[0][0])

    def table(self, name: str) -> ibis.Table:
        """An Ibis table expression over a stored table."""
        return self.backend.table(self._views.get(name, name))

    def arrow(self, name: str) -> pa.Table:
        """A whole stored table as Arrow (for small tables and tests), in its canonical schema."""
        if self.engine == "spark":
            data = self.backend.to_pyarrow(self.table(name))
        else:
            data = self.connection.sql(f'select * from "{name}"').to_arrow_table()
        return data.cast(TABLES[name].schema) if name in TABLES else data

    def count(self, name: str) -> int:
        if self.engine == "spark":
            return int(self.table(name).count().execute())
        return int(self.connection.execute(f'select count(*) from "{name}"').fetchall()[0][0])

    def replace_tables(self, tables: dict[str, pa.Table]) -> None:
        """Create or replace each table from Arrow data, all in one transaction (all or nothing).

        Canonical tables are cast to their schema first so the store always holds canonical types.
        On Spark the tables become session views of this store (Spark has no transactions; each
        view is swapped only after every table was converted).
        """
        if self.engine == "spark":
            self._replace_spark_views(tables)
            return
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

    def _replace_spark_views(self, tables: dict[str, pa.Table]) -> None:
        frames = {}
        for name, data in tables.items():
            if name in TABLES:
                data = data.select(TABLES[name].schema.names).cast(TABLES[name].schema)
            frames[name] = self.spark.createDataFrame(data)  # Spark 4 takes Arrow tables as they are
        for name, frame in frames.items():
            view = self._prefix + name
            frame.createOrReplaceTempView(view)
            self._views[name] = view


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
