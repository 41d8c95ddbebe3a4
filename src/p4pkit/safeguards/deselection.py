"""Deselection: are an entity's high-risk patients leaving its list faster than its peers'?

Pay-for-performance rewards a practice for patients who meet targets, so a practice can raise its
scores by removing the patients least likely to meet them before they are measured: the
"deselection" the American College of Physicians warned of, and what QOF watchers check when they
compare list turnover (Doran et al., NEJM 2006, on the related exception reporting). The check
here is a deregistration hazard by risk band:

- the list is the practice's registrations open on the first day of the window;
- a removal is a registration that ends inside the window with `end_reason` "removed_by_practice"
  (deaths and moves are not the practice's doing and do not count);
- a patient is high-risk when, before the window, they had two or more recorded chronic
  conditions or their last HbA1c was at least 8% or their last systolic blood pressure at least
  140 mm[Hg]: the patients a diabetes or blood-pressure target is most likely to miss;
- per practice, the share of its high-risk patients it removed is compared with the peer rate on
  a funnel plot (`funnel.funnel_flags`); the evidence also gives the rate among its other patients,
  so a reviewer can see whether removals single out the high-risk.
"""

from __future__ import annotations

import ibis
import pandas as pd

from p4pkit.measures.timing import Period
from p4pkit.model import codes
from p4pkit.safeguards.funnel import funnel_flags
from p4pkit.store import Store

PRACTICE_REMOVAL = "removed_by_practice"
HBA1C, SYSTOLIC = "4548-4", "8480-6"


def _last_value(events: ibis.Table, code: str, before: ibis.Value) -> ibis.Table:
    readings = events.filter(
        (events.code_system == codes.LOINC) & (events.code == code) & ~events.negated
        & events.value_num.notnull() & (events.start.date() < before)
    )
    ranked = readings.mutate(order=ibis.row_number().over(group_by="patient_id", order_by=ibis.desc("start")))
    return ranked.filter(ranked.order == 0).select("patient_id", value=ranked.value_num)


def high_risk_patients(
    store: Store, before: object, *, min_conditions: int = 2, hba1c_at_least: float = 8.0, systolic_at_least: float = 140.0
) -> ibis.Table:
    """Patients counted as high-risk on the eve of `before` (see the module docstring): one row each."""
    day = ibis.literal(before)
    events = store.table("events")
    conditions = events.filter((events.kind == "condition") & ~events.negated & (events.start.date() < day))
    multimorbid = (
        conditions.group_by("patient_id").aggregate(n=conditions.code.nunique()).filter(lambda t: t.n >= min_conditions)
    )
    hba1c = _last_value(events, HBA1C, day)
    systolic = _last_value(events, SYSTOLIC, day)
    return ibis.union(
        multimorbid.select("patient_id"),
        hba1c.filter(hba1c.value >= hba1c_at_least).select("patient_id"),
        systolic.filter(systolic.value >= systolic_at_least).select("patient_id"),
        distinct=True,
    )


def registered_on(store: Store, day: object) -> ibis.Table:
    """Practice-list registrations open on `day` (started on or before it, not ended before it)."""
    on = ibis.literal(day)
    lists = store.table("enrollments")
    return lists.filter(
        (lists.kind == "practice_list") & (lists.start_date <= on) & (lists.end_date.isnull() | (lists.end_date >= on))
    )


def removal_counts(store: Store, window: Period, **risk: float) -> pd.DataFrame:
    """Per practice and risk band: patients on the list at the window start and how many it removed."""
    lists = registered_on(store, window.start)
    end = ibis.literal(window.end)
    high = high_risk_patients(store, window.start, **risk).mutate(high_risk=ibis.literal(True))
    marked = lists.left_join(high, "patient_id").select(
        entity_id=lists.organization_id,
        high_risk=high.high_risk.fill_null(False),
        removed=((lists.end_reason == PRACTICE_REMOVAL) & (lists.end_date <= end)).fill_null(False).cast("int64"),
    )
    table = marked.group_by(["entity_id", "high_risk"]).aggregate(size=marked.count(), count=marked.removed.sum())
    return store.backend.to_pyarrow(table.order_by(["entity_id", "high_risk"])).to_pandas()


def deregistration_flags(store: Store, window: Period, **risk: float) -> pd.DataFrame:
    """Flag practices removing more of their high-risk patients than peers (3-SD funnel limit).

    One row per practice with high-risk patients on its list; the flag-table columns of
    `funnel.funnel_flags`, with the practice's removal rate among its other patients in the evidence.
    """
    counts = removal_counts(store, window, **risk)
    high = counts[counts["high_risk"]].drop(columns="high_risk")
    low = counts[~counts["high_risk"]].set_index("entity_id")
    flags = funnel_flags(
        high, "deregistration_high_risk", describe=f"high-risk patients on the list on {window.start} were removed by the practice by {window.end}"
    )
    low_count = flags["entity_id"].map(low["count"]).fillna(0).astype(int)
    low_size = flags["entity_id"].map(low["size"]).fillna(0).astype(int)
    flags["evidence"] = [
        f"{text}; other patients: {c} of {n} removed" for text, c, n in zip(flags["evidence"], low_count, low_size)
    ]
    return flags
