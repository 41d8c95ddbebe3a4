"""DuckDB and local Spark give identical runs: attribution, measures, scores and payments to the cent.

One synthetic world (2,000 patients) and one Spark session serve every test here (the session is
the process's; starting it costs seconds). The program is the MSSP file: two-step assignment, two
eCQMs in two periods, CMS-HCC risk adjustment and shared savings, so every stage of a run meets
Spark. Tables are compared after sorting by their keys, since row order is not part of a contract.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from p4pkit.attribution import attribute
from p4pkit.ingest import load_folder
from p4pkit.measures import Period
from p4pkit.programs.runner import run_program
from p4pkit.store import Store
from p4pkit.synth import generate
from run_tables import PROGRAM, RUN_TABLES, assert_same_run_table



@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("parity")
    generate(2000, 5, folder / "data")
    load_folder(folder / "data", folder / "store.duckdb")
    return folder


@pytest.fixture(scope="module")
def runs(world) -> dict[str, Path]:
    return {engine: run_program(PROGRAM, world / "store.duckdb", world / f"run-{engine}", engine=engine).out_dir
            for engine in ("duckdb", "spark")}


@pytest.mark.parametrize("name", list(RUN_TABLES))
def test_a_program_run_on_spark_writes_the_same_tables_as_on_duckdb(runs, name):
    assert_same_run_table(runs["duckdb"], runs["spark"], name)


def test_payments_agree_to_the_cent_and_some_money_moves(runs):
    duck = pd.read_parquet(runs["duckdb"] / "payments.parquet")
    spark = pd.read_parquet(runs["spark"] / "payments.parquet")
    assert sorted(map(str, duck.amount)) == sorted(map(str, spark.amount))
    assert (duck.amount != 0).any()


def test_plurality_of_visits_attributes_alike_on_both_engines(world, tmp_path):
    period = Period.parse("2025-01-01:2025-12-31")
    with Store(world / "store.duckdb", read_only=True) as duck:
        duck.export_parquet(tmp_path)
        expected = attribute(duck, "plurality_of_visits", period, entity="organization")
    with Store(tmp_path, engine="spark") as spark:
        found = attribute(spark, "plurality_of_visits", period, entity="organization")
    assert expected.num_rows == 2000
    assert found.sort_by("patient_id").equals(expected.sort_by("patient_id"))
