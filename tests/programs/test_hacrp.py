"""HACRP model: winsorized z-scores, Total HAC Score and the 75th-percentile penalty, worked by hand."""

from __future__ import annotations

import statistics
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from p4pkit.programs.hacrp import hacrp_scores, payment_reductions, total_hac_scores, winsorized_z_scores

# Twenty hospitals: SIRs 1..19 and one outlier at 100.
TWENTY = [float(v) for v in range(1, 20)] + [100.0]


def test_winsorized_z_scores_by_hand():
    # SAS definition 5 with n = 20: n·p = 1 and 19 are integers, so the 5th percentile is (x1 + x2)/2 = 1.5
    # and the 95th is (x19 + x20)/2 = (19 + 100)/2 = 59.5. Winsorized: 1 → 1.5, 100 → 59.5, the rest unchanged.
    clipped = [1.5] + [float(v) for v in range(2, 20)] + [59.5]
    mean = sum(clipped) / 20  # (1.5 + 189 + 59.5)/20 = 12.5
    assert mean == 12.5
    sd = statistics.stdev(clipped)  # sample standard deviation
    z = winsorized_z_scores(TWENTY)
    assert z[0] == pytest.approx((1.5 - 12.5) / sd, abs=1e-12)
    assert z[9] == pytest.approx((10 - 12.5) / sd, abs=1e-12)
    assert z[19] == pytest.approx((59.5 - 12.5) / sd, abs=1e-12)


def test_missing_values_stay_missing_and_do_not_count():
    z = winsorized_z_scores([np.nan, 1.0, 3.0])
    # Two values, no clipping at n = 2 (n·0.05 = 0.1 → x1, n·0.95 = 1.9 → x2): mean 2, sd √2.
    assert np.isnan(z[0])
    assert z[1:].tolist() == pytest.approx([-1 / np.sqrt(2), 1 / np.sqrt(2)], abs=1e-12)
    assert np.isnan(winsorized_z_scores([np.nan, 5.0])).all()  # one value has no spread


def test_total_hac_score_is_the_mean_of_available_z_scores():
    z = pd.DataFrame(
        {
            "entity_id": ["a", "a", "a", "b", "b", "c"],
            "measure_id": ["PSI 90", "CLABSI", "CDI", "PSI 90", "CDI", "PSI 90"],
            "z_score": [0.6, -0.3, np.nan, 0.2, 0.4, np.nan],
        }
    )
    totals = total_hac_scores(z).set_index("entity_id")["total_hac_score"]
    assert totals["a"] == pytest.approx(0.15, abs=1e-12)  # (0.6 − 0.3)/2
    assert totals["b"] == pytest.approx(0.3, abs=1e-12)
    assert np.isnan(totals["c"])


def test_fy2018_domain_weights_as_data():
    # Domain 1 (PSI 90) 15%, domain 2 (HAIs) 85%, domain score = mean of its z-scores.
    z = pd.DataFrame(
        {
            "entity_id": ["a"] * 4 + ["psi only"],
            "measure_id": ["PSI 90", "CLABSI", "CAUTI", "CDI", "PSI 90"],
            "z_score": [1.0, 0.5, -0.5, 1.0, 0.8],
        }
    )
    domains = {"PSI 90": "1", "CLABSI": "2", "CAUTI": "2", "CDI": "2"}
    totals = total_hac_scores(z, domains, {"1": 0.15, "2": 0.85}).set_index("entity_id")["total_hac_score"]
    assert totals["a"] == pytest.approx(0.15 * 1.0 + 0.85 * (1.0 / 3), abs=1e-12)
    assert totals["psi only"] == pytest.approx(0.8, abs=1e-12)  # the one domain present carries all the weight


def test_hospital_exactly_at_the_75th_percentile_is_not_penalised():
    # Eight scores: n·0.75 = 6 is an integer → threshold (x6 + x7)/2 = (0.3 + 0.3)/2 = 0.3.
    scores = pd.DataFrame(
        {
            "entity_id": list("abcdefghi"),
            "total_hac_score": [-1.0, -0.5, 0.0, 0.1, 0.2, 0.3, 0.3, 0.9, np.nan],
        }
    )
    result = payment_reductions(scores).set_index("entity_id")
    assert result["threshold"].iloc[0] == pytest.approx(0.3)
    assert result["payment_reduction"].tolist() == ["No"] * 7 + ["Yes", "N/A"]
    assert result.loc["h", "payment_factor"] == Decimal("0.99")
    assert result.loc["g", "payment_factor"] == Decimal(1)
    assert result.loc["i", "payment_factor"] is None


def test_given_z_scores_are_used_and_missing_ones_computed_from_values():
    values = pd.DataFrame({"entity_id": [f"h{i}" for i in range(20)], "measure_id": "CDI", "value": TWENTY})
    given = pd.DataFrame(
        {"entity_id": [f"h{i}" for i in range(20)], "measure_id": "PSI 90", "value": np.nan, "z_score": [1.0] * 19 + [np.nan]}
    )
    result = hacrp_scores(pd.concat([values, given], ignore_index=True)).set_index("entity_id")
    z_cdi = winsorized_z_scores(TWENTY)
    assert result.loc["h0", "total_hac_score"] == pytest.approx((z_cdi[0] + 1.0) / 2, abs=1e-12)
    assert result.loc["h19", "total_hac_score"] == pytest.approx(z_cdi[19], abs=1e-12)  # no PSI 90 z-score


@settings(max_examples=80, deadline=None)
@given(st.lists(st.one_of(st.none(), st.floats(min_value=-5, max_value=5, allow_nan=False)), min_size=1, max_size=60))
def test_at_most_a_quarter_penalised_and_penalty_monotone_in_score(raw):
    scores = pd.DataFrame(
        {"entity_id": [str(i) for i in range(len(raw))], "total_hac_score": [np.nan if v is None else v for v in raw]}
    )
    result = payment_reductions(scores)
    scored = result[result["payment_reduction"] != "N/A"]
    penalised = scored["payment_reduction"] == "Yes"
    assert penalised.sum() <= len(scored) / 4
    if penalised.any() and (~penalised).any():
        assert scored.loc[penalised, "total_hac_score"].min() > scored.loc[~penalised, "total_hac_score"].max()
    assert (result["payment_reduction"] == "N/A").sum() == sum(v is None for v in raw)
