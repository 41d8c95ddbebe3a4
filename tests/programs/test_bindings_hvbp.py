"""HVBP binding: one hospital's TPS worked by hand from the run's rates (42 CFR 412.165), and the
withhold and incentive payments from the store's inpatient claims (§412.162)."""

from __future__ import annotations

import json
import math
from decimal import ROUND_HALF_UP, Decimal

import duckdb
import numpy as np
import pandas as pd
import pytest
from bindings_world import run, store

CLINICAL = ("READMIT_30D", "ED_VISITS_1000")
EFFICIENCY = ("TCOC_PMPM",)


@pytest.fixture(scope="module")
def out():
    return run("hvbp")


def _measure_score(em: pd.DataFrame, measure: str, hospital: str) -> float:
    """Lower is better: negate, then achievement and improvement points as in the regulation."""
    rows = em[(em.measure_id == measure) & (em.performance_denominator >= 25)]
    base = rows[rows.period == "baseline"].set_index("entity_id").rate
    values = np.sort(-base.to_numpy())
    threshold, benchmark = np.median(values), values[-math.ceil(len(values) / 10):].mean()
    p = -rows[(rows.period == "performance")].set_index("entity_id").rate[hospital]
    achievement = 10 if p >= benchmark else 0 if p < threshold else min(9, max(1, math.floor(9 * (p - threshold) / (benchmark - threshold) + 1)))
    if hospital not in base.index:
        return achievement
    b = -base[hospital]
    improvement = 0 if p <= b else 9 if p >= benchmark else min(9, max(0, math.floor(10 * (p - b) / (benchmark - b))))
    return max(achievement, improvement)


def _inpatient_allowed(hospital: str) -> Decimal:
    with duckdb.connect(str(store()), read_only=True) as con:
        total = con.execute(
            """select sum(c.allowed_amount) from claim_lines c join encounters e using (encounter_id)
               where e.encounter_class = 'inpatient' and year(e.start) = 2025 and e.organization_id = ?""",
            [hospital],
        ).fetchone()[0]
    return Decimal(total)


def test_one_hospitals_total_performance_score_by_hand(out):
    em = pd.read_parquet(out / "entity_measures.parquet")
    totals = pd.read_parquet(out / "entity_scores.parquet").query("component == 'total'").set_index("entity_id")
    hospital = totals.score.dropna().index[0]
    clinical = np.mean([_measure_score(em, m, hospital) for m in CLINICAL]) * 10
    efficiency = _measure_score(em, EFFICIENCY[0], hospital) * 10
    assert totals.score[hospital] == pytest.approx(0.5 * clinical + 0.5 * efficiency)  # 25% + 25%, re-normalised


def test_withhold_is_two_percent_of_inpatient_payments_and_incentives_return_it_all(out):
    payments = pd.read_parquet(out / "payments.parquet")
    scores = pd.read_parquet(out / "entity_scores.parquet").query("component == 'total'").set_index("entity_id")
    withheld = payments[payments.kind == "withhold"].set_index("entity_id").amount
    assert len(withheld) >= 2
    for hospital, amount in withheld.items():
        assert amount == (_inpatient_allowed(hospital) * Decimal("0.02")).quantize(Decimal("0.01"), ROUND_HALF_UP)
    bonus = payments[payments.kind == "bonus"].set_index("entity_id").amount
    assert sum(bonus, Decimal(0)) == sum(withheld, Decimal(0))
    # Linear exchange function: the pool is shared in proportion to base payments x TPS.
    weights = {h: _inpatient_allowed(h) * Decimal(str(scores.score[h])) for h in withheld.index}
    pool = sum(withheld, Decimal(0))
    for hospital, weight in weights.items():
        share = pool * weight / sum(weights.values(), Decimal(0))
        assert abs(bonus.get(hospital, Decimal(0)) - share) <= Decimal("0.01")
    assert json.loads((out / "ledger.json").read_text())["budget_neutral"]
