"""`Collector`: event rows of one chunk gathered in parts, and the vocabularies of their extra columns."""

from __future__ import annotations

import numpy as np

from p4pkit.synth import targets as t

# Vocabularies of the extra event columns (integer codes in the generator, strings in the tables).
REASONS = (t.EXCEPTION_REASON, t.NOT_INDICATED, t.NOT_TOLERATED, t.REFUSED)
CONTRAINDICATED, NOT_INDICATED, NOT_TOLERATED, REFUSED = range(len(REASONS))
STATUSES = ("active", "final", "completed", "cancelled", "resolved")
ACTIVE, FINAL, COMPLETED, CANCELLED, RESOLVED = range(len(STATUSES))


class Collector:
    """Event rows gathered in parts, each part a set of equally long numpy columns.

    `reason` indexes REASONS on "not done" records; `status` indexes STATUSES (-1: the default for
    the kind); `end` is an end day (-1: none) such as a condition's abatement.
    """

    def __init__(self) -> None:
        self.parts: list[dict[str, np.ndarray]] = []

    def add(self, who, encounter, type_, day, minute, value=None, value_code=None, negated=None, reason=None,
            status=None, end=None) -> None:
        n = len(who)

        def column(given, fill, dtype=None):
            return np.full(n, fill, dtype) if given is None else np.broadcast_to(given, n)

        negated = column(negated, False, bool)
        self.parts.append(dict(
            who=who, encounter=np.broadcast_to(encounter, n), type=np.broadcast_to(type_, n), day=day,
            minute=np.broadcast_to(minute, n), value=column(value, np.nan), value_code=column(value_code, -1),
            negated=negated, reason=np.where(negated, column(reason, CONTRAINDICATED), -1),
            status=column(status, -1), end=column(end, -1),
        ))

    def columns(self) -> dict[str, np.ndarray]:
        return {key: np.concatenate([p[key] for p in self.parts]) for key in self.parts[0]}
