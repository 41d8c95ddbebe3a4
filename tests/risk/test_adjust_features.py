"""Covariates from the canonical tables, and adjusted entity rates worked by hand."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from p4pkit.errors import UserError
from p4pkit.model import codes
from p4pkit.model.schemas import conform
from p4pkit.risk.adjust import adjusted_rates, social_risk_peer_groups
from p4pkit.risk.features import check_covariates, patient_features
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
