"""HACRP on patient-level data: hospital-acquired condition rates, winsorized z-scores, worst quartile penalised.

Measures, per participating hospital (performance period):

- the NHSN hospital-acquired infections, as stays with the ICD-10-CM code recorded and not present
  on admission (`stays.stay_diagnoses`) per 1,000 of the hospital's stays: CLABSI T80.211A,
  CAUTI T83.511A, SSI T81.4-A (T81.40XA-T81.49XA), CDI A04.7x and MRSA sepsis A41.02. These are
  code-based stand-ins for the NHSN standardized infection ratios, which need surveillance data;
  a HAC nobody has gives no z-score (no spread) and drops out;
- the program's own measures: each hospital's rate (higher is worse; risk-adjusted where the
  program adjusts the measure, `inputs.entity_rates`), scored from the measure's `min_denominator` up.

Payment floors (`payment.min_denominator`, `payment.min_reliability`) leave a hospital out of a
measure below them (`RunContext.measure`); the derived infection rates, which have no reliability
estimate, are held to the denominator floor on their stays (`RunContext.meets_payment_floors`).

`programs/hacrp.py` winsorizes each measure at the program's `winsorize_percentiles`, standardises
it (z-scores), averages a hospital's available z-scores into the Total HAC Score (FY2020 on) and
flags hospitals strictly above the `penalty_percentile`; each flagged hospital loses
`reduction_percent` of the allowed amounts of its stays in the performance period (`stays.py`,
standing in for all Medicare FFS payments, §412.172(b)).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from p4pkit.programs import hacrp as model
from p4pkit.programs.bindings import ModelOutput, scores_frame
from p4pkit.programs.bindings.inputs import entity_rates, program_ledger
from p4pkit.programs.bindings.stays import payments_by_hospital, stay_diagnoses, stays
from p4pkit.programs.context import RunContext
from p4pkit.programs.money import to_decimal

# measure id, ICD-10-CM pattern on the code without its dot (initial encounter, 7th character A).
HOSPITAL_ACQUIRED_INFECTIONS: tuple[tuple[str, str], ...] = (
    ("CLABSI", r"^T80211A$"),
    ("CAUTI", r"^T83511A$"),
    ("SSI", r"^T814\w*A$"),
    ("CDI", r"^A047\d?$"),
    ("MRSA", r"^A4102$"),
)
PER_STAYS = 1000


def infection_rates(ctx: RunContext, hospital_stays: pd.DataFrame) -> pd.DataFrame:
    """entity_id, measure_id, value (stays with the infection not present on admission per 1,000 stays), cases."""
    diagnoses = stay_diagnoses(ctx)
    code = diagnoses.diagnosis_code.upper().replace(".", "")
    acquired = diagnoses.filter(diagnoses.poa == "N")
    rows = []
    for measure_id, pattern in HOSPITAL_ACQUIRED_INFECTIONS:
        hits = acquired.filter(code.re_search(pattern)).select("encounter_id").distinct()
        found = set(ctx.store.backend.to_pyarrow(hits).column("encounter_id").to_pylist())
        per_hospital = hospital_stays.assign(hit=hospital_stays.encounter_id.isin(found)).groupby("hospital_id").hit.agg(["sum", "size"])
        rows.append(pd.DataFrame({"entity_id": per_hospital.index, "measure_id": measure_id,
                                  "value": PER_STAYS * per_hospital["sum"] / per_hospital["size"], "cases": per_hospital["size"]}))
    return pd.concat(rows, ignore_index=True)


def bind(ctx: RunContext) -> ModelOutput:
    program, scoring = ctx.program, ctx.program.scoring
    hospital_stays = stays(ctx)
    hospital_stays = hospital_stays[hospital_stays.hospital_id.isin(ctx.participants)]
    infections = infection_rates(ctx, hospital_stays)
    parts = [infections[ctx.meets_payment_floors(infections.cases)]]
    for measure in program.measures:
        rates = entity_rates(ctx, measure)
        rates = rates[rates.entity_id.isin(ctx.participants) & (rates.cases >= (measure.min_denominator or 1))]
        parts.append(pd.DataFrame({"entity_id": rates.entity_id, "measure_id": measure.id, "value": rates.rate, "cases": rates.cases}))
    results = pd.concat(parts, ignore_index=True)
    limits = tuple(float(p) for p in scoring.winsorize_percentiles)
    results["z_score"] = results.groupby("measure_id").value.transform(lambda v: pd.Series(model.winsorized_z_scores(v.to_numpy(float), limits), index=v.index))
    flagged = model.hacrp_scores(results[["entity_id", "measure_id", "z_score"]], percentile=scoring.penalty_percentile)
    payments = payments_by_hospital(hospital_stays)
    rate = to_decimal(scoring.reduction_percent) / 100
    ledger = program_ledger(ctx)
    rows = []
    for r in results.itertuples(index=False):
        z = "no z-score (no spread)" if pd.isna(r.z_score) else f"z {r.z_score:+.3f}"
        rows.append({"entity_id": r.entity_id, "component": r.measure_id, "value": r.value, "points": np.nan, "max_points": np.nan,
                     "score": r.z_score, "tier": "", "detail": f"{r.measure_id}: {r.value:.4g} over {r.cases} cases, {z}"})
    for r in flagged.itertuples(index=False):
        base = payments.get(r.entity_id, to_decimal(0))
        reason = f"Total HAC Score {r.total_hac_score:+.4f} above the {scoring.penalty_percentile:g}th percentile {r.threshold:+.4f}"
        if r.payment_reduction == "Yes":
            ledger.add(r.entity_id, base * rate, "penalty", f"{reason}: {scoring.reduction_percent}% of {base:,.2f}")
        rows.append({"entity_id": r.entity_id, "component": "total", "value": r.total_hac_score, "points": np.nan, "max_points": np.nan,
                     "score": r.total_hac_score, "tier": {"Yes": "penalised", "No": "no penalty", "N/A": "no score"}[r.payment_reduction],
                     "detail": reason if r.payment_reduction == "Yes" else f"Total HAC Score {r.total_hac_score:+.4f}, threshold {r.threshold:+.4f}"})
    ledger.check()
    return ModelOutput(scores_frame(rows), ledger)
