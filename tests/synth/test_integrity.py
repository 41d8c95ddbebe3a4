"""The output is a valid set of canonical tables: schemas, keys, foreign keys, dates and money."""

from __future__ import annotations

import pandas as pd
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from p4pkit.model.schemas import TABLES
from p4pkit.synth import BEHAVIOURS, generate


@pytest.mark.parametrize("name", list(TABLES))
def test_tables_have_exactly_the_canonical_schema(world, name):
    assert pq.read_schema(world.folder / f"{name}.parquet").remove_metadata().equals(TABLES[name].schema)


@pytest.mark.parametrize("name", list(TABLES))
def test_primary_keys_unique_and_required_columns_filled(world, name):
    spec, frame = TABLES[name], world[name]
    assert len(frame) > 0
    assert not frame.duplicated(list(spec.primary_key)).any()
    for column in spec.required:
        assert frame[column].notna().all(), column
    for column, allowed in spec.vocabularies.items():
        assert set(frame[column].dropna()) <= allowed, column


@pytest.mark.parametrize("name", [n for n in TABLES if TABLES[n].foreign_keys])
def test_every_foreign_key_resolves(world, name):
    for fk in TABLES[name].foreign_keys:
        values = pc.drop_null(pq.read_table(world.folder / f"{name}.parquet", columns=[fk.column])[fk.column])
        targets = pq.read_table(world.folder / f"{fk.table}.parquet", columns=[fk.target_column])[fk.target_column]
        assert len(values) > 0, fk
        assert pc.all(pc.is_in(values, value_set=targets.combine_chunks())).as_py(), fk


@pytest.mark.parametrize("name", [n for n in TABLES if TABLES[n].intervals or TABLES[n].patient_dated])
def test_no_end_before_start_and_no_care_before_birth_or_after_death(world, name):
    spec, frame = TABLES[name], world[name]
    for start, end in spec.intervals:
        both = frame[[start, end]].dropna()
        assert (both[end] >= both[start]).all(), (start, end)
    if spec.patient_dated:
        people = world["patients"].set_index("patient_id")
        birth = pd.to_datetime(frame["patient_id"].map(people["birth_date"]))
        death = pd.to_datetime(frame["patient_id"].map(people["death_date"]))
        for column in spec.patient_dated:
            day = pd.to_datetime(frame[column]).dt.normalize()
            assert (day >= birth).all(), column
            assert (day[death.notna()] <= death[death.notna()]).all(), column


def test_enrollments_stop_at_death(world):
    people = world["patients"].set_index("patient_id")
    enrol = world["enrollments"]
    death = enrol["patient_id"].map(people["death_date"])
    dead = death.notna()
    assert dead.sum() > 50
    assert enrol.loc[dead, "end_date"].notna().all()
    assert (enrol.loc[dead, "end_date"] <= death[dead]).all()


def test_encounter_cost_is_the_sum_of_its_claim_lines_and_paid_never_exceeds_allowed(world):
    lines = world["claim_lines"]
    by_encounter = lines.groupby("encounter_id")["allowed_amount"].sum()
    encounters = world["encounters"].set_index("encounter_id")
    assert (by_encounter == encounters.loc[by_encounter.index, "allowed_cost"]).all()
    assert len(by_encounter) == len(encounters)
    assert (lines["paid_amount"] <= lines["allowed_amount"]).all()
    assert (lines["allowed_amount"] > 0).all()
    # Office, home, inpatient, outpatient hospital (observation), emergency department, hospice.
    assert set(lines["place_of_service"]) == {"11", "12", "21", "22", "23", "34"}


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    n_patients=st.integers(100, 700),
    seed=st.integers(0, 2**32 - 1),
    behaviours=st.sets(st.sampled_from(BEHAVIOURS)),
)
def test_any_world_keeps_care_inside_registration_and_money_balanced(tmp_path_factory, n_patients, seed, behaviours):
    folder = tmp_path_factory.mktemp("prop") / "w"
    generate(n_patients, seed, folder, behaviours=sorted(behaviours))
    enrol = pq.read_table(folder / "enrollments.parquet").to_pandas()
    lists = enrol[enrol["kind"] == "practice_list"].set_index("patient_id")
    assert lists.index.is_unique and len(lists) == n_patients
    payer = enrol[enrol["kind"] == "payer"].sort_values(["patient_id", "start_date"])
    previous_end = payer.groupby("patient_id")["end_date"].shift()
    assert (payer["start_date"][previous_end.notna()] > previous_end.dropna()).all()  # coverage never overlaps

    encounters = pq.read_table(folder / "encounters.parquet").to_pandas()
    day = encounters["start"].dt.normalize()
    start = pd.to_datetime(encounters["patient_id"].map(lists["start_date"]))
    end = pd.to_datetime(encounters["patient_id"].map(lists["end_date"]))
    assert (day >= start).all()
    assert (day[end.notna()] <= end[end.notna()]).all()
    assert (pd.to_datetime(encounters["end"]).dt.normalize()[end.notna()] <= end[end.notna()]).all()

    lines = pq.read_table(folder / "claim_lines.parquet", columns=["encounter_id", "allowed_amount"]).to_pandas()
    total = lines.groupby("encounter_id")["allowed_amount"].sum()
    assert (total == encounters.set_index("encounter_id").loc[total.index, "allowed_cost"]).all()
