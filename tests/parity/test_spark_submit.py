"""spark-submit: p4pkit inside a Spark application uses the session spark-submit configured, and
its run equals the DuckDB run, payments to the cent.

The application is the driver script docs/spark.md shows (`getOrCreate()` with spark-submit's
master and settings, then `run_program(..., engine="spark")`), submitted with pyspark's own
`bin/spark-submit` in local mode with 3 shuffle partitions. The driver then reports the settings of
the session p4pkit's stores get: a JVM has one SparkContext, so master and app name are
spark-submit's whatever p4pkit does, but the partitions tell whether p4pkit kept the submitted
settings (3) or overrode them with its own local default (twice the cores, always even). The world
and program are the Spark Connect test's (300 patients, `programs/mssp.yaml`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

from p4pkit.ingest import load_folder
from p4pkit.programs.runner import run_program
from p4pkit.synth import generate
from run_tables import PROGRAM, RUN_TABLES, assert_same_run_table
from spark_needs import require_spark

APP_NAME = "p4pkit-spark-submit-test"
DRIVER = """
import json, sys
from pyspark.sql import SparkSession
from p4pkit.programs.runner import run_program
from p4pkit.store import Store

SparkSession.builder.appName(sys.argv[4]).getOrCreate()  # spark-submit's master, memory and --conf
result = run_program(sys.argv[1], sys.argv[2], sys.argv[3], engine="spark")
with Store(engine="spark") as store:  # the session p4pkit's stores get in this application
    context = store.spark.sparkContext
    partitions = store.spark.conf.get("spark.sql.shuffle.partitions")
    print(json.dumps({"master": context.master, "app": context.appName, "partitions": partitions, "paid": str(result.totals)}))
"""


def test_a_spark_submit_application_runs_the_program_as_duckdb_does(tmp_path):
    home = require_spark()
    generate(300, 7, tmp_path / "data")
    load_folder(tmp_path / "data", tmp_path / "store.duckdb")
    duck = run_program(PROGRAM, tmp_path / "store.duckdb", tmp_path / "run-duckdb").out_dir
    driver = tmp_path / "p4p_driver.py"
    driver.write_text(DRIVER, encoding="utf-8")
    submitted = tmp_path / "run-submit"
    command = [str(home / "bin" / "spark-submit"), "--master", "local[2]", "--driver-memory", "1g",
               "--conf", "spark.ui.enabled=false", "--conf", "spark.sql.shuffle.partitions=3",
               str(driver), str(PROGRAM), str(tmp_path / "store.duckdb"), str(submitted), APP_NAME]
    environment = {**os.environ, "SPARK_HOME": str(home), "PYSPARK_PYTHON": sys.executable,
                   "PYSPARK_DRIVER_PYTHON": sys.executable}
    environment.pop("SPARK_REMOTE", None)
    done = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=900)
    assert done.returncode == 0, done.stderr[-4000:]
    session = json.loads(done.stdout.strip().splitlines()[-1])
    assert session["master"] == "local[2]" and session["app"] == APP_NAME
    assert session["partitions"] == "3"  # the submitted settings, not p4pkit's local default
    for name in RUN_TABLES:
        assert_same_run_table(duck, submitted, name)
    payments = pd.read_parquet(duck / "payments.parquet")
    assert sorted(map(str, payments.amount)) == sorted(map(str, pd.read_parquet(submitted / "payments.parquet").amount))
    assert (payments.amount != 0).all() and len(payments) == 2
    manifest = json.loads((submitted / "manifest.json").read_text())
    assert manifest["engine"] == "spark" and manifest["spark_connect"] is None
    assert Path(submitted / "report.html").stat().st_size > 0
