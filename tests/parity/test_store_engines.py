"""The Store's engine options: Parquet attached as views, exported for Spark, bounded memory, bad engines."""

from __future__ import annotations

import pyarrow as pa
import pytest

from p4pkit.cli import main
from p4pkit.errors import UserError
from p4pkit.model.schemas import TABLES
from p4pkit.store import Store
from p4pkit.synth import generate


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    folder = tmp_path_factory.mktemp("engines") / "data"
    generate(300, 3, folder)
    return folder


def test_attached_parquet_reads_as_the_loaded_table_and_exports_back(world, tmp_path):
    with Store() as views:
        attached = views.attach_parquet(world)
        assert {"patients", "encounters", "events", "claim_lines"} <= set(attached) <= set(TABLES)
        events = views.arrow("events")
        assert views.count("patients") == 300 and events.num_rows > 300
        views.export_parquet(tmp_path)
    with Store() as again:
        again.attach_parquet(tmp_path)
        assert again.arrow("events").sort_by("event_id").equals(events.sort_by("event_id"))


def test_memory_limit_and_spill_folder_come_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("P4P_DUCKDB_MEMORY_LIMIT", "300MB")
    monkeypatch.setenv("P4P_DUCKDB_TEMP_DIRECTORY", str(tmp_path / "spill"))
    with Store() as store:
        limit, spill = store.connection.sql(
            "select current_setting('memory_limit'), current_setting('temp_directory')"
        ).fetchall()[0]
    assert limit.replace(" ", "") in ("286.1MiB", "300.0MB") and spill == str(tmp_path / "spill")


def test_an_unknown_engine_is_a_user_error_and_the_cli_exits_2(world, tmp_path, capsys, monkeypatch):
    with pytest.raises(UserError, match="unknown engine 'sqlite'"):
        Store(engine="sqlite")
    monkeypatch.setattr("sys.argv", ["p4p", "attribute", "--data", str(world), "--rule", "plurality_of_visits",
                                     "--period", "2025-01-01:2025-12-31", "--out", str(tmp_path / "a.parquet"), "--engine", "sqlite"])
    with pytest.raises(SystemExit) as exit_info:
        main()
    captured = capsys.readouterr()
    assert exit_info.value.code == 2 and "unknown engine" in captured.out + captured.err
    assert "Traceback" not in captured.out + captured.err
    assert not (tmp_path / "a.parquet").exists()


def test_spark_tables_replace_and_read_back_in_canonical_types():
    data = pa.table({"oid": ["1.2.3"], "n": pa.array([7], pa.int32())})
    with Store(engine="spark") as store:
        store.replace_tables({"scratch": data})
        assert store.has_table("scratch") and store.count("scratch") == 1
        assert store.arrow("scratch").equals(data)
    assert not store.has_table("scratch")


def test_a_spark_url_without_the_spark_engine_is_a_user_error(world, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("sys.argv", ["p4p", "attribute", "--data", str(world), "--rule", "plurality_of_visits", "--period",
                                     "2025-01-01:2025-12-31", "--out", str(tmp_path / "a.parquet"), "--spark-url", "sc://localhost:15002"])
    with pytest.raises(SystemExit) as exit_info:
        main()
    captured = capsys.readouterr()
    assert exit_info.value.code == 2 and "--spark-url is for the Spark engine" in captured.out + captured.err
    assert not (tmp_path / "a.parquet").exists()
