"""CMS-HCC risk scores per patient and period, through the maintained `hccinfhir` library.

The CMS-HCC model (V24 and V28) maps ICD-10-CM diagnoses to condition categories, applies the
hierarchies, adds demographic and interaction terms and sums the coefficients of the segment the
beneficiary falls in. `hccinfhir` ships CMS's year-versioned mapping, hierarchy and coefficient
tables and does that arithmetic; this module only gathers each patient's inputs from the canonical
tables and turns raw scores into payment scores:

    payment score = raw score / normalisation factor x (1 - MA coding-pattern adjustment)

The factors are year-versioned data in `NORMALISATION` (CMS Advance Notice / Rate Announcement,
e.g. CY2024: V24 1.146, V28 1.015; CY2025: V24 1.153, V28 1.045; coding-pattern adjustment 5.9%,
the statutory minimum, SSA §1853(a)(1)(C)(ii)) [K: from background knowledge, to be confirmed
against the Rate Announcements]. Age is taken on 1 February of the payment year, as CMS does.

Segments: `score_patients` names the segment each patient was scored in (column `segment`: the
coefficient prefix hccinfhir used, as CMS names them): NE for a new enrollee (`new_enrollee`, fewer
than 12 months of Part B in the data year; CMS-HCC has no institutional new-enrollee cells, so a new
enrollee is scored as one even when `institutional`: hccinfhir would pick the INS table and find no
demographic cell, a score of 0), INS for a long-term institutional resident (`institutional`, 90+
days in a nursing facility), else a community
segment by dual status (non-dual N, full-benefit F, partial P) and age (aged A from 65, disabled D
below), e.g. CNA. `orec` is the original reason for entitlement ("1": disability), which adds the
originally-disabled terms. The canonical tables carry none of these, so `gather_inputs` and the
runs' `raw_scores` score everyone as a community member with `orec` "0"; a payer holding the
enrollment facts builds `HccInputs` with them.

Dual status: the canonical `social_risk` flag is read as full-benefit dual eligibility (Medicare
dual code "02"), its absence as non-dual ("NA"); there is no way to give a store the real code.
A caller who has it can build `HccInputs` with that `dual_code` (e.g. "01", partial-benefit) and
call `score_patients`; `gather_inputs` and the runs' `raw_scores` always use the flag.
hccpy and hccinfhir are known to disagree on V22; p4pkit supports V24 and V28 only.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass

import ibis
import pandas as pd
import pyarrow as pa
from hccinfhir.defaults import dx_to_cc_default
from hccinfhir.model_calculate import calculate_raf
from hccinfhir.model_coefficients import get_coefficent_prefix

from p4pkit.measures.timing import age_in_years_at
from p4pkit.model import codes
from p4pkit.store import Store

MODELS = {"V24": "CMS-HCC Model V24", "V28": "CMS-HCC Model V28"}

# (payment year, model) -> normalisation factor; coding-pattern adjustment by payment year.
NORMALISATION = {(2024, "V24"): 1.146, (2024, "V28"): 1.015, (2025, "V24"): 1.153, (2025, "V28"): 1.045}
CODING_PATTERN_ADJUSTMENT = {2024: 0.059, 2025: 0.059}

FULL_BENEFIT_DUAL = "02"
NON_DUAL = "NA"


@dataclass(frozen=True)
class HccInputs:
    """One patient's inputs to the model (segment facts default to a community member)."""

    patient_id: str
    age: int
    sex: str
    dual_code: str
    diagnoses: tuple[str, ...]
    orec: str = "0"
    institutional: bool = False
    new_enrollee: bool = False


def _diagnoses(store: Store, period_start: dt.date, period_end: dt.date) -> ibis.Table:
    """patient_id, dx: ICD-10-CM codes (dot removed, upper case) from condition events and claim lines in the period."""
    start, end = ibis.literal(period_start), ibis.literal(period_end)
    events = store.table("events")
    from_events = events.filter(
        (events.kind == "condition")
        & (events.code_system == codes.ICD10CM)
        & ~events.negated
        & (events.start.date() >= start)
        & (events.start.date() <= end)
    ).select(events.patient_id, dx=events.code)
    parts = [from_events]
    if store.has_table("claim_lines"):
        claims = store.table("claim_lines")
        parts.append(
            claims.filter(
                (claims.diagnosis_system == codes.ICD10CM)
                & (claims.service_start >= start)
                & (claims.service_start <= end)
            ).select(claims.patient_id, dx=claims.diagnosis_code)
        )
    return ibis.union(*parts, distinct=True).mutate(dx=lambda t: t.dx.replace(".", "").upper())


def _living(store: Store, period_start: dt.date, patients: ibis.Table | None) -> ibis.Table:
    """Patients alive at the period start, limited to `patients` when given."""
    everyone = store.table("patients")
    alive = everyone.filter(everyone.death_date.isnull() | (everyone.death_date >= ibis.literal(period_start)))
    return alive if patients is None else alive.semi_join(patients, "patient_id")


def _model_inputs(
    store: Store, period_start: dt.date, period_end: dt.date, payment_year: int, patients: ibis.Table | None, *, mapped_only: bool
) -> ibis.Table:
    """The one query behind `gather_inputs` and `raw_scores`: per living patient (limited to
    `patients` when given), `age` on 1 February of the payment year (as CMS takes
    it), `sex` (F/M), `dual_code` and `diagnoses` (sorted distinct codes; only those the run model
    maps when `mapped_only`; null when there are none)."""
    diagnoses = _diagnoses(store, period_start, period_end)
    if mapped_only:
        diagnoses = diagnoses.semi_join(ibis.memtable(pa.table({"dx": _mapped_codes(RUN_MODEL)})), "dx")
    diagnoses = diagnoses.distinct()
    by_patient = diagnoses.group_by("patient_id").aggregate(dxs=diagnoses.dx.collect())
    alive = _living(store, period_start, patients)
    joined = alive.left_join(by_patient, "patient_id")
    return joined.select(
        patient_id=joined.patient_id,
        age=age_in_years_at(joined.birth_date, dt.date(payment_year, 2, 1)),
        sex=ibis.ifelse(joined.sex == "female", "F", "M"),
        dual_code=ibis.ifelse(joined.social_risk.fill_null(False), FULL_BENEFIT_DUAL, NON_DUAL),
        diagnoses=joined.dxs.sort(),  # null for a patient with no diagnosis
    )


def gather_inputs(
    store: Store, period_start: dt.date, period_end: dt.date, payment_year: int, patients: ibis.Table | None = None
) -> list[HccInputs]:
    """Each living patient's age, sex, dual status and ICD-10-CM diagnoses recorded in the period.

    Diagnoses come from condition events and from claim-line diagnosis codes; codes are used
    without the dot, as CMS's mapping tables write them. `patients` (a table with `patient_id`)
    limits the result to those patients: every input becomes a Python object, so a program that
    needs only its attributed patients should not pay for the whole population (runs use
    `raw_scores`, which makes no object per patient).
    """
    inputs = _model_inputs(store, period_start, period_end, payment_year, patients, mapped_only=False)
    rows = store.backend.to_pyarrow(inputs.order_by("patient_id")).to_pylist()
    return [HccInputs(r["patient_id"], r["age"], r["sex"], r["dual_code"], tuple(r["diagnoses"] or ())) for r in rows]


def score_patients(inputs: list[HccInputs], model: str = "V28", payment_year: int = 2025) -> pa.Table:
    """Raw and payment risk scores with the HCCs that drove them, one row per patient.

    Identical inputs are scored once: many patients share age band, sex and diagnoses.
    """
    if model not in MODELS:
        raise ValueError(f"unsupported CMS-HCC model {model!r}; choose one of {sorted(MODELS)}")
    normalisation = NORMALISATION.get((payment_year, model))
    adjustment = CODING_PATTERN_ADJUSTMENT.get(payment_year)
    if normalisation is None or adjustment is None:
        raise ValueError(f"no normalisation factor for payment year {payment_year}, model {model}")
    cache: dict[tuple, tuple[float, list[str], str, str]] = {}
    raw, hccs, category, segment = [], [], [], []
    for person in inputs:
        key = (person.age, person.sex, person.dual_code, person.diagnoses, person.orec, person.institutional, person.new_enrollee)
        if key not in cache:
            result = calculate_raf(
                list(person.diagnoses), model_name=MODELS[model], age=person.age, sex=person.sex, dual_elgbl_cd=person.dual_code,
                orec=person.orec, lti=person.institutional and not person.new_enrollee, new_enrollee=person.new_enrollee,
            )
            # The segment is the coefficient prefix hccinfhir scored with.
            prefix = get_coefficent_prefix(result.demographics, MODELS[model]).rstrip("_")
            cache[key] = (result.risk_score, sorted(result.hcc_list), result.demographics.category, prefix)
        score, hcc_list, cell, prefix = cache[key]
        raw.append(score)
        hccs.append(hcc_list)
        category.append(cell)
        segment.append(prefix)
    payment = [round(r / normalisation * (1 - adjustment), 3) for r in raw]
    return pa.table(
        {
            "patient_id": [p.patient_id for p in inputs],
            "model": [model] * len(inputs),
            "payment_year": pa.array([payment_year] * len(inputs), pa.int32()),
            "segment": segment,
            "demographic_category": category,
            "hccs": pa.array(hccs, pa.list_(pa.string())),
            "raw_score": raw,
            "payment_score": payment,
        }
    )


# Runs on patient-level data use one case-mix index: the V28 raw score (raw scores need no
# normalisation, so the payment year only fixes the age date and the coefficient table).
RUN_MODEL = "V28"
RUN_PAYMENT_YEAR = 2025


def raw_scores(store: Store, period_start: dt.date, period_end: dt.date, patients: ibis.Table | None = None) -> pd.DataFrame:
    """patient_id and `hcc` (CMS-HCC raw score) from the diagnoses recorded in the period.

    The one place runs, bindings and covariates get an HCC score from, so they all agree. Built for
    a million patients: the query keeps only diagnoses in the model's own mapping (no other code can
    move a score: hccinfhir's age and sex edits act on mapped codes only) and returns each patient's
    age, sex, dual code and sorted mapped codes; patients sharing all four (most: most have no mapped
    code at all) share a score, so hccinfhir is called once per distinct combination and no Python
    object is made per patient.
    """
    keys = ["age", "sex", "dual_code", "diagnoses"]
    inputs = _model_inputs(store, period_start, period_end, RUN_PAYMENT_YEAR, patients, mapped_only=True)
    inputs = inputs.mutate(diagnoses=inputs.diagnoses.join(",").fill_null("")).order_by("patient_id")
    frame = store.backend.to_pyarrow(inputs).to_pandas()
    distinct = frame[keys].drop_duplicates()
    distinct["hcc"] = [
        calculate_raf(dxs.split(",") if dxs else [], model_name=MODELS[RUN_MODEL], age=int(age), sex=sex, dual_elgbl_cd=dual).risk_score
        for age, sex, dual, dxs in distinct.itertuples(index=False)
    ]
    return frame.merge(distinct, on=keys, how="left")[["patient_id", "hcc"]]


@functools.cache
def _mapped_codes(model: str) -> tuple[str, ...]:
    """The ICD-10-CM codes hccinfhir maps to a condition category under `model` (the mapping
    `calculate_raf` uses by default)."""
    return tuple(sorted(dx for dx, name in dx_to_cc_default if name == MODELS[model]))
