"""Running the `p4p` command in-process from tests, as the installed script would run it."""

from __future__ import annotations

import sys

from p4pkit.cli import main


def run_p4p(monkeypatch, capsys, *args: str, join_lines: bool = False) -> tuple[int, str]:
    """Run `p4p ARGS` through the script's entry point: (exit code, what it wrote to stderr).

    `join_lines` removes the console's line wrapping, for messages longer than the terminal.
    """
    monkeypatch.setattr(sys, "argv", ["p4p", *args])
    try:
        main()
        code = 0
    except SystemExit as exit_:
        code = exit_.code or 0
    err = capsys.readouterr().err
    return code, err.replace("\n", "") if join_lines else err
