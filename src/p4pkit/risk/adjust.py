"""Risk-adjusted entity rates from patient-level measure results, as a program file declares them.

For a measure with a 0/1 outcome per eligible patient (proportion and per-patient outcome
measures), the program names a method and covariates:

- `indirect_standardization` / `logistic`: a patient-level logistic GLM on the covariates gives
  expected values; per entity O/E with exact Poisson limits; adjusted rate = O/E × overall rate;
- `hierarchical_logistic`: the random-intercept model; ratio = predicted / expected (CMS's
  method for HRRP and the hospital outcome measures), adjusted rate = P/E × overall rate;
- `hcc`: as `logistic`, with the CMS-HCC raw score added to the covariates.

Formulas and sources are in `risk/outcome.py` and `docs/risk.md`. With social-risk adjustment
`peer_grouping`, entities are instead placed in quantile groups of the share of their patients
with social risk, so they are compared with peers serving similar populations (HRRP's method).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from p4pkit.risk.outcome import expected_values, observed_expected, peer_groups, predicted_expected

ADJUSTED_COLUMNS = ("entity_id", "expected", "adjusted_ratio", "adjusted_rate", "adjusted_lower", "adjusted_upper")


def adjusted_rates(eligible: pd.DataFrame, features: pd.DataFrame, method: str, covariates: list[str]) -> pd.DataFrame:
    """Per entity: expected count, O/E (or P/E), adjusted rate and its interval.

    `eligible`: one row per eligible patient with `patient_id`, `entity_id` and `outcome` (0/1).
    `features`: patient covariates (`risk.features`). Covariates without variation are dropped, as
    a model cannot estimate them.
    """
    frame = eligible.merge(features, on="patient_id", how="left")
    usable = [c for c in covariates if frame[c].nunique(dropna=True) > 1]
    overall = frame.outcome.mean()
    if method == "hierarchical_logistic":
        table = predicted_expected(frame, "entity_id", "outcome", usable).rename(columns={"excess_ratio": "adjusted_ratio"})
        # The ratio is already shrunk by the model; its interval would need the posterior of each
        # intercept, which the variational fit does not return per entity, so none is reported.
        table["adjusted_lower"] = np.nan
        table["adjusted_upper"] = np.nan
    else:
        frame["expected"] = expected_values(frame, "outcome", usable) if usable else overall
        table = observed_expected(frame, "entity_id", "outcome", frame["expected"])
        table["adjusted_ratio"] = table["oe_ratio"]
        table["adjusted_lower"] = table["oe_lower"] * overall
        table["adjusted_upper"] = table["oe_upper"] * overall
    table["adjusted_rate"] = table["adjusted_ratio"] * overall
    return table[list(ADJUSTED_COLUMNS)]


def social_risk_peer_groups(attributed: pd.DataFrame, features: pd.DataFrame, groups: int) -> pd.DataFrame:
    """Per entity: share of attributed patients with social risk, and its peer group 1..groups."""
    frame = attributed.merge(features[["patient_id", "social_risk"]], on="patient_id", how="left")
    share = frame.groupby("entity_id")["social_risk"].mean().fillna(0.0)
    return pd.DataFrame({"entity_id": share.index, "social_risk_share": share.to_numpy(), "peer_group": peer_groups(share.to_numpy(), groups)})
