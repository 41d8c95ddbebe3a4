"""Supplemental data and stratifiers: what a measure's results are broken down by.

The eCQMs report supplemental data (sex, ethnicity, race, payer) with every result, and some
define stratifiers (CMS130: ages 46-49 and 50-75). p4pkit adds the breakdowns a fairness review
needs (age band and deprivation quintile), so `summarise(with_supplemental(...), by=[...])` gives
any of them per entity.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

import ibis
import pyarrow as pa

from p4pkit.measures.definition import SUPPLEMENTAL, Measure
from p4pkit.measures.runner import CompileContext
from p4pkit.measures.timing import Period, age_in_years_at
from p4pkit.store import Store

# Age bands (years at the end of the period, lower bound inclusive); 65 and 75 match Medicare
# reporting, 18 the adult measures.
AGE_BANDS = ((0, "0-17"), (18, "18-44"), (45, "45-64"), (65, "65-74"), (75, "75+"))


def _age_band(birth: ibis.Value, on: date) -> ibis.Value:
    age = age_in_years_at(birth, on)
    return ibis.cases(*[(age >= low, label) for low, label in reversed(AGE_BANDS)], else_=ibis.null("string"))


def _payer(store: Store, on: date) -> ibis.Table:
    """The plan of each patient's payer enrollment covering `on` (the latest started, if several)."""
    if not store.has_table("enrollments"):
        return ibis.memtable({"p_patient": [], "payer": []}, schema={"p_patient": "string", "payer": "string"})
    e = store.table("enrollments")
    day = ibis.date(on)
    covering = e.filter(e.kind == "payer", e.start_date <= day, e.end_date.isnull() | (e.end_date >= day))
    ranked = covering.mutate(rank=ibis.row_number().over(group_by="patient_id", order_by=[ibis.desc("start_date"), ibis.desc("enrollment_id")]))
    return ranked.filter(ranked.rank == 0).select(p_patient=ranked.patient_id, payer=ranked.plan)


def with_supplemental(store: Store, results: pa.Table, measures: Iterable[Measure] = ()) -> pa.Table:
    """`results` (from `run_measures`) plus age_band, sex, ethnicity, deprivation_quintile, payer and
    `stratum` (the name of the group's stratifier the patient meets; eCQM strata of a group are
    disjoint, so there is at most one, and null when the group has none). Library measures are
    found by id; pass custom `Measure` objects in `measures`."""
    from p4pkit.measures.library import LIBRARY

    known = {**LIBRARY, **{m.id: m for m in measures}}
    parts = []
    for (start, end) in sorted({(r["period_start"], r["period_end"]) for r in results.select(["period_start", "period_end"]).to_pylist()}):
        ctx = CompileContext(store, Period(start, end))
        rows = ibis.memtable(results).filter(lambda t: (t.period_start == start) & (t.period_end == end))
        p = store.table("patients")
        people = p.select(s_patient=p.patient_id, age_band=_age_band(p.birth_date, end), sex=p.sex, ethnicity=p.ethnicity, deprivation_quintile=p.deprivation_quintile)
        joined = rows.left_join(people, rows.patient_id == people.s_patient).drop("s_patient")
        payer = _payer(store, end)
        joined = joined.left_join(payer, joined.patient_id == payer.p_patient).drop("p_patient")
        joined = joined.select(*results.column_names, *SUPPLEMENTAL)
        strata = []
        for measure_id, index in sorted({(r["measure_id"], r["group_index"]) for r in results.select(["measure_id", "group_index"]).to_pylist()}):
            for name, criterion in known[measure_id].groups[index].stratifiers:
                met = criterion.members(ctx).select(t_patient="patient_id").distinct()
                strata.append(met.mutate(t_measure=ibis.literal(measure_id), t_group=ibis.literal(index, "int32"), stratum=ibis.literal(name)))
        if strata:
            table = strata[0]
            for more in strata[1:]:
                table = table.union(more, distinct=False)
            lists = table.group_by(["t_patient", "t_measure", "t_group"]).aggregate(stratum=table.stratum.min())
            joined = joined.left_join(
                lists, (joined.patient_id == lists.t_patient) & (joined.measure_id == lists.t_measure) & (joined.group_index == lists.t_group)
            ).drop("t_patient", "t_measure", "t_group")
        else:
            joined = joined.mutate(stratum=ibis.null("string"))
        parts.append(store.backend.to_pyarrow(joined))
    if not parts:
        return results
    return pa.concat_tables(parts, promote_options="permissive").sort_by([("measure_id", "ascending"), ("group_index", "ascending"), ("patient_id", "ascending")])
