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

Risk adjustment: a comparison that ignored a declared adjustment would flag as "worse" the entities
whose patients are sicker, the ranking on case mix the adjustment exists to prevent, so where the
program risk-adjusts a measure the comparison is on the adjusted rate: O/E × the overall rate, with
Garwood's exact interval of O/E at the program's significance level
(`peer_comparison.adjusted_interval`); against the `state`/`national` comparator (the overall rate
of every entity in the run) the flag says whether O/E excludes 1. The hierarchical model's
shrunken ratio has no per-entity interval here, so the loader refuses it for this model.

Social-risk peer groups: with comparator `peer_group` and a measure whose `social_risk` is
`peer_grouping`, each entity is compared with the entities of its social-risk peer group (the
context's `peer_group`, quantiles of the share of its patients with social risk); otherwise all
participants form one group. Payment floors, when the program sets them, leave an entity out of
a measure's comparison (`RunContext.measure`).
"""

from __future__ import annotations

import numpy as np

from p4pkit.programs import peer_comparison as model
from p4pkit.programs.bindings import ModelOutput, scores_frame
from p4pkit.programs.bindings.inputs import program_ledger
from p4pkit.programs.context import RunContext


def bind(ctx: RunContext) -> ModelOutput:
    scoring = ctx.program.scoring
    level = 100 * (1 - scoring.significance_level)
    rows = []
    for measure in ctx.program.measures:
        counts = ctx.measure(measure.id)
        counts = counts[counts.entity_id.isin(ctx.participants) & (counts.performance_denominator > 0)]
        if counts.empty:
            continue
        higher_is_better = measure.direction == "higher_is_better"
        grouped = measure.social_risk.adjustment == "peer_grouping"
        rates = counts[["entity_id", "numerator"]].assign(denominator=counts.performance_denominator.to_numpy())
        rates["peer_group"] = counts.peer_group.astype(object).to_numpy() if grouped else "all"
        adjusted = bool(measure.model_covariates) and counts.adjusted_rate.notna().all()
        if adjusted:
            everyone = ctx.measure(measure.id, floors=False)
            overall = float(everyone.numerator.sum() / everyone.performance_denominator.sum())
            table = rates.assign(rate=counts.adjusted_rate.to_numpy(), expected=counts.expected.to_numpy(),
                                 observed_rate=(counts.numerator / counts.performance_denominator).to_numpy())
            table["ci_low"], table["ci_high"] = model.adjusted_interval(table.numerator, table.expected, overall, scoring.significance_level)
        if scoring.comparator == "peer_group":
            if adjusted:
                compared = model.compare_intervals(table, higher_is_better=higher_is_better)
            else:
                compared = model.compare(rates, significance_level=scoring.significance_level, higher_is_better=higher_is_better)
            against = "the mean of its social-risk peer group's rates" if grouped else "the mean of participants' rates"
        elif adjusted:
            compared = model.compare_intervals(table, reference_rate=overall, higher_is_better=higher_is_better)
            against = f"the {scoring.comparator} rate (all entities pooled), i.e. O/E against 1"
        else:
            pooled = float(rates.numerator.sum() / rates.denominator.sum())
            compared = model.compare(rates, reference_rate=pooled, significance_level=scoring.significance_level,
                                     higher_is_better=higher_is_better)
            against = f"the {scoring.comparator} rate (all entities pooled)"
        for r in compared.itertuples(index=False):
            interval = f"({level:g}% interval {100 * r.ci_low:.1f}-{100 * r.ci_high:.1f}%)"
            if adjusted:
                shown = (f"risk-adjusted {100 * r.rate:.1f}% {interval}: observed {r.numerator}/{r.denominator} = "
                         f"{100 * r.observed_rate:.1f}%, expected {r.expected:.1f} for its case mix ({counts.adjustment.iloc[0]})")
            else:
                shown = f"{r.numerator}/{r.denominator} = {100 * r.rate:.1f}% {interval}"
            group = f" (peer group {r.peer_group})" if grouped else ""
            detail = f"{measure.id}: {shown} vs {100 * r.comparator:.1f}%, {against}{group}: {r.flag}"
            rows.append({"entity_id": r.entity_id, "component": measure.id, "value": r.rate, "points": np.nan,
                         "max_points": np.nan, "score": r.comparator, "tier": r.flag, "detail": detail})
    ledger = program_ledger(ctx, upside_only=True)
    ledger.check()
    return ModelOutput(scores_frame(rows), ledger)
