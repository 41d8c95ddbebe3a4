"""The one shape of progress reports for long work: `on_progress(step, done, total)`.

Library functions that can take long (generating a world, loading files, running measures) take an
optional callback of this shape and call it as work advances; they never print. The CLI turns the
calls into a Rich progress bar; a notebook can pass `print` or a tqdm update, or nothing.
"""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[str, int, int], None]


def quiet(step: str, done: int, total: int) -> None:
    """The default callback: say nothing (the functions take a callable, never None)."""
