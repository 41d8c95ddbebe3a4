"""Shared savings on patient-level data (MSSP-style ACOs, NY Medicaid VBP Levels 1 and 2).

Per participating entity, from the run context and the store's claim lines:

- assigned beneficiaries: patients attributed in the performance period;
- expenditure: allowed amounts of their claim lines with service dates in the performance period;
- benchmark: the baseline period's spending per assigned beneficiary-year (baseline attribution),
  times the performance year's assigned beneficiaries, times the growth in their mean CMS-HCC risk
  score (performance ÷ baseline) capped at ± `risk_growth_cap_percent` — the shape of the MSSP
  historical benchmark (42 CFR 425.601: historical spending of assigned beneficiaries, adjusted for
  changes in risk score, growth capped at 3% [K]), without regional blending or trend;
- quality score: `inputs.quality_percent` (the mean over the program's measures of the scored
  rate, 1 − rate for lower-is-better measures), in percent; the quality standard is met at or
  above `quality_standard_percent`.

The program file's scoring parameters become one track of `programs/shared_savings.py`, which
does the arithmetic (savings rate, MSR/MLR, sharing and loss rates, caps, sequestration) and the
checked ledger.
"""

from __future__ import annotations

from decimal import Decimal

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa

from p4pkit.programs import shared_savings as model
from p4pkit.programs.bindings import ModelOutput, scores_frame
from p4pkit.programs.bindings.inputs import quality_percent
from p4pkit.programs.context import RunContext
from p4pkit.programs.money import round_money, to_decimal
from p4pkit.risk.hcc import raw_scores

DAYS_PER_YEAR = Decimal("365.25")


def _rules(ctx: RunContext) -> model.SharedSavingsRules:
    scoring = ctx.program.scoring
    fixed_msr = None if scoring.minimum_savings_rate == "sliding_scale" else to_decimal(scoring.minimum_savings_rate)
    two_sided = scoring.loss_sharing_rate_percent is not None
    track = model.Track(
        code=scoring.track,
        two_sided=two_sided,
        sharing_rate_pct=to_decimal(scoring.sharing_rate_percent),
        savings_cap_pct=to_decimal(scoring.savings_cap_percent),
        fixed_msr_pct=fixed_msr,
        loss_rate_pct=to_decimal(scoring.loss_sharing_rate_percent) if two_sided else None,
        loss_cap_benchmark_pct=to_decimal(scoring.loss_cap_percent) if two_sided else None,
    )
    bands = model.mssp_rules(2023).msr_bands if fixed_msr is None else ()
    return model.SharedSavingsRules(
        program=ctx.program.id,
        year=ctx.program.dates.performance.end.year,
        source=f"program file {ctx.program.id}",
        sequestration_pct=to_decimal(scoring.sequestration_percent),
        msr_bands=bands,
        tracks={scoring.track: track},
        alternative_standard="none",
    )


def _assigned(ctx: RunContext, period: str) -> pd.DataFrame:
    """patient_id, entity_id of the participants' attributed patients in a period."""
    people = ctx.attributed(period)
    return people[people.entity_id.isin(ctx.participants)].reset_index(drop=True)


def _allowed(ctx: RunContext, period: str, people: pd.DataFrame) -> dict[str, Decimal]:
    """Allowed amounts of the people's claim lines in a period, per entity (exact decimal sums in
    the query: a Decimal per patient in Python cost seconds at a million patients)."""
    window = ctx.periods[period]
    claims = ctx.store.table("claim_lines")
    in_period = claims.filter((claims.service_start >= ibis.literal(window.start)) & (claims.service_start <= ibis.literal(window.end)))
    assigned = ibis.memtable(pa.Table.from_pandas(people[["patient_id", "entity_id"]], preserve_index=False))
    joined = in_period.join(assigned, "patient_id")
    totals = ctx.store.backend.to_pyarrow(joined.group_by("entity_id").aggregate(allowed=joined.allowed_amount.sum()))
    return {entity: to_decimal(total) for entity, total in zip(totals["entity_id"].to_pylist(), totals["allowed"].to_pylist())}


def _mean_risk(ctx: RunContext, period: str, people: pd.DataFrame) -> pd.Series:
    """Mean CMS-HCC (V28) raw risk score per entity from the diagnoses recorded in the period."""
    window = ctx.periods[period]
    wanted = ibis.memtable(pa.table({"patient_id": pa.array(people.patient_id.unique(), pa.string())}))
    scores = raw_scores(ctx.store, window.start, window.end, patients=wanted)
    return people.merge(scores, on="patient_id", how="left").groupby("entity_id")["hcc"].mean()


def bind(ctx: RunContext) -> ModelOutput:
    scoring = ctx.program.scoring
    rules = _rules(ctx)
    baseline, performance = _assigned(ctx, "baseline"), _assigned(ctx, "performance")
    spent_before, spent_after = _allowed(ctx, "baseline", baseline), _allowed(ctx, "performance", performance)
    assigned_before = baseline.groupby("entity_id").size()
    base_years = Decimal((ctx.periods["baseline"].end - ctx.periods["baseline"].start).days + 1) / DAYS_PER_YEAR
    risk_before, risk_after = _mean_risk(ctx, "baseline", baseline), _mean_risk(ctx, "performance", performance)
    cap = float(scoring.risk_growth_cap_percent) / 100
    quality = quality_percent(ctx)
    rows = []
    for entity, group in performance.groupby("entity_id"):
        before = int(assigned_before.get(entity, 0))
        if before == 0:
            continue  # no baseline: no benchmark can be set
        per_capita_year = spent_before.get(entity, Decimal(0)) / Decimal(before) / base_years
        growth = float(np.clip(risk_after.get(entity, np.nan) / risk_before.get(entity, np.nan), 1 - cap, 1 + cap))
        growth = 1.0 if np.isnan(growth) else growth
        score = float(quality.get(entity, 0.0))
        rows.append(
            {
                "entity_id": entity,
                "track": scoring.track,
                "benchmark": round_money(per_capita_year * len(group) * to_decimal(growth)),
                "expenditure": round_money(spent_after.get(entity, Decimal(0))),
                "assigned_beneficiaries": len(group),
                "quality_score": round(score, 2),
                "met_quality_standard": scoring.quality_standard_percent is None or score >= float(scoring.quality_standard_percent),
                "met_alternative_standard": False,
                "risk_growth": growth,
            }
        )
    entities = pa.Table.from_pylist([{k: v for k, v in r.items() if k != "risk_growth"} for r in rows])
    results = model.shared_savings(entities, rules, source=f"run of {ctx.program.id}").to_pandas()
    ledger = model.shared_savings_ledger(pa.Table.from_pandas(results, preserve_index=False), rules)
    ledger.participants = ctx.participants
    ledger.check()
    inputs = pd.DataFrame(rows).set_index("entity_id")
    score_rows = []
    for r in results.itertuples(index=False):
        i = inputs.loc[r.entity_id]
        detail = (
            f"benchmark {i.benchmark:,.2f} (risk growth {i.risk_growth:.3f}), expenditure {i.expenditure:,.2f}, "
            f"{i.assigned_beneficiaries} assigned, savings rate {r.savings_rate_pct:.2f}% vs MSR {r.msr_pct:.2f}%, "
            f"quality {i.quality_score:.1f}%"
        )
        score_rows.append(
            {"entity_id": r.entity_id, "component": "total", "value": float(r.savings_rate_pct), "points": np.nan,
             "max_points": np.nan, "score": float(r.earned), "tier": r.outcome, "detail": detail}
        )
        score_rows.append(
            {"entity_id": r.entity_id, "component": "quality", "value": i.quality_score, "points": np.nan,
             "max_points": np.nan, "score": i.quality_score, "tier": "met" if i.met_quality_standard else "not met", "detail": ""}
        )
    return ModelOutput(scores_frame(score_rows), ledger)
