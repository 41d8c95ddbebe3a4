"""Errors meant for users: what went wrong, where, and how to fix it.

The CLI turns a `UserError` into a readable message and exit code 2, never a traceback. Any other
exception is a bug in p4pkit.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the input: where it is (file, row, column) and why it is wrong.

    `row` counts data rows from 1 (the header is row 0 for CSV); None when the problem concerns a
    whole file or column.
    """

    file: str
    row: int | None
    column: str | None
    reason: str

    def __str__(self) -> str:
        where = self.file
        if self.row is not None:
            where += f", row {self.row}"
        if self.column is not None:
            where += f", column '{self.column}'"
        return f"{where}: {self.reason}"


class UserError(Exception):
    """A mistake in what the user gave us. Carries every problem found, not only the first."""

    def __init__(self, message: str, problems: list[Problem] | tuple[Problem, ...] = (), hint: str = ""):
        super().__init__(message)
        self.message = message
        self.problems = tuple(problems)
        self.hint = hint

    def render(self, limit: int = 20) -> str:
        lines = [self.message]
        lines += [f"  - {p}" for p in self.problems[:limit]]
        if len(self.problems) > limit:
            lines.append(f"  ... and {len(self.problems) - limit} more")
        if self.hint:
            lines.append(self.hint)
        return "\n".join(lines)
