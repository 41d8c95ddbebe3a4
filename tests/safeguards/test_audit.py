"""The design audit: the bad design fails each principle it breaks, the good one passes all; every
check on hand-made variants of the good design; result checks on small hand-made run folders."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from typer.testing import CliRunner

from p4pkit.cli import app
from p4pkit.errors import UserError
from p4pkit.model.schemas import MONEY, conform
from p4pkit.programs.schema import Program
from p4pkit.safeguards import audit
from p4pkit.store import Store

PROGRAMS = Path(__file__).resolve().parents[2] / "programs"
GOOD = PROGRAMS / "good-design.yaml"
BAD = PROGRAMS / "bad-design.yaml"


def _status(findings: pd.DataFrame, principle: str, scope: str = "design") -> str:
    row = findings[(findings.principle_id == principle) & (findings.scope == scope)]
    assert len(row) == 1, f"{principle}/{scope} reported {len(row)} times"
    return row.status.iloc[0]


def test_every_principle_has_a_check_and_every_check_a_principle():
    checked = set(audit.DESIGN_CHECKS) | set(audit.RUN_CHECKS)
    assert checked == set(audit.principles())
    for principle in audit.principles().values():
        assert principle["clauses"] and all(c["source"] in {"AMA-8.056", "VMS-2023"} and c["text"] for c in principle["clauses"])


def test_the_quoted_clauses_are_in_the_seed_texts():
    texts = [p.read_text(encoding="utf-8") for p in sorted((PROGRAMS.parents[1] / "shared" / "seeds").glob("*.txt"))]
    assert texts, "the seed texts are missing from ../shared/seeds"
    # the VMS seed numbers its lines: drop the numbers, then compare with whitespace collapsed
    seeds = " ".join(" ".join(re.sub(r"(?m)^\d+ ?", "", t) for t in texts).split())
    for principle in audit.principles().values():
        for clause in principle["clauses"]:
            for part in clause["text"].split(" ... "):
                assert part in seeds, f"{principle['id']}: '{part}' is not in the seeds"


BAD_DESIGN_FAILS = {
    "quality_first",  # primary goal: cost
    "risk_adjustment",  # CMS122 and TOTAL-COST unadjusted
    "clinical_exceptions",  # none
    "evidence_published",  # no evidence for either measure
    "review_before_payment",  # 0 days
    "review_before_publication",  # 0 days
    "voluntary_participation",  # compulsory
    "non_participants_unharmed",  # penalised
    "supplemental_funding",  # budget-neutral redistribution
    "positive_incentives",  # penalty-only
    "privacy_in_public_output",  # cells of 1 suppressed, denominators of 5 published
    "penalties_within_control",  # penalties on unadjusted outcomes
    "access_for_complex_patients",  # no deselection monitoring
    "open_to_all",  # closed to some specialties
    "no_purchased_it",  # plan-specific software
    "not_for_credentialing",  # used in credentialing
    "improvement_shown",  # no evaluation
}


def test_the_bad_design_fails_every_principle_it_breaks():
    findings = audit.audit_program(BAD)
    assert set(findings.principle_id[findings.status == audit.FAIL]) == BAD_DESIGN_FAILS
    # the two it does not break outright: no reliability floor, costs not reimbursed
    assert set(findings.principle_id[findings.status == audit.WARN]) == {"minimum_reliability", "administrative_costs_reimbursed"}
    assert audit.has_failures(findings)


def test_the_good_design_passes_everything():
    findings = audit.audit_program(GOOD)
    assert (findings.status == audit.PASS).all(), findings[findings.status != audit.PASS].to_dict("records")
    assert list(findings.principle_id) == list(audit.DESIGN_CHECKS)


def _variant(**changes) -> Program:
    """The good design with dotted-path changes, e.g. `{"funding.supplemental_pool": None}`."""
    data = yaml.safe_load(GOOD.read_text(encoding="utf-8"))
    for path, value in changes.items():
        *parents, last = path.split(".")
        node = data
        for key in parents:
            node = node[int(key)] if key.isdigit() else node[key]
        node[last] = value
    return Program.model_validate(data)


VARIANTS = [
    ({"goals.primary": "quality_and_cost"}, "quality_first", "warn"),
    ({"measures.0.kind": "cost", "measures.0.weight": 50}, "quality_first", "fail"),
    ({"measures.0.risk_adjustment": {"method": "none"}}, "risk_adjustment", "warn"),
    ({"measures.0.risk_adjustment": {"method": "none"}, "exceptions.clinical_exceptions": False}, "risk_adjustment", "fail"),
    ({"measures.2.kind": "outcome"}, "risk_adjustment", "fail"),
    ({"exceptions.description": None}, "clinical_exceptions", "warn"),
    ({"measures.1.why_it_matters": None}, "evidence_published", "warn"),
    ({"measures.1.evidence": []}, "evidence_published", "fail"),
    ({"review.disputes_allowed": False}, "review_before_payment", "fail"),
    ({"review.before_publication_days": 0, "publication.public": False}, "review_before_publication", "pass"),
    ({"funding.supplemental_pool": None, "funding.withhold_percent": 2}, "supplemental_funding", "warn"),
    ({"payment.downside": True}, "positive_incentives", "warn"),
    ({"payment.downside": True}, "penalties_within_control", "warn"),
    ({"payment.downside": True, "measures.0.social_risk": {"adjustment": "covariate"}, "measures.1.social_risk": {"adjustment": "covariate"}}, "penalties_within_control", "pass"),
    ({"publication.min_reliability": 0.5}, "minimum_reliability", "warn"),
    ({"payment.min_reliability": None}, "minimum_reliability", "warn"),
    ({"payment.min_reliability": 0.5}, "minimum_reliability", "warn"),
    ({"payment.min_reliability": None, "payment.kind": "none", "payment.upside": False}, "minimum_reliability", "pass"),
    ({"publication.min_denominator": 20}, "privacy_in_public_output", "warn"),
    ({"publication.min_denominator": 10}, "privacy_in_public_output", "fail"),
    ({"publication.suppress_cells": [1, 5]}, "privacy_in_public_output", "fail"),
    ({"evaluation.equity_strata": []}, "access_for_complex_patients", "warn"),
    ({"participants.minimum_size": 1000}, "open_to_all", "warn"),
    ({"data_submission.paths": ["ehr_extract"]}, "no_purchased_it", "warn"),
    ({"funding.administrative_costs_reimbursed": False}, "administrative_costs_reimbursed", "warn"),
    ({"funding.administrative_costs_reimbursed": False, "data_submission.paths": ["claims"]}, "administrative_costs_reimbursed", "pass"),
    ({"evaluation.design": "pre_post"}, "improvement_shown", "warn"),
    ({"evaluation.comparison_group": None}, "improvement_shown", "warn"),
    ({"evaluation.outcomes": []}, "improvement_shown", "warn"),
]


@pytest.mark.parametrize(("changes", "principle", "status"), VARIANTS)
def test_each_check_on_a_variant_of_the_good_design(changes, principle, status):
    findings = audit.audit_design(_variant(**changes))
    assert _status(findings, principle) == status
    row = findings[findings.principle_id == principle].iloc[0]
    assert bool(row.fix) == (status != audit.PASS)


def test_cli_exits_one_on_a_failure_zero_otherwise_and_prints_json():
    runner = CliRunner()
    assert runner.invoke(app, ["audit", str(BAD)]).exit_code == 1
    good = runner.invoke(app, ["audit", str(GOOD), "--format", "json"])
    assert good.exit_code == 0
    assert {r["status"] for r in json.loads(good.stdout)} == {"pass"}
    wrong = runner.invoke(app, ["audit", str(GOOD), "--format", "xml"])
    assert wrong.exit_code == 2 and "Traceback" not in wrong.output
    assert runner.invoke(app, ["audit", str(GOOD), "--compare", "CMS125"]).exit_code == 2


# ---- result checks on a hand-made run --------------------------------------------------------------

# Practices A (participant, 12 patients: 10 in quintile 1) and B (participant, 12: 1 in quintile 1);
# C is attributed only in the baseline year, so it is not a participant in the performance year.
ATTRIBUTION = (
    [(f"A{i:02d}", "A", "performance") for i in range(12)]
    + [(f"B{i:02d}", "B", "performance") for i in range(12)]
    + [("C00", "C", "baseline"), ("U00", None, "performance")]
)


def _write_run(folder: Path, payments: list[tuple[str, str, str]], *, totals: dict | None = None, upside_only: bool = True,
               reliability: float = 0.9, publishable_small: bool = False, patient_rows: list[tuple] | None = None,
               entity_columns: dict | None = None) -> Path:
    folder.mkdir()
    pq.write_table(pa.Table.from_pandas(pd.DataFrame(ATTRIBUTION, columns=["patient_id", "entity_id", "period"])), folder / "attribution.parquet")
    columns = ["patient_id", "entity_id", "measure_id", "group_index", "period", "scoring", "denominator", "denominator_exclusion", "denominator_exception", "numerator"]
    rows = patient_rows or [(f"A{i:02d}", "A", "QOF_DM_HBA1C58", 0, "performance", "proportion", 1, 0, 0, i % 2) for i in range(12)]
    pq.write_table(pa.Table.from_pandas(pd.DataFrame(rows, columns=columns)), folder / "patient_measures.parquet")
    entity = pd.DataFrame(
        {
            "measure_id": ["QOF_DM_HBA1C58"] * 2, "group_index": [0, 0], "period": ["performance"] * 2, "entity_id": ["A", "B"],
            "performance_denominator": [40, 12], "reliability": [reliability, 0.95], "publishable": [True, publishable_small],
            **(entity_columns or {}),
        }
    )
    pq.write_table(pa.Table.from_pandas(entity), folder / "entity_measures.parquet")
    entries = pa.table(
        {
            "entity_id": [e for e, _, _ in payments],
            "amount": pa.array([Decimal(a) for _, a, _ in payments], MONEY),
            "kind": [k for _, _, k in payments],
            "reason": ["hand-made"] * len(payments),
        }
    )
    pq.write_table(entries, folder / "payments.parquet")
    paid = sum((Decimal(a) for _, a, k in payments if k == "bonus"), Decimal(0))
    taken = sum((Decimal(a) for _, a, k in payments if k == "penalty"), Decimal(0))
    ledger = {
        "program_id": "good-design",
        "totals": totals or {"funded": "1000.00", "withheld": "0", "paid": str(paid), "recovered": str(taken)},
        "upside_only": upside_only,
        "budget_neutral": False,
    }
    (folder / "ledger.json").write_text(json.dumps(ledger))
    manifest = {"periods": {"baseline": ["2023-04-01", "2024-03-31"], "performance": ["2024-04-01", "2025-03-31"]}}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def _run_findings(folder: Path, **kwargs) -> pd.DataFrame:
    findings = audit.audit_program(GOOD, folder, **kwargs)
    return findings[findings.scope == "run"]


def test_a_sound_run_passes_its_money_participant_reliability_and_privacy_checks(tmp_path):
    findings = _run_findings(_write_run(tmp_path / "run", [("A", "300.00", "bonus"), ("B", "200.00", "bonus")]))
    for principle in ("money_adds_up", "non_participants_unharmed", "minimum_reliability", "privacy_in_public_output"):
        assert _status(findings, principle, "run") == audit.PASS
    # the good design declares case-mix adjustment, which these entity results do not carry
    assert _status(findings, "risk_adjustment", "run") == audit.WARN
    # without --data or --compare the equity and unmeasured-care checks say they were not assessed
    for principle in ("penalties_within_control", "access_for_complex_patients", "care_beyond_the_measures"):
        row = findings[findings.principle_id == principle].iloc[0]
        assert row.status == audit.WARN and row.finding.startswith("not assessed")


def test_totals_that_differ_from_the_entries_and_overspending_fail(tmp_path):
    tampered = _write_run(tmp_path / "t", [("A", "300.00", "bonus")], totals={"funded": "1000.00", "withheld": "0", "paid": "250.00", "recovered": "0"})
    assert "paid" in _run_findings(tampered).set_index("principle_id").loc["money_adds_up", "finding"]
    assert _status(_run_findings(tampered), "money_adds_up", "run") == audit.FAIL
    over = _write_run(tmp_path / "o", [("A", "900.00", "bonus"), ("B", "200.00", "bonus")])
    assert _status(_run_findings(over), "money_adds_up", "run") == audit.FAIL


def test_a_penalised_non_participant_fails(tmp_path):
    run = _write_run(tmp_path / "run", [("A", "100.00", "bonus"), ("C", "50.00", "penalty")], upside_only=False)
    assert _status(_run_findings(run), "non_participants_unharmed", "run") == audit.FAIL


def test_money_on_unreliable_measures_warns_and_penalties_on_them_fail(tmp_path):
    paid = _write_run(tmp_path / "paid", [("A", "100.00", "bonus")], reliability=0.5)
    assert _status(_run_findings(paid), "minimum_reliability", "run") == audit.WARN
    penalised = _write_run(tmp_path / "pen", [("A", "100.00", "penalty")], reliability=0.5, upside_only=False)
    assert _status(_run_findings(penalised), "minimum_reliability", "run") == audit.FAIL


def test_a_publishable_result_below_the_minimum_denominator_fails(tmp_path):
    run = _write_run(tmp_path / "run", [], publishable_small=True)
    assert _status(_run_findings(run), "privacy_in_public_output", "run") == audit.FAIL


def _store(path: Path, deprivation: bool = True) -> Path:
    ids = [p for p, _, _ in ATTRIBUTION]
    quintile = {**{f"A{i:02d}": 1 if i < 10 else 3 for i in range(12)}, **{f"B{i:02d}": 1 if i < 1 else 4 for i in range(12)}}
    patients = conform(
        "patients",
        {
            "patient_id": ids,
            "birth_date": [pd.Timestamp("1950-01-01").date()] * len(ids),
            "sex": ["male"] * len(ids),
            "deprivation_quintile": [quintile.get(p) if deprivation else None for p in ids],
        },
    )
    with Store(path) as store:
        store.replace_tables({"patients": patients})
    return path


def test_penalties_on_the_practice_serving_deprived_patients_warn(tmp_path):
    run = _write_run(tmp_path / "run", [("A", "120.00", "penalty"), ("B", "24.00", "bonus")], upside_only=False)
    findings = _run_findings(run, data=_store(tmp_path / "store.duckdb"))
    # deprived shares A 10/12, B 1/12; the 80th percentile of the two is 0.683, so A alone is the
    # top fifth: half the patients, all of the penalty -> ratio 2.
    row = findings.set_index("principle_id").loc["penalties_within_control"]
    assert row.status == audit.WARN
    assert "bear 100% of penalties with 50% of patients (ratio 2.00" in row.finding
    # two entities cannot give an interval for the gradient
    gradient = findings.set_index("principle_id").loc["access_for_complex_patients"]
    assert gradient.status == audit.WARN and gradient.finding.startswith("not assessed")


def test_without_deprivation_data_the_equity_checks_are_not_assessed(tmp_path):
    run = _write_run(tmp_path / "run", [("A", "120.00", "penalty")], upside_only=False)
    findings = _run_findings(run, data=_store(tmp_path / "store.duckdb", deprivation=False)).set_index("principle_id")
    for principle in ("penalties_within_control", "access_for_complex_patients"):
        assert findings.loc[principle, "status"] == audit.WARN
        assert findings.loc[principle, "finding"] == "not assessed: no attributed patient has a deprivation quintile"


def test_comparison_measures_count_only_attributed_patients(tmp_path, monkeypatch):
    # Incentivised (the run's own, attributed, results): A 3 of 12 in the baseline, 9 of 12 after.
    columns = ["patient_id", "measure_id", "group_index", "period", "scoring", "denominator", "denominator_exclusion", "denominator_exception", "numerator"]
    base_inc = [(f"A{i:02d}", "A", "QOF_DM_HBA1C58", 0, "baseline", "proportion", 1, 0, 0, 1 if i < 3 else 0) for i in range(12)]
    perf_inc = [(f"A{i:02d}", "A", "QOF_DM_HBA1C58", 0, "performance", "proportion", 1, 0, 0, 1 if i < 9 else 0) for i in range(12)]
    run = _write_run(tmp_path / "run", [("A", "10.00", "bonus")], patient_rows=base_inc + perf_inc)
    comparator = (
        [(f"B{i:02d}", "CMS125", 0, "baseline", "proportion", 1, 0, 0, 1) for i in range(12)]
        + [("C00", "CMS125", 0, "baseline", "proportion", 1, 0, 0, 0), ("U00", "CMS125", 0, "performance", "proportion", 1, 0, 0, 1)]
        + [(f"B{i:02d}", "CMS125", 0, "performance", "proportion", 1, 0, 0, 1 if i < 3 else 0) for i in range(12)]
    )
    table = pa.Table.from_pandas(pd.DataFrame(comparator, columns=columns))
    table = table.append_column("evidence_event_ids", pa.array([[]] * table.num_rows, pa.list_(pa.string())))
    table = table.append_column("evidence_dates", pa.array([[]] * table.num_rows, pa.list_(pa.date32())))
    monkeypatch.setattr(audit, "results_over_periods", lambda store, ids, periods: table)
    findings = _run_findings(run, data=_store(tmp_path / "store.duckdb"), comparators=["CMS125"])
    row = findings.set_index("principle_id").loc["care_beyond_the_measures"]
    # B00-B11 are attributed in the performance year only, so the baseline comparator counts C00
    # alone (0 of 1) and the performance comparator 3 of 12 (U00 is never attributed).
    assert "incentivised 25.0% -> 75.0%" in row.finding
    assert "not incentivised (CMS125) 0.0% -> 25.0%" in row.finding


def test_an_incomplete_run_folder_or_another_programs_run_is_refused(tmp_path):
    run = _write_run(tmp_path / "run", [])
    (run / "payments.parquet").unlink()
    with pytest.raises(UserError, match="missing payments.parquet"):
        audit.audit_program(GOOD, run)
    other = _write_run(tmp_path / "other", [])
    with pytest.raises(UserError, match="not of 'bad-design'"):
        audit.audit_program(BAD, other)


def test_the_reliability_check_says_what_the_floors_keep_out_of_payment_and_publication():
    unfloored = audit.audit_design(_variant(**{"payment.min_reliability": None}))
    row = unfloored[unfloored.principle_id == "minimum_reliability"].iloc[0]
    assert row.finding == "no payment reliability floor: entities may be paid or penalised on noise"
    assert "payment.min_reliability" in row.fix and "paid or penalised on noise" in row.fix and "publication" not in row.fix
    unpublished = audit.audit_design(_variant(**{"publication.min_reliability": None}))
    row = unpublished[unpublished.principle_id == "minimum_reliability"].iloc[0]
    assert row.finding == "no publication reliability floor: entities may be published or ranked on noise"
    assert "publication.min_reliability" in row.fix and "payment" not in row.fix
    good = audit.audit_design(_variant())
    assert good[good.principle_id == "minimum_reliability"].finding.iloc[0] == "minimum reliability 0.7; payment reliability floor 0.7"


def test_the_run_check_finds_adjusted_rates_under_their_own_name(tmp_path):
    both = {"measure_id": ["QOF_DM_HBA1C58", "QOF_HYP_BP140"], "adjusted_rate": [0.61, 0.72]}
    adjusted = _write_run(tmp_path / "adjusted", [("A", "100.00", "bonus")], entity_columns=both)
    findings = _run_findings(adjusted).set_index("principle_id")
    assert findings.status["risk_adjustment"] == audit.PASS
    assert findings.finding["risk_adjustment"] == "adjusted rates present for QOF_DM_HBA1C58, QOF_HYP_BP140"
    half = _write_run(tmp_path / "half", [("A", "100.00", "bonus")], entity_columns={**both, "adjusted_rate": [0.61, None]})
    findings = _run_findings(half).set_index("principle_id")
    assert findings.status["risk_adjustment"] == audit.WARN
    assert findings.finding["risk_adjustment"].startswith("the program declares risk adjustment for QOF_HYP_BP140, but")


def test_entity_measures_left_out_of_payment_by_the_floors_are_not_money_on_noise(tmp_path):
    kept_out = _write_run(tmp_path / "out", [("A", "100.00", "bonus")], reliability=0.5, entity_columns={"meets_payment_floors": [False, True]})
    findings = _run_findings(kept_out).set_index("principle_id")
    assert findings.status["minimum_reliability"] == audit.PASS
    assert findings.finding["minimum_reliability"].endswith("; 1 entity-measures below it were left out of payment")
    scored = _write_run(tmp_path / "in", [("A", "100.00", "bonus")], reliability=0.5, entity_columns={"meets_payment_floors": [True, True]})
    assert _status(_run_findings(scored), "minimum_reliability", "run") == audit.WARN


def test_a_program_file_with_an_unknown_covariate_does_not_pass_the_audit(tmp_path):
    text = GOOD.read_text(encoding="utf-8").replace("covariates: [age, sex, comorbidities, deprivation_quintile]}", "covariates: [age, bmi]}", 1)
    path = tmp_path / "program.yaml"
    path.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(app, ["audit", str(path)])
    assert result.exit_code == 2, result.output
    printed = " ".join(result.output.split())
    assert "field 'measures[0].risk_adjustment.covariates': unknown covariate(s) bmi" in printed and "Traceback" not in result.output
