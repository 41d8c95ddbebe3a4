"""Property: whatever sequence of review actions is tried, in whatever order, the rules hold.

Each example takes a fresh database, registers one run, and tries a random sequence of actions on
the newest or the oldest version of it (with the main path woven in, so many get to the end). Refused actions must change nothing; after every step no
run is finalized with an unresolved dispute or an unapplied correction, a frozen run's row never
changes except finalized → paid → published, and the audit log has one event per change made.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from review_steps import PATIENT, copied_engine, load_people
from sqlalchemy import func, select

from p4pkit.errors import UserError
from p4pkit.review import lifecycle
from p4pkit.review.db import session_scope
from p4pkit.review.models import AuditEvent, Dispute, Run

ACTIONS = ("open", "close", "dispute", "exception", "comment", "accept_with_correction", "accept", "reject",
           "apply_corrections", "finalize", "pay", "publish")
FROZEN = ("superseded", "finalized", "paid", "published")
MOVES = {("finalized", "paid"), ("paid", "published")}


def act(s, action: str, run: Run, people, step: int) -> None:
    admin, doc = people.admin, people.clinician
    unresolved = s.scalar(select(Dispute.id).where(Dispute.run_id == run.id, Dispute.resolution.is_(None)).order_by(Dispute.id))
    calls = {
        "open": lambda: lifecycle.open_review(s, run.id, admin, 30),
        "close": lambda: lifecycle.close_review(s, run.id, admin, early=True),
        "dispute": lambda: lifecycle.file_dispute(s, run.id, doc, "CMS122", "numerator", "not loaded", f"{PATIENT}-{step}"),
        "exception": lambda: lifecycle.record_exception(s, run.id, doc, PATIENT, "CMS122", "hospice"),
        "comment": lambda: lifecycle.comment(s, run.id, doc, "remark"),
        "accept_with_correction": lambda: lifecycle.resolve_dispute(s, unresolved, admin, "accepted", correction="1"),
        "accept": lambda: lifecycle.resolve_dispute(s, unresolved, admin, "accepted"),
        "reject": lambda: lifecycle.resolve_dispute(s, unresolved, admin, "rejected"),
        "apply_corrections": lambda: lifecycle.apply_corrections(s, run.id, admin),
        "finalize": lambda: lifecycle.finalize(s, run.id, admin),
        "pay": lambda: lifecycle.mark_paid(s, run.id, admin),
        "publish": lambda: lifecycle.publish(s, run.id, admin),
    }
    if action.startswith(("accept", "reject")) and unresolved is None:
        raise UserError("no unresolved dispute to resolve")
    calls[action]()


def snapshot(s) -> dict[int, dict[str, object]]:
    return {run.id: {c.key: getattr(run, c.key) for c in Run.__table__.columns} for run in s.scalars(select(Run))}


def check_rules(s, before: dict[int, dict[str, object]]) -> None:
    for run_id, row in snapshot(s).items():
        old = before.get(run_id)
        if old and old["state"] in FROZEN and row != old:
            assert (old["state"], row["state"]) in MOVES
            fixed = set(row) - {"state", "paid_at", "published_at"}
            assert {k: row[k] for k in fixed} == {k: old[k] for k in fixed}
        if row["state"] in ("finalized", "paid", "published"):
            assert row["finalized_at"] is not None
            open_or_uncorrected = s.scalar(select(func.count()).select_from(Dispute).where(
                Dispute.run_id == run_id, Dispute.resolution.is_(None) | Dispute.corrected_value.is_not(None)))
            assert open_or_uncorrected == 0


@st.composite
def sequences(draw) -> list[tuple[str, bool]]:
    """Random actions with the main path woven in, in order, so that many sequences get far;
    half the paths go through a correction."""
    if draw(st.booleans()):
        path = ("open", "dispute", "close", "accept_with_correction", "apply_corrections", "finalize", "pay", "publish")
    else:
        path = ("open", "close", "finalize", "pay", "publish")
    steps = draw(st.lists(st.tuples(st.sampled_from(ACTIONS), st.booleans()), max_size=8))
    places = sorted(draw(st.lists(st.integers(0, len(steps)), min_size=len(path), max_size=len(path))))
    for offset, (place, action) in enumerate(zip(places, path, strict=True)):
        steps.insert(place + offset, (action, True))
    return steps


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=sequences())
def test_any_sequence_of_actions_keeps_the_rules(sqlite_template, steps):
    with tempfile.TemporaryDirectory() as folder:
        engine = copied_engine(sqlite_template, Path(folder))
        people = load_people(engine)
        with session_scope(engine) as s:
            lifecycle.register_run(s, "payer-run", "qof-2026", people.admin)
            events, before = s.scalar(select(func.count()).select_from(AuditEvent)), snapshot(s)
        for step, (action, newest) in enumerate(steps):
            try:
                with session_scope(engine) as s:
                    run = s.scalar(select(Run).order_by(Run.id.desc() if newest else Run.id).limit(1))
                    act(s, action, run, people, step)
                changed = True
            except UserError:
                changed = False
            with session_scope(engine) as s:
                now, after = s.scalar(select(func.count()).select_from(AuditEvent)), snapshot(s)
                assert (now > events) == changed
                assert changed or after == before
                check_rules(s, before)
                events, before = now, after
        engine.dispose()
