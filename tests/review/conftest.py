"""Review databases for the tests: a migrated SQLite file per test, and a PostgreSQL schema per run.

Argon2 hashing is slow on purpose, so the users are created once in a template SQLite file that
each test copies. PostgreSQL tests run whenever the server answers; with P4P_REQUIRE_SERVICES=1
(as CI sets) an unreachable server fails them instead of skipping.
"""

from __future__ import annotations

import os
import shutil
import uuid
from dataclasses import dataclass

import pytest
from sqlalchemy import Engine, create_engine, select, text
from sqlalchemy.exc import OperationalError

from p4pkit.review.db import engine_for, session_scope, upgrade
from p4pkit.review.models import User
from p4pkit.review.users import create_user

POSTGRES_URL = os.environ.get("P4P_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
PASSWORD = "correct horse battery"


@dataclass(frozen=True)
class People:
    """One user of each role, as loaded in the database under test."""

    admin: User
    clinician: User
    manager: User
    public: User


def add_people(engine: Engine) -> None:
    with session_scope(engine) as session:
        create_user(session, "admin", PASSWORD, "program_admin")
        create_user(session, "dr_lee", PASSWORD, "clinician", clinician_id="1234567893")
        create_user(session, "pm_ortiz", PASSWORD, "practice_manager", organization_id="TIN-0001")
        create_user(session, "anyone", PASSWORD, "public")


def load_people(engine: Engine) -> People:
    with session_scope(engine) as session:
        users = {u.username: u for u in session.scalars(select(User))}
    return People(users["admin"], users["dr_lee"], users["pm_ortiz"], users["anyone"])


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
    path = tmp_path / "review.sqlite"
    shutil.copy(sqlite_template, path)
    engine = engine_for(path)
    yield engine
    engine.dispose()


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
