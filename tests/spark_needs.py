"""What the tests that start Spark themselves (a Connect server, a spark-submit application) need,
and the one rule for when it is missing: fail under P4P_REQUIRE_SERVICES=1 (CI), skip elsewhere,
naming what is missing. `make test` installs all of it."""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

import pytest


def missing_spark_pieces(*, connect: bool) -> list[str]:
    """What a local Spark JVM (and, with `connect`, a Connect server and its Python client) needs
    that is not installed."""
    modules = ("grpc", "grpc_status", "google.rpc", "pyspark") if connect else ("pyspark",)
    missing = [name for name in modules if importlib.util.find_spec(name) is None]
    if shutil.which("java") is None:
        missing.append("java (Java 17 on PATH)")
    if connect and "pyspark" not in missing:
        home = Path(importlib.util.find_spec("pyspark").origin).parent
        if not list((home / "jars").glob("spark-connect_*.jar")):
            missing.append(f"{home}/jars/spark-connect_*.jar")
    return missing


def require_spark(*, connect: bool = False) -> Path:
    """pyspark's home (its bin/spark-submit and jars) when everything is there; otherwise fail or
    skip as the module docstring says."""
    missing = missing_spark_pieces(connect=connect)
    if missing:
        what = "Spark Connect" if connect else "spark-submit"
        reason = f"{what} cannot run: missing {', '.join(missing)}; install with pip install -e '.[test]'"
        if os.environ.get("P4P_REQUIRE_SERVICES") == "1":
            pytest.fail(reason + " (required: P4P_REQUIRE_SERVICES=1)")
        pytest.skip(reason)
    return Path(importlib.util.find_spec("pyspark").origin).parent
