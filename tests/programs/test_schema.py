"""Program files: every example validates, and mistakes are reported with file, field path and line."""

from __future__ import annotations

import re
import types
import typing
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import BaseModel

from p4pkit.errors import UserError
from p4pkit.programs.loader import load_program
from p4pkit.programs.schema import Program

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "programs").glob("*.yaml"))
REQUIRED_EXAMPLES = {
    "qof", "rosp", "hvbp", "hrrp", "hacrp", "mips", "mssp", "ny-vbp-level1", "ny-vbp-level2", "ny-vbp-level3",
    "never-events", "peer-comparison", "bad-design",
}
QOF = (ROOT / "programs" / "qof.yaml").read_text()


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_every_example_program_validates(path):
    program = load_program(path)
    assert program.schema_version == 1


def test_one_example_per_model_and_ids_unique():
    assert {p.stem for p in EXAMPLES} >= REQUIRED_EXAMPLES
    ids = [load_program(p).id for p in EXAMPLES]
    assert len(ids) == len(set(ids))


def test_example_parameters_carry_the_methodology_values():
    qof = load_program(ROOT / "programs" / "qof.yaml")
    assert (qof.scoring.value_per_point, qof.scoring.total_points) == (Decimal("220.62"), 635)
    hvbp = load_program(ROOT / "programs" / "hvbp.yaml")
    assert (hvbp.funding.withhold_percent, sum(hvbp.scoring.domain_weights.values())) == (2, 100)
    mips = load_program(ROOT / "programs" / "mips.yaml")
    assert (mips.scoring.performance_threshold, mips.scoring.max_adjustment_percent) == (75, 9)


def test_bad_design_expresses_every_flaw_the_audit_looks_for():
    bad = load_program(ROOT / "programs" / "bad-design.yaml")
    assert (bad.payment.upside, bad.payment.downside) == (False, True)
    assert all(m.risk_adjustment.method == "none" for m in bad.measures)
    assert (bad.review.before_payment_days, bad.review.before_publication_days) == (0, 0)
    assert bad.funding.budget_neutral_redistribution and bad.funding.supplemental_pool is None
    assert not bad.participants.voluntary and bad.participants.non_participants == "penalized"
    assert not bad.exceptions.clinical_exceptions
    assert not bad.participants.open_to_all_specialties and bad.participants.minimum_size == 5000
    assert bad.publication.used_for_credentialing and bad.data_submission.requires_plan_specific_software
    assert bad.goals.primary == "cost" and bad.evaluation.design == "none"


def problems_of(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "program.yaml"
    path.write_text(text)
    with pytest.raises(UserError) as caught:
        load_program(path)
    return [str(p) for p in caught.value.problems]


def line_of(text: str, fragment: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), start=1) if fragment in line)


def test_unknown_key_names_file_field_and_line(tmp_path):
    text = QOF.replace("  voluntary: true", "  voluntery: true")
    problems = problems_of(tmp_path, text)
    where = f"{tmp_path / 'program.yaml'}, line {line_of(text, 'voluntery')}, field 'participants.voluntery'"
    assert f"{where}: unknown key (misspelt? see docs/programs/program-files.md for the allowed keys)" in problems
    # The misspelling also leaves the real key missing, reported at the enclosing section's line.
    assert any(p.endswith(f"line {line_of(text, 'participants:')}, field 'participants.voluntary': Field required") for p in problems)


def test_bad_value_in_a_list_item_points_at_its_line(tmp_path):
    text = QOF.replace("    weight: 14", "    weight: -1")
    [problem] = problems_of(tmp_path, text)
    assert f"line {line_of(text, 'weight: -1')}, field 'measures[1].weight': Input should be greater than 0" in problem


def test_discriminated_union_errors_use_the_file_path_not_the_tag(tmp_path):
    text = QOF.replace("  value_per_point: 220.62", "  value_per_pont: 220.62")
    problems = problems_of(tmp_path, text)
    assert any(f"line {line_of(text, 'value_per_pont')}, field 'scoring.value_per_pont'" in p for p in problems)
    text = QOF.replace("  model: qof", "  model: qoff")
    [problem] = problems_of(tmp_path, text)
    assert f"line {line_of(text, 'model: qoff')}, field 'scoring.model'" in problem
    assert "'qof'" in problem


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("performance: {start: 2024-04-01, end: 2025-03-31}", "performance: {start: 2024-04-01, end: 2023-03-31}", "is before start"),
        ("baseline: {start: 2023-04-01, end: 2024-03-31}", "baseline: {start: 2023-04-01, end: 2024-06-30}", "baseline period must end"),
        ("  supplemental_pool: 853826715", "  supplemental_pool: 0", "funding must say where the money comes from"),
        ("  rule: every GMS/PMS", "  entities: [P1]\n  rule: every GMS/PMS", "exactly one of 'entities'"),
        ("  min_denominator: 30", "  min_denominator: 0", "greater than or equal to 1"),
        ("  suppress_cells: [1, 10]", "  suppress_cells: [10, 1]", "1 <= low <= high"),
        ("currency: GBP", "currency: pounds", "should match pattern"),
    ],
)
def test_rules_across_fields(tmp_path, old, new, message):
    assert old in QOF
    problems = problems_of(tmp_path, QOF.replace(old, new))
    assert any(message in p for p in problems), problems


def test_duplicate_keys_are_errors(tmp_path):
    text = QOF.replace("currency: GBP", "currency: GBP\ncurrency: EUR")
    [problem] = problems_of(tmp_path, text)
    assert problem.endswith(f"line {line_of(text, 'currency: EUR')}, field 'currency': key given twice; keep one")


def test_yaml_syntax_error_names_the_line(tmp_path):
    [problem] = problems_of(tmp_path, QOF.replace("  primary: quality", "  primary: [quality"))
    assert ", line " in problem


def test_missing_file_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="cannot read program file"):
        load_program(tmp_path / "absent.yaml")


def _field_names(model: type[BaseModel], seen: set[type]) -> set[str]:
    names: set[str] = set()
    if model in seen:
        return names
    seen.add(model)
    for name, info in model.model_fields.items():
        names.add(name)
        for inner in _models_in(info.annotation):
            names |= _field_names(inner, seen)
    return names


def _models_in(annotation) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is not None:
        return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]
    return []


def test_documentation_describes_every_field():
    doc = (ROOT / "docs" / "programs" / "program-files.md").read_text()
    missing = sorted(name for name in _field_names(Program, set()) if f"`{name}`" not in doc)
    assert missing == []


# ---- settings a run would ignore are refused when the file is loaded ------------------------------

TEXTS = {name: (ROOT / "programs" / f"{name}.yaml").read_text() for name in ("qof", "hrrp", "peer-comparison", "hacrp", "never-events")}
HYP = "    thresholds: {method: fixed, lower: 40, upper: 77}"  # a line of QOF_HYP_BP140 (measures[1])
ADJUSTED = "risk_adjustment: {method: logistic, covariates: [age, sex]}"
HRRP_SOCIAL = "    social_risk: {adjustment: peer_grouping, peer_groups: 5, grouping_variable: dual_proportion}   # 21st Century Cures Act"


@pytest.mark.parametrize(
    ("name", "old", "new", "field", "message"),
    [
        ("qof", HYP, HYP + "\n    risk_adjustment: {method: logistic, covariates: [age, bmi]}",
         "measures[1].risk_adjustment.covariates", "unknown covariate(s) bmi. Covariates p4pkit computes: age,"),
        ("qof", HYP, HYP + "\n    risk_adjustment: {method: logistic, covariates: [age, age]}",
         "measures[1].risk_adjustment.covariates", "covariate(s) named more than once: age"),
        ("qof", HYP, HYP + "\n    risk_adjustment: {method: stratification, covariates: [age]}",
         "measures[1].risk_adjustment.method", "method 'stratification' is not implemented"),
        ("qof", HYP, HYP + "\n    risk_adjustment: {method: logistic, covariates: []}",
         "measures[1].risk_adjustment.covariates", "method 'logistic' with no covariates adjusts for nothing"),
        ("qof", HYP, HYP + "\n    social_risk: {adjustment: covariate}",
         "measures[1].social_risk.adjustment", "social-risk adjustment 'covariate' needs a risk model"),
        ("qof", HYP, HYP + "\n    social_risk: {adjustment: peer_grouping, peer_groups: 3}",
         "measures[1].social_risk.adjustment", "scoring model 'qof' does not compare entities within peer groups"),
        ("qof", HYP, HYP + "\n    social_risk: {adjustment: off, grouping_variable: dual_proportion}",
         "measures[1].social_risk.grouping_variable", "grouping_variable is only used with adjustment 'peer_grouping'"),
        ("hrrp", HRRP_SOCIAL, HRRP_SOCIAL.replace("dual_proportion", "nonsense_var"),
         "measures[0].social_risk.grouping_variable", "unknown grouping variable 'nonsense_var'"),
        ("hrrp", "covariates: [age, sex, comorbidities]}", "covariates: [age, sex, comorbidities, social_risk]}",
         "measures[0].social_risk.adjustment", "counts it twice"),
        ("hrrp", "{method: hierarchical_logistic,", "{method: hcc,",
         "measures[0].risk_adjustment.method", "needs method 'hierarchical_logistic'"),
        ("hrrp", "  conditions: [READMIT_30D]", "  conditions: [READMIT_30D, AMI]",
         "scoring.conditions[1]", "HRRP condition 'AMI' has no index stays"),
        ("hrrp", "  downside: true\n", "  downside: true\n  min_reliability: 0.7\n",
         "payment.min_reliability", "payment floors are not applied by the hrrp model"),
        ("peer-comparison", "    kind: intermediate_outcome\n  - id: CMS125",
         "    kind: intermediate_outcome\n    social_risk: {adjustment: peer_grouping, peer_groups: 2}\n  - id: CMS125",
         "measures[1].social_risk.adjustment", "with comparator 'state' does not compare entities within peer groups"),
        ("peer-comparison", "    kind: intermediate_outcome\n  - id: CMS125",
         "    kind: intermediate_outcome\n    risk_adjustment: {method: hierarchical_logistic, covariates: [age]}\n  - id: CMS125",
         "measures[1].risk_adjustment.method", "the hierarchical model's shrunken ratio has none here"),
        ("hacrp", "kind: outcome, min_denominator: 25}", f"kind: outcome, min_denominator: 25, {ADJUSTED}}}",
         "measures[0].risk_adjustment.method", "READMIT_30D is scored on observations"),
        ("never-events", "kind: outcome}", f"kind: outcome, {ADJUSTED}}}",
         "measures[0]", "never_events pays on listed events, not on measures"),
    ],
)
def test_settings_a_run_would_ignore_are_refused_with_file_line_and_field(tmp_path, name, old, new, field, message):
    assert old in TEXTS[name], old
    text = TEXTS[name].replace(old, new, 1)
    problems = problems_of(tmp_path, text)
    found = [p for p in problems if f"field '{field}': " in p and message in p]
    assert found, problems
    assert f"{tmp_path / 'program.yaml'}, line " in found[0]


def test_the_line_named_is_the_lines_of_the_field(tmp_path):
    text = QOF.replace(HYP, HYP + "\n    risk_adjustment:\n      method: logistic\n      covariates: [age, bmi]")
    [problem] = problems_of(tmp_path, text)
    assert f"line {line_of(text, 'covariates: [age, bmi]')}, field 'measures[1].risk_adjustment.covariates'" in problem


def test_every_problem_is_reported_at_once(tmp_path):
    text = QOF.replace(HYP, HYP + "\n    risk_adjustment: {method: stratification, covariates: [bogus]}")
    problems = problems_of(tmp_path, text)
    assert any("'measures[1].risk_adjustment.method': method 'stratification'" in p for p in problems)
    assert any("'measures[1].risk_adjustment.covariates': unknown covariate(s) bogus" in p for p in problems)


def test_peer_groups_beyond_the_listed_participants_are_refused(tmp_path):
    text = TEXTS["peer-comparison"].replace("  comparator: state", "  comparator: peer_group").replace(
        "    kind: intermediate_outcome\n  - id: CMS125",
        "    kind: intermediate_outcome\n    social_risk: {adjustment: peer_grouping, peer_groups: 5}\n  - id: CMS125")
    assert "  rule:" in text
    text = re.sub(r"(?m)^  rule: .*$", "  entities: [A, B, C]", text, count=1)
    problems = problems_of(tmp_path, text)
    assert any("field 'measures[1].social_risk.peer_groups': 5 peer groups for 3 listed participants" in p for p in problems), problems


def test_settings_a_run_uses_still_load(tmp_path):
    # social risk as a covariate of an HRRP condition: a what-if the binding honours (docs/programs/runs.md)
    path = tmp_path / "hrrp.yaml"
    path.write_text(TEXTS["hrrp"].replace(HRRP_SOCIAL, "    social_risk: {adjustment: covariate}"))
    assert load_program(path).measures[0].model_covariates == ["age", "sex", "comorbidities", "social_risk", "deprivation_quintile"]
    # hcc alone: the method brings its own covariate
    path.write_text(QOF.replace(HYP, HYP + "\n    risk_adjustment: {method: hcc}"))
    assert load_program(path).measures[1].model_covariates == ["hcc"]
    # payment floors on a model that scores measures
    path.write_text(QOF.replace("  downside: false\n", "  downside: false\n  min_denominator: 30\n  min_reliability: 0.7\n", 1))
    payment = load_program(path).payment
    assert (payment.min_denominator, payment.min_reliability, payment.has_floors) == (30, 0.7, True)


def test_social_risk_off_may_be_written_unquoted(tmp_path):
    # YAML 1.1 reads a bare `off` as false; the file means the documented value 'off'
    path = tmp_path / "program.yaml"
    path.write_text(QOF.replace(HYP, HYP + "\n    social_risk: {adjustment: off}"))
    assert load_program(path).measures[1].social_risk.adjustment == "off"


@pytest.mark.parametrize(("name", "model"), [("mssp", "shared_savings"), ("ny-vbp-level3", "capitation")])
def test_quality_gate_models_refuse_payment_floors(tmp_path, name, model):
    """Shared savings and capitation judge one quality score per entity: an entity with every measure
    below the floors would have none and fail the gate (standard not met, withhold kept), which is
    paying on noise again, so the floors are refused until a rule for such entities is decided."""
    text = (ROOT / "programs" / f"{name}.yaml").read_text().replace("\npayment:\n", "\npayment:\n  min_denominator: 30\n", 1)
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    with pytest.raises(UserError) as caught:
        load_program(path)
    assert any(f"payment floors are not applied by the {model} model" in p.reason for p in caught.value.problems)
