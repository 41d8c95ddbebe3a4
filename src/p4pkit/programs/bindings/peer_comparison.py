"""Peer comparison on patient-level data: each entity's rate against the program-wide rate, flagged
when the difference is beyond chance. No money moves; the ledger is empty.

Per measure (performance period), from the run context's entity summaries: numerator and
performance denominator (eligible patients less exclusions and exceptions) per entity. The
comparator follows the program file: `state` or `national` compares with the pooled rate of every
entity in the run (the run's data are the whole population it has: Σ numerators ÷ Σ denominators),
`peer_group` with the mean of the entity rates (each entity counts once) and the entity's
percentile rank. `programs/peer_comparison.py` does the arithmetic (Wilson interval at the
program's significance level; "better"/"worse" only when the interval excludes the comparator).
Entities with no eligible patients for a measure get no row for it.
"""

from __future__ import annotations

import numpy as np

from p4pkit.programs import peer_comparison as model
from p4pkit.programs.bindings import ModelOutput, scores_frame
from p4pkit.programs.bindings.inputs import program_ledger
from p4pkit.programs.context import RunContext


def bind(ctx: RunContext) -> ModelOutput:
    scoring = ctx.program.scoring
    rows = []
    for measure in ctx.program.measures:
        counts = ctx.measure(measure.id)
        counts = counts[counts.entity_id.isin(ctx.participants) & (counts.performance_denominator > 0)]
        if counts.empty:
            continue
        rates = counts[["entity_id", "numerator"]].assign(denominator=counts.performance_denominator.to_numpy())
        if scoring.comparator == "peer_group":
            compared = model.compare(rates.assign(peer_group="all"), significance_level=scoring.significance_level,
                                     higher_is_better=measure.direction == "higher_is_better")
            against = "the mean of participants' rates"
        else:
            pooled = float(rates.numerator.sum() / rates.denominator.sum())
            compared = model.compare(rates, reference_rate=pooled, significance_level=scoring.significance_level,
                                     higher_is_better=measure.direction == "higher_is_better")
            against = f"the {scoring.comparator} rate (all entities pooled)"
        level = 100 * (1 - scoring.significance_level)
        for r in compared.itertuples(index=False):
            detail = (
                f"{measure.id}: {r.numerator}/{r.denominator} = {100 * r.rate:.1f}% ({level:g}% interval "
                f"{100 * r.ci_low:.1f}-{100 * r.ci_high:.1f}%) vs {100 * r.comparator:.1f}%, {against}: {r.flag}"
            )
            rows.append({"entity_id": r.entity_id, "component": measure.id, "value": r.rate, "points": np.nan,
                         "max_points": np.nan, "score": r.comparator, "tier": r.flag, "detail": detail})
    ledger = program_ledger(ctx, upside_only=True)
    ledger.check()
    return ModelOutput(scores_frame(rows), ledger)
