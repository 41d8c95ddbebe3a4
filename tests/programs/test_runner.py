"""`p4p run` end to end on a small synthetic population: outputs, money, determinism, atomicity."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from p4pkit.cli import app
from p4pkit.errors import UserError
from p4pkit.ingest import load_folder
from p4pkit.programs.runner import run_program
from p4pkit.synth import generate

PROGRAMS = Path(__file__).resolve().parents[2] / "programs"
TABLES = ("attribution", "patient_measures", "entity_measures", "entity_scores", "payments")


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("world")
    generate(2500, 11, folder / "data")
    load_folder(folder / "data", folder / "store.duckdb")
    return folder / "store.duckdb"


@pytest.fixture(scope="module")
def qof_run(store, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "qof"
    run_program(PROGRAMS / "qof.yaml", store, out)
    return out


def test_a_run_writes_every_contract_table_the_report_and_the_manifest(qof_run):
    for name in TABLES:
        assert (qof_run / f"{name}.parquet").is_file(), name
    manifest = json.loads((qof_run / "manifest.json").read_text())
    assert manifest["program_id"] == "qof-2024-25" and manifest["engine"] == "duckdb" and "spark_connect" not in manifest
    assert len(manifest["program_sha256"]) == 64 and manifest["inputs_sha256"]
    html = (qof_run / "report.html").read_text()
    assert "Ledger" in html and "Measure QOF_DM_HBA1C58" in html and "window.vegaEmbed" in html
    assert "Equity" in html and "Gaming and deselection" in html and "Design audit" in html
    assert not any(p.name.startswith(".qof.") for p in qof_run.parent.iterdir())


def test_qof_points_follow_the_formula_from_the_measured_counts(qof_run):
    measures = pd.read_parquet(qof_run / "entity_measures.parquet")
    scores = pd.read_parquet(qof_run / "entity_scores.parquet")
    row = scores[(scores.component == "QOF_HYP_BP140") & (scores.points > 0)].iloc[0]
    m = measures[(measures.measure_id == "QOF_HYP_BP140") & (measures.period == "performance") & (measures.entity_id == row.entity_id)].iloc[0]
    achievement = 100 * m.numerator / (m.denominator - m.exclusions - m.exceptions)
    expected_points = 14 * min(1.0, max(0.0, (achievement - 40) / (77 - 40)))  # HYP thresholds 40-77%
    assert row.value == pytest.approx(achievement)
    assert row.points == pytest.approx(expected_points)


def test_payments_add_up_to_the_ledger_and_stay_within_the_pot(qof_run):
    payments = pq.read_table(qof_run / "payments.parquet").to_pandas()
    ledger = json.loads((qof_run / "ledger.json").read_text())
    paid = sum(payments.amount, Decimal(0))
    assert str(paid) == ledger["totals"]["paid"]
    assert paid <= Decimal(ledger["totals"]["funded"])
    assert set(payments.kind) == {"bonus"}
    totals = pd.read_parquet(qof_run / "entity_scores.parquet").query("component == 'total'")
    assert totals.score.sum() == pytest.approx(float(paid), abs=0.01)


def test_the_same_inputs_give_identical_tables(store, qof_run, tmp_path):
    again = tmp_path / "again"
    run_program(PROGRAMS / "qof.yaml", store, again)
    for name in TABLES:
        assert pq.read_table(again / f"{name}.parquet").equals(pq.read_table(qof_run / f"{name}.parquet")), name


def test_an_interrupted_run_leaves_no_trace(store, tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    # fail after the Parquet tables are written, when only the report is missing
    monkeypatch.setattr("p4pkit.reports.run_report.write_run_report", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        run_program(PROGRAMS / "qof.yaml", store, tmp_path / "run")
    assert list(tmp_path.iterdir()) == []


def test_an_existing_run_folder_is_never_overwritten(store, qof_run):
    with pytest.raises(UserError, match="already exists"):
        run_program(PROGRAMS / "qof.yaml", store, qof_run)


def test_shared_savings_run_matches_a_benchmark_worked_from_the_claims(store, tmp_path):
    out = tmp_path / "mssp"
    run_program(PROGRAMS / "mssp.yaml", store, out)
    attribution = pd.read_parquet(out / "attribution.parquet")
    scores = pd.read_parquet(out / "entity_scores.parquet")
    ledger = json.loads((out / "ledger.json").read_text())
    assert Decimal(ledger["totals"]["paid"]) <= Decimal(ledger["totals"]["funded"]) or ledger["totals"]["recovered"] != "0"
    from p4pkit.store import Store

    with Store(store, read_only=True) as s:
        claims = s.arrow("claim_lines").to_pandas()
    claims["year"] = pd.to_datetime(claims.service_start).dt.year
    performance = attribution[(attribution.period == "performance") & attribution.entity_id.notna()]
    entity = performance.entity_id.value_counts().index[0]
    members = set(performance[performance.entity_id == entity].patient_id)
    spent = claims[(claims.year == 2025) & claims.patient_id.isin(members)].allowed_amount.map(float).sum()
    detail = scores[(scores.entity_id == entity) & (scores.component == "total")].detail.iloc[0]
    assert f"expenditure {spent:,.2f}" in detail
    assert f"{len(members)} assigned" in detail


def test_declared_risk_adjustment_is_applied(store, tmp_path):
    out = tmp_path / "good"
    run_program(PROGRAMS / "good-design.yaml", store, out)
    measures = pd.read_parquet(out / "entity_measures.parquet")
    adjusted = measures[(measures.measure_id == "QOF_DM_HBA1C58") & (measures.period == "performance")]
    assert adjusted.adjustment.str.startswith("indirect_standardization on age, sex, comorbidities").all()
    assert adjusted.adjusted_rate.notna().all()
    # indirect standardisation preserves the total: sum of expected = sum of observed over all entities
    assert adjusted.expected.sum() == pytest.approx(adjusted.numerator.sum(), rel=1e-6)
    unadjusted = measures[measures.measure_id == "QOF_AST_REVIEW"]
    assert (unadjusted.adjustment == "none").all() and unadjusted.adjusted_rate.isna().all()


def test_cli_reports_a_bad_program_file_without_a_traceback(tmp_path, store):
    bad = tmp_path / "bad.yaml"
    bad.write_text((PROGRAMS / "qof.yaml").read_text().replace("voluntary: true", "voluntary: maybe"))
    result = CliRunner().invoke(app, ["run", str(bad), "--data", str(store), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "Traceback" not in result.output and not (tmp_path / "out").exists()


def test_cli_prints_the_ledger_totals_in_the_programs_currency_with_separators(tmp_path, store, qof_run):
    result = CliRunner().invoke(app, ["run", str(PROGRAMS / "qof.yaml"), "--data", str(store), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    totals = json.loads((qof_run / "ledger.json").read_text())["totals"]  # the same inputs give the same totals
    printed = " ".join(result.output.split())  # Rich wraps long lines
    assert f"ledger (GBP) funded {Decimal(totals['funded']):,}" in printed and "funded 853,826,715.00" in printed
    assert f"paid {Decimal(totals['paid']):,}," in printed


def test_attribution_is_written_by_period_then_patient_whatever_order_the_rule_returned():
    from types import SimpleNamespace

    import pyarrow as pa

    from p4pkit.programs.runner import _attribution_table

    shuffled = pa.table({"patient_id": ["b", "c", "a"], "entity_id": ["E2", None, "E1"]})
    ordered = pa.table({"patient_id": ["a", "b", "c"], "entity_id": ["E1", "E1", None]})
    table = _attribution_table(SimpleNamespace(attribution={"performance": shuffled, "baseline": ordered}))
    assert table.to_pydict() == {
        "patient_id": ["a", "b", "c", "a", "b", "c"],
        "entity_id": ["E1", "E1", None, "E1", "E2", None],
        "period": ["baseline"] * 3 + ["performance"] * 3,
    }


def test_entity_measures_carry_rank_intervals_and_the_probability_of_the_worst_quartile(qof_run):
    """Issue #5: intervals on ranks and the probability that an entity truly belongs in a penalty
    group, per measure and period, from the same beta-binomial posterior as the shrunken rates."""
    measures = pd.read_parquet(qof_run / "entity_measures.parquet")
    ranked = measures[measures.rank_median.notna()]
    for _, rows in ranked.groupby(["measure_id", "group_index", "period"]):
        assert rows.p_worst_quartile.sum() == pytest.approx(len(rows) // 4)  # each draw puts len // 4 in the worst quarter
        assert ((rows.rank_lower <= rows.rank_median) & (rows.rank_median <= rows.rank_upper)).all()
        assert rows.rank_median.between(1, len(rows)).all()
        if rows.reliability.mean() > 0.5:  # scores that mostly measure the practice: the lowest is most likely worst
            worst = rows.loc[rows.shrunk_rate.idxmin()]  # higher is better for every QOF indicator
            assert worst.p_worst_quartile == rows.p_worst_quartile.max() and worst.rank_median == rows.rank_median.max()
        elif rows.reliability.mean() < 0.05:  # scores that are noise: every practice about equally likely to be worst
            assert rows.p_worst_quartile.between(0.2, 0.3).all()
    assert ranked.groupby(["measure_id", "period"]).reliability.mean().gt(0.5).any()  # both kinds occur in this world
    unranked = measures[measures.rank_median.isna()]
    assert (unranked.period.eq("baseline") | unranked.performance_denominator.eq(0) | unranked.shrunk_rate.isna()).all()
    assert set(ranked.period) == {"performance"}  # ranks decide payment, which only the performance period does


def test_three_entities_have_ranks_but_no_worst_quartile_to_be_in():
    from p4pkit.programs.context import _add_shrinkage

    summary = pd.DataFrame({"measure_id": "M", "group_index": 0, "period": "performance", "scoring": "proportion",
                            "numerator": [10, 20, 30], "performance_denominator": [50, 50, 50]})
    ranked = _add_shrinkage(summary, 30, None, {"M": True})
    assert ranked.p_worst_quartile.isna().all() and ranked.rank_median.notna().all()
    assert ranked.rank_median.tolist() == sorted(ranked.rank_median.tolist(), reverse=True)  # 30/50 ranks best
