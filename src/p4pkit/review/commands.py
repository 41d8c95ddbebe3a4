"""`p4p review ...`: the review database and the program administrator's run transitions.

Thin wrappers over `review.db`, `review.users` and `review.lifecycle`; clinicians' disputes go
through the web portal. Transitions need `--as USER` and that user's password (prompted, or from
P4P_REVIEW_PASSWORD in scripts). Nothing here prints a patient identifier.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import typer
from rich.console import Console

from p4pkit.errors import UserError

if TYPE_CHECKING:  # SQLAlchemy is imported only by the verbs that use it, to keep `p4p` quick to start.
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session

review_app = typer.Typer(help="Review runs: database, users, review window, finalization.", no_args_is_help=True)
console = Console(stderr=True)

_DB = typer.Option(None, "--db", help="Review database: a SQLite file or folder, or a postgresql+psycopg:// URL (default runs/review.sqlite).")
_SCHEMA = typer.Option(None, "--schema", help="PostgreSQL schema holding the review tables.")
_AS = typer.Option(..., "--as", help="Username of the program administrator acting.")
_PASSWORD = typer.Option(..., prompt=True, hide_input=True, envvar="P4P_REVIEW_PASSWORD", help="The acting user's password.")


def _engine(db: str | None, schema: str | None) -> Engine:
    from sqlalchemy.exc import OperationalError

    from p4pkit.review.db import engine_for

    engine = engine_for(db, schema=schema)
    try:
        with engine.connect():
            pass
    except OperationalError as exc:
        shown = engine.url.render_as_string(hide_password=True)
        raise UserError(f"cannot open the review database {shown}: {str(exc.orig).strip()}",
                        hint="Check --db (host, port, database name) and that the server is running.") from None
    return engine


@contextmanager
def _acting(db: str | None, schema: str | None, username: str, password: str) -> Iterator[tuple[Session, object]]:
    from p4pkit.review.db import session_scope
    from p4pkit.review.users import authenticate

    with session_scope(_engine(db, schema)) as session:
        user = authenticate(session, username, password)
        if user is None:
            raise UserError(f"wrong username or password for {username!r}", hint="Check --as and the password.")
        yield session, user


@review_app.command("init-db")
def init_db(db: str | None = _DB, schema: str | None = _SCHEMA) -> None:
    """Create the review database, or bring it up to the newest schema (safe to repeat)."""
    from p4pkit.review.db import upgrade

    engine = _engine(db, schema)
    upgrade(engine)
    console.print(f"review database ready: {engine.url.render_as_string(hide_password=True)}", highlight=False, markup=False)


@review_app.command("create-user")
def create_user(
    username: str = typer.Argument(..., help="Login name."),
    role: str = typer.Option(..., "--role", help="program_admin, clinician, practice_manager or public."),
    clinician_id: str | None = typer.Option(None, "--clinician-id", help="The clinician this user is (role clinician)."),
    organization_id: str | None = typer.Option(None, "--organization-id", help="The practice this user manages (role practice_manager)."),
    password: str = typer.Option(..., prompt=True, hide_input=True, confirmation_prompt=True, envvar="P4P_REVIEW_PASSWORD",
                                 help="The new user's password (at least 12 characters)."),
    db: str | None = _DB,
    schema: str | None = _SCHEMA,
) -> None:
    """Add a user to the review database."""
    from p4pkit.review.db import session_scope
    from p4pkit.review.users import create_user as create

    with session_scope(_engine(db, schema)) as session:
        user = create(session, username, password, role, clinician_id, organization_id, created_by="cli")
    console.print(f"user {user.username} ({user.role}) created", highlight=False, markup=False)


@review_app.command("status")
def status(run_id: int | None = typer.Argument(None, help="A run id; all runs when left out."), db: str | None = _DB,
           schema: str | None = _SCHEMA) -> None:
    """Show a run's state and what was filed against it, or list every run."""
    from p4pkit.review.db import session_scope
    from p4pkit.review.lifecycle import run_summary, runs_table

    with session_scope(_engine(db, schema)) as session:
        rows = [run_summary(session, run_id)] if run_id is not None else runs_table(session).to_pylist()
    if not rows:
        console.print("no runs registered")
    for row in rows:
        console.print(
            f"run {row['run_id']} v{row['version']} ({row['program_id']}, {row['source']}): {row['state']}; "
            f"disputes open {row['disputes_open']}, accepted {row['disputes_accepted']}, rejected {row['disputes_rejected']}; "
            f"exceptions {row['exceptions']}, comments {row['comments']}, corrections {row['corrections']}",
            highlight=False, markup=False,
        )


@review_app.command("register")
def register(
    run: str = typer.Argument(..., help="Run folder (with manifest.json) or the run's identifier."),
    program: str = typer.Option(..., "--program", help="Program id the run belongs to."),
    username: str = _AS, password: str = _PASSWORD, db: str | None = _DB, schema: str | None = _SCHEMA,
) -> None:
    """Put a computed run under review control."""
    from p4pkit.review.lifecycle import register_run

    with _acting(db, schema, username, password) as (session, user):
        registered = register_run(session, run, program, user)
    console.print(f"registered as run {registered.id}", highlight=False, markup=False)


@review_app.command("open")
def open_window(
    run_id: int = typer.Argument(...), days: int = typer.Option(..., "--days", help="Length of the review window."),
    username: str = _AS, password: str = _PASSWORD, db: str | None = _DB, schema: str | None = _SCHEMA,
) -> None:
    """Open a run's review window."""
    from p4pkit.review.lifecycle import open_review

    _transition(lambda session, user: open_review(session, run_id, user, days), db, schema, username, password)


@review_app.command("close")
def close_window(
    run_id: int = typer.Argument(...), early: bool = typer.Option(False, "--early", help="Close before the deadline (recorded)."),
    username: str = _AS, password: str = _PASSWORD, db: str | None = _DB, schema: str | None = _SCHEMA,
) -> None:
    """Close a run's review window."""
    from p4pkit.review.lifecycle import close_review

    _transition(lambda session, user: close_review(session, run_id, user, early=early), db, schema, username, password)


def _simple_transition(name: str, function_name: str, doc: str) -> None:
    def command(run_id: int = typer.Argument(...), username: str = _AS, password: str = _PASSWORD,
                db: str | None = _DB, schema: str | None = _SCHEMA) -> None:
        from p4pkit.review import lifecycle

        function = getattr(lifecycle, function_name)
        _transition(lambda session, user: function(session, run_id, user), db, schema, username, password)

    command.__doc__ = doc
    review_app.command(name)(command)


_simple_transition("apply-corrections", "apply_corrections", "Make the corrected version of a closed run.")
_simple_transition("finalize", "finalize", "Finalize a closed run: it can no longer change.")
_simple_transition("pay", "mark_paid", "Record that a finalized run was paid.")
_simple_transition("publish", "publish", "Record that a paid run was published.")


def _transition(step: Callable[[Session, object], object], db: str | None, schema: str | None, username: str, password: str) -> None:
    with _acting(db, schema, username, password) as (session, user):
        run = step(session, user)
    console.print(f"run {run.id} v{run.version}: {run.state}", highlight=False, markup=False)
