"""Opening the review database, migrating it, and unit-of-work sessions.

The review database is a transactional database (SQLite for one reviewer on a laptop, PostgreSQL
for a program with many clinicians filing disputes at once), separate from the analytic DuckDB
store: it holds who did what to which run, not patient-level analytics.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session

from p4pkit.errors import UserError

#: Where the review database lives when no URL is given: a SQLite file inside the runs folder.
DEFAULT_FILE_NAME = "review.sqlite"
DEFAULT_PATH = Path("runs") / DEFAULT_FILE_NAME
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
#: The engines the migrations (and their triggers) are written for.
SUPPORTED_BACKENDS = ("sqlite", "postgresql")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_URL_HINT = "Use e.g. postgresql+psycopg://user@host:5432/db, sqlite:///path/review.sqlite or a file path."


def database_url(url: str | Path | None = None) -> str:
    """A SQLAlchemy URL from what the user typed: nothing, a folder, a file path, or a URL.

    Nothing means `runs/review.sqlite`; a folder (such as a run folder) means `review.sqlite`
    inside it; any other path is a SQLite file; `postgresql+psycopg://...` or `sqlite:///...`
    are taken as they are.
    """
    if url is None:
        return f"sqlite:///{DEFAULT_PATH.resolve()}"
    text = str(url)
    if "://" in text:
        try:
            backend = make_url(text).get_backend_name()
        except (ArgumentError, ValueError) as exc:
            raise UserError(f"{text!r} is not a database URL: {exc}", hint=_URL_HINT) from None
        if backend not in SUPPORTED_BACKENDS:
            raise UserError(f"the review database must be SQLite or PostgreSQL, not {backend}", hint=_URL_HINT)
        return text
    path = Path(text)
    if path.is_dir():
        path = path / DEFAULT_FILE_NAME
    return f"sqlite:///{path.resolve()}"


def engine_for(url: str | Path | None = None, *, schema: str | None = None, **engine_options: object) -> Engine:
    """An engine on the review database (see `database_url` for what `url` may be).

    `schema` puts every table of a PostgreSQL database in that schema (through the connection's
    search_path), so one server can hold several programs, or a throwaway schema per test run.
    `engine_options` go to SQLAlchemy's `create_engine` (e.g. `pool_size` for a busy portal).
    SQLite connections get foreign keys switched on (SQLite leaves them off by default), one real
    transaction per unit of work, and wait up to 30 s for another writer instead of failing at once.
    """
    resolved = make_url(database_url(url))
    if resolved.get_backend_name() == "sqlite":
        if schema is not None:
            raise UserError("a schema can only be chosen on PostgreSQL", hint="Drop --schema for a SQLite file.")
        if resolved.database:
            Path(resolved.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(resolved, connect_args={"timeout": 30}, **engine_options)
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if schema is not None and not _IDENTIFIER.fullmatch(schema):
        raise UserError(f"schema name {schema!r} is not a plain identifier",
                        hint="Use letters, digits and underscores, starting with a letter or underscore.")
    connect_args = {"options": f"-csearch_path={schema}"} if schema else {}
    return create_engine(resolved, connect_args=connect_args, pool_pre_ping=True, **engine_options)


def _sqlite_connect(dbapi_connection: object, _record: object) -> None:
    # Python's sqlite3 module starts transactions lazily, only before a write, so a savepoint
    # opened after a read would start (and its release would commit) a transaction of its own.
    # Turning that off and beginning explicitly (SQLAlchemy's documented pysqlite recipe) keeps
    # each unit of work one transaction.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_begin(connection: object) -> None:
    # IMMEDIATE takes the write lock up front: SQLite then queues concurrent writers (up to the
    # 30 s timeout) instead of failing one whose read lock cannot be upgraded.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def upgrade(url_or_engine: str | Path | Engine | None = None, revision: str = "head") -> None:
    """Run the Alembic migrations up to `revision` (the newest by default); safe to repeat.

    The Alembic configuration is built here rather than read from an alembic.ini, so this works
    from any working directory and on the engine's own schema.
    """
    engine = url_or_engine if isinstance(url_or_engine, Engine) else engine_for(url_or_engine)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """One unit of work: commits when the block ends, rolls everything back if it raises.

    Objects stay readable after the commit (no expiry), so a caller can return them to a web page.
    """
    session = Session(engine, expire_on_commit=False)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()

