"""Patient covariates for case-mix adjustment: the demographic + comorbidity + social-risk model.

For populations outside Medicare (where CMS-HCC does not apply) a program adjusts its measures
for the factors outside a clinician's control that the physicians' principles name — demographics,
severity and comorbidity, and (by choice) social risk (AMA Opinion 8.056; VMS resolution). The
covariates a program file may name:

| name | meaning |
| --- | --- |
| `age` | age in years at the end of the period (entered as a natural spline-free linear term) |
| `age_band` | 0-17, 18-44, 45-64, 65-74, 75+ (categorical; the bands of `measures.supplemental`) |
| `sex` | female / male / other / unknown (categorical) |
| `comorbidities` | number of chronic condition groups recorded by the end of the period (below) |
| `deprivation_quintile` | 1 (most deprived) to 5; missing as its own category |
| `social_risk` | 1 for the canonical social-risk flag (e.g. dual eligibility), else 0 |
| `ethnicity` | as recorded; missing as its own category |
| `hcc` | CMS-HCC V28 raw risk score from diagnoses recorded in the period |

Chronic condition groups (ICD-10-CM category prefixes, after the Elixhauser/Charlson families):
diabetes E08-E13, hypertension I10-I16, coronary heart disease I20-I25, heart failure I50, atrial
fibrillation I48, stroke I63-I64, COPD J43-J44, asthma J45, chronic kidney disease N18, depression
F32-F33, dementia F01-F03 and G30, cancer C00-C97.
"""

from __future__ import annotations

import datetime as dt

import ibis
import numpy as np
import pandas as pd

from p4pkit.errors import UserError
from p4pkit.measures.supplemental import AGE_BANDS as SUPPLEMENTAL_AGE_BANDS
from p4pkit.measures.timing import age_in_years_at
from p4pkit.model import codes
from p4pkit.store import Store

CONDITION_GROUPS: dict[str, tuple[str, ...]] = {
    "diabetes": ("E08", "E09", "E10", "E11", "E13"),
    "hypertension": ("I10", "I11", "I12", "I13", "I15", "I16"),
    "chd": ("I20", "I21", "I22", "I23", "I24", "I25"),
    "heart_failure": ("I50",),
    "atrial_fibrillation": ("I48",),
    "stroke": ("I63", "I64"),
    "copd": ("J43", "J44"),
    "asthma": ("J45",),
    "ckd": ("N18",),
    "depression": ("F32", "F33"),
    "dementia": ("F01", "F02", "F03", "G30"),
    "cancer": tuple(f"C{i:02d}" for i in range(98)),
}
COVARIATES = ("age", "age_band", "sex", "comorbidities", "deprivation_quintile", "social_risk", "ethnicity", "hcc")
CATEGORICAL = ("age_band", "sex", "deprivation_quintile", "ethnicity")
# The measures' supplemental-data bands (0-17, 18-44, 45-64, 65-74, 75+), on whole years of age at
# the period end: right-closed bins (-inf, 17], (17, 44], ... so that 17 is "0-17" and 18 "18-44".
AGE_BANDS = tuple(label for _, label in SUPPLEMENTAL_AGE_BANDS)
AGE_BAND_EDGES = (-np.inf, *(low - 1 for low, _ in SUPPLEMENTAL_AGE_BANDS[1:]), np.inf)


def check_covariates(names: list[str], where: str) -> None:
    """Refuse covariate names p4pkit cannot compute, naming where they were asked for."""
    unknown = [n for n in names if n not in COVARIATES]
    if unknown:
        raise UserError(f"{where}: unknown covariate(s) {', '.join(unknown)}", hint=f"Covariates p4pkit computes: {', '.join(COVARIATES)}.")


def _group_of(prefix: ibis.StringValue) -> ibis.StringValue:
    cases = [(prefix.isin(list(prefixes)), group) for group, prefixes in CONDITION_GROUPS.items()]
    return ibis.cases(*cases, else_=None)


def patient_features(store: Store, period_end: dt.date, patient_ids: list[str] | None = None) -> pd.DataFrame:
    """One row per patient with every covariate except `hcc` (see `with_hcc`)."""
    end = ibis.literal(period_end)
    patients = store.table("patients")
    events = store.table("events")
    conditions = events.filter(
        (events.kind == "condition") & (events.code_system == codes.ICD10CM) & ~events.negated & (events.start.date() <= end)
    )
    grouped = conditions.mutate(group=_group_of(conditions.code.substr(0, 3).upper())).filter(lambda t: t.group.notnull())
    counts = grouped.group_by("patient_id").aggregate(comorbidities=grouped.group.nunique())
    joined = patients.left_join(counts, "patient_id")
    age = age_in_years_at(joined.birth_date, period_end)
    table = joined.select(
        patient_id=joined.patient_id,
        age=age,
        sex=joined.sex,
        comorbidities=joined.comorbidities.fill_null(0),
        deprivation_quintile=joined.deprivation_quintile.cast("string").fill_null("missing"),
        social_risk=joined.social_risk.fill_null(False).cast("int8"),
        ethnicity=joined.ethnicity.fill_null("missing"),
    )
    frame = store.backend.to_pyarrow(table).to_pandas()
    if patient_ids is not None:
        frame = frame[frame.patient_id.isin(set(patient_ids))]
    frame["age_band"] = pd.cut(frame.age, AGE_BAND_EDGES, labels=AGE_BANDS).astype(str)
    return frame.reset_index(drop=True)


def with_hcc(store: Store, frame: pd.DataFrame, period_start: dt.date, period_end: dt.date) -> pd.DataFrame:
    """Add the CMS-HCC raw score (`hcc`, `risk.hcc.raw_scores`) from diagnoses recorded in the period."""
    from p4pkit.risk.hcc import raw_scores

    return frame.merge(raw_scores(store, period_start, period_end), on="patient_id", how="left").fillna({"hcc": 0.0})
