"""Spark Connect: `p4p run --engine spark --spark-url sc://...` against a real Connect server gives
the DuckDB run, payments to the cent.

The server is the one pyspark ships (`jars/spark-connect_*.jar`), started the way Spark's own
`start-connect-server.sh` starts it: `spark-submit --class ...SparkConnectServer`, here in local
mode on a free port, for this module only. The client talks gRPC to it (the `spark-connect` extra),
so everything p4pkit asks of Spark crosses the wire: Parquet read by the server, views, local
checkpoints of measure blocks, Arrow tables sent as data frames. The program is the parity test's
(`programs/mssp.yaml`) on a smaller world (300 patients: both ACOs still earn savings).

Java 17, the jar and the client libraries are all installed by `make test`; under
P4P_REQUIRE_SERVICES=1 (CI) anything missing fails the module, elsewhere it skips with the reason.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest

from p4pkit.cli import main
from p4pkit.engine.spark import connect_address
from p4pkit.ingest import load_folder
from p4pkit.programs.runner import run_program
from p4pkit.synth import generate
from run_tables import PROGRAM, RUN_TABLES, assert_same_run_table
from spark_needs import require_spark

SERVER_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"
START_TIMEOUT_S = 240  # the JVM's start took 23-33 s at load averages of 10-17 on the 2-core machine


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for_port(port: int, server: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"the Spark Connect server exited with {server.returncode}:\n{log.read_text()[-3000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.25)
    pytest.fail(f"the Spark Connect server did not listen on {port} within {START_TIMEOUT_S} s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def connect_url(tmp_path_factory):
    """A local Spark Connect server for this module: its URL; stopped (whole process group) after."""
    home = require_spark(connect=True)
    port, log = _free_port(), tmp_path_factory.mktemp("connect") / "server.log"
    command = [str(home / "bin" / "spark-submit"), "--class", SERVER_CLASS, "--master", "local[2]", "--driver-memory", "1g",
               "--conf", f"spark.connect.grpc.binding.port={port}", "--conf", "spark.ui.enabled=false",
               "--conf", "spark.sql.shuffle.partitions=4", "spark-internal"]
    with log.open("w") as out:
        server = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                  env={**os.environ, "SPARK_HOME": str(home)})
    url = f"sc://localhost:{port}"
    try:
        _wait_for_port(port, server, log)
        yield url, log
        from p4pkit.engine.spark import spark_session

        spark_session(url).stop()  # releases the server-side session and closes the channel
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(10)


def test_a_run_through_spark_connect_writes_the_duckdb_tables_and_pays_to_the_cent(tmp_path, connect_url):
    """One test for the whole comparison: pytest-xdist hands a module's tests to both workers, and
    each would otherwise start its own server and repeat the run."""
    url, log = connect_url
    generate(300, 5, tmp_path / "data")
    load_folder(tmp_path / "data", tmp_path / "store.duckdb")
    duck = run_program(PROGRAM, tmp_path / "store.duckdb", tmp_path / "run-duckdb").out_dir
    connect = tmp_path / "run-connect"
    argv = ["p4p", "run", str(PROGRAM), "--data", str(tmp_path / "store.duckdb"), "--out", str(connect),
            "--engine", "spark", "--spark-url", url]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("sys.argv", argv)
        try:
            main()
        except SystemExit as exit_:
            assert not exit_.code, f"p4p run over Spark Connect exited with {exit_.code}"
    for name in RUN_TABLES:
        assert_same_run_table(duck, connect, name)
    payments = pd.read_parquet(duck / "payments.parquet")
    assert sorted(map(str, payments.amount)) == sorted(map(str, pd.read_parquet(connect / "payments.parquet").amount))
    assert (payments.amount != 0).all() and len(payments) == 2  # both ACOs of the 300-patient world earn savings
    manifest = json.loads((connect / "manifest.json").read_text())
    assert manifest["engine"] == "spark" and manifest["spark_connect"] == url
    # The work reached the server (a local Spark in this process would pass the comparisons too):
    # every query is an operation the server's log records.
    from pyspark.sql.connect.session import SparkSession as ConnectSession

    from p4pkit.engine.spark import spark_session

    assert isinstance(spark_session(url), ConnectSession)
    assert log.read_text().count("ExecuteHolder") > 200


def test_missing_connect_pieces_fail_when_services_are_required_and_skip_otherwise(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setenv("P4P_REQUIRE_SERVICES", "1")
    with pytest.raises(pytest.fail.Exception, match="java"):
        require_spark(connect=True)
    monkeypatch.delenv("P4P_REQUIRE_SERVICES")
    with pytest.raises(pytest.skip.Exception, match="java"):
        require_spark(connect=True)


def test_a_connect_session_leaves_local_spark_possible_in_the_process():
    """PySpark's generic builder marks the whole process as Connect-only (SPARK_CONNECT_MODE_ENABLED),
    which broke every later local Spark store in the same pytest worker. No Spark server is needed:
    the client connects lazily, and a plain listening socket passes p4pkit's reachability check."""
    require_spark(connect=True)
    from p4pkit.engine.spark import _remote_session

    assert "SPARK_CONNECT_MODE_ENABLED" not in os.environ
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        session = _remote_session(f"sc://127.0.0.1:{listener.getsockname()[1]}")
        try:
            assert "SPARK_CONNECT_MODE_ENABLED" not in os.environ
        finally:
            session.client.close()  # stop() would try to release the session on the absent server


def test_the_manifest_names_the_connect_server_without_its_credentials(monkeypatch):
    monkeypatch.delenv("SPARK_REMOTE", raising=False)
    assert connect_address("sc://spark.example:15002/;token=secret;user_id=a") == "sc://spark.example:15002"
    assert connect_address(None) is None  # local Spark
    monkeypatch.setenv("SPARK_REMOTE", "sc://from-env:15002;token=x")
    assert connect_address(None) == "sc://from-env:15002"
