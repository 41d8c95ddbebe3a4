"""What the database itself refuses (SQLite triggers), the audit log, users and database URLs."""

from __future__ import annotations

import json

import pytest
from argon2 import PasswordHasher
from review_steps import FROZEN_SQL, PATIENT, run_in_state
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from p4pkit.errors import UserError
from p4pkit.review.audit import AUDIT_SCHEMA, audit_events, audit_table, record_event, record_view
from p4pkit.review.db import database_url, engine_for, session_scope, upgrade
from p4pkit.review.models import AuditEvent, Dispute, Run, User
from p4pkit.review.users import authenticate, create_user


@pytest.mark.parametrize("statement", FROZEN_SQL)
def test_the_database_refuses_to_change_a_finalized_run_or_what_was_filed_against_it(engine, people, statement):
    run_id, _ = run_in_state(engine, people, "finalized")
    with pytest.raises(IntegrityError, match="the run is frozen"), engine.begin() as connection:
        connection.execute(text(statement), {"run": run_id})
    with session_scope(engine) as s:
        assert s.get(Run, run_id).state == "finalized"


def test_the_database_allows_only_finalized_to_paid_to_published(engine, people):
    run_id, _ = run_in_state(engine, people, "finalized")
    with engine.begin() as connection:
        connection.execute(text("UPDATE runs SET state = 'paid', paid_at = finalized_at WHERE id = :run"), {"run": run_id})
    with pytest.raises(IntegrityError, match="the run is frozen"), engine.begin() as connection:
        connection.execute(text("UPDATE runs SET paid_at = CURRENT_TIMESTAMP, state = 'published', published_at = CURRENT_TIMESTAMP WHERE id = :run"), {"run": run_id})


@pytest.mark.parametrize("statement", ["UPDATE audit_log SET actor = 'someone else'", "DELETE FROM audit_log"])
def test_the_database_keeps_the_audit_log_append_only(engine, statement):
    with pytest.raises(IntegrityError, match="append-only"), engine.begin() as connection:
        connection.execute(text(statement))


def test_the_orm_refuses_to_change_or_delete_an_audit_event(engine):
    with pytest.raises(PermissionError, match="append-only"), session_scope(engine) as s:
        s.scalars(select(AuditEvent)).first().actor = "someone else"
    with pytest.raises(PermissionError, match="append-only"), session_scope(engine) as s:
        s.delete(s.scalars(select(AuditEvent)).first())


def test_views_of_patient_data_are_logged_with_the_patient_in_its_own_column(engine, people):
    run_id, _ = run_in_state(engine, people, "published")
    with session_scope(engine) as s:
        record_view(s, people.manager, run_id, "patient measure results", patient_id=PATIENT)
        record_view(s, people.public, run_id, "entity scores")
    with session_scope(engine) as s:
        views = [e for e in audit_events(s, run_id) if e.action == "view"]
        assert [(e.actor, e.patient_id, e.detail) for e in views] == [
            ("pm_ortiz", PATIENT, {"what": "patient measure results"}),
            ("anyone", None, {"what": "entity scores"}),
        ]
        assert [e.action for e in audit_events(s, patient_id=PATIENT)] == ["dispute.file", "dispute.resolve", "view"]
        table = audit_table(s, run_id)
    assert table.schema == AUDIT_SCHEMA
    assert table.column("action").to_pylist()[-2:] == ["view", "view"]
    assert json.loads(table.column("detail")[-1].as_py()) == {"what": "entity scores"}


def test_audit_detail_may_not_carry_the_patient_identifier(engine):
    with pytest.raises(ValueError, match="must not contain the patient identifier"), session_scope(engine) as s:
        record_event(s, "admin", "view", "run", 1, patient_id=PATIENT, detail={"what": f"chart of {PATIENT}"})


def test_passwords_are_stored_as_argon2id_hashes_and_checked(engine, people):
    stored = people.clinician.password_hash
    assert stored.startswith("$argon2id$") and "correct horse" not in stored
    assert PasswordHasher().verify(stored, "correct horse battery")
    with session_scope(engine) as s:
        assert authenticate(s, "dr_lee", "correct horse battery").id == people.clinician.id
        assert authenticate(s, "dr_lee", "correct horse batterY") is None
        assert authenticate(s, "nobody", "correct horse battery") is None


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (("new", "long enough pw", "superuser"), "unknown role 'superuser'"),
        (("new", "short", "public"), "shorter than 12 characters"),
        (("new", "long enough pw", "clinician"), "clinician user needs a clinician_id"),
        (("new", "long enough pw", "practice_manager"), "practice_manager user needs an organization_id"),
        (("admin", "long enough pw", "public"), "user 'admin' already exists"),
        (("  ", "long enough pw", "public"), "username cannot be empty"),
    ],
)
def test_bad_users_are_refused(engine, arguments, message):
    with pytest.raises(UserError, match=message), session_scope(engine) as s:
        create_user(s, *arguments)
    with session_scope(engine) as s:
        assert len(s.scalars(select(User)).all()) == 4


def test_user_creation_is_audited_without_the_password(engine):
    with session_scope(engine) as s:
        events = [e for e in audit_events(s) if e.action == "user.create"]
    assert [e.detail for e in events][:2] == [{"username": "admin", "role": "program_admin"}, {"username": "dr_lee", "role": "clinician"}]
    assert not any("correct horse" in json.dumps(e.detail) for e in events)


def test_database_urls(tmp_path):
    assert database_url(tmp_path) == f"sqlite:///{tmp_path / 'review.sqlite'}"
    assert database_url(tmp_path / "x.db") == f"sqlite:///{tmp_path / 'x.db'}"
    assert database_url("postgresql+psycopg://postgres@127.0.0.1:5432/test") == "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    assert database_url(None).endswith("/runs/review.sqlite")
    with pytest.raises(UserError, match="is not a database URL"):
        database_url("postgresql://host:port/db")
    with pytest.raises(UserError, match="must be SQLite or PostgreSQL, not mysql"):
        database_url("mysql://host/db")
    with pytest.raises(UserError, match="only be chosen on PostgreSQL"):
        engine_for(tmp_path / "x.db", schema="program_a")
    with pytest.raises(UserError, match="'a b; drop' is not a plain identifier"):
        engine_for("postgresql+psycopg://postgres@127.0.0.1:5432/test", schema="a b; drop")


def test_upgrade_is_repeatable_and_records_the_revision(tmp_path):
    engine = engine_for(tmp_path / "new" / "review.sqlite")
    upgrade(engine)
    upgrade(engine)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == ["0001"]
    engine.dispose()


def test_sqlite_checks_foreign_keys(engine):
    with pytest.raises(IntegrityError, match="FOREIGN KEY"), session_scope(engine) as s:
        s.add(Dispute(run_id=12345, idempotency_key="k", filed_by="x", measure_id="M", element="numerator", reason="r"))
