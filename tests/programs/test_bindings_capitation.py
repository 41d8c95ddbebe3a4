"""Capitation binding (NY VBP Level 3): one contractor's member-months, capitation, withhold and return,
worked by hand from the enrollments and the run's measure table."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import duckdb
import pandas as pd
import pytest
from bindings_world import run, store

CENT = Decimal("0.01")


@pytest.fixture(scope="module")
def out():
    return run("ny-vbp-level3")


def _member_months(patients: list[str]) -> int:
    """Months of 2025 whose first day a payer enrollment covers (HEDIS member-months)."""
    with duckdb.connect(str(store()), read_only=True) as con:
        return con.execute(
            """select count(distinct (patient_id, m)) from enrollments,
                      unnest(generate_series(date '2025-01-01', date '2025-12-01', interval 1 month)) as t(m)
               where kind = 'payer' and start_date <= m and coalesce(end_date, date '9999-12-31') >= m
                 and patient_id in (select unnest(?))""",
            [patients],
        ).fetchone()[0]


def test_one_contractors_settlement_by_hand(out):
    attribution = pd.read_parquet(out / "attribution.parquet").query("period == 'performance'")
    entity = attribution.entity_id.value_counts().index[0]
    months = _member_months(attribution[attribution.entity_id == entity].patient_id.tolist())
    em = pd.read_parquet(out / "entity_measures.parquet").query("period == 'performance' and group_index == 0").set_index(["measure_id", "entity_id"])
    rate = em.shrunk_rate.fillna(em.rate)
    quality = 100 * ((1 - rate["CMS122", entity]) + rate["CMS165", entity]) / 2  # CMS122 lower is better
    capitation = (Decimal(450) * months).quantize(CENT)
    withheld = (capitation * Decimal("0.02")).quantize(CENT, ROUND_HALF_UP)
    returned = (withheld * Decimal(str(quality)) / 100).quantize(CENT, ROUND_HALF_UP)
    payments = pd.read_parquet(out / "payments.parquet").query("entity_id == @entity").set_index("kind").amount
    assert payments.to_dict() == {"capitation": capitation, "withhold": withheld, "withhold_return": pytest.approx(returned, abs=CENT)}
    total = pd.read_parquet(out / "entity_scores.parquet").query("entity_id == @entity and component == 'total'").iloc[0]
    assert total.value == months
    assert Decimal(str(total.score)) == capitation - withheld + payments["withhold_return"]
