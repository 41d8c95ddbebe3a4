"""Every example program (but the deliberately bad design) runs on the synthetic population, and its
ledger, payments and scores agree with one another."""

from __future__ import annotations

import json
from decimal import Decimal

import pandas as pd
import pytest
from bindings_world import EXAMPLES, run, run_variant

from p4pkit.errors import UserError
from p4pkit.programs.bindings import MODELS, SCORE_COLUMNS, binding_for
from p4pkit.programs.ledger import PAID_KINDS, TAKEN_KINDS


def test_every_scoring_model_has_a_binding_and_an_example():
    names = {"qof", "mssp", "rosp", "mips", "hvbp", "hrrp", "hacrp", "ny-vbp-level1", "ny-vbp-level2", "ny-vbp-level3",
             "never-events", "peer-comparison"}
    assert names <= set(EXAMPLES) and "bad-design" not in EXAMPLES
    for model in MODELS:
        assert callable(binding_for(model))
    with pytest.raises(UserError, match="cannot yet run"):
        binding_for("lottery")


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_program_runs_and_its_books_balance(name):
    out = run(name)
    ledger = json.loads((out / "ledger.json").read_text())
    assert ledger["invariants"] == "all held"
    payments = pd.read_parquet(out / "payments.parquet")
    totals = {k: Decimal(v) for k, v in ledger["totals"].items()}
    assert sum(payments.amount[payments.kind.isin(PAID_KINDS)], Decimal(0)) == totals["paid"]
    assert sum(payments.amount[payments.kind.isin(TAKEN_KINDS - {"withhold"})], Decimal(0)) == totals["recovered"]
    if ledger["upside_only"]:
        assert totals["paid"] <= totals["funded"] + totals["withheld"]
    if ledger["budget_neutral"]:
        assert abs(totals["paid"] - totals["withheld"] - totals["recovered"]) <= Decimal("0.01")
    scores = pd.read_parquet(out / "entity_scores.parquet")
    assert list(scores.columns[: len(SCORE_COLUMNS)]) == list(SCORE_COLUMNS)
    assert scores.entity_id.nunique() >= 2
    attributed = pd.read_parquet(out / "attribution.parquet").query("period == 'performance'").entity_id.dropna()
    assert set(payments.entity_id) <= set(attributed)


@pytest.mark.parametrize("name", ["qof", "rosp", "mips", "hvbp", "hacrp", "peer-comparison"])
def test_payment_floors_reach_every_model_that_scores_measures(name):
    """Floors no entity can clear leave every entity out of every measure (`RunContext.measure`),
    whatever the model: nothing is scored, so no money moves and nobody is ranked."""
    out = run_variant(name, "unreachable-floors", {"payment.min_denominator": 10**9})
    measures = pd.read_parquet(out / "entity_measures.parquet").query("period == 'performance'")
    assert not measures.meets_payment_floors.any()
    ledger = json.loads((out / "ledger.json").read_text())
    assert {k: Decimal(v) for k, v in ledger["totals"].items() if k != "funded"} == {"withheld": 0, "paid": 0, "recovered": 0}
    scores = pd.read_parquet(out / "entity_scores.parquet")
    scored = scores[scores.component.isin(set(measures.measure_id)) & (scores.tier != "below payment floors")]
    assert scored.empty, scored.head()
