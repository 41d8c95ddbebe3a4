"""Spark sessions for the Store: local mode by default, a Spark Connect server when a URL is given,
or the session a driver script already made (spark-submit on a cluster).

Why one session per process (and per Connect URL): starting a local Spark JVM costs seconds, and
Spark allows one active local session per Python process anyway, so every `Store(engine="spark")`
in a process shares the session made here (each store keeps its tables apart under its own view
names). A session that `spark-submit` or a notebook already started is used as it is, so the
cluster's master, memory and shuffle settings are not overridden by the local defaults below.

Settings that make Spark agree with DuckDB, so the same Ibis expression gives the same answer on
both engines: the session time zone is UTC (DuckDB stores naive timestamps; Spark would otherwise
shift them by the JVM's zone when converting to dates), ANSI mode is on (integer overflow and bad
casts fail as in DuckDB instead of turning into nulls), and Arrow carries results to Python.
Constraint propagation (an optimisation that infers filters from every operator's constraints) is
off: Spark 4.0.x fails with "key not found: patient_id#N" when it rewrites the constraints of a
union of two locally checkpointed relations (`Store.materialise`), which the measure runner's
`or` of two `and`s is (CMS165's frailty exclusion); results do not depend on it.
Shuffle partitions default to twice the cores for local mode only: Spark's default of 200 is tuned
for clusters and makes small local jobs spend most of their time scheduling empty tasks.
"""

from __future__ import annotations

import os
import socket

from p4pkit.errors import UserError

_SQL_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.ansi.enabled": "true",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.constraintPropagation.enabled": "false",
}
_LOCAL_CONF = {"spark.ui.enabled": "false", "spark.ui.showConsoleProgress": "false"}
_remote_sessions: dict = {}


def spark_session(url: str | None = None, *, driver_memory: str | None = None):
    """The process's Spark session: a Spark Connect server at `url` (e.g. "sc://host:15002"; when
    None, the SPARK_REMOTE environment variable Spark itself reads), else the session a driver script
    already started, else a new `local[*]` one. `driver_memory` only applies when this call starts
    the local JVM (default: P4P_SPARK_DRIVER_MEMORY, else 2g; runs open their stores deep inside,
    so an operator sets it in the environment)."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise UserError(
            "the Spark engine needs pyspark", hint="Install the extra: pip install 'p4pkit[spark]' (Java 17 must be on PATH)."
        ) from None
    url = _connect_url(url)
    if url:
        session = _remote_session(url)
    else:
        memory = driver_memory or os.environ.get("P4P_SPARK_DRIVER_MEMORY", "2g")
        session = SparkSession.getActiveSession() or _local_session(SparkSession, memory)
    for key, value in _SQL_CONF.items():  # a shared or remote session may have been made without them
        session.conf.set(key, value)
    return session


def _connect_url(url: str | None) -> str | None:
    """The Spark Connect URL a session is made for: the one given, else SPARK_REMOTE (which PySpark
    itself reads), else None."""
    return url or os.environ.get("SPARK_REMOTE") or None


def connect_address(url: str | None = None) -> str | None:
    """The Spark Connect server `spark_session(url)` talks to, without its parameters (`;token=...`
    and the like carry credentials and must not reach a manifest); None when no URL was given
    (local Spark, or a session the driver script already made)."""
    url = _connect_url(url)
    return url.split(";", 1)[0].rstrip("/") if url else None


CONNECT_PORT = 15002  # Spark Connect's default port, when a URL names none


def check_connect_url(url: str | None = None, timeout: float = 10.0) -> None:
    """A user error, at once, for a Spark Connect URL (`url`, else SPARK_REMOTE; nothing to check
    without one) that is malformed or whose server does not answer: the Connect client itself
    retries an unreachable server for minutes without a word."""
    address = connect_address(url)
    if address is None:
        return
    if not address.startswith("sc://"):
        raise UserError(f"--spark-url {address}: a Spark Connect URL starts with sc://", hint="For example sc://spark.example.org:15002.")
    host, _, port = address[len("sc://"):].partition("/")[0].partition(":")
    if not host or "[" in host or not (port or str(CONNECT_PORT)).isdigit() or not 0 < int(port or CONNECT_PORT) < 65536:
        raise UserError(f"--spark-url {address}: not a Spark Connect URL (sc://host:port, a port from 1 to 65535)",
                        hint="For example sc://spark.example.org:15002.")
    try:
        with socket.create_connection((host, int(port or CONNECT_PORT)), timeout=timeout):
            pass
    except OSError as error:
        raise UserError(
            f"cannot reach the Spark Connect server at {address}: {error}",
            hint="Check the address (--spark-url or SPARK_REMOTE) and that the server is running (sbin/start-connect-server.sh).",
        ) from None


def _remote_session(url: str):
    """One Connect session per URL, made anew when the previous one was stopped. (PySpark's own
    `getOrCreate` hands back whatever Connect session exists, whatever its server.)

    Made with the Connect client's builder itself: the generic `SparkSession.builder.remote()`
    also sets SPARK_CONNECT_MODE_ENABLED in the process's environment, after which no classic
    local session can be started in that process (CONNECT_URL_NOT_SET), and p4pkit uses local and
    remote stores side by side (the test suite does)."""
    session = _remote_sessions.get(url)
    if session is None or session.is_stopped:
        check_connect_url(url)
        try:
            from pyspark.sql.connect.session import SparkSession as ConnectSession

            session = ConnectSession.builder.remote(url).create()
        except ImportError as error:  # grpcio and friends are the Connect client's extra dependencies
            raise UserError(
                f"Spark Connect's client libraries are missing: {error}",
                hint="Install the extra: pip install 'p4pkit[spark-connect]'.",
            ) from None
        _remote_sessions[url] = session
    return session


def _local_session(SparkSession, driver_memory: str):
    cores = os.cpu_count() or 2
    builder = SparkSession.builder.master("local[*]").appName("p4pkit")
    builder = builder.config("spark.driver.memory", driver_memory)
    builder = builder.config("spark.sql.shuffle.partitions", str(2 * cores))
    for key, value in {**_LOCAL_CONF, **_SQL_CONF}.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session


def send_memtables_as_arrow(backend, session) -> None:
    """Make `backend` (Ibis's PySpark backend over `session`) send in-memory tables to Spark as Arrow.

    Why: Ibis 12 hands Spark a pandas frame, and under pandas 3 a column of a multi-chunk Arrow
    table (attribution built period by period, say) stays chunked; Spark Connect's pandas
    serializer then fails ("Cannot convert pyarrow.lib.ChunkedArray to pyarrow.lib.Array"), and a
    classic session's Arrow conversion fails the same way and falls back, with a warning, to
    converting row by row. Spark 4 takes Arrow tables directly, so the data go over unchanged, in
    the schema Ibis would have given them.
    """
    from ibis.backends.pyspark.datatypes import PySparkSchema

    def register(op) -> None:
        data = op.data.to_pyarrow(op.schema).combine_chunks()
        frame = session.createDataFrame(data, schema=PySparkSchema.from_ibis(op.schema))
        frame.createOrReplaceTempView(op.name)

    backend._register_in_memory_table = register  # noqa: SLF001 - ibis 12's hook for memtables
