"""Against PostgreSQL (127.0.0.1:5432, database `test`, a throwaway schema per test run): the
lifecycle, the triggers, 200 concurrent dispute submissions, and a crash in the middle of finalizing.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from review_steps import FROZEN_SQL, PATIENT, POSTGRES_URL, run_in_state
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from p4pkit.review import lifecycle
from p4pkit.review.audit import audit_events
from p4pkit.review.db import session_scope
from p4pkit.review.models import Dispute, Run

SUBMISSIONS, KEYS, THREADS = 200, 150, 40


def test_the_lifecycle_with_a_correction_on_postgresql(pg_engine, pg_people):
    run_id, dispute_id = run_in_state(pg_engine, pg_people, "superseded")
    with session_scope(pg_engine) as s:
        corrected = s.scalar(select(Run).where(Run.parent_id == run_id))
        lifecycle.finalize(s, corrected.id, pg_people.admin)
        lifecycle.mark_paid(s, corrected.id, pg_people.admin)
        lifecycle.publish(s, corrected.id, pg_people.admin)
    with session_scope(pg_engine) as s:
        summary = lifecycle.run_summary(s, corrected.id)
        assert (summary["state"], summary["version"], summary["parent_id"], summary["corrections"]) == ("published", 2, run_id, 1)
        assert [e.action for e in audit_events(s, patient_id=PATIENT) if e.run_id in (run_id, corrected.id)] == [
            "dispute.file", "dispute.resolve", "correction.apply"]


@pytest.mark.parametrize("statement", FROZEN_SQL)
def test_postgresql_refuses_to_change_a_finalized_run_or_what_was_filed_against_it(pg_engine, pg_people, statement):
    run_id, _ = run_in_state(pg_engine, pg_people, "finalized")
    with pytest.raises(DBAPIError, match="finalized"), pg_engine.begin() as connection:
        connection.execute(text(statement), {"run": run_id})


@pytest.mark.parametrize("statement", ["UPDATE audit_log SET actor = 'x'", "DELETE FROM audit_log", "TRUNCATE audit_log"])
def test_postgresql_keeps_the_audit_log_append_only(pg_engine, statement):
    with pytest.raises(DBAPIError, match="the audit log is append-only"), pg_engine.begin() as connection:
        connection.execute(text(statement))


def test_200_concurrent_submissions_none_lost_none_duplicated(pg_engine, pg_people):
    """40 threads, each on its own connection, send 200 submissions: 150 distinct idempotency keys,
    50 of them sent twice at the same moment by two threads."""
    run_id, _ = run_in_state(pg_engine, pg_people, "review_open")
    reviewers = (pg_people.clinician, pg_people.manager)
    per_thread = SUBMISSIONS // THREADS
    start = threading.Barrier(THREADS)

    def submit(thread: int) -> list[tuple[int, int]]:
        start.wait()
        filed = []
        for n in range(thread * per_thread, (thread + 1) * per_thread):
            key = n % KEYS  # submissions 150-199 repeat keys 0-49, sent by threads 30-39 alongside threads 0-9
            with session_scope(pg_engine) as s:
                dispute = lifecycle.file_dispute(
                    s, run_id, reviewers[key % 2], f"CMS{key % 7}", "numerator", "result not loaded",
                    f"PAT-{key:04d}", idempotency_key=f"submission-{run_id}-{key}",
                )
            filed.append((key, dispute.id))
        return filed

    began = time.perf_counter()
    with ThreadPoolExecutor(THREADS) as pool:
        filed = [pair for batch in pool.map(submit, range(THREADS)) for pair in batch]
    elapsed = time.perf_counter() - began
    assert len(filed) == SUBMISSIONS
    ids_by_key: dict[int, set[int]] = {}
    for key, dispute_id in filed:
        ids_by_key.setdefault(key, set()).add(dispute_id)
    assert sorted(ids_by_key) == list(range(KEYS))
    assert all(len(ids) == 1 for ids in ids_by_key.values())  # a repeated key always got the first dispute back
    with session_scope(pg_engine) as s:
        stored = s.scalars(select(Dispute).where(Dispute.run_id == run_id, Dispute.patient_id != PATIENT)).all()
        filed_events = [e for e in audit_events(s, run_id) if e.action == "dispute.file" and e.patient_id != PATIENT]
    assert sorted(d.id for d in stored) == sorted(i for ids in ids_by_key.values() for i in ids)
    assert sorted(d.patient_id for d in stored) == [f"PAT-{k:04d}" for k in range(KEYS)]
    assert sorted(int(e.object_id) for e in filed_events) == sorted(d.id for d in stored)
    assert elapsed < 60


def test_a_repeat_that_races_the_first_insert_gets_the_first_dispute(pg_engine, pg_people):
    """The second submission misses the first (not yet committed), waits on the unique key, then
    finds it: the path the look-up before the insert cannot cover."""
    run_id, _ = run_in_state(pg_engine, pg_people, "review_open")
    args = (run_id, pg_people.clinician, "CMS122", "numerator", "result not loaded", "PAT-9")
    first_inserted, results = threading.Event(), {}

    def first() -> None:
        with session_scope(pg_engine) as s:
            results["first"] = lifecycle.file_dispute(s, *args, idempotency_key=f"race-{run_id}").id
            first_inserted.set()
            time.sleep(0.5)  # the second submission is now blocked on the unique index

    def second() -> None:
        first_inserted.wait()
        with session_scope(pg_engine) as s:
            results["second"] = lifecycle.file_dispute(s, *args, idempotency_key=f"race-{run_id}").id

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results["first"] == results["second"]
    with session_scope(pg_engine) as s:
        assert s.scalar(select(func.count()).select_from(Dispute).where(Dispute.idempotency_key == f"race-{run_id}")) == 1


def test_two_administrators_finalizing_at_once_finalize_once(pg_engine, pg_people):
    run_id, _ = run_in_state(pg_engine, pg_people, "review_closed")
    start, outcomes = threading.Barrier(2), []

    def finalize() -> None:
        start.wait()
        try:
            with session_scope(pg_engine) as s:
                lifecycle.finalize(s, run_id, pg_people.admin)
            outcomes.append("finalized")
        except lifecycle.TransitionRefused as refused:
            outcomes.append(refused.message)

    threads = [threading.Thread(target=finalize) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["finalized", f"run {run_id} is finalized: only a run that is review_closed can be finalized"]
    with session_scope(pg_engine) as s:
        assert [e.action for e in audit_events(s, run_id)].count("run.finalize") == 1


CRASH = """
import os, signal, sys
from sqlalchemy import event, select
from sqlalchemy.orm import Session
from p4pkit.review import lifecycle
from p4pkit.review.db import engine_for, session_scope
from p4pkit.review.models import Run, User

url, schema, run_id = sys.argv[1], sys.argv[2], int(sys.argv[3])

@event.listens_for(Session, "after_flush")
def die_after_the_state_update(session, context):
    if any(isinstance(o, Run) and o.state == "finalized" for o in session.dirty):
        print("run UPDATE sent, audit INSERT and COMMIT not yet", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)

with session_scope(engine_for(url, schema=schema)) as s:
    admin = s.scalar(select(User).where(User.username == "admin"))
    lifecycle.finalize(s, run_id, admin)
"""


def test_a_process_killed_mid_finalization_leaves_the_run_unfinalized(pg_engine, pg_people, postgres_schema):
    run_id, _ = run_in_state(pg_engine, pg_people, "review_closed")
    crashed = subprocess.run([sys.executable, "-c", CRASH, POSTGRES_URL, postgres_schema, str(run_id)],
                             capture_output=True, text=True, timeout=60, env=os.environ)
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    assert crashed.stdout == "run UPDATE sent, audit INSERT and COMMIT not yet\n"
    with session_scope(pg_engine) as s:
        run = s.get(Run, run_id)
        assert (run.state, run.finalized_at) == ("review_closed", None)
        assert "run.finalize" not in [e.action for e in audit_events(s, run_id)]
    with session_scope(pg_engine) as s:  # the dead connection's lock is gone: finalizing works now
        assert lifecycle.finalize(s, run_id, pg_people.admin).state == "finalized"
    with session_scope(pg_engine) as s:
        assert [e.action for e in audit_events(s, run_id)][-1] == "run.finalize"

