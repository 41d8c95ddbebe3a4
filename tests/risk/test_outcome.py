"""Outcome models: expected values, O/E with exact intervals, hierarchical predicted/expected."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from p4pkit.risk.outcome import expected_values, log_odds_effects, observed_expected, peer_groups, predicted_expected


def _two_group_frame() -> pd.DataFrame:
    # Severity 0: 2 of 10 readmitted; severity 1: 5 of 10. Entity A holds 8 severe patients.
    severity = [0] * 10 + [1] * 10
    outcome = [1, 1] + [0] * 8 + [1] * 5 + [0] * 5
    entity = ["B"] * 8 + ["A"] * 2 + ["A"] * 8 + ["B"] * 2
    return pd.DataFrame({"entity": entity, "severity": severity, "readmitted": outcome})


def test_saturated_glm_expects_the_group_rates():
    frame = _two_group_frame()
    expected = expected_values(frame, "readmitted", ["severity"])
    assert expected[:10] == pytest.approx([0.2] * 10, abs=1e-6)
    assert expected[10:] == pytest.approx([0.5] * 10, abs=1e-6)


def test_observed_expected_hand_worked():
    frame = _two_group_frame()
    table = observed_expected(frame, "entity", "readmitted", expected_values(frame, "readmitted", ["severity"]))
    a = table.set_index("entity").loc["A"]
    # A: observed = rows 8,9 (severity 0: outcome 0,0) + rows 10..17 (1,1,1,1,1,0,0,0) = 5
    # expected = 2 x 0.2 + 8 x 0.5 = 4.4 ; O/E = 1.13636 ; overall rate 7/20
    assert a["observed"] == 5 and a["expected"] == pytest.approx(4.4)
    assert a["oe_ratio"] == pytest.approx(5 / 4.4)
    assert a["risk_standardised_rate"] == pytest.approx(5 / 4.4 * 0.35)
    # Garwood exact limits for 5 events: 1.6235 and 11.6683
    assert a["oe_lower"] == pytest.approx(1.6235 / 4.4, abs=1e-4)
    assert a["oe_upper"] == pytest.approx(11.6683 / 4.4, abs=1e-4)


def test_zero_events_have_a_zero_lower_limit():
    frame = pd.DataFrame({"entity": ["A", "A", "B", "B"], "y": [0, 0, 1, 1]})
    table = observed_expected(frame, "entity", "y", np.full(4, 0.5)).set_index("entity")
    assert table.loc["A", "oe_lower"] == 0
    assert table.loc["A", "oe_upper"] == pytest.approx(3.6889, abs=1e-4)  # chi2(0.975, 2)/2 / 1.0


def _simulated_world(seed: int = 3, entities: int = 60, per_entity: int = 250) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    effect = rng.normal(0, 0.35, entities)
    entity = np.repeat(np.arange(entities), per_entity)
    # case mix differs by entity: some treat much sicker patients
    severity = rng.normal(np.linspace(-1, 1, entities)[entity], 1.0)
    logit = -1.2 + 0.9 * severity + effect[entity]
    outcome = rng.binomial(1, 1 / (1 + np.exp(-logit)))
    frame = pd.DataFrame({"hospital": [f"H{e:02d}" for e in entity], "severity": severity, "readmitted": outcome})
    return frame, effect


def test_predicted_expected_recovers_quality_not_case_mix():
    frame, effect = _simulated_world()
    table = predicted_expected(frame, "hospital", "readmitted", ["severity"])
    assert list(table["hospital"]) == sorted(frame["hospital"].unique())
    err_corr = np.corrcoef(np.log(table["excess_ratio"]), effect)[0, 1]
    raw = frame.groupby("hospital")["readmitted"].mean().to_numpy()
    raw_corr = np.corrcoef(raw, effect)[0, 1]
    assert err_corr > 0.8
    assert err_corr > raw_corr + 0.1  # raw rates are confounded by the severity gradient
    assert table["between_entity_sd"].iloc[0] == pytest.approx(0.35, abs=0.12)
    assert table["n"].sum() == len(frame)


def test_peer_groups_by_quintile():
    assert peer_groups(np.arange(10) / 10).tolist() == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]


def test_unknown_family_is_refused():
    with pytest.raises(ValueError, match="unknown family"):
        expected_values(_two_group_frame(), "readmitted", ["severity"], family="tweedie")


def test_log_odds_effects_by_hand():
    # A: 50 patients expected at 0.5 each (logit 0), 30 events: shift logit(0.6) = 0.4055, variance
    # 1 / (50 x 0.6 x 0.4) = 1/12. B: 40 patients, 20 at 0.2 and 20 at 0.8 (logits -/+1.386), 20 events:
    # the expected count is 20 at shift 0 by symmetry. C: no events -> solved at the 0.5 correction.
    frame = pd.DataFrame({"entity": ["A"] * 50 + ["B"] * 40 + ["C"] * 10,
                          "y": [1] * 30 + [0] * 20 + [1] * 20 + [0] * 20 + [0] * 10})
    expected = np.r_[np.full(50, 0.5), np.full(20, 0.2), np.full(20, 0.8), np.full(10, 0.5)]
    table = log_odds_effects(frame, "entity", "y", expected).set_index("entity")
    assert table.loc["A", "effect"] == pytest.approx(np.log(0.6 / 0.4), abs=1e-9)
    assert table.loc["A", "variance"] == pytest.approx(1 / 12, rel=1e-6)
    assert table.loc["B", "effect"] == pytest.approx(0.0, abs=1e-9)
    assert table.loc["B", "variance"] == pytest.approx(1 / (40 * 0.16), rel=1e-6)
    assert table.loc["C", "effect"] == pytest.approx(np.log(0.05 / 0.95), abs=1e-9)
    assert table["observed"].tolist() == [30, 20, 0]


def test_peer_groups_refuse_a_missing_share():
    # Before: one NaN made every cut point NaN and put everyone in group 1.
    with pytest.raises(ValueError, match="share must be known for every entity: 1 missing"):
        peer_groups(np.array([0.1, np.nan, 0.3, 0.5, 0.2]), 2)


@pytest.mark.parametrize("groups", [0, -1, 2.5])
def test_peer_groups_need_a_whole_number_of_groups(groups):
    with pytest.raises(ValueError, match="groups must be a whole number, 1 or more"):
        peer_groups(np.array([0.1, 0.2, 0.3]), groups)


def test_garwood_limits_match_the_published_table():
    """Exact 95% Poisson limits (Garwood 1936; e.g. Ulm, Am J Epidemiol 1990 table): 0 -> 0 to 3.689,
    10 -> 4.795 to 18.39; one home for O/E intervals and peer comparison's adjusted intervals."""
    from p4pkit.risk.outcome import garwood_limits

    lower, upper = garwood_limits([0, 10])
    assert lower == pytest.approx([0.0, 4.795], abs=1e-3) and upper == pytest.approx([3.689, 18.39], abs=1e-2)
