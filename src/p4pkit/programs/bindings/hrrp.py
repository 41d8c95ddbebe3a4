"""HRRP on patient-level data: excess readmission ratios from index stays, peer groups, payment reductions.

Each of the program's `conditions` names a program measure whose index stays define the cohort;
READMIT_30D (the library's all-cause readmission measure) is the one with stay-level definitions
here. From its index stays in the performance period (`measures.library.readmission_30day`:
discharged alive, 30-day follow-up inside the period, transfers merged, planned readmissions out),
of patients 18 or over at the end of the period as the measure has it, each counted at the
hospital of the stay:

- outcome: readmitted within 30 days; covariates: those the measure entry asks for
  (`Measure.model_covariates`, the list every run's risk adjustment uses: `risk_adjustment.covariates`,
  plus `social_risk` and `deprivation_quintile` with `social_risk: {adjustment: covariate}`),
  computed as every run computes them (`risk.features`: age at the end of the period, sex, count
  of chronic condition groups, ... and the CMS-HCC score when asked);
- ERR = predicted ÷ expected from the hierarchical logistic model with a random intercept per
  hospital (`risk.outcome.predicted_expected`, the CMS method; §412.152), rounded to 4 decimals;
- DRG ratio: allowed amounts of the cohort's inpatient index stays ÷ those of all the hospital's
  inpatient stays (observation index stays count in the ERR only);
- peer groups: quintiles (`social_risk.peer_groups`) of the hospital's dual proportion, the share of
  its stays by patients with social risk (SSA §1886(q)(3)(D)), with `social_risk: {adjustment:
  peer_grouping}`. The program file chooses one way of handling social risk: with `covariate` it
  enters the ERR model instead and every hospital is in one national group; with `off` it is not
  handled (one group, as before FY2019). Both depart from the statute's peer grouping and are for
  what-if designs. More peer groups than hospitals is refused (every hospital would be its own
  peer, and nobody could be penalised);
- payments: the allowed amounts of the hospital's stays in the performance period (`stays.py`).

`programs/hrrp.py` computes the payment adjustment factor (max(floor, 1 − NM × Σ DRG ratio ×
excess over the peer-group median), NM solved for neutrality with the unstratified method) and the
penalties (1 − PAF) × payments. Conditions below `min_cases` index stays do not count. The
program file's requirements on the condition measures (a stay-level cohort, a hierarchical model
on known covariates, the same social-risk handling for every condition) are checked when it is
loaded (`schema.Program`); payment floors are refused there for HRRP, whose case minimum is
`min_cases` and whose ratio the hierarchical model already shrinks.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from p4pkit.measures.library.readmission_30day import index_stays
from p4pkit.measures.runner import CompileContext
from p4pkit.programs import hrrp as model
from p4pkit.programs.bindings import ModelOutput, scores_frame
from p4pkit.programs.bindings.stays import payments_by_hospital, stays
from p4pkit.programs.context import RunContext, check_peer_groups
from p4pkit.programs.money import to_decimal
from p4pkit.programs.schema import Measure
from p4pkit.risk.features import patient_features, with_hcc
from p4pkit.risk.outcome import predicted_expected

ADULT_AGE = 18


def _condition_measure(ctx: RunContext, condition: str) -> Measure:
    """The program measure of a condition (the loader has checked that it exists and fits)."""
    return next(m for m in ctx.program.measures if m.id == condition)


def index_stay_frame(ctx: RunContext, covariates: list[str]) -> pd.DataFrame:
    """One row per index stay of an adult: encounter_id, hospital_id, readmitted and the covariates."""
    window = ctx.periods["performance"]
    index = index_stays(CompileContext(ctx.store, window))
    encounters = ctx.store.table("encounters").select(stay_id="encounter_id", hospital_id="organization_id")
    joined = index.join(encounters, index.encounter_id == encounters.stay_id)
    frame = ctx.store.backend.to_pyarrow(joined.select("encounter_id", "patient_id", "hospital_id", "readmission_id")).to_pandas()
    features = patient_features(ctx.store, window.end, frame.patient_id.unique().tolist())
    if "hcc" in covariates:
        features = with_hcc(ctx.store, features, window.start, window.end)
    frame = frame.merge(features, on="patient_id").sort_values("encounter_id", kind="stable")
    frame["readmitted"] = frame.readmission_id.notna().astype(int)
    frame = frame[(frame.age >= ADULT_AGE) & frame.hospital_id.isin(ctx.participants)]
    return frame[["encounter_id", "hospital_id", "readmitted", *covariates]].reset_index(drop=True)


def bind(ctx: RunContext) -> ModelOutput:
    program, scoring = ctx.program, ctx.program.scoring
    measures = [_condition_measure(ctx, c) for c in scoring.conditions]
    all_stays = stays(ctx)
    all_stays = all_stays[all_stays.hospital_id.isin(ctx.participants)]
    payments = payments_by_hospital(all_stays)
    stay_allowed = all_stays.set_index("encounter_id").allowed
    conditions = []
    for measure in measures:
        covariates = measure.model_covariates
        cohort = index_stay_frame(ctx, covariates)
        fitted = predicted_expected(cohort, "hospital_id", "readmitted", covariates)
        fitted["err"] = model.excess_readmission_ratio(fitted.predicted, fitted.expected)
        cohort_allowed = cohort.assign(allowed=cohort.encounter_id.map(stay_allowed).fillna(to_decimal(0)))
        allowed = cohort_allowed.groupby("hospital_id").allowed.agg(lambda v: sum(v, to_decimal(0)))
        fitted["drg_ratio"] = [float(allowed[h] / payments[h]) if payments.get(h) else 0.0 for h in fitted.hospital_id]
        conditions.append(fitted.assign(condition=measure.id, discharges=fitted.n))
    conditions = pd.concat(conditions, ignore_index=True)
    social = measures[0].social_risk
    groups = social.peer_groups if social.adjustment == "peer_grouping" else 1
    risk = ctx.store.backend.to_pyarrow(ctx.store.table("patients").select("patient_id", "social_risk")).to_pandas()
    dual = all_stays.merge(risk, on="patient_id", how="left").assign(dual=lambda t: t.social_risk.fillna(False).astype(float))
    check_peer_groups(groups, len(payments), "HRRP hospitals with stays")
    hospitals = pd.DataFrame({"hospital_id": payments.index})
    hospitals["dual_proportion"] = hospitals.hospital_id.map(dual.groupby("hospital_id").dual.mean())
    hospitals["base_operating_payments"] = [float(payments[h]) for h in hospitals.hospital_id]
    rules = model.HrrpRules(floor=float(scoring.payment_floor), min_cases=scoring.min_cases, peer_groups=groups,
                            err_decimals=4, min_reported_count=11)
    adjustments = model.payment_adjustment(conditions, hospitals, rules)
    ledger = model.hrrp_ledger(adjustments, hospitals)
    ledger.program = program.id
    rows = []
    for r in conditions.merge(adjustments[["hospital_id", "peer_group"]], on="hospital_id").itertuples(index=False):
        counts = "too few cases" if r.discharges < scoring.min_cases else "counts"
        rows.append({"entity_id": r.hospital_id, "component": r.condition, "value": r.err, "points": np.nan, "max_points": np.nan,
                     "score": r.err, "tier": counts,
                     "detail": f"{r.condition}: {r.observed:.0f} of {r.discharges} index stays readmitted; predicted {r.predicted:.2f}, "
                               f"expected {r.expected:.2f}, ERR {r.err:.4f}; DRG ratio {r.drg_ratio:.4f}; peer group {r.peer_group}"})
    for r in adjustments.merge(hospitals, on="hospital_id").itertuples(index=False):
        penalty = (1 - to_decimal(float(r.payment_adjustment_factor))) * to_decimal(r.base_operating_payments)
        rows.append({"entity_id": r.hospital_id, "component": "total", "value": r.payment_adjustment_factor, "points": np.nan,
                     "max_points": np.nan, "score": r.payment_adjustment_factor, "tier": "penalised" if r.payment_adjustment_factor < 1 else "no penalty",
                     "detail": f"PAF {r.payment_adjustment_factor:.4f} (dual proportion {r.dual_proportion:.3f}, peer group {r.peer_group}, "
                               f"neutrality modifier {r.neutrality_modifier:.4f}): reduction {penalty:,.2f} of {r.base_operating_payments:,.2f}"})
    ledger.check()
    return ModelOutput(scores_frame(rows), ledger)
