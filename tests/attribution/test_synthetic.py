"""Smoke test on a small synthetic population, and the example program files' attribution sections."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from attribution_world import Period

from p4pkit.attribution import ATTRIBUTION_SCHEMA, attribute, clinician_count_summary
from p4pkit.errors import UserError
from p4pkit.model.schemas import TABLES
from p4pkit.programs.loader import load_program
from p4pkit.store import Store
from p4pkit.synth import generate

ROOT = Path(__file__).resolve().parents[2]
YEAR_2024 = Period(date(2024, 1, 1), date(2024, 12, 31))


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    folder = tmp_path_factory.mktemp("synth") / "world"
    generate(200, 11, folder)
    with Store() as store:
        store.replace_tables({name: pq.read_table(folder / f"{name}.parquet") for name in TABLES})
        yield store


@pytest.mark.parametrize("rule", ["registration", "mssp_two_step", "plurality_of_visits"])
def test_every_patient_once_with_a_reason(store, rule):
    table = attribute(store, rule, YEAR_2024)
    assert table.schema == ATTRIBUTION_SCHEMA
    patients = store.arrow("patients").column("patient_id").to_pylist()
    assert sorted(table.column("patient_id").to_pylist()) == sorted(patients)
    rows = table.to_pylist()
    assert all(row["reason"] for row in rows)
    attributed = [row for row in rows if row["entity_id"] is not None]
    assert attributed, "a synthetic population always has some attributable patients"
    known = set(store.arrow("organizations").column("organization_id").to_pylist())
    known |= set(store.arrow("clinicians").column("clinician_id").to_pylist())
    assert {row["entity_id"] for row in attributed} <= known
    assert all(row["step"] is not None for row in attributed)
    if rule == "mssp_two_step":
        assert {row["entity_type"] for row in attributed} == {"aco"}


def test_clinician_count_summary_runs_on_synthetic_data(store):
    summary = {row["group"]: row for row in clinician_count_summary(store, YEAR_2024).to_pylist()}
    everyone = summary["all patients seen"]
    assert everyone["patients"] > 0
    assert everyone["median_clinicians"] >= everyone["median_primary_care"]


@pytest.mark.parametrize(
    "path", [p for p in sorted((ROOT / "programs").glob("*.yaml")) if load_program(p).attribution], ids=lambda p: p.stem
)
def test_program_file_attribution_sections_run(store, path):
    rule = load_program(path).attribution
    table = attribute(store, rule.rule, YEAR_2024, **rule.model_dump(exclude={"rule"}, exclude_none=True))
    assert table.num_rows == store.count("patients")
    assert set(table.column("rule").to_pylist()) == {rule.rule}


def test_unknown_rule_or_parameter_is_a_user_error(store):
    with pytest.raises(UserError, match="unknown attribution rule 'nearest'"):
        attribute(store, "nearest", YEAR_2024)
    with pytest.raises(UserError, match="has no parameter entity"):
        attribute(store, "registration", YEAR_2024, entity="aco")
    with pytest.raises(UserError, match="unknown entity level 'payer'"):
        attribute(store, "plurality_of_visits", YEAR_2024, entity="payer")
