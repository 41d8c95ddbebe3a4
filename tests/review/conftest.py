"""Review databases for the tests: a migrated SQLite file per test, and a PostgreSQL schema per run.

Argon2 hashing is slow on purpose: the tests hash with a cheap Argon2id setting, and the users
(and runs in every state) are created once in template SQLite files that tests copy. PostgreSQL
tests run whenever the server answers; with P4P_REQUIRE_SERVICES=1 (as CI sets) an unreachable
server fails them instead of skipping.
"""

from __future__ import annotations

import os
import uuid

import pytest
from argon2 import PasswordHasher
from review_steps import POSTGRES_URL, STATES, People, add_people, copied_engine, load_people, run_in_state
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import OperationalError

from p4pkit.review import users
from p4pkit.review.db import engine_for, upgrade


@pytest.fixture(scope="session", autouse=True)
def cheap_password_hashes():
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(users, "HASHER", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
        yield


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("review-template") / "review.sqlite"
    engine = engine_for(path)
    upgrade(engine)
    add_people(engine)
    engine.dispose()
    return str(path)


@pytest.fixture
def engine(sqlite_template, tmp_path) -> Engine:
    """A fresh, migrated SQLite review database with one user of each role."""
    engine = copied_engine(sqlite_template, tmp_path)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def states_template(sqlite_template, tmp_path_factory) -> tuple[str, dict[str, tuple[int, int | None]]]:
    """A template database with one run left in each lifecycle state: (path, state → (run id, dispute id))."""
    engine = copied_engine(sqlite_template, tmp_path_factory.mktemp("review-states"))
    people = load_people(engine)
    runs = {state: run_in_state(engine, people, state) for state in STATES}
    engine.dispose()
    return engine.url.database, runs


@pytest.fixture
def people(engine) -> People:
    return load_people(engine)


@pytest.fixture(scope="session")
def postgres_schema() -> str:
    """A throwaway schema on the test server for this test run (per xdist worker); dropped after."""
    root = create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
    try:
        with root.connect():
            pass
    except OperationalError as exc:
        reason = f"PostgreSQL is not reachable at {POSTGRES_URL}: {str(exc.orig).strip().splitlines()[0]}"
        if os.environ.get("P4P_REQUIRE_SERVICES") == "1":
            pytest.fail(f"{reason} (P4P_REQUIRE_SERVICES=1: the server is required)")
        pytest.skip(f"{reason}; set P4P_REQUIRE_SERVICES=1 to make this a failure")
    schema = f"p4p_review_test_{uuid.uuid4().hex[:12]}"
    with root.begin() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        engine = engine_for(POSTGRES_URL, schema=schema)
        upgrade(engine)
        add_people(engine)
        engine.dispose()
        yield schema
    finally:
        with root.begin() as connection:
            connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        root.dispose()


@pytest.fixture
def pg_engine(postgres_schema) -> Engine:
    engine = engine_for(POSTGRES_URL, schema=postgres_schema, pool_size=50, max_overflow=0)
    yield engine
    engine.dispose()


@pytest.fixture
def pg_people(pg_engine) -> People:
    return load_people(pg_engine)
