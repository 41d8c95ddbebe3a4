"""Difference in differences and the event study: a 2x2 worked by hand, fixed effects, clustering
and the pre-trend test on simulated panels with a known effect."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from p4pkit.evaluation import difference_in_differences, event_study


def two_by_two() -> pd.DataFrame:
    # Cell means: control pre 10, control post 12, treated pre 11, treated post 16.
    # DiD = (16 - 11) - (12 - 10) = 3. Two entities per arm, one noisy pair of rows per cell.
    rows = []
    for entity, treated, pre, post in (("C1", 0, (9, 11), (11, 13)), ("C2", 0, (10, 10), (12, 12)),
                                       ("T1", 1, (10, 12), (15, 17)), ("T2", 1, (11, 11), (16, 16))):
        rows += [{"entity": entity, "treated": treated, "post": 0, "y": y} for y in pre]
        rows += [{"entity": entity, "treated": treated, "post": 1, "y": y} for y in post]
    return pd.DataFrame(rows)


def test_two_by_two_by_hand():
    result = difference_in_differences(two_by_two(), "y", "treated", "post", "entity").iloc[0]
    assert result["estimate"] == pytest.approx(3.0)
    assert result["observations"] == 16
    assert result["clusters"] == 4
    assert result["lower"] < 3.0 < result["upper"]


def test_fixed_effects_give_the_same_estimate_on_a_balanced_panel():
    result = difference_in_differences(two_by_two(), "y", "treated", "post", "entity", absorb="entity").iloc[0]
    assert result["estimate"] == pytest.approx(3.0)


def test_period_effects_need_an_absorbed_effect():
    with pytest.raises(ValueError, match="give `absorb`"):
        difference_in_differences(two_by_two(), "y", "treated", "post", "entity", period="post")


def panel(effect: float, pre_trend: float = 0.0, seed: int = 0) -> pd.DataFrame:
    """40 entities x 8 quarters x 30 patients; half treated from quarter 5, with entity effects."""
    rng = np.random.default_rng(seed)
    entity = np.repeat(np.arange(40), 8 * 30)
    quarter = np.tile(np.repeat(np.arange(1, 9), 30), 40)
    treated = (entity < 20).astype(float)
    level = rng.normal(0, 1, 40)[entity]
    y = level + 0.1 * quarter + effect * treated * (quarter >= 5) + pre_trend * treated * quarter + rng.normal(0, 1, entity.size)
    return pd.DataFrame({"entity": entity, "quarter": quarter, "treated": treated, "post": (quarter >= 5).astype(float), "y": y})


def test_recovers_a_planted_effect_with_a_covering_interval():
    result = difference_in_differences(panel(-0.5), "y", "treated", "post", "entity", absorb="entity", period="quarter").iloc[0]
    assert result["lower"] <= -0.5 <= result["upper"]
    assert result["upper"] < 0


def test_clustering_widens_the_interval_when_entities_share_shocks():
    data = panel(0.0, seed=1)
    shock = np.random.default_rng(2).normal(0, 1, (40, 8))
    data["y"] += shock[data["entity"], data["quarter"] - 1]  # entity-quarter shocks shared by its patients
    clustered = difference_in_differences(data, "y", "treated", "post", "entity").iloc[0]
    naive = difference_in_differences(data.assign(row=np.arange(len(data))), "y", "treated", "post", "row").iloc[0]
    assert clustered["std_error"] > 2 * naive["std_error"]


def test_event_study_flat_pre_period_and_effect_after():
    study = event_study(panel(-0.5, seed=3), "y", "treated", "quarter", 5, "entity")
    table = study.coefficients.set_index("period")
    assert table.loc[4, "estimate"] == 0.0  # the reference quarter
    assert study.pretrend_periods == 3
    assert study.pretrend_p_value > 0.01
    assert table.loc[[5, 6, 7, 8], "estimate"].mean() == pytest.approx(-0.5, abs=0.15)


def test_event_study_detects_diverging_pre_trends():
    study = event_study(panel(0.0, pre_trend=0.3, seed=4), "y", "treated", "quarter", 5, "entity")
    assert study.pretrend_p_value < 0.001


def test_event_study_needs_a_pre_period():
    with pytest.raises(ValueError, match="before the program"):
        event_study(panel(0.0), "y", "treated", "quarter", 1, "entity")


def test_absorbed_entity_effects_equal_the_dummy_regression():
    """Demeaning by entity (Frisch-Waugh-Lovell) gives the coefficients, clustered errors and
    pre-trend test of OLS with explicit entity and period dummies, on an unbalanced panel."""
    import statsmodels.formula.api as smf

    data = panel(-0.5, pre_trend=0.05, seed=3).sample(frac=0.8, random_state=1).reset_index(drop=True)
    data["treated_x_post"] = data["treated"] * data["post"]
    groups = pd.factorize(data["entity"])[0]
    dummies = smf.ols("y ~ treated_x_post + C(entity) + C(quarter)", data=data).fit(
        cov_type="cluster", cov_kwds={"groups": groups}, use_t=True)
    result = difference_in_differences(data, "y", "treated", "post", "entity", absorb="entity", period="quarter").iloc[0]
    assert result["estimate"] == pytest.approx(dummies.params["treated_x_post"], rel=1e-9)
    assert result["std_error"] == pytest.approx(dummies.bse["treated_x_post"], rel=1e-9)
    assert result["lower"] == pytest.approx(dummies.conf_int().loc["treated_x_post", 0], rel=1e-9)
    for q in range(1, 9):
        data[f"e{q}"] = data["treated"] * (data["quarter"] == q)
    events = smf.ols("y ~ e1 + e2 + e3 + e5 + e6 + e7 + e8 + C(entity) + C(quarter)", data=data).fit(
        cov_type="cluster", cov_kwds={"groups": groups}, use_t=True)
    study = event_study(data, "y", "treated", "quarter", 5, "entity")
    assert study.coefficients.set_index("period").loc[6, "std_error"] == pytest.approx(events.bse["e6"], rel=1e-9)
    assert study.pretrend_p_value == pytest.approx(float(events.f_test("e1 = 0, e2 = 0, e3 = 0").pvalue), rel=1e-9)


def test_event_study_with_patient_effects_equals_the_patient_dummy_regression():
    """Patients nested in clustered entities: absorbing patient effects gives the coefficients,
    clustered errors and pre-trend test of OLS with a dummy per patient and per quarter."""
    import statsmodels.formula.api as smf

    data = panel(-0.5, pre_trend=0.05, seed=5)
    data["patient"] = data["entity"] * 30 + np.tile(np.arange(30), 40 * 8)
    data = data[data["entity"].isin([0, 1, 2, 3, 4, 20, 21, 22, 23, 24])]
    data = data.sample(frac=0.8, random_state=2).reset_index(drop=True)
    data["y"] += np.random.default_rng(6).normal(0, 1, data["patient"].max() + 1)[data["patient"]]
    for q in range(1, 9):
        data[f"e{q}"] = data["treated"] * (data["quarter"] == q)
    groups = pd.factorize(data["entity"])[0]
    dummies = smf.ols("y ~ e1 + e2 + e3 + e5 + e6 + e7 + e8 + C(patient) + C(quarter)", data=data).fit(
        cov_type="cluster", cov_kwds={"groups": groups}, use_t=True)
    study = event_study(data, "y", "treated", "quarter", 5, "entity", absorb="patient")
    by_period = study.coefficients.set_index("period")
    assert by_period.loc[6, "estimate"] == pytest.approx(dummies.params["e6"], rel=1e-9)
    assert by_period.loc[6, "std_error"] == pytest.approx(dummies.bse["e6"], rel=1e-9)
    assert study.pretrend_p_value == pytest.approx(float(dummies.f_test("e1 = 0, e2 = 0, e3 = 0").pvalue), rel=1e-9)
    # patient effects are not entity effects: the entity-absorbed study gives another estimate
    assert event_study(data, "y", "treated", "quarter", 5, "entity").coefficients.set_index("period").loc[6, "estimate"] != pytest.approx(
        by_period.loc[6, "estimate"], rel=1e-6)
