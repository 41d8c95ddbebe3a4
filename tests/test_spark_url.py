"""A Spark Connect URL that is malformed or whose server does not answer is a user error at once,
before any data are read (the Connect client retries an unreachable server for minutes)."""

from __future__ import annotations

import socket
import time

import pytest
from typer.testing import CliRunner

from p4pkit.cli import app
from p4pkit.engine.spark import check_connect_url
from p4pkit.errors import UserError


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # free once the socket closes: nothing listens there


def test_an_unreachable_server_is_named_at_once():
    port = _closed_port()
    began = time.perf_counter()
    with pytest.raises(UserError, match=f"cannot reach the Spark Connect server at sc://127.0.0.1:{port}"):
        check_connect_url(f"sc://127.0.0.1:{port};token=secret")
    assert time.perf_counter() - began < 5


@pytest.mark.parametrize("url", ["http://localhost:15002", "localhost:15002"])
def test_a_url_that_is_not_sc_is_refused(url):
    with pytest.raises(UserError, match="a Spark Connect URL starts with sc://"):
        check_connect_url(url)


@pytest.mark.parametrize("url", ["sc://localhost:99999", "sc://[::1]:15002", "sc://:15002", "sc://host:port"])
def test_a_malformed_host_or_port_is_named_as_such(url):
    with pytest.raises(UserError, match="not a Spark Connect URL"):
        check_connect_url(url)


def test_a_listening_server_passes_and_no_url_means_nothing_to_check(monkeypatch):
    monkeypatch.delenv("SPARK_REMOTE", raising=False)
    check_connect_url(None)
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        check_connect_url(f"sc://127.0.0.1:{server.getsockname()[1]}")


def test_the_cli_stops_before_reading_any_data_and_leaves_nothing(tmp_path):
    port = _closed_port()
    result = CliRunner().invoke(app, ["run", "programs/mssp.yaml", "--data", str(tmp_path / "none"), "--out", str(tmp_path / "run"),
                                      "--engine", "spark", "--spark-url", f"sc://127.0.0.1:{port}"])
    output = " ".join(result.output.split())
    assert result.exit_code == 2 and "cannot reach the Spark Connect server" in output and "Traceback" not in output
    assert list(tmp_path.iterdir()) == []
