"""The append-only audit log: every state change, correction and view of patient-level data.

There is deliberately no function here that changes or removes an event; the ORM refuses updates
and deletes of `AuditEvent`, and the database's triggers refuse them too (see the initial
migration). Patient identifiers are kept in the `patient_id` column only: `detail` is checked so
that it never repeats the identifier of the patient it concerns.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import pyarrow as pa
from sqlalchemy import select
from sqlalchemy.orm import Session

from p4pkit.review.models import AuditEvent, User


def record_event(
    session: Session,
    actor: str,
    action: str,
    object_type: str,
    object_id: object = None,
    *,
    run_id: int | None = None,
    patient_id: str | None = None,
    detail: Mapping[str, object] | None = None,
) -> AuditEvent:
    """Append one event in the caller's transaction, so it is written exactly when the change is."""
    detail = dict(detail or {})
    if patient_id and patient_id in json.dumps(detail, default=str):
        raise ValueError("audit detail must not contain the patient identifier; it belongs in patient_id")
    event = AuditEvent(
        actor=actor,
        action=action,
        object_type=object_type,
        object_id=None if object_id is None else str(object_id),
        run_id=run_id,
        patient_id=patient_id,
        detail=detail,
    )
    session.add(event)
    session.flush()
    return event


def record_view(session: Session, actor: User, run_id: int, what: str, patient_id: str | None = None) -> AuditEvent:
    """Record that `actor` looked at patient-level data of a run (`what` names the page or table).

    The portal calls this for every page that shows patient rows, so a program can answer who saw
    which patient's data and when.
    """
    return record_event(session, actor.username, "view", "run", run_id, run_id=run_id, patient_id=patient_id, detail={"what": what})


def audit_events(session: Session, run_id: int | None = None, patient_id: str | None = None) -> list[AuditEvent]:
    """Events in the order they were written, optionally only those of one run or one patient."""
    query = select(AuditEvent).order_by(AuditEvent.id)
    if run_id is not None:
        query = query.where(AuditEvent.run_id == run_id)
    if patient_id is not None:
        query = query.where(AuditEvent.patient_id == patient_id)
    return list(session.scalars(query))


AUDIT_SCHEMA = pa.schema(
    [
        ("id", pa.int64()),
        ("at", pa.timestamp("us", tz="UTC")),
        ("actor", pa.string()),
        ("action", pa.string()),
        ("object_type", pa.string()),
        ("object_id", pa.string()),
        ("run_id", pa.int64()),
        ("patient_id", pa.string()),
        ("detail", pa.string()),
    ]
)


def audit_table(session: Session, run_id: int | None = None, patient_id: str | None = None) -> pa.Table:
    """The audit log as an Arrow table (detail as JSON text), for notebooks and `p4p review audit`."""
    events = audit_events(session, run_id, patient_id)
    rows = [
        {
            "id": e.id, "at": e.at, "actor": e.actor, "action": e.action, "object_type": e.object_type,
            "object_id": e.object_id, "run_id": e.run_id, "patient_id": e.patient_id,
            "detail": json.dumps(e.detail, sort_keys=True, default=str),
        }
        for e in events
    ]
    return pa.Table.from_pylist(rows, schema=AUDIT_SCHEMA)
