"""Initial review schema: users, runs, disputes, exceptions, comments, corrections, audit log.

Besides the tables, the database itself refuses what the code already refuses, so a bug or a
hand-written SQL statement cannot get around it:
- the audit log is append-only (UPDATE, DELETE and, on PostgreSQL, TRUNCATE are rejected);
- a frozen run (superseded, finalized, paid, published) changes only by finalized → paid →
  published, and nothing filed against it (disputes, exceptions, comments, corrections) changes.

A migration is a frozen snapshot: it spells out its tables instead of reading today's models.

Revision ID: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from p4pkit.review.models import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_FROZEN = "('superseded', 'finalized', 'paid', 'published')"
_ALLOWED_MOVES = "((OLD.state = 'finalized' AND NEW.state = 'paid') OR (OLD.state = 'paid' AND NEW.state = 'published'))"
# Every runs column that must stay as it was once the run is frozen (all but state, paid_at, published_at).
_FIXED_RUN_COLUMNS = (
    "id", "program_id", "source", "manifest_sha256", "version", "parent_id", "created_at", "created_by",
    "review_opened_at", "review_deadline", "review_closed_at", "finalized_at",
)
_CHILD_TABLES = ("disputes", "patient_exceptions", "comments", "corrections")


def _who(name: str) -> sa.Column:
    return sa.Column(name, sa.String(100), nullable=False)


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("username", sa.String(100), nullable=False, unique=True),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column("role", sa.String(30), nullable=False),
        sa.Column("clinician_id", sa.String(100)),
        sa.Column("organization_id", sa.String(100)),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.CheckConstraint("role in ('program_admin', 'clinician', 'practice_manager', 'public')", name="user_role"),
    )
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("program_id", sa.String(100), nullable=False),
        sa.Column("source", sa.String(500), nullable=False),
        sa.Column("manifest_sha256", sa.String(64)),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("parent_id", sa.Integer, sa.ForeignKey("runs.id")),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        _who("created_by"),
        sa.Column("review_opened_at", UTCDateTime),
        sa.Column("review_deadline", UTCDateTime),
        sa.Column("review_closed_at", UTCDateTime),
        sa.Column("finalized_at", UTCDateTime),
        sa.Column("paid_at", UTCDateTime),
        sa.Column("published_at", UTCDateTime),
        sa.UniqueConstraint("source", "version"),
        sa.CheckConstraint(
            "state in ('computed', 'review_open', 'review_closed', 'superseded', 'finalized', 'paid', 'published')",
            name="run_state",
        ),
        sa.CheckConstraint("state not in ('finalized', 'paid', 'published') or finalized_at is not null", name="run_finalized_at"),
        sa.CheckConstraint("state <> 'paid' or paid_at is not null", name="run_paid_at"),
        sa.CheckConstraint("state <> 'published' or published_at is not null", name="run_published_at"),
    )
    op.create_table(
        "disputes",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), nullable=False, index=True),
        sa.Column("idempotency_key", sa.String(100), nullable=False, unique=True),
        _who("filed_by"),
        sa.Column("filed_at", UTCDateTime, nullable=False),
        sa.Column("measure_id", sa.String(100), nullable=False),
        sa.Column("element", sa.String(100), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("patient_id", sa.String(100)),
        sa.Column("resolution", sa.String(20)),
        sa.Column("resolution_note", sa.Text),
        sa.Column("corrected_value", sa.String(200)),
        sa.Column("resolved_by", sa.String(100)),
        sa.Column("resolved_at", UTCDateTime),
        sa.CheckConstraint("resolution is null or resolution in ('accepted', 'rejected')", name="dispute_resolution"),
        sa.CheckConstraint("corrected_value is null or resolution = 'accepted'", name="dispute_correction_accepted"),
    )
    op.create_table(
        "patient_exceptions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), nullable=False, index=True),
        _who("recorded_by"),
        sa.Column("recorded_at", UTCDateTime, nullable=False),
        sa.Column("patient_id", sa.String(100), nullable=False),
        sa.Column("measure_id", sa.String(100), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
    )
    op.create_table(
        "comments",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), nullable=False, index=True),
        sa.Column("dispute_id", sa.Integer, sa.ForeignKey("disputes.id")),
        _who("author"),
        sa.Column("written_at", UTCDateTime, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
    )
    op.create_table(
        "corrections",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), nullable=False, index=True),
        sa.Column("dispute_id", sa.Integer, sa.ForeignKey("disputes.id"), nullable=False),
        sa.Column("measure_id", sa.String(100), nullable=False),
        sa.Column("element", sa.String(100), nullable=False),
        sa.Column("patient_id", sa.String(100)),
        sa.Column("value", sa.String(200), nullable=False),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", UTCDateTime, nullable=False),
        _who("actor"),
        sa.Column("action", sa.String(50), nullable=False),
        sa.Column("object_type", sa.String(30), nullable=False),
        sa.Column("object_id", sa.String(100)),
        sa.Column("run_id", sa.Integer, index=True),
        sa.Column("patient_id", sa.String(100)),
        sa.Column("detail", sa.JSON, nullable=False),
    )
    statements = _postgresql_guards() if op.get_bind().dialect.name == "postgresql" else _sqlite_guards()
    for statement in statements:
        op.execute(statement)


def _postgresql_guards() -> list[str]:
    unchanged = " OR ".join(f"NEW.{c} IS DISTINCT FROM OLD.{c}" for c in _FIXED_RUN_COLUMNS)
    statements = [
        """CREATE FUNCTION p4p_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'the audit log is append-only: % refused', TG_OP; END $$""",
        """CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
        FOR EACH ROW EXECUTE FUNCTION p4p_audit_append_only()""",
        """CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
        FOR EACH STATEMENT EXECUTE FUNCTION p4p_audit_append_only()""",
        f"""CREATE FUNCTION p4p_frozen_run() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF OLD.state IN {_FROZEN} THEN
            IF TG_OP = 'DELETE' OR NOT {_ALLOWED_MOVES} OR {unchanged}
               OR (OLD.paid_at IS NOT NULL AND NEW.paid_at IS DISTINCT FROM OLD.paid_at) THEN
              RAISE EXCEPTION 'run % is %: it can no longer change', OLD.id, OLD.state;
            END IF;
          END IF;
          IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
          RETURN NEW;
        END $$""",
        """CREATE TRIGGER runs_frozen BEFORE UPDATE OR DELETE ON runs
        FOR EACH ROW EXECUTE FUNCTION p4p_frozen_run()""",
        f"""CREATE FUNCTION p4p_frozen_child() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE frozen_state text;
        BEGIN
          SELECT state INTO frozen_state FROM runs
           WHERE state IN {_FROZEN}
             AND (id = CASE WHEN TG_OP = 'INSERT' THEN NULL ELSE OLD.run_id END
                  OR id = CASE WHEN TG_OP = 'DELETE' THEN NULL ELSE NEW.run_id END)
           LIMIT 1;
          IF frozen_state IS NOT NULL THEN
            RAISE EXCEPTION '% on %: the run is %, nothing filed against it can change', TG_OP, TG_TABLE_NAME, frozen_state;
          END IF;
          IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
          RETURN NEW;
        END $$""",
    ]
    statements += [
        f"""CREATE TRIGGER {table}_frozen BEFORE INSERT OR UPDATE OR DELETE ON {table}
        FOR EACH ROW EXECUTE FUNCTION p4p_frozen_child()"""
        for table in _CHILD_TABLES
    ]
    return statements


def _sqlite_guards() -> list[str]:
    unchanged = " AND ".join(f"NEW.{c} IS OLD.{c}" for c in _FIXED_RUN_COLUMNS)
    statements = [
        "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log "
        "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only: UPDATE refused'); END",
        "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log "
        "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only: DELETE refused'); END",
        f"CREATE TRIGGER runs_frozen_update BEFORE UPDATE ON runs WHEN OLD.state IN {_FROZEN} "
        f"AND NOT ({_ALLOWED_MOVES} AND {unchanged} AND (OLD.paid_at IS NULL OR NEW.paid_at IS OLD.paid_at)) "
        "BEGIN SELECT RAISE(ABORT, 'the run is frozen: it can no longer change'); END",
        f"CREATE TRIGGER runs_frozen_delete BEFORE DELETE ON runs WHEN OLD.state IN {_FROZEN} "
        "BEGIN SELECT RAISE(ABORT, 'the run is frozen: it cannot be deleted'); END",
    ]
    frozen = f"(SELECT state FROM runs WHERE id = {{row}}.run_id) IN {_FROZEN}"
    for table in _CHILD_TABLES:
        message = f"'the run is frozen: nothing in {table} filed against it can change'"
        conditions = {
            "INSERT": frozen.format(row="NEW"),
            "UPDATE": f"{frozen.format(row='OLD')} OR {frozen.format(row='NEW')}",
            "DELETE": frozen.format(row="OLD"),
        }
        statements += [
            f"CREATE TRIGGER {table}_frozen_{op_name.lower()} BEFORE {op_name} ON {table} WHEN {condition} "
            f"BEGIN SELECT RAISE(ABORT, {message}); END"
            for op_name, condition in conditions.items()
        ]
    return statements


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for function in ("p4p_frozen_child", "p4p_frozen_run", "p4p_audit_append_only"):
            op.execute(f"DROP FUNCTION {function}() CASCADE")
    for table in ("audit_log", "corrections", "comments", "patient_exceptions", "disputes", "runs", "users"):
        op.drop_table(table)
