"""Inputs several bindings derive from a run context the same way: rates, quality scores, allowed amounts.

Kept in one place so that, for example, MIPS and HVBP read an entity's measured rate identically,
and capitation and shared savings judge quality on the same score.
"""

from __future__ import annotations

import ibis
import numpy as np
import pandas as pd

from p4pkit.attribution.entities import clinician_entities
from p4pkit.errors import UserError
from p4pkit.programs.context import RunContext
from p4pkit.programs.ledger import Ledger
from p4pkit.programs.money import to_decimal
from p4pkit.programs.schema import Measure


def entity_rates(ctx: RunContext, measure: Measure, period: str = "performance") -> pd.DataFrame:
    """entity_id, rate (on the measure's own scale; risk-adjusted where the program adjusts the
    measure, else observed), cases (patients in the performance denominator) and the counts, for
    one measure in one period; entities without a rate, and in the performance period entities
    below the program's payment floors (`RunContext.measure`), are dropped."""
    rows = ctx.measure(measure.id, period)
    table = rows[["entity_id", "numerator", "performance_denominator"]].rename(columns={"performance_denominator": "cases"})
    table["rate"] = table.entity_id.map(ctx.scored_rate(measure.id, period)).to_numpy()
    return table[table.rate.notna()].reset_index(drop=True)


def scored_counts(ctx: RunContext, measure: Measure, period: str = "performance") -> pd.DataFrame:
    """The measure's entity summary (`RunContext.measure`: payment floors applied in the performance
    period) with the numerator a count-based model scores, for models that do their own arithmetic on
    counts (QOF, MIPS):

    - `scored_numerator`: where the program risk-adjusts the measure and the entity has an adjusted
      rate, the adjusted rate times the performance denominator (eligible patients less exclusions
      and exceptions), i.e. the count of patients meeting the measure that the entity would have
      had with the average case mix, so that the model's own rate (scored_numerator / performance
      denominator) is the risk-adjusted rate; kept between 0 and the performance denominator, as a
      count must be (an O/E ratio can take the adjusted rate above 1). Else the observed numerator;
    - `adjusted`: True where `scored_numerator` is the adjusted count.

    Every other column of the summary (numerator, denominator, exclusions, exceptions,
    initial_population, performance_denominator, adjustment ...) is kept as measured."""
    rows = ctx.measure(measure.id, period).copy()
    cases = rows.performance_denominator.astype(float)
    adjusted = rows.adjusted_rate.notna() & (cases > 0)
    rows["scored_numerator"] = np.where(adjusted, (rows.adjusted_rate * cases).clip(lower=0).clip(upper=cases), rows.numerator.astype(float))
    rows["adjusted"] = adjusted.to_numpy()
    return rows


def quality_percent(ctx: RunContext) -> pd.Series:
    """Quality score in percent per entity: the mean over the program's measures of the scored rate
    (risk-adjusted where declared, else shrunken, else observed), 1 − rate for lower-is-better
    measures. Shared savings, capitation and NY VBP judge quality on this one score."""
    parts = []
    for measure in ctx.program.measures:
        rate = ctx.scored_rate(measure.id, shrunk=True)
        parts.append(1 - rate if measure.direction == "lower_is_better" else rate)
    return 100 * pd.concat(parts, axis=1).mean(axis=1)


def rendered_allowed(ctx: RunContext, period: str = "performance") -> pd.Series:
    """Allowed amounts (Decimal) of claim lines with service in the period, per entity of the rendering
    clinician at the program's attribution level (clinician, organization or ACO; organization for
    rules that attribute to organizations): what a clinician or group billed, the base MIPS adjusts
    (42 CFR 414.1405(e): covered professional services)."""
    level = getattr(ctx.program.attribution, "entity", "organization")
    window = ctx.periods[period]
    lines = ctx.store.table("claim_lines")
    lines = lines.filter(lines.service_start.between(ibis.literal(window.start), ibis.literal(window.end)))
    entities = clinician_entities(ctx.store, level).select("clinician_id", "entity_id")
    joined = lines.join(entities, lines.rendering_clinician_id == entities.clinician_id)
    totals = joined.group_by("entity_id").aggregate(allowed=joined.allowed_amount.sum())
    frame = ctx.store.backend.to_pyarrow(totals).to_pandas()
    return pd.Series([to_decimal(v) for v in frame.allowed], index=frame.entity_id, dtype=object)


def program_ledger(ctx: RunContext, **promises: object) -> Ledger:
    """An empty ledger for the program, its participants the only entities that may be penalised."""
    return Ledger(program=ctx.program.id, participants=ctx.participants, **promises)


def require_thresholds(measure: Measure, lower: float, upper: float | str, model: str) -> None:
    """Refuse thresholds a model cannot honour: its standards are fixed by its regulation."""
    limits = measure.thresholds
    if limits is not None and (limits.method, limits.lower, limits.upper) != ("baseline_percentile", lower, upper):
        raise UserError(
            f"{model} measure {measure.id}: thresholds {limits.method} {limits.lower}/{limits.upper} cannot be honoured",
            hint=f"{model} sets its standards from the baseline: write thresholds: {{method: baseline_percentile, lower: {lower}, upper: {upper}}} or leave them out.",
        )

