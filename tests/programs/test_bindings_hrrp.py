"""HRRP binding: index stays, dual proportions, the payment adjustment factor and the penalty of a
penalised hospital, worked by hand from the run's tables and the store (42 CFR 412.152-412.154)."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from bindings_world import run, run_variant, store

from p4pkit.errors import UserError

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


# ---- social risk: covariate or peer groups -----------------------------------------------------

SOCIAL_COVARIATE = {"measures.0.social_risk": {"adjustment": "covariate"}}


def test_the_covariates_a_measure_asks_for_are_the_same_for_every_run():
    from p4pkit.programs.loader import load_program
    from p4pkit.programs.schema import Measure

    hrrp = load_program(Path(__file__).resolve().parents[2] / "programs" / "hrrp.yaml").measures[0]
    assert hrrp.model_covariates == ["age", "sex", "comorbidities"]
    social = Measure.model_validate({**hrrp.model_dump(), "social_risk": {"adjustment": "covariate"}})
    assert social.model_covariates == ["age", "sex", "comorbidities", "social_risk", "deprivation_quintile"]
    hcc = Measure.model_validate({**hrrp.model_dump(), "risk_adjustment": {"method": "hcc", "covariates": ["age", "social_risk"]},
                                  "social_risk": {"adjustment": "covariate"}})
    assert hcc.model_covariates == ["age", "social_risk", "deprivation_quintile", "hcc"]


def test_social_risk_as_a_covariate_enters_the_err_model_instead_of_peer_groups(out, conditions, monkeypatch):
    import p4pkit.programs.bindings.hrrp as binding

    fitted_on = []
    fit = binding.predicted_expected
    monkeypatch.setattr(binding, "predicted_expected", lambda frame, *args: fitted_on.append(list(args[-1])) or fit(frame, *args))
    social = run_variant("hrrp", "social-covariate", SOCIAL_COVARIATE)
    assert fitted_on == [["age", "sex", "comorbidities", "social_risk", "deprivation_quintile"]]
    errs = pd.read_parquet(social / "entity_scores.parquet").query("component == 'READMIT_30D'").set_index("entity_id")
    assert set(errs.index) == set(conditions.index)
    assert not np.allclose(errs.value, conditions.err.reindex(errs.index))  # the model changed
    # one national group: the program chose the covariate instead of the statute's peer groups
    assert errs.detail.str.endswith("peer group 1").all() and conditions.group.nunique() > 1


def test_more_peer_groups_than_hospitals_is_refused():
    with pytest.raises(UserError, match=r"50 social-risk peer groups for \d entities"):
        run_variant("hrrp", "fifty-groups", {"measures.0.social_risk": {"adjustment": "peer_grouping", "peer_groups": 50}})
