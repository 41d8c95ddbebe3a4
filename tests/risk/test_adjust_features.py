"""Covariates from the canonical tables, and adjusted entity rates worked by hand."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from p4pkit.errors import UserError
from p4pkit.model import codes
from p4pkit.model.schemas import conform
from p4pkit.risk.adjust import adjusted_rates, social_risk_peer_groups
from p4pkit.measures.supplemental import AGE_BANDS as SUPPLEMENTAL_AGE_BANDS
from p4pkit.risk.features import AGE_BANDS, check_covariates, patient_features
from p4pkit.store import Store


def _store() -> Store:
    store = Store()
    store.replace_tables(
        {
            "patients": conform(
                "patients",
                {
                    "patient_id": ["a", "b"],
                    "birth_date": [dt.date(1950, 7, 1), dt.date(1990, 1, 1)],
                    "sex": ["female", "male"],
                    "deprivation_quintile": [1, None],
                    "social_risk": [True, None],
                },
            ),
            "events": conform(
                "events",
                {
                    "event_id": ["e1", "e2", "e3", "e4", "e5"],
                    "patient_id": ["a", "a", "a", "a", "b"],
                    "kind": ["condition"] * 5,
                    "code_system": [codes.ICD10CM] * 4 + [codes.SNOMED],
                    # two diabetes codes count once; heart failure; an Z code is no chronic group
                    "code": ["E11.9", "E11.65", "I50.9", "Z87.891", "44054006"],
                    "start": [dt.datetime(2020, 1, 1)] * 4 + [dt.datetime(2024, 1, 1)],
                    "negated": [False] * 5,
                },
            ),
        }
    )
    return store


def test_features_hand_checked():
    frame = patient_features(_store(), dt.date(2025, 6, 30)).set_index("patient_id")
    assert frame.loc["a", "age"] == 74 and frame.loc["b", "age"] == 35  # a's birthday is on 1 July
    assert frame.loc["a", "age_band"] == "65-74" and frame.loc["b", "age_band"] == "18-44"
    assert frame.loc["a", "comorbidities"] == 2 and frame.loc["b", "comorbidities"] == 0
    assert frame.loc["a", "deprivation_quintile"] == "1" and frame.loc["b", "deprivation_quintile"] == "missing"
    assert frame.loc["a", "social_risk"] == 1 and frame.loc["b", "social_risk"] == 0


def test_unknown_covariates_are_user_errors():
    with pytest.raises(UserError, match="measure X: unknown covariate"):
        check_covariates(["age", "income"], "measure X")


def test_indirect_standardisation_hand_worked():
    # severity 0: 2 of 10 succeed; severity 1: 5 of 10. Entity A holds 8 of the severe patients.
    eligible = pd.DataFrame(
        {
            "patient_id": [f"p{i}" for i in range(20)],
            "entity_id": ["B"] * 8 + ["A"] * 10 + ["B"] * 2,
            "outcome": [1, 1] + [0] * 8 + [1] * 5 + [0] * 5,
        }
    )
    features = pd.DataFrame({"patient_id": [f"p{i}" for i in range(20)], "severity": [0] * 10 + [1] * 10})
    table = adjusted_rates(eligible, features, "indirect_standardization", ["severity"]).set_index("entity_id")
    # A: observed 0+0 (rows 8, 9) + 5 of rows 10-17 = 5; expected 2 x 0.2 + 8 x 0.5 = 4.4; overall 7/20
    assert table.loc["A", "expected"] == pytest.approx(4.4, abs=1e-6)
    assert table.loc["A", "adjusted_ratio"] == pytest.approx(5 / 4.4, abs=1e-6)
    assert table.loc["A", "adjusted_rate"] == pytest.approx(5 / 4.4 * 0.35, abs=1e-6)
    # B: observed 2 + 0 = 2, expected 8 x 0.2 + 2 x 0.5 = 2.6
    assert table.loc["B", "adjusted_rate"] == pytest.approx(2 / 2.6 * 0.35, abs=1e-6)


def test_covariates_without_variation_are_dropped():
    eligible = pd.DataFrame({"patient_id": ["p1", "p2", "p3", "p4"], "entity_id": ["A", "A", "B", "B"], "outcome": [1, 0, 1, 1]})
    features = pd.DataFrame({"patient_id": ["p1", "p2", "p3", "p4"], "sex": ["female"] * 4})
    table = adjusted_rates(eligible, features, "logistic", ["sex"]).set_index("entity_id")
    assert table.loc["A", "adjusted_rate"] == pytest.approx(0.5) and table.loc["B", "adjusted_rate"] == pytest.approx(1.0)


def test_peer_groups_by_social_risk_share():
    attributed = pd.DataFrame({"patient_id": list("abcdefgh"), "entity_id": list("AABBCCDD")})
    features = pd.DataFrame({"patient_id": list("abcdefgh"), "social_risk": [1, 1, 1, 0, 0, 0, 0, 0]})
    table = social_risk_peer_groups(attributed, features, 2).set_index("entity_id")
    assert table.social_risk_share.to_dict() == {"A": 1.0, "B": 0.5, "C": 0.0, "D": 0.0}
    assert table.peer_group.to_dict() == {"A": 2, "B": 2, "C": 1, "D": 1}


def test_children_have_their_own_age_band():
    """Before: ages up to 44 all fell in "18-44", children included (326 of a 2,000-patient world).
    The bands are now the measures' supplemental-data bands, 0-17 first; 17 and 18 straddle the cut."""
    births = {"newborn": dt.date(2025, 6, 1), "seventeen": dt.date(2007, 7, 1), "eighteen": dt.date(2007, 6, 30),
              "forty-four": dt.date(1980, 7, 1), "forty-five": dt.date(1980, 6, 30), "ninety": dt.date(1935, 1, 1)}
    store = Store()
    store.replace_tables({"patients": conform("patients", {"patient_id": list(births), "birth_date": list(births.values()),
                                                           "sex": ["female"] * len(births)}),
                          "events": conform("events", {"event_id": [], "patient_id": [], "kind": [], "code_system": [], "code": [],
                                                       "start": [], "negated": []})})
    frame = patient_features(store, dt.date(2025, 6, 30)).set_index("patient_id")
    assert frame["age"].to_dict() == {"newborn": 0, "seventeen": 17, "eighteen": 18, "forty-four": 44, "forty-five": 45, "ninety": 90}
    assert frame["age_band"].to_dict() == {"newborn": "0-17", "seventeen": "0-17", "eighteen": "18-44", "forty-four": "18-44",
                                           "forty-five": "45-64", "ninety": "75+"}
    assert AGE_BANDS == tuple(label for _, label in SUPPLEMENTAL_AGE_BANDS)


def test_an_adjusted_rate_can_use_the_children_band():
    # a measure whose eligible patients span children and adults: "0-17" is its own category
    eligible = pd.DataFrame({"patient_id": [f"p{i}" for i in range(8)], "entity_id": ["A", "B"] * 4, "outcome": [1, 0, 1, 1, 0, 0, 1, 0]})
    features = pd.DataFrame({"patient_id": [f"p{i}" for i in range(8)], "age_band": ["0-17"] * 4 + ["18-44"] * 4})
    table = adjusted_rates(eligible, features, "logistic", ["age_band"]).set_index("entity_id")
    # saturated on the band: children 3 of 4, adults 1 of 4; each entity has two of each -> expected 2 x 0.75 + 2 x 0.25 = 2
    assert table["expected"].to_dict() == pytest.approx({"A": 2.0, "B": 2.0}, abs=1e-6)
