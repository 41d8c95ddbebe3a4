"""List-based attribution (UK general practice): the practice a patient is registered with.

In England every patient registers with one general practice; QOF counts list size and disease
registers on a reference date (31 March, the end of the QOF year; methodologies.md §6). A patient
belongs to the practice whose registration (an `enrollments` row of kind `practice_list`) covers
the reference date: started on or before it and not ended before it. If two registrations overlap
on that day, the most recent one wins (the later registration supersedes the earlier one).

Patients without a registration on the reference date are listed as unattributed with the reason:
their last registration ended before the date (and why, when the data say), their only
registration starts after it, or they have none.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from datetime import date

import ibis
from ibis import _
import pyarrow as pa

from p4pkit.attribution.contract import complete, text, unattributed
from p4pkit.attribution.ranking import first_per
from p4pkit.store import Store

if TYPE_CHECKING:
    from p4pkit.measures.timing import Period

RULE = "registration"


def registration(store: Store, period: Period, *, reference_date: date | None = None) -> pa.Table:
    """Attribute each patient to the practice they are registered with on `reference_date` (default: period end)."""
    on = reference_date or period.end
    day = ibis.literal(on)
    enrollments = store.table("enrollments")
    lists = enrollments.filter(enrollments.kind == "practice_list")
    organizations = store.table("organizations").select("organization_id", "kind")
    lists = lists.join(organizations.rename(practice_kind="kind"), "organization_id")
    started = _.start_date <= day
    not_ended = _.end_date.isnull() | (_.end_date >= day)

    active = first_per(lists.filter(started & not_ended), "patient_id", [ibis.desc("start_date"), "organization_id"])
    attributed = active.select(
        "patient_id",
        entity_id=active.organization_id,
        entity_type=active.practice_kind,
        clinician_id=ibis.null("string"),
        step=ibis.literal("registration"),
        reason="registered with " + active.practice_kind + " " + active.organization_id + " since "
        + text(active.start_date) + " (reference date " + on.isoformat() + ")",
    )

    others = lists.anti_join(active, "patient_id")
    ended = first_per(others.filter(started), "patient_id", [ibis.desc("end_date"), "organization_id"])
    ended_reason = (
        "unattributed: registration with " + ended.practice_kind + " " + ended.organization_id + " ended "
        + text(ended.end_date) + ibis.ifelse(ended.end_reason.isnull(), "", " (" + ended.end_reason + ")")
        + ", before the reference date " + on.isoformat()
    )
    future = first_per(others.filter(_.start_date > day).anti_join(ended, "patient_id"), "patient_id", ["start_date", "organization_id"])
    future_reason = (
        "unattributed: registration with " + future.practice_kind + " " + future.organization_id + " starts "
        + text(future.start_date) + ", after the reference date " + on.isoformat()
    )
    decided = attributed.union(unattributed(ended, ended_reason)).union(unattributed(future, future_reason))
    default = f"unattributed: no practice registration (reference date {on.isoformat()})"
    return complete(store, decided, period, RULE, default)
