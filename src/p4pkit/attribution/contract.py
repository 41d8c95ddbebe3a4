"""The attribution contract table, and the step every rule ends with.

Each rule decides, for some patients, an entity or an explicit reason why none; `complete` then
adds every other patient of the store with the rule's default reason, so the output always has one
row per patient and nobody disappears silently (architecture.md, "Contracts between stages").
An unattributed patient has a null `entity_id` and a reason saying why.

A period is anything with `start` and `end` dates, a closed interval of days; the measures'
`p4pkit.measures.timing.Period` (with `Period.parse("A:B")`) is the one to use, so a program's
attribution and its measures share one notion of the performance period. It is imported for type
checking only, so attribution does not load the measure library.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import ibis
import pyarrow as pa

from p4pkit.store import Store

if TYPE_CHECKING:
    from p4pkit.measures.timing import Period

ATTRIBUTION_SCHEMA = pa.schema(
    [
        pa.field("patient_id", pa.string(), nullable=False),
        pa.field("entity_id", pa.string()),
        # clinician, aco, or the organization's kind (practice, clinician_group, ...).
        pa.field("entity_type", pa.string()),
        # The clinician who carried the decision (most charges or visits inside the entity).
        pa.field("clinician_id", pa.string()),
        pa.field("period_start", pa.date32(), nullable=False),
        pa.field("period_end", pa.date32(), nullable=False),
        pa.field("rule", pa.string(), nullable=False),
        # Which branch decided: registration, step 1, step 2, plurality; null when unattributed.
        pa.field("step", pa.string()),
        pa.field("reason", pa.string(), nullable=False),
    ]
)

DECIDED_COLUMNS = ("patient_id", "entity_id", "entity_type", "clinician_id", "step", "reason")


def period_text(period: Period) -> str:
    """"2025-01-01 to 2025-12-31", for reasons."""
    return f"{period.start.isoformat()} to {period.end.isoformat()}"


def complete(store: Store, decided: ibis.Table, period: Period, rule: str, default_reason: str) -> pa.Table:
    """One row per patient in the store: the rule's decision, or `default_reason` if it had none."""
    patients = store.table("patients").select("patient_id")
    decided = decided.select(*DECIDED_COLUMNS).rename(decided_patient_id="patient_id")
    joined = patients.left_join(decided, patients.patient_id == decided.decided_patient_id)
    result = joined.select(
        patient_id=joined.patient_id,
        entity_id=joined.entity_id,
        entity_type=joined.entity_type,
        clinician_id=joined.clinician_id,
        period_start=ibis.literal(period.start),
        period_end=ibis.literal(period.end),
        rule=ibis.literal(rule),
        step=joined.step,
        reason=joined.reason.fill_null(default_reason),
    ).order_by("patient_id")
    return result.to_pyarrow().cast(ATTRIBUTION_SCHEMA)


def unattributed(table: ibis.Table, reason: ibis.Value) -> ibis.Table:
    """Decided rows for patients the rule looked at but could not attribute, with the reason."""
    null = ibis.null("string")
    return table.select(
        patient_id=table.patient_id, entity_id=null, entity_type=null, clinician_id=null, step=null, reason=reason
    )


def text(value: ibis.Value) -> ibis.StringValue:
    """A value as text inside a reason (dates as YYYY-MM-DD, decimals with their scale)."""
    return value.cast("string")


def dollars(value: ibis.Value) -> ibis.StringValue:
    """Money in a reason, two decimals: "$412.00"."""
    return "$" + value.cast("decimal(18, 2)").cast("string")


def holder(entity_type: ibis.StringValue, entity_id: ibis.StringValue, clinician_id: ibis.StringValue) -> ibis.StringValue:
    """"practice P1, clinician C1", or just "clinician C1" when the entity is the clinician."""
    who = entity_type + " " + entity_id
    return ibis.ifelse(entity_id == clinician_id, who, who + ", clinician " + clinician_id)
