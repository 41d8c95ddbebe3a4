"""Equity monitor: hand-worked strata, gradient, concentration and suppression; money is conserved."""

from __future__ import annotations

from decimal import Decimal
from types import SimpleNamespace

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from p4pkit.model.schemas import conform
from p4pkit.safeguards import equity
from p4pkit.store import Store

PATIENT_COLUMNS = ("patient_id", "measure_id", "group_index", "period", "scoring", "denominator", "denominator_exclusion", "denominator_exception", "numerator")


def _patients(rows: list[tuple[str, int | None, str | None, bool | None]]) -> ibis.Table:
    ids, quintiles, ethnicities, social = zip(*rows, strict=True)
    n = len(ids)
    table = conform(
        "patients",
        {
            "patient_id": list(ids),
            "birth_date": [pd.Timestamp("1960-01-01").date()] * n,
            "sex": ["female"] * n,
            "deprivation_quintile": list(quintiles),
            "ethnicity": list(ethnicities),
            "social_risk": list(social),
        },
    )
    return ibis.memtable(table)


def _results(rows: list[tuple]) -> ibis.Table:
    return ibis.memtable(pd.DataFrame(rows, columns=list(PATIENT_COLUMNS)))


def test_measure_strata_count_the_performance_denominator_of_each_stratum():
    patients = _patients([("P1", 1, "white", True), ("P2", 1, "asian", False), ("P3", 1, "white", None), ("P4", 2, "white", False), ("P5", 2, None, False), ("P6", None, "black", True)])
    results = _results(
        [
            ("P1", "M", 0, "performance", "proportion", 1, 0, 0, 1),
            ("P2", "M", 0, "performance", "proportion", 1, 0, 0, 0),
            ("P3", "M", 0, "performance", "proportion", 1, 1, 0, 0),  # excluded
            ("P4", "M", 0, "performance", "proportion", 1, 0, 0, 1),
            ("P5", "M", 0, "performance", "proportion", 1, 0, 1, 0),  # exception
            ("P6", "M", 0, "performance", "proportion", 1, 0, 0, 1),
            ("P1", "M", 0, "baseline", "proportion", 1, 0, 0, 0),  # other period: ignored
            ("P2", "COST", 0, "performance", "continuous_variable", 1, 0, 0, 0),  # not a proportion
        ]
    )
    strata = equity.measure_strata(results, patients, "deprivation_quintile")
    assert strata[["stratum", "numerator", "denominator"]].values.tolist() == [["1", 1, 2], ["2", 1, 1], ["unknown", 1, 1]]
    assert strata.rate.tolist() == [0.5, 1.0, 1.0]
    social = equity.measure_strata(results, patients, "social_risk")
    assert social[["stratum", "numerator", "denominator"]].values.tolist() == [["no", 1, 2], ["unknown", 0, 0], ["yes", 2, 2]]


def _five_entities() -> tuple[ibis.Table, ibis.Table]:
    """Entities E1..E5 with 20 patients each, of whom 0, 2, 4, 6 and 10 are in quintile 1."""
    deprived = {"E1": 0, "E2": 2, "E3": 4, "E4": 6, "E5": 10}
    rows, attribution = [], []
    for entity, count in deprived.items():
        for i in range(20):
            pid = f"{entity}-{i:02d}"
            rows.append((pid, 1 if i < count else 3, "white" if i % 2 else "asian", i < count))
            attribution.append((pid, entity, "performance"))
    attribution.append(("X1", None, "performance"))  # unattributed: ignored
    attribution.append(("E1-00", "E2", "baseline"))  # other period: ignored
    return _patients(rows), ibis.memtable(pd.DataFrame(attribution, columns=["patient_id", "entity_id", "period"]))


def _ledger(entries: list[tuple[str, str, str]]) -> pd.DataFrame:
    return pd.DataFrame([(e, Decimal(a), k, "r") for e, a, k in entries], columns=["entity_id", "amount", "kind", "reason"])


def test_penalties_on_the_most_deprived_serving_fifth_are_measured_against_its_patients():
    patients, attribution = _five_entities()
    deprivation = equity.entity_deprivation(attribution, patients)
    assert deprivation.deprived_share.tolist() == [0.0, 0.1, 0.2, 0.3, 0.5]
    payments = _ledger([("E5", "100.00", "penalty"), ("E4", "60.00", "withhold"), ("E4", "10.00", "withhold_return"), ("E1", "30.00", "bonus")])
    entities = equity.entity_equity_table(deprivation, payments)
    assert entities.net.tolist() == [30.0, 0.0, 0.0, -50.0, -100.0]
    assert entities.penalty.tolist() == [0.0, 0.0, 0.0, 50.0, 100.0]
    c = equity.penalty_concentration(entities)
    # 80th percentile of (0, .1, .2, .3, .5) is .34, so the top fifth is E5 alone: 20 of 100 patients,
    # 100 of 150 in penalties. Ratio (2/3) / (1/5) = 10/3.
    assert c.top_fifth_entities == 1
    assert c.patient_share == pytest.approx(0.2)
    assert c.penalty_share == pytest.approx(2 / 3)
    assert c.ratio == pytest.approx(10 / 3)
    # Spearman on ranks x = 1..5, y = 2, 2, 2, 4, 5: 8 / sqrt(10 * 8)
    assert c.spearman == pytest.approx(8 / np.sqrt(80))
    assert c.warn


def test_penalties_that_follow_patients_give_a_ratio_of_one_and_no_warning():
    patients, attribution = _five_entities()
    payments = _ledger([(e, "40.00", "penalty") for e in ("E1", "E2", "E3", "E4", "E5")])
    entities = equity.entity_equity_table(equity.entity_deprivation(attribution, patients), payments)
    c = equity.penalty_concentration(entities)
    assert c.ratio == pytest.approx(1.0)
    assert not c.warn


def test_the_gradient_is_the_ols_slope_with_a_t_interval():
    # x mean .3, y mean .75; Sxx = .2, Sxy = -.16 -> slope -.8; residuals .01, .07, -.17, .09 ->
    # SSR .042, s^2 = .021, se = sqrt(.021 / .2) = .324037; t(.975, 2) = 4.302653.
    entities = pd.DataFrame({"deprived_share": [0.0, 0.2, 0.4, 0.6], "net_per_patient": [1.0, 0.9, 0.5, 0.6]})
    g = equity.payment_gradient(entities)
    assert g.slope == pytest.approx(-0.8)
    assert g.lower == pytest.approx(-0.8 - 4.302653 * 0.324037, abs=1e-5)
    assert g.upper == pytest.approx(-0.8 + 4.302653 * 0.324037, abs=1e-5)
    assert g.entities == 4


def test_payment_per_patient_by_stratum_shares_each_entity_net_over_its_patients():
    patients, attribution = _five_entities()
    payments = _ledger([("E5", "100.00", "penalty"), ("E1", "40.00", "bonus")])
    entities = equity.entity_equity_table(equity.entity_deprivation(attribution, patients), payments)
    strata = equity.payment_strata(attribution, patients, entities, "deprivation_quintile")
    # Quintile 1: 2 + 4 + 6 patients of E2-E4 at 0, and 10 of E5 at -5 each -> -50 over 22 patients.
    assert strata.set_index("stratum").loc["1", "payment"] == pytest.approx(-50.0)
    assert strata.set_index("stratum").loc["1", "patients"] == 22
    # Quintile 3: 20 of E1 at +2, 10 of E5 at -5 and 48 others at 0 -> -10 over 78.
    assert strata.set_index("stratum").loc["3", "payment_per_patient"] == pytest.approx(-10 / 78)


def test_published_payment_strata_hide_small_strata_and_their_complement():
    strata = pd.DataFrame({"stratifier": ["ethnicity"] * 3, "stratum": ["a", "b", "c"], "patients": [40, 5, 30], "payment": [4.0, 1.0, 3.0]})
    strata["payment_per_patient"] = strata.payment / strata.patients
    shown = equity.publishable_payment_strata(strata)
    # b (5) is hidden; alone it could be recovered from the total, so the smallest other (c) goes too.
    assert shown.suppressed.tolist() == [False, True, True]
    assert shown.patients.isna().tolist() == [False, True, True]
    assert shown.payment_per_patient.isna().tolist() == [False, True, True]


def test_published_measure_strata_suppress_small_cells():
    strata = pd.DataFrame(
        {
            "measure_id": ["M"] * 3, "group_index": [0] * 3, "stratifier": ["ethnicity"] * 3,
            "stratum": ["a", "b", "c"], "numerator": [30, 3, 20], "denominator": [50, 8, 40],
        }
    )
    strata["rate"] = strata.numerator / strata.denominator
    shown = equity.publishable_measure_strata(strata)
    assert shown.stratum.tolist() == ["a", "b", "c", "All patients"]
    assert shown.loc[1, ["numerator", "denominator", "rate"]].isna().all()
    assert shown.loc[3, "denominator"] == 98


@settings(max_examples=12, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 30), st.integers(0, 30), st.integers(-500, 500)), min_size=2, max_size=6))
def test_money_by_stratum_adds_up_to_the_money_paid_to_entities(spec):
    rows, attribution, ledger = [], [], []
    for n, (size, deprived, cents) in enumerate(spec):
        entity = f"E{n}"
        for i in range(size):
            rows.append((f"{entity}-{i}", 1 if i < deprived else 4, None, None))
            attribution.append((f"{entity}-{i}", entity, "performance"))
        if cents:
            ledger.append((entity, f"{abs(cents) / 100:.2f}", "bonus" if cents > 0 else "penalty"))
    patients = _patients(rows)
    attributed = ibis.memtable(pd.DataFrame(attribution, columns=["patient_id", "entity_id", "period"]))
    entities = equity.entity_equity_table(equity.entity_deprivation(attributed, patients), _ledger(ledger))
    strata = equity.payment_strata(attributed, patients, entities, "deprivation_quintile")
    assert strata.payment.sum() == pytest.approx(sum(c for _, _, c in spec) / 100, abs=1e-9)
    assert strata.patients.sum() == sum(size for size, _, _ in spec)


def test_the_run_report_section_states_the_gradient_and_the_concentration():
    ids = [f"E{e}-{i}" for e in (1, 2, 3) for i in range(20)]
    patients = conform(
        "patients",
        {
            "patient_id": ids,
            "birth_date": [pd.Timestamp("1960-01-01").date()] * 60,
            "sex": ["female"] * 60,
            "deprivation_quintile": [1 if int(p.split("-")[1]) < {"E1": 0, "E2": 5, "E3": 10}[p.split("-")[0]] else 3 for p in ids],
        },
    )
    attribution = pa.table({"patient_id": ids, "entity_id": [p.split("-")[0] for p in ids]})
    results = pa.Table.from_pandas(
        pd.DataFrame([(p, "M", 0, "performance", "proportion", 1, 0, 0, 1) for p in ids], columns=list(PATIENT_COLUMNS))
    )
    payments = _ledger([("E3", "60.00", "penalty"), ("E1", "20.00", "bonus")])
    with Store() as store:
        store.replace_tables({"patients": patients})
        ctx = SimpleNamespace(store=store, patient_results=results, attribution={"performance": attribution})
        section = equity.equity_section(ctx, payments)
    # shares 0, .25, .5 and net per patient 1, 0, -3: slope -8 over the three entities; E3 alone is
    # the top fifth, with a third of the patients and all of the penalty (ratio 3).
    assert section.text.startswith("Net payment per patient changes by -8.00")
    assert "bear 100% of penalties with 33% of patients (ratio 3.00" in section.text
    # 3 entities in 3 groups; payment strata: quintiles 1 and 3, ethnicity and social risk "unknown";
    # measure strata: the same four strata plus a total row per stratifier
    assert [len(t) for t in section.tables] == [3, 4, 7]
