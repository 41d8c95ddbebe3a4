"""HACRP binding: infection rates from codes not present on admission, winsorized z-scores and the
worst-quartile penalty, on the world with harms written in (bindings_world.harmed_store)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import duckdb
import numpy as np
import pandas as pd
import pytest
from bindings_world import harmed_store, harmed_stays, run

PERIOD = ("2024-01-01", "2025-12-31")


@pytest.fixture(scope="module")
def scores():
    return pd.read_parquet(run("hacrp", harmed_store()) / "entity_scores.parquet")


def _hospital_stays() -> pd.DataFrame:
    with duckdb.connect(str(harmed_store()), read_only=True) as con:
        return con.execute(
            """select e.organization_id as hospital, e.encounter_id,
                      (select sum(allowed_amount) from claim_lines c where c.encounter_id = e.encounter_id) as allowed
               from encounters e where e.encounter_class = 'inpatient' and cast(e.start as date) between ? and ?""",
            list(PERIOD),
        ).df()


def test_clabsi_rate_counts_infections_acquired_after_admission_per_thousand_stays(scores):
    stays = _hospital_stays()
    harmed = set(harmed_stays())
    expected = 1000 * stays.encounter_id.isin(harmed).groupby(stays.hospital).mean()
    clabsi = scores[scores.component == "CLABSI"].set_index("entity_id").value
    assert clabsi.to_dict() == pytest.approx(expected.to_dict())
    assert (expected > 0).sum() == 1
    # No other infection anywhere: no spread, no z-score.
    assert scores[scores.component.isin(["CAUTI", "SSI", "CDI", "MRSA"])].score.isna().all()


def test_the_hospital_with_the_infections_is_in_the_worst_quartile_and_loses_one_percent(scores):
    stays = _hospital_stays()
    clabsi = scores[scores.component == "CLABSI"].set_index("entity_id")
    values = clabsi.value.to_numpy()
    low, high = np.percentile(values, [5, 95], method="averaged_inverted_cdf")
    clipped = np.clip(values, low, high)
    z = pd.Series((clipped - clipped.mean()) / clipped.std(ddof=1), index=clabsi.index)
    assert clabsi.score.to_dict() == pytest.approx(z.to_dict())
    worst = z.idxmax()
    totals = scores[scores.component == "total"].set_index("entity_id")
    assert totals.tier[worst] == "penalised"
    payments = pd.read_parquet(run("hacrp", harmed_store()) / "payments.parquet").set_index("entity_id")
    base = Decimal(stays[stays.hospital == worst].allowed.sum())
    assert payments.amount[worst] == (base / 100).quantize(Decimal("0.01"), ROUND_HALF_UP)
    assert set(payments.kind) == {"penalty"}
    assert len(payments) <= len(totals.score.dropna()) / 4
