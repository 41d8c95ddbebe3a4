"""HRRP binding: index stays, dual proportions, the payment adjustment factor and the penalty of a
penalised hospital, worked by hand from the run's tables and the store (42 CFR 412.152-412.154)."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal

import duckdb
import pandas as pd
import pytest
from bindings_world import run, store

PERIOD = ("2023-07-01", "2025-12-31")


@pytest.fixture(scope="module")
def out():
    return run("hrrp")


@pytest.fixture(scope="module")
def conditions(out):
    rows = pd.read_parquet(out / "entity_scores.parquet").query("component == 'READMIT_30D'").set_index("entity_id")
    found = rows.detail.str.extract(r"of (?P<stays>\d+) index stays.*DRG ratio (?P<ratio>[\d.]+); peer group (?P<group>\d)")
    return rows[["value"]].rename(columns={"value": "err"}).join(found.astype({"stays": int, "ratio": float, "group": int}))


def _stays(hospital: str | None = None) -> pd.DataFrame:
    with duckdb.connect(str(store()), read_only=True) as con:
        return con.execute(
            """select e.organization_id as hospital, e.encounter_id, p.social_risk,
                      (select sum(allowed_amount) from claim_lines c where c.encounter_id = e.encounter_id) as allowed
               from encounters e join patients p using (patient_id)
               where e.encounter_class = 'inpatient' and cast(e.start as date) between ? and ?""",
            list(PERIOD),
        ).df()


def test_index_stays_are_the_readmission_measures_own(out, conditions):
    """The measure counts index stays of attributed patients; HRRP counts every index stay at its hospital,
    so the difference is at most the stays (admitted before the period) of patients nobody was attributed."""
    patients = pd.read_parquet(out / "patient_measures.parquet", columns=["measure_id", "period", "denominator_value"])
    measured = patients[(patients.measure_id == "READMIT_30D") & (patients.period == "performance")].denominator_value.sum()
    attribution = pd.read_parquet(out / "attribution.parquet").query("period == 'performance'")
    with duckdb.connect(str(store()), read_only=True) as con:
        unplaced = con.execute(
            """select count(*) from encounters where encounter_class in ('inpatient', 'observation')
               and cast("end" as date) between ? and ? and cast(start as date) < ? and patient_id in (select unnest(?))""",
            [*PERIOD, PERIOD[0], attribution[attribution.entity_id.isna()].patient_id.tolist()],
        ).fetchone()[0]
    assert measured <= conditions.stays.sum() <= measured + unplaced
    assert conditions.stays.sum() > 300


def test_dual_proportion_is_the_share_of_stays_by_patients_with_social_risk(out):
    stays = _stays()
    totals = pd.read_parquet(out / "entity_scores.parquet").query("component == 'total'").set_index("entity_id")
    for hospital, group in stays.groupby("hospital"):
        assert f"dual proportion {group.social_risk.mean():.3f}" in totals.detail[hospital]


def test_a_penalised_hospitals_factor_and_penalty_by_hand(out, conditions):
    totals = pd.read_parquet(out / "entity_scores.parquet").query("component == 'total'").set_index("entity_id")
    payments = _stays().groupby("hospital").allowed.sum()
    counting = conditions[conditions.stays >= 25]
    medians = counting.groupby("group").err.median()
    stratified = (counting.ratio * (counting.err - counting.group.map(medians)).clip(lower=0)).reindex(payments.index, fill_value=0)
    unstratified = (counting.ratio * (counting.err - 1).clip(lower=0)).reindex(payments.index, fill_value=0)
    weights = payments.astype(float)
    modifier = (weights * unstratified).sum() / (weights * stratified).sum()
    penalised = totals[totals.tier == "penalised"].index
    assert len(penalised) >= 1
    for hospital in penalised:
        factor = max(0.97, 1 - modifier * stratified[hospital])
        assert totals.score[hospital] == pytest.approx(factor)
        assert re.search(rf"neutrality modifier {modifier:.4f}", totals.detail[hospital])
        penalty = ((1 - Decimal(str(factor))) * Decimal(payments[hospital])).quantize(Decimal("0.01"), ROUND_HALF_UP)
        booked = pd.read_parquet(out / "payments.parquet").set_index("entity_id").amount[hospital]
        assert booked == pytest.approx(penalty, abs=Decimal("0.02"))
