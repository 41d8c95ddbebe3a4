"""The run lifecycle on SQLite: the whole path, every refused transition, and the rules between them."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

import pytest
from review_steps import PATIENT, STATES, copied_engine, fail_when_finalizing, load_people, run_in_state
from sqlalchemy import event, func, select

from p4pkit.errors import UserError
from p4pkit.review import lifecycle
from p4pkit.review.audit import audit_events
from p4pkit.review.db import session_scope
from p4pkit.review.lifecycle import TransitionRefused
from p4pkit.review.models import AuditEvent, Correction, Run
from p4pkit.review.users import PermissionDenied


def test_whole_lifecycle_with_a_correction_makes_a_new_version_that_is_paid_and_published(engine, people, tmp_path):
    admin, doc, manager = people.admin, people.clinician, people.manager
    run_dir = tmp_path / "run-2026-q1"
    run_dir.mkdir()
    (run_dir / "manifest.json").write_text('{"program": "qof-2026"}')
    with session_scope(engine) as s:
        run = lifecycle.register_run(s, run_dir, "qof-2026", admin)
        assert (run.state, run.version, run.source) == ("computed", 1, str(run_dir.resolve()))
        assert run.manifest_sha256 == hashlib.sha256(b'{"program": "qof-2026"}').hexdigest()
        lifecycle.open_review(s, run.id, admin, 30)
        assert run.review_deadline - run.review_opened_at == timedelta(days=30)
        accepted = lifecycle.file_dispute(s, run.id, doc, "CMS122", "numerator", "HbA1c 7.9 on 3 March not loaded", "PAT-1")
        rejected = lifecycle.file_dispute(s, run.id, manager, "CMS165", "denominator", "patient moved away", "PAT-2")
        lifecycle.record_exception(s, run.id, doc, "PAT-3", "CMS122", "hospice since January")
        lifecycle.comment(s, run.id, doc, "lab feed was down in March", dispute_id=accepted.id)
        lifecycle.close_review(s, run.id, admin, early=True)
        lifecycle.resolve_dispute(s, accepted.id, admin, "accepted", correction="1")
        lifecycle.resolve_dispute(s, rejected.id, admin, "rejected", note="moved after the period")
        corrected = lifecycle.apply_corrections(s, run.id, admin)
        assert (run.state, corrected.state, corrected.version, corrected.parent_id) == ("superseded", "review_closed", 2, run.id)
        lifecycle.finalize(s, corrected.id, admin)
        lifecycle.mark_paid(s, corrected.id, admin)
        lifecycle.publish(s, corrected.id, admin)
        assert corrected.state == "published"
        assert corrected.finalized_at <= corrected.paid_at <= corrected.published_at
        [correction] = s.scalars(select(Correction)).all()
        assert (correction.run_id, correction.dispute_id, correction.patient_id, correction.element, correction.value) == (
            corrected.id, accepted.id, "PAT-1", "numerator", "1")
        original, new = lifecycle.run_summary(s, run.id), lifecycle.run_summary(s, corrected.id)
        assert (original["superseded_by"], original["disputes_accepted"], original["disputes_rejected"],
                original["exceptions"], original["comments"]) == (corrected.id, 1, 1, 1, 1)
        assert (new["state"], new["corrections"], new["disputes_open"]) == ("published", 1, 0)
        events = audit_events(s)
    assert [e.action for e in events if e.action != "user.create"] == [
        "run.register", "review.open", "dispute.file", "dispute.file", "exception.record", "comment.add", "review.close",
        "dispute.resolve", "dispute.resolve", "correction.apply", "run.supersede", "run.correct", "run.finalize",
        "run.paid", "run.published",
    ]
    assert {e.patient_id for e in events} == {None, "PAT-1", "PAT-2", "PAT-3"}
    assert not any(p in json.dumps(e.detail) for e in events for p in ("PAT-1", "PAT-2", "PAT-3"))


def test_lifecycle_without_corrections_finalizes_the_original_run(engine, people):
    run_id, _ = run_in_state(engine, people, "published")
    with session_scope(engine) as s:
        summary = lifecycle.run_summary(s, run_id)
        assert s.scalar(select(func.count()).select_from(Run)) == 1
    assert (summary["state"], summary["version"], summary["disputes_rejected"], summary["superseded_by"]) == ("published", 1, 1, None)


ALLOWED = {
    "open_review": {"computed"},
    "close_review": {"review_open"},
    "file_dispute": {"review_open"},
    "record_exception": {"review_open"},
    "comment": {"computed", "review_open", "review_closed"},
    "resolve_dispute": {"review_open", "review_closed"},
    "apply_corrections": {"review_closed"},
    "finalize": {"review_closed"},
    "mark_paid": {"finalized"},
    "publish": {"paid"},
}


def attempt(s, action: str, run_id: int, dispute_id: int | None, people) -> None:
    admin, doc = people.admin, people.clinician
    calls = {
        "open_review": lambda: lifecycle.open_review(s, run_id, admin, 30),
        "close_review": lambda: lifecycle.close_review(s, run_id, admin, early=True),
        "file_dispute": lambda: lifecycle.file_dispute(s, run_id, doc, "CMS122", "numerator", "late lab", PATIENT),
        "record_exception": lambda: lifecycle.record_exception(s, run_id, doc, PATIENT, "CMS122", "hospice"),
        "comment": lambda: lifecycle.comment(s, run_id, doc, "a remark"),
        "resolve_dispute": lambda: lifecycle.resolve_dispute(s, dispute_id, admin, "rejected"),
        "apply_corrections": lambda: lifecycle.apply_corrections(s, run_id, admin),
        "finalize": lambda: lifecycle.finalize(s, run_id, admin),
        "mark_paid": lambda: lifecycle.mark_paid(s, run_id, admin),
        "publish": lambda: lifecycle.publish(s, run_id, admin),
    }
    calls[action]()


REFUSED = [
    (state, action)
    for action, allowed in ALLOWED.items()
    for state in STATES
    if state not in allowed and not (action == "resolve_dispute" and state == "computed")  # no dispute exists yet
]


@pytest.mark.parametrize(("state", "action"), REFUSED)
def test_every_illegal_transition_is_refused_naming_the_state_and_changes_nothing(states_template, tmp_path, request, state, action):
    template, runs = states_template
    engine = copied_engine(template, tmp_path)
    request.addfinalizer(engine.dispose)
    people = load_people(engine)
    run_id, dispute_id = runs[state]
    with session_scope(engine) as s:
        before = s.scalar(select(func.count()).select_from(AuditEvent))
    with pytest.raises(TransitionRefused) as refused, session_scope(engine) as s:
        attempt(s, action, run_id, dispute_id, people)
    assert f"run {run_id} is {state}" in refused.value.message
    assert refused.value.hint.startswith(f"To go on from {state}:")
    with session_scope(engine) as s:
        assert s.get(Run, run_id).state == state
        assert s.scalar(select(func.count()).select_from(AuditEvent)) == before


def test_nothing_is_paid_or_published_while_a_dispute_is_unresolved(engine, people):
    run_id, _ = run_in_state(engine, people, "review_closed_open_dispute")
    with pytest.raises(TransitionRefused, match="1 unresolved dispute"), session_scope(engine) as s:
        lifecycle.finalize(s, run_id, people.admin)
    with pytest.raises(TransitionRefused, match="review_closed"), session_scope(engine) as s:
        lifecycle.mark_paid(s, run_id, people.admin)
    with pytest.raises(TransitionRefused, match="unresolved"), session_scope(engine) as s:
        lifecycle.apply_corrections(s, run_id, people.admin)


def test_accepted_corrections_must_be_applied_before_finalizing(engine, people):
    run_id, dispute_id = run_in_state(engine, people, "review_closed_open_dispute")
    with session_scope(engine) as s:
        lifecycle.resolve_dispute(s, dispute_id, people.admin, "accepted", correction="1")
    with pytest.raises(TransitionRefused, match="not applied yet"), session_scope(engine) as s:
        lifecycle.finalize(s, run_id, people.admin)


def test_apply_corrections_needs_an_accepted_correction(engine, people):
    run_id, _ = run_in_state(engine, people, "review_closed")
    with pytest.raises(UserError, match="no accepted dispute with a correction"), session_scope(engine) as s:
        lifecycle.apply_corrections(s, run_id, people.admin)


def test_the_window_closes_at_its_deadline(engine, people):
    run_id, _ = run_in_state(engine, people, "review_open")
    with session_scope(engine) as s:
        deadline = s.get(Run, run_id).review_deadline
    with pytest.raises(TransitionRefused, match="review window closed on"), session_scope(engine) as s:
        lifecycle.file_dispute(s, run_id, people.clinician, "CMS122", "numerator", "late", now=deadline)
    with pytest.raises(TransitionRefused, match="review window closed on"), session_scope(engine) as s:
        lifecycle.record_exception(s, run_id, people.clinician, PATIENT, "CMS122", "late", now=deadline + timedelta(days=1))
    with pytest.raises(TransitionRefused, match="open until"), session_scope(engine) as s:
        lifecycle.close_review(s, run_id, people.admin, now=deadline - timedelta(seconds=1))
    with session_scope(engine) as s:
        lifecycle.close_review(s, run_id, people.admin, now=deadline)
        assert audit_events(s, run_id)[-1].detail == {"state": "review_closed", "early": False}


@pytest.mark.parametrize(
    ("who", "action"),
    [("clinician", "finalize"), ("manager", "open_review"), ("admin", "file_dispute"), ("public", "comment"),
     ("clinician", "resolve_dispute"), ("public", "record_exception")],
)
def test_roles_limit_who_may_act(engine, people, who, action):
    run_id, dispute_id = run_in_state(engine, people, "review_open")
    actor = getattr(people, who)
    calls = {
        "finalize": lambda s: lifecycle.finalize(s, run_id, actor),
        "open_review": lambda s: lifecycle.open_review(s, run_id, actor, 30),
        "file_dispute": lambda s: lifecycle.file_dispute(s, run_id, actor, "CMS122", "numerator", "x"),
        "comment": lambda s: lifecycle.comment(s, run_id, actor, "x"),
        "resolve_dispute": lambda s: lifecycle.resolve_dispute(s, dispute_id, actor, "accepted"),
        "record_exception": lambda s: lifecycle.record_exception(s, run_id, actor, PATIENT, "CMS122", "x"),
    }
    with pytest.raises(PermissionDenied, match=f"{actor.username} \\({actor.role}\\) may not"), session_scope(engine) as s:
        calls[action](s)


def test_a_resolution_is_final_and_only_an_accepted_dispute_carries_a_correction(engine, people):
    run_id, dispute_id = run_in_state(engine, people, "review_open")
    with pytest.raises(UserError, match="only an accepted dispute"), session_scope(engine) as s:
        lifecycle.resolve_dispute(s, dispute_id, people.admin, "rejected", correction="1")
    with pytest.raises(UserError, match="unknown resolution 'maybe'"), session_scope(engine) as s:
        lifecycle.resolve_dispute(s, dispute_id, people.admin, "maybe")
    with session_scope(engine) as s:
        lifecycle.resolve_dispute(s, dispute_id, people.admin, "rejected")
    with pytest.raises(TransitionRefused, match=f"dispute {dispute_id} is already rejected"), session_scope(engine) as s:
        lifecycle.resolve_dispute(s, dispute_id, people.admin, "accepted")


def test_a_repeated_submission_returns_the_first_dispute_and_a_reused_key_for_another_is_refused(engine, people):
    run_id, _ = run_in_state(engine, people, "review_open")
    submit = ("CMS122", "numerator", "HbA1c not loaded", PATIENT)
    with session_scope(engine) as s:
        first = lifecycle.file_dispute(s, run_id, people.clinician, *submit, idempotency_key="form-7f3a")
    with session_scope(engine) as s:
        again = lifecycle.file_dispute(s, run_id, people.clinician, *submit, idempotency_key="form-7f3a")
        assert again.id == first.id
        assert [e.action for e in audit_events(s, run_id)].count("dispute.file") == 2  # run_in_state's and this one
    with pytest.raises(UserError, match="already used for a different dispute"), session_scope(engine) as s:
        lifecycle.file_dispute(s, run_id, people.clinician, "CMS165", "numerator", "other", PATIENT, idempotency_key="form-7f3a")


def test_free_text_may_not_repeat_the_patient_identifier(engine, people):
    run_id, _ = run_in_state(engine, people, "review_open")
    with pytest.raises(UserError, match="repeats the patient identifier"), session_scope(engine) as s:
        lifecycle.file_dispute(s, run_id, people.clinician, "CMS122", "numerator", f"{PATIENT} had a test", PATIENT)
    with pytest.raises(UserError, match="repeats the patient identifier"), session_scope(engine) as s:
        lifecycle.record_exception(s, run_id, people.clinician, PATIENT, "CMS122", f"hospice ({PATIENT})")


@pytest.mark.parametrize(
    ("action", "message"),
    [
        (lambda s, run, doc: lifecycle.file_dispute(s, run, doc, "CMS122", " ", ""), "a dispute needs element and reason"),
        (lambda s, run, doc: lifecycle.record_exception(s, run, doc, "", "CMS122", "hospice"), "an exception needs patient_id"),
        (lambda s, run, doc: lifecycle.comment(s, run, doc, "  "), "a comment needs text"),
    ],
)
def test_empty_fields_are_refused(engine, people, action, message):
    run_id, _ = run_in_state(engine, people, "review_open")
    with pytest.raises(UserError, match=message), session_scope(engine) as s:
        action(s, run_id, people.clinician)


def test_a_run_is_registered_once_and_unknown_ids_are_user_errors(engine, people):
    with session_scope(engine) as s:
        run = lifecycle.register_run(s, "payer-run-88", "qof-2026", people.admin)
    with pytest.raises(UserError, match=f"already registered as run {run.id}"), session_scope(engine) as s:
        lifecycle.register_run(s, "payer-run-88", "qof-2026", people.admin)
    with pytest.raises(UserError, match="there is no run 999"), session_scope(engine) as s:
        lifecycle.finalize(s, 999, people.admin)
    with pytest.raises(UserError, match="a review window of 0 days"), session_scope(engine) as s:
        lifecycle.open_review(s, run.id, people.admin, 0)


def test_a_comment_names_a_dispute_of_the_same_run(engine, people):
    first, dispute_id = run_in_state(engine, people, "review_open")
    other, _ = run_in_state(engine, people, "review_open")
    with pytest.raises(UserError, match=f"run {other} has no dispute {dispute_id}"), session_scope(engine) as s:
        lifecycle.comment(s, other, people.clinician, "see there", dispute_id=dispute_id)
    with session_scope(engine) as s:
        assert lifecycle.comment(s, first, people.clinician, "see there", dispute_id=dispute_id).dispute_id == dispute_id


def test_runs_table_lists_every_version(engine, people):
    run_in_state(engine, people, "superseded")
    with session_scope(engine) as s:
        table = lifecycle.runs_table(s)
    assert table.column("state").to_pylist() == ["superseded", "review_closed"]
    assert table.column("version").to_pylist() == [1, 2]
    assert table.column("corrections").to_pylist() == [0, 1]


@pytest.mark.parametrize("backend", ["engine", "pg_engine"])
def test_a_failure_between_finalization_statements_rolls_all_of_it_back(request, backend):
    engine = request.getfixturevalue(backend)
    people = load_people(engine)
    run_id, _ = run_in_state(engine, people, "review_closed")
    with pytest.raises(RuntimeError, match="injected"), session_scope(engine) as s:
        event.listen(s, "after_flush", fail_when_finalizing)
        lifecycle.finalize(s, run_id, people.admin)
    with session_scope(engine) as s:
        assert (s.get(Run, run_id).state, s.get(Run, run_id).finalized_at) == ("review_closed", None)
        assert "run.finalize" not in [e.action for e in audit_events(s, run_id)]
