"""Spark sessions for the Store: local mode by default, Spark Connect when a URL is given.

Why one session per process: starting a local Spark JVM costs seconds, and Spark allows one active
local session per Python process anyway, so every `Store(engine="spark")` in a process shares the
session made here (each store keeps its tables apart under its own view names).

Settings that make Spark agree with DuckDB, so the same Ibis expression gives the same answer on
both engines: the session time zone is UTC (DuckDB stores naive timestamps; Spark would otherwise
shift them by the JVM's zone when converting to dates), ANSI mode is on (integer overflow and bad
casts fail as in DuckDB instead of turning into nulls), and Arrow carries results to Python.
Shuffle partitions default to twice the cores: Spark's default of 200 is tuned for clusters and
makes small local jobs spend most of their time scheduling empty tasks.
"""

from __future__ import annotations

import os

from p4pkit.errors import UserError

_SQL_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.ansi.enabled": "true",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
}
_LOCAL_CONF = {"spark.ui.enabled": "false", "spark.ui.showConsoleProgress": "false"}


def spark_session(url: str | None = None, *, driver_memory: str = "2g"):
    """The process's Spark session: `local[*]` by default, or a Spark Connect server at `url`
    (e.g. "sc://host:15002"). `driver_memory` only applies when this call starts the local JVM."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise UserError(
            "the Spark engine needs pyspark", hint="Install the extra: pip install 'p4pkit[spark]' (Java 17 must be on PATH)."
        ) from None
    if url:
        session = SparkSession.builder.remote(url).getOrCreate()
    else:
        cores = os.cpu_count() or 2
        builder = SparkSession.builder.master("local[*]").appName("p4pkit")
        builder = builder.config("spark.driver.memory", driver_memory)
        builder = builder.config("spark.sql.shuffle.partitions", str(2 * cores))
        for key, value in {**_LOCAL_CONF, **_SQL_CONF}.items():
            builder = builder.config(key, value)
        session = builder.getOrCreate()
        session.sparkContext.setLogLevel("ERROR")
    for key, value in _SQL_CONF.items():  # a shared or remote session may have been made without them
        session.conf.set(key, value)
    return session
