"""HVBP on patient-level data: hospitals scored on the program's measures, 2% withheld, returned by TPS.

From the run context (hospitals attributed by `hospital_of_stay`):

- each measure's domain from its `kind`: outcome and intermediate outcome → clinical outcomes,
  experience → person and community engagement, cost → efficiency and cost reduction (safety
  measures, the NHSN infection ratios, have no kind of their own and no counterpart in the data);
- performance and baseline rates: each hospital's observed rate in the two periods; cases = the
  measure's performance denominator, scored from the measure's `min_denominator` up;
- performance standards from the baseline rates (§412.160: achievement threshold = median,
  benchmark = mean of the top decile), so `thresholds` must be that or absent;
- domains: the program's `domain_weights` with the FY2024 minimum number of measures per domain
  (`programs/hvbp.py`); a domain without any program measure is absent, the weights are
  re-normalised over the domains a hospital has, and a TPS needs the program's `min_domains`;
- payment base: the allowed amounts of the hospital's stays in the performance period
  (`stays.py`), standing in for base-operating DRG payments.

`programs/hvbp.py` scores (achievement and improvement points, domain scores, TPS) and runs the
linear exchange function: the withhold (`funding.withhold_percent`) from every hospital with a TPS,
incentive payments with the slope solved so they equal the withhold to the cent. Hospitals
without a TPS are not in the program that year: no withhold, no payment.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from p4pkit.errors import UserError
from p4pkit.programs import hvbp as model
from p4pkit.programs.bindings import ModelOutput, scores_frame
from p4pkit.programs.bindings.inputs import entity_rates, program_ledger, require_thresholds
from p4pkit.programs.bindings.stays import payments_by_hospital, stays
from p4pkit.programs.context import RunContext
from p4pkit.programs.money import to_decimal

DOMAIN_OF_KIND = {
    "outcome": "clinical_outcomes",
    "intermediate_outcome": "clinical_outcomes",
    "experience": "person_and_community_engagement",
    "cost": "efficiency_and_cost_reduction",
}


def _domains(ctx: RunContext) -> list[model.Domain]:
    """The program's weighted domains that have at least one measure, with FY2024 minimum measure counts."""
    fy2024 = {d.name: d for d in model.FY2024_DOMAINS}
    scoring = ctx.program.scoring
    unknown = sorted(set(scoring.domain_weights) - set(fy2024))
    if unknown:
        raise UserError(f"unknown HVBP domain(s): {', '.join(unknown)}", hint=f"Use {', '.join(fy2024)}.")
    for measure in ctx.program.measures:
        if measure.kind not in DOMAIN_OF_KIND:
            raise UserError(f"HVBP measure {measure.id} is a {measure.kind} measure, which no HVBP domain scores",
                            hint="Give it kind outcome, experience or cost (docs/programs/runs.md).")
    present = {DOMAIN_OF_KIND[m.kind] for m in ctx.program.measures}
    domains = [model.Domain(name, float(weight) / 100, fy2024[name].min_measures, fy2024[name].consistency)
               for name, weight in scoring.domain_weights.items() if name in present]
    if len(domains) < scoring.min_domains:
        raise UserError(
            f"the program's measures fill {len(domains)} HVBP domain(s) ({', '.join(d.name for d in domains)}) "
            f"but a TPS needs {scoring.min_domains}",
            hint="Add measures for another domain, or lower min_domains and say why in the program file.",
        )
    return domains


def _inputs(ctx: RunContext) -> tuple[pd.DataFrame, pd.DataFrame]:
    rates, standards = [], []
    for measure in ctx.program.measures:
        require_thresholds(measure, 50, "top_decile_mean", "HVBP")
        min_cases = measure.min_denominator or 1
        lower = measure.direction == "lower_is_better"
        baseline = entity_rates(ctx, measure, "baseline")
        baseline = baseline[baseline.cases >= min_cases].assign(measure_id=measure.id)
        standard = model.performance_standards(baseline[["measure_id", "rate"]], {measure.id: lower})
        standards.append(standard.assign(domain=DOMAIN_OF_KIND[measure.kind], lower_is_better=lower, min_cases=min_cases))
        current = entity_rates(ctx, measure, "performance")
        current = current[current.entity_id.isin(ctx.participants)]
        rates.append(pd.DataFrame({
            "entity_id": current.entity_id, "measure_id": measure.id, "performance_rate": current.rate,
            "baseline_rate": current.entity_id.map(baseline.set_index("entity_id").rate), "cases": current.cases,
        }))
    return pd.concat(rates, ignore_index=True), pd.concat(standards, ignore_index=True)


def bind(ctx: RunContext) -> ModelOutput:
    program, scoring = ctx.program, ctx.program.scoring
    domains = _domains(ctx)
    rates, standards = _inputs(ctx)
    measures = model.score_measures(rates, standards)
    tps = model.total_performance_score(model.domain_scores(measures, domains), domains, min_domains=scoring.min_domains)
    base = payments_by_hospital(stays(ctx))
    scored = tps[tps.total_performance_score.notna()]
    hospitals = pd.DataFrame({"entity_id": scored.entity_id, "total_performance_score": scored.total_performance_score,
                              "base_operating_drg_payments": [base.get(h, to_decimal(0)) for h in scored.entity_id]})
    withhold = to_decimal(program.funding.withhold_percent or 0) / 100
    paid = model.exchange_function(hospitals, withhold=withhold) if len(hospitals) else pd.DataFrame(columns=["entity_id"])
    ledger = program_ledger(ctx, budget_neutral=True)
    rows = []
    for r in measures.merge(rates, on=["entity_id", "measure_id"]).itertuples(index=False):
        before = "no baseline: achievement only" if pd.isna(r.baseline_rate) else f"baseline {r.baseline_rate:.4g}"
        rows.append({"entity_id": r.entity_id, "component": r.measure_id, "value": r.performance_rate, "points": r.measure_score,
                     "max_points": float(scoring.achievement_max), "score": r.measure_score, "tier": r.domain,
                     "detail": f"{r.measure_id}: {r.performance_rate:.4g} over {r.cases} patients ({before}), achievement "
                               f"{r.achievement_points:g}, improvement {r.improvement_points:g} points"})
    for d in domains:
        column = f"{d.name}_score"
        for r in tps[tps[column].notna()].itertuples(index=False):
            value = getattr(r, column)
            rows.append({"entity_id": r.entity_id, "component": d.name, "value": value, "points": np.nan, "max_points": 100.0,
                         "score": value, "tier": "", "detail": f"{d.name} domain score {value:.2f}"})
    money = paid.set_index("entity_id")
    for r in tps.itertuples(index=False):
        if r.entity_id not in money.index:
            rows.append({"entity_id": r.entity_id, "component": "total", "value": np.nan, "points": np.nan, "max_points": 100.0,
                         "score": np.nan, "tier": "no TPS", "detail": f"fewer than {scoring.min_domains} scored domains"})
            continue
        m = money.loc[r.entity_id]
        ledger.add(r.entity_id, m.withheld, "withhold", f"HVBP withhold {100 * withhold:.2f}% of {m.base_operating_drg_payments:,.2f}")
        ledger.add(r.entity_id, m.incentive_payment, "bonus", f"HVBP incentive at TPS {r.total_performance_score:.2f}, slope {float(m.slope):.4f}")
        rows.append({"entity_id": r.entity_id, "component": "total", "value": float(m.adjustment_factor), "points": np.nan,
                     "max_points": 100.0, "score": r.total_performance_score, "tier": "gains" if m.net_change > 0 else "loses",
                     "detail": f"TPS {r.total_performance_score:.2f}: withheld {m.withheld:,.2f}, incentive {m.incentive_payment:,.2f}, "
                               f"net {m.net_change:+,.2f}; adjustment factor {float(m.adjustment_factor):.6f}"})
    ledger.check()
    return ModelOutput(scores_frame(rows), ledger)
