"""`p4p review ...`: thin verbs over the lifecycle; mistakes exit 2 with a message and no traceback."""

from __future__ import annotations

from functools import partial

import pytest
from cli_helpers import run_p4p

# messages can be longer than the console: compare them without its line wrapping
p4p = partial(run_p4p, join_lines=True)
PASSWORD = "a long admin password"


@pytest.fixture
def db(tmp_path, monkeypatch, capsys) -> str:
    """A review database with an administrator, through the CLI itself."""
    path = str(tmp_path / "review.sqlite")
    monkeypatch.setenv("P4P_REVIEW_PASSWORD", PASSWORD)
    assert p4p(monkeypatch, capsys, "review", "init-db", "--db", path) == (0, f"review database ready: sqlite:///{path}")
    assert p4p(monkeypatch, capsys, "review", "create-user", "boss", "--role", "program_admin", "--db", path)[0] == 0
    return path


def test_an_administrator_takes_a_run_from_registration_to_publication(tmp_path, monkeypatch, capsys, db):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    acting = ("--as", "boss", "--db", db)
    assert p4p(monkeypatch, capsys, "review", "register", str(run_dir), "--program", "qof-2026", *acting) == (0, "registered as run 1")
    assert p4p(monkeypatch, capsys, "review", "open", "1", "--days", "30", *acting) == (0, "run 1 v1: review_open")
    code, err = p4p(monkeypatch, capsys, "review", "close", "1", *acting)
    assert code == 2 and "review window is open until" in err and "Traceback" not in err
    assert p4p(monkeypatch, capsys, "review", "close", "1", "--early", *acting) == (0, "run 1 v1: review_closed")
    for verb, state in (("finalize", "finalized"), ("pay", "paid"), ("publish", "published")):
        assert p4p(monkeypatch, capsys, "review", verb, "1", *acting) == (0, f"run 1 v1: {state}")
    code, err = p4p(monkeypatch, capsys, "review", "status", "--db", db)
    assert code == 0 and "run 1 v1 (qof-2026, " in err and "): published; disputes open 0" in err


def test_refused_transitions_wrong_passwords_and_unreachable_servers_exit_2(monkeypatch, capsys, db):
    acting = ("--as", "boss", "--db", db)
    assert p4p(monkeypatch, capsys, "review", "register", "payer-run-1", "--program", "p", *acting)[0] == 0
    code, err = p4p(monkeypatch, capsys, "review", "pay", "1", *acting)
    assert code == 2 and "run 1 is computed: only a run that is finalized can move to paid" in err
    code, err = p4p(monkeypatch, capsys, "review", "status", "7", "--db", db)
    assert code == 2 and "there is no run 7" in err
    monkeypatch.setenv("P4P_REVIEW_PASSWORD", "not the password")
    code, err = p4p(monkeypatch, capsys, "review", "finalize", "1", *acting)
    assert code == 2 and "wrong username or password for 'boss'" in err
    code, err = p4p(monkeypatch, capsys, "review", "status", "--db", "postgresql+psycopg://nobody:secret@127.0.0.1:1/none")
    assert code == 2 and "cannot open the review database postgresql+psycopg://nobody:***@127.0.0.1:1/none" in err
    assert "secret" not in err
