"""The review database's tables, as SQLAlchemy 2 ORM classes.

The migrations in `review/migrations/` create these tables (plus the triggers that keep finalized
runs and the audit log unchangeable); these classes are how the code reads and writes them.
Patient identifiers live only in `patient_id` columns, never inside free text written by p4pkit.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint, event
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

ROLES = ("program_admin", "clinician", "practice_manager", "public")

RESOLUTIONS = ("accepted", "rejected")


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """A timestamp stored as naive UTC and read back as aware UTC.

    SQLite keeps no time zone, PostgreSQL does; storing naive UTC on both makes review deadlines
    compare the same way on either engine.
    """

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("review timestamps must be time-zone aware (UTC)")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    pass


class User(Base):
    """A person (or the public account) who may act on runs; the role decides what they may do."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(30))
    clinician_id: Mapped[str | None] = mapped_column(String(100))
    organization_id: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Run(Base):
    """One version of a program run. Corrections make a new version whose `parent_id` is this one."""

    __tablename__ = "runs"
    __table_args__ = (UniqueConstraint("source", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    program_id: Mapped[str] = mapped_column(String(100))
    source: Mapped[str] = mapped_column(String(500))
    manifest_sha256: Mapped[str | None] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer, default=1)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id"))
    state: Mapped[str] = mapped_column(String(20), default="computed")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100))
    review_opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    review_deadline: Mapped[datetime | None] = mapped_column(UTCDateTime)
    review_closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finalized_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Dispute(Base):
    """A challenge to one element of a measure result, filed during the review window.

    `idempotency_key` is unique: a submission repeated (a retried request, a double click) finds
    the dispute it already made instead of making a second one.
    """

    __tablename__ = "disputes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"))
    idempotency_key: Mapped[str] = mapped_column(String(100), unique=True)
    filed_by: Mapped[str] = mapped_column(String(100))
    filed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    measure_id: Mapped[str] = mapped_column(String(100))
    element: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(Text)
    patient_id: Mapped[str | None] = mapped_column(String(100))
    resolution: Mapped[str | None] = mapped_column(String(20))
    resolution_note: Mapped[str | None] = mapped_column(Text)
    corrected_value: Mapped[str | None] = mapped_column(String(200))
    resolved_by: Mapped[str | None] = mapped_column(String(100))
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class PatientException(Base):
    """A clinician's claim that a patient meets a measure's exception (e.g. a documented medical reason)."""

    __tablename__ = "patient_exceptions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"))
    recorded_by: Mapped[str] = mapped_column(String(100))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    patient_id: Mapped[str] = mapped_column(String(100))
    measure_id: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(Text)


class Comment(Base):
    """Free-text remark on a run, optionally attached to a dispute."""

    __tablename__ = "comments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"))
    dispute_id: Mapped[int | None] = mapped_column(ForeignKey("disputes.id"))
    author: Mapped[str] = mapped_column(String(100))
    written_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    text: Mapped[str] = mapped_column(Text)


class Correction(Base):
    """One accepted dispute's change, carried by the run version that applies it."""

    __tablename__ = "corrections"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"))
    dispute_id: Mapped[int] = mapped_column(ForeignKey("disputes.id"))
    measure_id: Mapped[str] = mapped_column(String(100))
    element: Mapped[str] = mapped_column(String(100))
    patient_id: Mapped[str | None] = mapped_column(String(100))
    value: Mapped[str] = mapped_column(String(200))


class AuditEvent(Base):
    """One line of the append-only audit log. `detail` never holds a patient identifier."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(50))
    object_type: Mapped[str] = mapped_column(String(30))
    object_id: Mapped[str | None] = mapped_column(String(100))
    run_id: Mapped[int | None] = mapped_column(Integer)
    patient_id: Mapped[str | None] = mapped_column(String(100))
    detail: Mapped[dict] = mapped_column(JSON, default=dict)


@event.listens_for(AuditEvent, "before_update")
def _refuse_audit_update(*_: object) -> None:
    raise PermissionError("the audit log is append-only: an audit event cannot be changed")


@event.listens_for(AuditEvent, "before_delete")
def _refuse_audit_delete(*_: object) -> None:
    raise PermissionError("the audit log is append-only: an audit event cannot be deleted")
