"""Inpatient stays, their payments and their diagnoses, as hospital programs see them.

A stay is an encounter of an inpatient class at an organization of kind `hospital`, admitted in the
period; it counts at that hospital whoever the patient is attributed to. Its payment is the sum of
the allowed (and paid) amounts of the claim lines on the encounter: the stand-in for the
base-operating DRG payments HVBP, HRRP and HACRP adjust (42 CFR 412.162, 412.154(b), 412.172(b)),
which the canonical claims do not split out.

Diagnoses of a stay are ICD-10-CM codes recorded as conditions (events) or on claim lines that are
linked to the encounter or dated between admission and discharge. The canonical model carries no
present-on-admission (POA) indicator, so it is derived from dates: a code is present on admission
("Y") when its first record in the stay is on or before the admission day, and not ("N") when it
first appears later in the stay. Written as Ibis expressions (patient-level data).
"""

from __future__ import annotations

import ibis
import pandas as pd

from p4pkit.model.codes import ICD10CM
from p4pkit.programs.context import RunContext
from p4pkit.programs.money import to_decimal

STAY_CLASSES = ("inpatient",)


def stays_expr(ctx: RunContext, period: str = "performance") -> ibis.Table:
    """encounter_id, patient_id, hospital_id, drg_code, admitted, discharged for stays admitted in the period."""
    window = ctx.periods[period]
    encounters = ctx.store.table("encounters")
    hospitals = ctx.store.table("organizations")
    hospitals = hospitals.filter(hospitals.kind == "hospital").select(hospital_id="organization_id")
    admitted = encounters.start.date()
    stays = encounters.filter(
        encounters.encounter_class.isin(STAY_CLASSES), admitted.between(ibis.literal(window.start), ibis.literal(window.end))
    )
    stays = stays.join(hospitals, stays.organization_id == hospitals.hospital_id)
    return stays.select(
        "encounter_id", "patient_id", "hospital_id", "drg_code",
        admitted=stays.start.date(), discharged=ibis.coalesce(stays.end.date(), stays.start.date()),
    )


def stays(ctx: RunContext, period: str = "performance") -> pd.DataFrame:
    """The stays of `stays_expr` with `allowed` and `paid` (Decimal; paid falls back to allowed)."""
    base = stays_expr(ctx, period)
    lines = ctx.store.table("claim_lines")
    money = lines.group_by("encounter_id").aggregate(
        allowed=lines.allowed_amount.sum(), paid=ibis.coalesce(lines.paid_amount, lines.allowed_amount).sum()
    ).rename(money_encounter="encounter_id")
    joined = base.left_join(money, base.encounter_id == money.money_encounter).drop("money_encounter")
    frame = ctx.store.backend.to_pyarrow(joined.order_by("encounter_id")).to_pandas()
    for column in ("allowed", "paid"):
        frame[column] = [to_decimal(0 if pd.isna(v) else v) for v in frame[column]]
    return frame


def payments_by_hospital(frame: pd.DataFrame) -> pd.Series:
    """Allowed amounts of the stays per hospital (Decimal, summed exactly)."""
    return frame.groupby("hospital_id")["allowed"].agg(lambda v: sum(v, to_decimal(0)))


def stay_diagnoses(ctx: RunContext, period: str = "performance") -> ibis.Table:
    """encounter_id, diagnosis_code, poa ("Y"/"N" derived from dates, see the module docstring)."""
    base = stays_expr(ctx, period).select(
        stay_id="encounter_id", stay_patient="patient_id", admitted="admitted", discharged="discharged"
    )
    events = ctx.store.table("events")
    conditions = events.filter((events.kind == "condition") & (events.code_system == ICD10CM)).select(
        "patient_id", "encounter_id", code=events.code, day=events.start.date()
    )
    lines = ctx.store.table("claim_lines")
    billed = lines.filter(lines.diagnosis_code.notnull()).select(
        "patient_id", "encounter_id", code=lines.diagnosis_code, day=lines.service_start
    )
    records = conditions.union(billed)
    linked = records.join(base, records.encounter_id == base.stay_id)
    dated = records.join(
        base, (records.patient_id == base.stay_patient) & records.day.between(base.admitted, base.discharged)
    )
    columns = ("stay_id", "code", "day", "admitted")
    found = linked.select(*columns).union(dated.select(*columns), distinct=True)
    first = found.group_by(["stay_id", "code"]).aggregate(first_day=found.day.min(), admitted=found.admitted.max())
    return first.select(
        encounter_id=first.stay_id,
        diagnosis_code=first.code,
        poa=ibis.ifelse(first.first_day <= first.admitted, "Y", "N"),
    )
