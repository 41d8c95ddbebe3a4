"""Bring a run to any lifecycle state through the public API (for SQLite and PostgreSQL tests alike)."""

from __future__ import annotations

import uuid

from sqlalchemy import Engine

from p4pkit.review import lifecycle
from p4pkit.review.db import session_scope

PATIENT = "PAT-000417"


def run_in_state(engine: Engine, people, state: str) -> tuple[int, int | None]:
    """(run id, id of its one dispute or None) for a new run left in `state`.

    The dispute (on `PATIENT`, CMS122 numerator) is filed once the window opens; it stays open in
    `review_open` and `review_closed_open_dispute`, is accepted with a correction on the way to
    `superseded`, and is rejected on the way to every later state.
    """
    admin, clinician = people.admin, people.clinician
    with session_scope(engine) as s:
        run_id = lifecycle.register_run(s, f"run-{uuid.uuid4().hex}", "qof-2026", admin).id
        if state == "computed":
            return run_id, None
        lifecycle.open_review(s, run_id, admin, 30)
        dispute_id = lifecycle.file_dispute(s, run_id, clinician, "CMS122", "numerator", "HbA1c result was not loaded", PATIENT).id
        if state == "review_open":
            return run_id, dispute_id
        lifecycle.close_review(s, run_id, admin, early=True)
        if state == "review_closed_open_dispute":
            return run_id, dispute_id
        if state == "superseded":
            lifecycle.resolve_dispute(s, dispute_id, admin, "accepted", correction="0")
            lifecycle.apply_corrections(s, run_id, admin)
            return run_id, dispute_id
        lifecycle.resolve_dispute(s, dispute_id, admin, "rejected", note="result is in the data")
        if state == "review_closed":
            return run_id, dispute_id
        lifecycle.finalize(s, run_id, admin)
        if state == "paid" or state == "published":
            lifecycle.mark_paid(s, run_id, admin)
        if state == "published":
            lifecycle.publish(s, run_id, admin)
    return run_id, dispute_id
