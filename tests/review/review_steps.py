"""Users of every role, copies of template databases, and runs brought to any lifecycle state
through the public API (for SQLite and PostgreSQL tests alike)."""

from __future__ import annotations

import os
import shutil
import uuid
from dataclasses import dataclass

from sqlalchemy import Engine, select

from p4pkit.review import lifecycle
from p4pkit.review.db import engine_for, session_scope
from p4pkit.review.models import Run, User
from p4pkit.review.users import create_user

POSTGRES_URL = os.environ.get("P4P_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
PATIENT = "PAT-000417"
PASSWORD = "correct horse battery"
STATES = ("computed", "review_open", "review_closed", "superseded", "finalized", "paid", "published")
# Hand-written SQL that the database must refuse on a finalized run (parameter :run).
FROZEN_SQL = [
    "UPDATE runs SET program_id = 'other' WHERE id = :run",
    "UPDATE runs SET state = 'review_open' WHERE id = :run",
    "UPDATE runs SET finalized_at = NULL, state = 'review_closed' WHERE id = :run",
    "DELETE FROM runs WHERE id = :run",
    "UPDATE disputes SET resolution = 'accepted' WHERE run_id = :run",
    "DELETE FROM disputes WHERE run_id = :run",
    "INSERT INTO comments (run_id, author, written_at, text) VALUES (:run, 'x', CURRENT_TIMESTAMP, 'late')",
    "INSERT INTO patient_exceptions (run_id, recorded_by, recorded_at, patient_id, measure_id, reason) "
    "VALUES (:run, 'x', CURRENT_TIMESTAMP, 'P', 'M', 'late')",
]


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


def copied_engine(template: str, folder) -> Engine:
    path = folder / "review.sqlite"
    shutil.copy(template, path)
    return engine_for(path)


def run_in_state(engine: Engine, people: People, state: str) -> tuple[int, int | None]:
    """(run id, id of its one dispute or None) for a new run left in `state`.

    The dispute (on `PATIENT`, CMS122 numerator) is filed once the window opens; it stays open in
    `review_open` and `review_closed_open_dispute`, is accepted with a correction on the way to
    `superseded`, and is rejected on the way to every later state.
    """
    admin, clinician = people.admin, people.clinician
    with session_scope(engine) as s:
        run_id = lifecycle.register_run(s, f"run-{uuid.uuid4().hex}", "qof-2026", admin).id
        if state == "computed":
            return run_id, None
        lifecycle.open_review(s, run_id, admin, 30)
        dispute_id = lifecycle.file_dispute(s, run_id, clinician, "CMS122", "numerator", "HbA1c result was not loaded", PATIENT).id
        if state == "review_open":
            return run_id, dispute_id
        lifecycle.close_review(s, run_id, admin, early=True)
        if state == "review_closed_open_dispute":
            return run_id, dispute_id
        if state == "superseded":
            lifecycle.resolve_dispute(s, dispute_id, admin, "accepted", correction="0")
            lifecycle.apply_corrections(s, run_id, admin)
            return run_id, dispute_id
        lifecycle.resolve_dispute(s, dispute_id, admin, "rejected", note="result is in the data")
        if state == "review_closed":
            return run_id, dispute_id
        lifecycle.finalize(s, run_id, admin)
        if state == "paid" or state == "published":
            lifecycle.mark_paid(s, run_id, admin)
        if state == "published":
            lifecycle.publish(s, run_id, admin)
    return run_id, dispute_id


def fail_when_finalizing(session, _context) -> None:
    """A session `after_flush` hook: fails once the run's finalized state has reached the database,
    before the audit event is written and before the commit."""
    if any(isinstance(o, Run) and o.state == "finalized" for o in session.dirty):
        raise RuntimeError("injected failure between finalization statements")
