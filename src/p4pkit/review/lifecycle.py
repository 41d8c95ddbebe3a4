"""A run's life after it is computed: review window, disputes, corrections, finalization, payment.

    computed → review_open → review_closed → finalized → paid → published
                                   └─ apply_corrections → (this run: superseded)
                                                          (new version: review_closed → finalized → ...)

Clinicians and practices see their results before money moves and may dispute them; that is the
review CMS gives in Hospital VBP (42 CFR 412.163(b)-(c): confidential hospital-specific reports
and 30 days to review and submit corrections before publication) and in MIPS (targeted review,
42 CFR 414.1385(a)(2)). p4pkit applies the same rule to any program: nothing is paid or published while the
window is open or a dispute is unresolved, and an accepted correction is never written over the
original run: it becomes a new version that names its parent, so both stay on record.

Every function takes the acting `User`, checks the role, changes state in the caller's transaction
and appends an audit event in that same transaction, so a state change and its audit record are
written together or not at all. Run rows are locked (`SELECT ... FOR UPDATE` on PostgreSQL) while a
transition is decided, so concurrent requests cannot both act on the same state. Illegal moves
raise `TransitionRefused` (a `UserError`) naming the state and what is needed first.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import pyarrow as pa
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from p4pkit.errors import UserError
from p4pkit.review.audit import record_event
from p4pkit.review.models import RESOLUTIONS, Comment, Correction, Dispute, PatientException, Run, User, utcnow
from p4pkit.review.users import require_role

ADMIN = ("program_admin",)
REVIEWERS = ("clinician", "practice_manager")
MANIFEST = "manifest.json"

# What has to happen before a run in each state can move on, for the messages of refused moves.
_NEXT_STEP = {
    "computed": "open the review window first",
    "review_open": "close the review window first",
    "review_closed": "finalize it first",
    "superseded": "act on the corrected version instead",
    "finalized": "mark it paid first",
    "paid": "publish is the only step left",
    "published": "it is published and can no longer change",
}


class TransitionRefused(UserError):
    """The run is not in a state that allows the action."""


def get_run(session: Session, run_id: int, *, lock: bool = False, shared: bool = False) -> Run:
    """The run with this id; `lock` holds its row until the transaction ends (shared: readers only)."""
    query = select(Run).where(Run.id == run_id)
    if lock:
        query = query.with_for_update(read=shared)
    run = session.scalar(query.execution_options(populate_existing=True))
    if run is None:
        raise UserError(f"there is no run {run_id}", hint="List runs with `p4p review status` to find its id.")
    return run


def register_run(session: Session, run: str | Path, program_id: str, actor: User) -> Run:
    """Put a computed run under review control.

    `run` is a run folder (its `manifest.json` is fingerprinted, so a later change to the folder
    can be detected) or the identifier a payer's own system gives the run.
    """
    require_role(actor, ADMIN, "register a run")
    path = Path(run)
    source, fingerprint = str(run), None
    if path.is_dir():
        source = str(path.resolve())
        manifest = path / MANIFEST
        if manifest.is_file():
            fingerprint = hashlib.sha256(manifest.read_bytes()).hexdigest()
    known = session.scalar(select(Run.id).where(Run.source == source))
    if known is not None:
        raise UserError(f"run {source!r} is already registered as run {known}", hint="Use that run id.")
    new = Run(program_id=program_id, source=source, manifest_sha256=fingerprint, version=1, state="computed", created_by=actor.username)
    session.add(new)
    session.flush()
    _audit_run(session, actor, "run.register", new, program_id=program_id, version=1)
    return new


def open_review(session: Session, run_id: int, actor: User, days: int, *, now: datetime | None = None) -> Run:
    """Open the review window for `days` days, after which disputes are no longer accepted."""
    require_role(actor, ADMIN, "open a review window")
    if days < 1:
        raise UserError(f"a review window of {days} days is too short", hint="Give at least 1 day.")
    run = get_run(session, run_id, lock=True)
    _require_state(run, ("computed",), "open its review window")
    now = now or utcnow()
    run.state, run.review_opened_at, run.review_deadline = "review_open", now, now + timedelta(days=days)
    _audit_run(session, actor, "review.open", run, days=days, deadline=run.review_deadline.isoformat())
    return run


def close_review(session: Session, run_id: int, actor: User, *, early: bool = False, now: datetime | None = None) -> Run:
    """Close the review window once its deadline has passed (or before, with `early`, which is recorded)."""
    require_role(actor, ADMIN, "close a review window")
    run = get_run(session, run_id, lock=True)
    _require_state(run, ("review_open",), "close its review window")
    now = now or utcnow()
    if now < run.review_deadline and not early:
        raise TransitionRefused(
            f"run {run.id}'s review window is open until {run.review_deadline.isoformat()}",
            hint="Wait for the deadline, or close it early on purpose (--early), which the audit log records.",
        )
    run.state, run.review_closed_at = "review_closed", now
    _audit_run(session, actor, "review.close", run, early=now < run.review_deadline)
    return run


def file_dispute(
    session: Session,
    run_id: int,
    actor: User,
    measure_id: str,
    element: str,
    reason: str,
    patient_id: str | None = None,
    *,
    idempotency_key: str | None = None,
    now: datetime | None = None,
) -> Dispute:
    """File a dispute of one measure element (e.g. `numerator`), optionally for one patient.

    Give the same `idempotency_key` when repeating a submission (a retry, a double click): the
    dispute already filed under that key is returned and nothing new is written, even when the
    repeats arrive at the same moment on different connections.
    """
    require_role(actor, REVIEWERS, "file a dispute")
    _required("a dispute", measure_id=measure_id, element=element, reason=reason)
    key = idempotency_key or uuid.uuid4().hex
    existing = _dispute_by_key(session, key)
    if existing is not None:
        return _same_submission(existing, run_id, actor, measure_id, element, patient_id)
    run = _open_for_review(session, run_id, "file a dispute", now)
    _no_patient_id_in_text(reason, patient_id, "reason")
    dispute = Dispute(
        run_id=run.id, idempotency_key=key, filed_by=actor.username, measure_id=measure_id,
        element=element, reason=reason, patient_id=patient_id,
    )
    try:
        with session.begin_nested():
            session.add(dispute)
    except IntegrityError:
        # Another connection committed the same key between our look-up and our insert.
        existing = _dispute_by_key(session, key)
        if existing is None:
            raise
        return _same_submission(existing, run_id, actor, measure_id, element, patient_id)
    record_event(session, actor.username, "dispute.file", "dispute", dispute.id, run_id=run.id, patient_id=patient_id,
                 detail={"measure_id": measure_id, "element": element})
    return dispute


def record_exception(
    session: Session, run_id: int, actor: User, patient_id: str, measure_id: str, reason: str, *, now: datetime | None = None
) -> PatientException:
    """Record a clinician's exception for one patient and measure during the review window."""
    require_role(actor, REVIEWERS, "record an exception")
    _required("an exception", patient_id=patient_id, measure_id=measure_id, reason=reason)
    run = _open_for_review(session, run_id, "record an exception", now)
    _no_patient_id_in_text(reason, patient_id, "reason")
    exception = PatientException(run_id=run.id, recorded_by=actor.username, patient_id=patient_id, measure_id=measure_id, reason=reason)
    session.add(exception)
    session.flush()
    record_event(session, actor.username, "exception.record", "exception", exception.id, run_id=run.id,
                 patient_id=patient_id, detail={"measure_id": measure_id})
    return exception


def comment(session: Session, run_id: int, actor: User, text: str, dispute_id: int | None = None) -> Comment:
    """Add a remark to a run (or to one of its disputes) while the run can still change."""
    require_role(actor, ADMIN + REVIEWERS, "comment on a run")
    _required("a comment", text=text)
    run = get_run(session, run_id, lock=True, shared=True)
    _require_state(run, ("computed", "review_open", "review_closed"), "take comments")
    if dispute_id is not None and session.scalar(select(Dispute.run_id).where(Dispute.id == dispute_id)) != run.id:
        raise UserError(f"run {run.id} has no dispute {dispute_id}", hint="Comment on a dispute of the same run.")
    note = Comment(run_id=run.id, dispute_id=dispute_id, author=actor.username, text=text)
    session.add(note)
    session.flush()
    record_event(session, actor.username, "comment.add", "comment", note.id, run_id=run.id, detail={"dispute_id": dispute_id})
    return note


def resolve_dispute(
    session: Session, dispute_id: int, actor: User, resolution: str, correction: str | None = None, note: str | None = None
) -> Dispute:
    """Accept or reject a dispute. An accepted dispute may carry `correction`: the element's right value.

    Corrections are not applied here: `apply_corrections` applies all of a run's at once, as a
    new version, after the window closes.
    """
    require_role(actor, ADMIN, "resolve a dispute")
    if resolution not in RESOLUTIONS:
        raise UserError(f"unknown resolution {resolution!r}", hint="Use 'accepted' or 'rejected'.")
    if correction is not None and resolution != "accepted":
        raise UserError("only an accepted dispute can carry a correction", hint="Accept the dispute, or drop the correction.")
    dispute = session.scalar(select(Dispute).where(Dispute.id == dispute_id).with_for_update().execution_options(populate_existing=True))
    if dispute is None:
        raise UserError(f"there is no dispute {dispute_id}")
    run = get_run(session, dispute.run_id, lock=True, shared=True)
    _require_state(run, ("review_open", "review_closed"), "resolve its disputes")
    if dispute.resolution is not None:
        raise TransitionRefused(f"dispute {dispute.id} is already {dispute.resolution}", hint="A resolution is final.")
    dispute.resolution, dispute.corrected_value, dispute.resolution_note = resolution, correction, note
    dispute.resolved_by, dispute.resolved_at = actor.username, utcnow()
    record_event(session, actor.username, "dispute.resolve", "dispute", dispute.id, run_id=run.id, patient_id=dispute.patient_id,
                 detail={"resolution": resolution, "corrected": correction is not None})
    return dispute


def apply_corrections(session: Session, run_id: int, actor: User) -> Run:
    """Make the corrected version of a closed run: a new run carrying every accepted correction.

    The original is kept, marked `superseded`, and the new version (parent = the original) goes on
    to finalization. Recomputing scores with the corrections is the programs' business; this
    records which values changed and why.
    """
    require_role(actor, ADMIN, "apply corrections")
    run = get_run(session, run_id, lock=True)
    _require_state(run, ("review_closed",), "have corrections applied")
    _require_all_resolved(run, session, "apply corrections")
    corrected = _corrected_disputes(session, run.id)
    if not corrected:
        raise UserError(f"run {run.id} has no accepted dispute with a correction", hint="Finalize it as it is.")
    version = session.scalar(select(func.max(Run.version)).where(Run.source == run.source)) + 1
    new = Run(
        program_id=run.program_id, source=run.source, manifest_sha256=run.manifest_sha256, version=version,
        parent_id=run.id, state="review_closed", created_by=actor.username,
        review_opened_at=run.review_opened_at, review_deadline=run.review_deadline, review_closed_at=run.review_closed_at,
    )
    session.add(new)
    session.flush()
    for dispute in corrected:
        correction = Correction(run_id=new.id, dispute_id=dispute.id, measure_id=dispute.measure_id, element=dispute.element,
                                patient_id=dispute.patient_id, value=dispute.corrected_value)
        session.add(correction)
        session.flush()
        record_event(session, actor.username, "correction.apply", "correction", correction.id, run_id=new.id,
                     patient_id=dispute.patient_id, detail={"dispute_id": dispute.id, "measure_id": dispute.measure_id,
                                                            "element": dispute.element, "value": dispute.corrected_value})
    run.state = "superseded"
    _audit_run(session, actor, "run.supersede", run, superseded_by=new.id)
    _audit_run(session, actor, "run.correct", new, parent_id=run.id, version=version, corrections=len(corrected))
    return new


def finalize(session: Session, run_id: int, actor: User) -> Run:
    """Freeze a closed run: from now on neither it nor anything filed against it changes.

    Everything happens in the caller's one transaction (state, timestamp, audit event): a crash
    part-way leaves the run as it was, never half finalized.
    """
    require_role(actor, ADMIN, "finalize a run")
    run = get_run(session, run_id, lock=True)
    _require_state(run, ("review_closed",), "be finalized")
    _require_all_resolved(run, session, "finalize it")
    if _corrected_disputes(session, run.id):
        raise TransitionRefused(
            f"run {run.id} has accepted corrections that are not applied yet",
            hint="Apply them first (apply_corrections), then finalize the new version.",
        )
    run.state, run.finalized_at = "finalized", utcnow()
    session.flush()  # the run's UPDATE, then the audit INSERT: two statements, one transaction
    _audit_run(session, actor, "run.finalize", run)
    return run


def mark_paid(session: Session, run_id: int, actor: User) -> Run:
    """Record that a finalized run's payments were made."""
    return _advance(session, run_id, actor, "finalized", "paid", "paid_at")


def publish(session: Session, run_id: int, actor: User) -> Run:
    """Record that a paid run's results were published."""
    return _advance(session, run_id, actor, "paid", "published", "published_at")


def run_summary(session: Session, run_id: int) -> dict[str, object]:
    """A run's state, dates and counts of what was filed against it (no patient identifiers)."""
    run = get_run(session, run_id)

    def count(model: type, *where: object) -> int:
        return session.scalar(select(func.count()).select_from(model).where(model.run_id == run.id, *where))

    superseded_by = session.scalar(select(Run.id).where(Run.parent_id == run.id))
    return {
        "run_id": run.id, "program_id": run.program_id, "source": run.source, "version": run.version,
        "parent_id": run.parent_id, "superseded_by": superseded_by, "state": run.state,
        "review_deadline": run.review_deadline, "finalized_at": run.finalized_at, "paid_at": run.paid_at,
        "published_at": run.published_at,
        "disputes_open": count(Dispute, Dispute.resolution.is_(None)),
        "disputes_accepted": count(Dispute, Dispute.resolution == "accepted"),
        "disputes_rejected": count(Dispute, Dispute.resolution == "rejected"),
        "exceptions": count(PatientException), "comments": count(Comment), "corrections": count(Correction),
    }


def runs_table(session: Session) -> pa.Table:
    """Every run's summary (see `run_summary`), one row per run version, oldest first."""
    ids = session.scalars(select(Run.id).order_by(Run.id))
    return pa.Table.from_pylist([run_summary(session, run_id) for run_id in ids])


def _advance(session: Session, run_id: int, actor: User, before: str, after: str, stamp: str) -> Run:
    require_role(actor, ADMIN, f"move a run to {after}")
    run = get_run(session, run_id, lock=True)
    _require_state(run, (before,), f"move to {after}")
    run.state = after
    setattr(run, stamp, utcnow())
    _audit_run(session, actor, f"run.{after}", run)
    return run


def _require_state(run: Run, allowed: tuple[str, ...], action: str) -> None:
    if run.state in allowed:
        return
    raise TransitionRefused(
        f"run {run.id} is {run.state}: only a run that is {' or '.join(allowed)} can {action}",
        hint=f"To go on from {run.state}: {_NEXT_STEP[run.state]}.",
    )


def _open_for_review(session: Session, run_id: int, action: str, now: datetime | None) -> Run:
    # A shared lock: many reviewers may file at once, but the window cannot close under them.
    run = get_run(session, run_id, lock=True, shared=True)
    _require_state(run, ("review_open",), action)
    if (now or utcnow()) >= run.review_deadline:
        raise TransitionRefused(
            f"run {run.id}'s review window closed on {run.review_deadline.isoformat()}",
            hint="Ask the program administrator; late submissions are not accepted.",
        )
    return run


def _require_all_resolved(run: Run, session: Session, action: str) -> None:
    unresolved = session.scalar(select(func.count()).select_from(Dispute).where(Dispute.run_id == run.id, Dispute.resolution.is_(None)))
    if unresolved:
        raise TransitionRefused(
            f"run {run.id} has {unresolved} unresolved dispute(s)", hint=f"Resolve every dispute before you {action}."
        )


def _corrected_disputes(session: Session, run_id: int) -> list[Dispute]:
    query = select(Dispute).where(Dispute.run_id == run_id, Dispute.corrected_value.is_not(None)).order_by(Dispute.id)
    return list(session.scalars(query))


def _dispute_by_key(session: Session, key: str) -> Dispute | None:
    return session.scalar(select(Dispute).where(Dispute.idempotency_key == key))


def _same_submission(
    existing: Dispute, run_id: int, actor: User, measure_id: str, element: str, patient_id: str | None
) -> Dispute:
    if (existing.run_id, existing.filed_by, existing.measure_id, existing.element, existing.patient_id) != (
        run_id, actor.username, measure_id, element, patient_id
    ):
        raise UserError(
            f"idempotency key {existing.idempotency_key!r} was already used for a different dispute (dispute {existing.id})",
            hint="Use a new key for each new submission; repeat a key only to repeat the same submission.",
        )
    return existing


def _required(what: str, **fields: str | None) -> None:
    missing = [name for name, value in fields.items() if not (value and value.strip())]
    if missing:
        raise UserError(f"{what} needs {' and '.join(missing)}", hint=f"Fill in {', '.join(missing)}.")


def _no_patient_id_in_text(text: str, patient_id: str | None, field: str) -> None:
    if patient_id and patient_id in text:
        raise UserError(
            f"the {field} repeats the patient identifier",
            hint=f"Leave the identifier out of the {field}; it is stored in its own field, which the audit log protects.",
        )


def _audit_run(session: Session, actor: User, action: str, run: Run, **detail: object) -> None:
    record_event(session, actor.username, action, "run", run.id, run_id=run.id, detail={"state": run.state, **detail})
