"""The design audit: a program file (and optionally a run) against AMA Opinion 8.056 and the VMS principles.

The principles, with the clauses they rest on, are data (`principles.yaml`). Each principle has a
check of the program file (`DESIGN_CHECKS`), a check of a run's outputs (`RUN_CHECKS`), or both.
A check returns PASS, WARN or FAIL, what it saw and what to change. FAIL is for a design that
contradicts a clause outright (involuntary participation, bonuses from redistributed pay, no review
before payment); WARN for a weakness the clauses discourage or a judgment call the program should
be able to defend (a withhold-funded bonus, a pre/post evaluation with no comparison group, losses
on top of rewards); `docs/safeguards.md` lists every rule and its threshold.

Thresholds that are not in the clauses themselves, and where they come from:

- minimum reliability 0.7: the threshold commonly used for physician profiles (Adams et al.,
  "Physician cost profiling: reliability and risk of misclassification", NEJM 2010;362:1014-1021);
- public cells: CMS cell-size suppression of 1 to 10 (methodologies.md §10) and a 30-patient minimum
  denominator for public reporting (MNCM, methodologies.md §9);
- social-risk handling for penalised outcomes: HRRP's peer grouping by dual proportion since FY2019
  (21st Century Cures Act; methodologies.md §2).

`audit_program` returns a table with one row per finding; `p4p audit` prints it and exits 1 when
any finding is FAIL.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache
from importlib import resources
from pathlib import Path

import ibis
import pandas as pd
import pyarrow.parquet as pq
import yaml

from p4pkit.errors import UserError
from p4pkit.measures import Period
from p4pkit.programs.ledger import PENALTY_KINDS, Ledger
from p4pkit.programs.loader import load_program
from p4pkit.programs.schema import NO_PAYMENT_FLOORS, Program
from p4pkit.safeguards.equity import CONCENTRATION_WARN, EquityResult, equity_of_run
from p4pkit.safeguards.unmeasured import UnmeasuredCare, period_rates, results_over_periods, unmeasured_care

PASS, WARN, FAIL = "pass", "warn", "fail"
FINDING_COLUMNS = ("principle_id", "principle", "scope", "status", "clauses", "quote", "finding", "fix")
MIN_RELIABILITY = 0.7
PUBLIC_MIN_DENOMINATOR = 30
SMALL_CELL_MAX = 10
OUTCOME_KINDS = frozenset({"outcome", "cost"})
NO_PURCHASE_PATHS = frozenset({"csv_upload", "claims", "cms_files"})
PAYER_HELD_PATHS = frozenset({"claims", "cms_files"})
RUN_FILES = ("attribution", "patient_measures", "entity_measures", "payments")


@dataclass(frozen=True)
class Verdict:
    """A check's result: status, what was seen, and (unless PASS) what to change."""

    status: str
    finding: str
    fix: str = ""


def _pass(finding: str) -> Verdict:
    return Verdict(PASS, finding)


def _warn(finding: str, fix: str) -> Verdict:
    return Verdict(WARN, finding, fix)


def _fail(finding: str, fix: str) -> Verdict:
    return Verdict(FAIL, finding, fix)


@cache
def principles() -> dict[str, dict]:
    """The principles of `principles.yaml` by id, each with its title and clauses."""
    text = resources.files("p4pkit.safeguards").joinpath("principles.yaml").read_text(encoding="utf-8")
    return {p["id"]: p for p in yaml.safe_load(text)["principles"]}


# ---- design checks: a program file alone ------------------------------------------------------


def _quality_first(p: Program) -> Verdict:
    total = sum(m.weight for m in p.measures)
    cost = sum(m.weight for m in p.measures if m.kind == "cost")
    if p.goals.primary == "cost":
        return _fail("the program's primary goal is cost", "Set goals.primary to quality and say which quality problem it addresses.")
    if total and cost / total > Decimal("0.5"):
        return _fail(f"cost measures carry {cost / total:.0%} of the measure weight", "Give quality measures most of the weight.")
    if p.goals.primary == "quality_and_cost":
        return _warn("quality and cost are joint primary goals", "Make quality the primary goal and cost savings a consequence, not a target.")
    return _pass("the primary goal is quality")


def _risk_adjustment(p: Program) -> Verdict:
    unadjusted = [m for m in p.measures if m.risk_adjustment.method == "none"]
    outcomes = [m.id for m in unadjusted if m.kind in OUTCOME_KINDS]
    intermediate = [m.id for m in unadjusted if m.kind == "intermediate_outcome"]
    fix = "Give each outcome, intermediate-outcome and cost measure a risk_adjustment method with covariates (age, sex, comorbidity; deprivation where it is outside the clinician's control)."
    if not p.measures:
        return _warn("the program file lists no measures, so their adjustment cannot be checked", "List the measures with their risk adjustment.")
    if outcomes or (intermediate and not p.exceptions.clinical_exceptions):
        return _fail(f"not risk-adjusted: {', '.join(outcomes + intermediate)}", fix)
    if intermediate:
        return _warn(f"intermediate outcomes rely on clinical exceptions instead of case-mix adjustment: {', '.join(intermediate)}", fix)
    return _pass("every outcome, intermediate-outcome and cost measure is risk-adjusted")


def _clinical_exceptions(p: Program) -> Verdict:
    if not p.exceptions.clinical_exceptions:
        return _fail("there is no exception mechanism for clinical judgment", "Set exceptions.clinical_exceptions: true and describe how a clinician records a justified departure (as QOF's Personalised Care Adjustments).")
    if not p.exceptions.description:
        return _warn("exceptions are allowed but not described", "Describe in exceptions.description who may record an exception and how it is reviewed.")
    return _pass(f"clinical exceptions: {p.exceptions.description}")


def _evidence_published(p: Program) -> Verdict:
    if not p.measures:
        return _warn("the program file lists no measures, so their evidence cannot be checked", "List the measures with their evidence.")
    missing = [m.id for m in p.measures if not m.evidence]
    unexplained = [m.id for m in p.measures if not m.why_it_matters]
    if missing:
        return _fail(f"no evidence or guideline reference: {', '.join(missing)}", "Add measures[].evidence (the guideline or trial each measure rests on) for every measure.")
    if unexplained:
        return _warn(f"no explanation of purpose: {', '.join(unexplained)}", "Add measures[].why_it_matters, the plain-language purpose shown to clinicians.")
    return _pass("every measure names its evidence and explains its purpose")


def _review(days: int, disputes: bool, when: str, field_name: str) -> Verdict:
    if days == 0:
        return _fail(f"no review window before {when}", f"Give clinicians time to review and correct their data before {when} (review.{field_name}, e.g. 30 days).")
    if not disputes:
        return _fail(f"a {days}-day review window before {when}, but disputes are not allowed", "Set review.disputes_allowed: true so that clinicians can comment and correct, not only look.")
    return _pass(f"{days} days to review and dispute before {when}")


def _review_before_payment(p: Program) -> Verdict:
    if p.payment.kind == "none":
        return _pass("no money is paid on the results")
    return _review(p.review.before_payment_days, p.review.disputes_allowed, "payment", "before_payment_days")


def _review_before_publication(p: Program) -> Verdict:
    if not p.publication.public:
        return _pass("results are not published")
    return _review(p.review.before_publication_days, p.review.disputes_allowed, "publication", "before_publication_days")


def _voluntary(p: Program) -> Verdict:
    if not p.participants.voluntary:
        return _fail("participation is compulsory", "Make joining voluntary (participants.voluntary: true), with no consequence for declining.")
    return _pass("participation is voluntary")


def _non_participants(p: Program) -> Verdict:
    if p.participants.non_participants == "penalized":
        return _fail("clinicians who do not take part are penalised", "Leave non-participants' pay untouched (participants.non_participants: unaffected).")
    return _pass(f"non-participants: {p.participants.non_participants.replace('_', ' ')}")


def _supplemental_funding(p: Program) -> Verdict:
    f = p.funding
    if f.budget_neutral_redistribution:
        return _fail("rewards are funded by redistributing current physician pay (budget neutral)", "Fund bonuses from a supplemental pool (funding.supplemental_pool) on top of current pay.")
    if not p.payment.upside:
        return _pass("no bonuses are paid")
    if (f.supplemental_pool or 0) > 0 or f.from_savings:
        return _pass("bonuses come from supplemental money" + (" (savings generated)" if f.from_savings else ""))
    return _warn(f"bonuses are the participants' own pay, withheld ({f.withhold_percent}%) and returned", "Fund bonuses from a supplemental pool rather than a withhold of current pay.")


def _positive_incentives(p: Program) -> Verdict:
    pay = p.payment
    if pay.downside and not pay.upside:
        return _fail("penalty-only: clinicians can lose money but never gain", "Reward performance from supplemental money (payment.upside: true) instead of penalising.")
    if pay.downside:
        cap = f" (capped at {pay.max_penalty_percent}%)" if pay.max_penalty_percent else ""
        return _warn(f"losses are possible as well as rewards{cap}", "Keep losses small and capped, and watch who bears them (p4p audit --run --data).")
    return _pass("rewards only; nobody loses money")


def _minimum_reliability(p: Program) -> Verdict:
    """Floors for both uses of a score: payment (`payment.min_reliability`, applied by every run to
    every model that scores measures) and publication or ranking (`publication.min_reliability`)."""
    weak, fixes = [], []
    pays = p.payment.kind != "none" and (p.payment.upside or p.payment.downside)
    own = NO_PAYMENT_FLOORS.get(p.scoring.model)  # models that refuse payment floors, and why
    payment_floor = p.payment.min_reliability
    if pays and own is None:
        if payment_floor is None:
            weak.append("no payment reliability floor: entities may be paid or penalised on noise")
        elif payment_floor < MIN_RELIABILITY:
            weak.append(f"payment reliability floor {payment_floor} is below {MIN_RELIABILITY}")
        if weak:
            fixes.append(f"Set payment.min_reliability to at least {MIN_RELIABILITY} (with payment.min_denominator) so that nobody is paid or penalised on noise.")
    floor = p.publication.min_reliability
    if floor is None:
        weak.append("no publication reliability floor: entities may be published or ranked on noise")
    elif floor < MIN_RELIABILITY:
        weak.append(f"minimum reliability {floor} is below {MIN_RELIABILITY}")
    if floor is None or floor < MIN_RELIABILITY:
        fixes.append(f"Set publication.min_reliability to at least {MIN_RELIABILITY} so that nobody is published or ranked on noise.")
    if weak:
        return _warn("; ".join(weak), " ".join(fixes))
    paid = ("" if not pays else f"; payment: {own}" if own else f"; payment reliability floor {payment_floor}")
    return _pass(f"minimum reliability {floor}{paid}")


def _privacy(p: Program) -> Verdict:
    pub = p.publication
    if not pub.public:
        return _pass("results are not published")
    low, high = pub.suppress_cells
    if low > 1 or high < SMALL_CELL_MAX:
        return _fail(f"public cells of {low} to {high} are suppressed, not 1 to {SMALL_CELL_MAX}", f"Set publication.suppress_cells: [1, {SMALL_CELL_MAX}] (CMS cell-size suppression).")
    if pub.min_denominator <= SMALL_CELL_MAX:
        return _fail(f"entities with denominators of {pub.min_denominator} may be published", f"Set publication.min_denominator to at least {PUBLIC_MIN_DENOMINATOR}.")
    if pub.min_denominator < PUBLIC_MIN_DENOMINATOR:
        return _warn(f"minimum public denominator {pub.min_denominator} is below {PUBLIC_MIN_DENOMINATOR}", f"Set publication.min_denominator to at least {PUBLIC_MIN_DENOMINATOR} (MNCM).")
    return _pass(f"cells of 1 to {high} suppressed; minimum public denominator {pub.min_denominator}")


def _penalties_within_control(p: Program) -> Verdict:
    if not p.payment.downside:
        return _pass("nobody is penalised")
    exposed = [m for m in p.measures if m.kind in OUTCOME_KINDS | {"intermediate_outcome"}]
    unadjusted = [m.id for m in exposed if m.risk_adjustment.method == "none"]
    if unadjusted:
        return _fail(f"penalties ride on unadjusted outcomes: {', '.join(unadjusted)}", "Risk-adjust every outcome that can cost money, or take it out of the penalty.")
    no_social = [m.id for m in exposed if m.social_risk.adjustment == "off"]
    if no_social:
        return _warn(f"penalised outcomes ignore social risk: {', '.join(no_social)}", "Compare entities within peer groups of social risk (social_risk: peer_grouping, as HRRP) or adjust for it.")
    return _pass("every penalised outcome is adjusted for clinical and social risk")


def _access(p: Program) -> Verdict:
    ev = p.evaluation
    if not ev.monitor_patient_deselection:
        return _fail("nobody watches whether complex patients are pushed out", "Set evaluation.monitor_patient_deselection: true (removals and exceptions of high-risk patients are checked on every run).")
    if not ev.equity_strata:
        return _warn("no equity strata are monitored", "List evaluation.equity_strata (deprivation_quintile, ethnicity, social_risk).")
    return _pass(f"deselection monitored; equity strata: {', '.join(ev.equity_strata)}")


def _open_to_all(p: Program) -> Verdict:
    part = p.participants
    if not part.open_to_all_specialties:
        return _fail("the program is closed to some specialties", "Open the program to every specialty that wants to join.")
    if part.minimum_size:
        return _warn(f"entities need at least {part.minimum_size} patients to join", "Drop the size floor; handle small numbers with a reliability floor and suppression instead.")
    return _pass("open to every specialty and size")


def _no_purchased_it(p: Program) -> Verdict:
    ds = p.data_submission
    if ds.requires_plan_specific_software:
        return _fail("practices must buy plan-specific software", "Accept a CSV upload (data_submission.paths: csv_upload) or the claims the payer already holds.")
    if not NO_PURCHASE_PATHS & set(ds.paths):
        return _warn(f"data come only by {', '.join(ds.paths)}, which need an EHR or interface", "Add csv_upload so that practices without an interface can take part.")
    return _pass(f"submission without purchased IT: {', '.join(sorted(NO_PURCHASE_PATHS & set(ds.paths)))}")


def _admin_costs(p: Program) -> Verdict:
    if p.funding.administrative_costs_reimbursed:
        return _pass("added administrative costs are reimbursed")
    if set(p.data_submission.paths) <= PAYER_HELD_PATHS:
        return _pass("the program uses only data the payer already holds")
    return _warn("practices bear the cost of collecting and reporting data", "Reimburse added administrative costs (funding.administrative_costs_reimbursed: true).")


def _not_for_credentialing(p: Program) -> Verdict:
    if p.publication.used_for_credentialing:
        return _fail("results are used in credentialing", "Keep results out of credentialing, licensure and certification (publication.used_for_credentialing: false).")
    return _pass("results are not used in credentialing")


def _improvement_shown(p: Program) -> Verdict:
    ev = p.evaluation
    if ev.design == "none":
        return _fail("no evaluation: nothing will show whether care improved", "Plan a difference-in-differences or interrupted time series (evaluation.design) with named outcomes.")
    if ev.design == "pre_post":
        return _warn("a pre/post comparison cannot separate the program from secular trends", "Use difference_in_differences with a comparison group, or an interrupted time series.")
    if ev.design == "difference_in_differences" and not ev.comparison_group:
        return _warn("difference in differences without a named comparison group", "Name evaluation.comparison_group.")
    if not ev.outcomes:
        return _warn(f"{ev.design.replace('_', ' ')} planned without named outcomes", "List evaluation.outcomes.")
    return _pass(f"{ev.design.replace('_', ' ')} on {', '.join(ev.outcomes)}")


DESIGN_CHECKS: dict[str, Callable[[Program], Verdict]] = {
    "quality_first": _quality_first,
    "risk_adjustment": _risk_adjustment,
    "clinical_exceptions": _clinical_exceptions,
    "evidence_published": _evidence_published,
    "review_before_payment": _review_before_payment,
    "review_before_publication": _review_before_publication,
    "voluntary_participation": _voluntary,
    "non_participants_unharmed": _non_participants,
    "supplemental_funding": _supplemental_funding,
    "positive_incentives": _positive_incentives,
    "minimum_reliability": _minimum_reliability,
    "privacy_in_public_output": _privacy,
    "penalties_within_control": _penalties_within_control,
    "access_for_complex_patients": _access,
    "open_to_all": _open_to_all,
    "no_purchased_it": _no_purchased_it,
    "administrative_costs_reimbursed": _admin_costs,
    "not_for_credentialing": _not_for_credentialing,
    "improvement_shown": _improvement_shown,
}


# ---- run checks: a run folder, and optionally the data it ran on --------------------------------


@dataclass
class RunOutputs:
    """The tables of a run folder that the audit reads, plus what the data add when given."""

    attribution: pd.DataFrame
    entity_measures: pd.DataFrame
    payments: pd.DataFrame
    ledger: dict
    periods: dict[str, Period]
    patient_measures: ibis.Table
    equity: EquityResult | None = None
    unmeasured: UnmeasuredCare | None = None
    comparators: tuple[str, ...] = field(default_factory=tuple)

    def participants(self, program: Program) -> set[str]:
        """Entities that took part: attributed in the performance period (and listed, if the program lists)."""
        table = self.attribution
        attributed = set(table.entity_id[(table.period == "performance") & table.entity_id.notna()])
        listed = program.participants.entities
        return attributed if listed is None else attributed & set(listed)


def read_run(run_dir: str | Path) -> RunOutputs:
    """Read a run folder written by `p4p run`; a missing table is a `UserError` naming it."""
    run_dir = Path(run_dir)
    missing = [f"{name}.parquet" for name in RUN_FILES if not (run_dir / f"{name}.parquet").is_file()]
    missing += [name for name in ("ledger.json", "manifest.json") if not (run_dir / name).is_file()]
    if missing:
        raise UserError(f"{run_dir} is not a complete run folder: missing {', '.join(missing)}", hint="Pass the --out folder of a finished `p4p run`.")
    manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    periods = {name: Period.parse(f"{start}:{end}") for name, (start, end) in manifest["periods"].items()}
    patient = pq.read_table(run_dir / "patient_measures.parquet")
    patient = patient.drop_columns([c for c in ("evidence_event_ids", "evidence_dates") if c in patient.column_names])
    return RunOutputs(
        attribution=pq.read_table(run_dir / "attribution.parquet", columns=["patient_id", "entity_id", "period"]).to_pandas(),
        entity_measures=pq.read_table(run_dir / "entity_measures.parquet").to_pandas(),
        payments=pq.read_table(run_dir / "payments.parquet").to_pandas(),
        ledger=json.loads((run_dir / "ledger.json").read_text(encoding="utf-8")),
        periods=periods,
        patient_measures=ibis.memtable(patient),
    )


def _ledger_of(run: RunOutputs, program: Program, participants: frozenset[str] | None) -> Ledger:
    ledger = Ledger(
        program.id,
        upside_only=run.ledger.get("upside_only", False),
        budget_neutral=run.ledger.get("budget_neutral", False),
        funded=Decimal(run.ledger.get("totals", {}).get("funded", "0")),
        participants=participants,
    )
    for row in run.payments.itertuples(index=False):
        ledger.add(row.entity_id, Decimal(row.amount), row.kind, row.reason)
    return ledger


def _run_money(run: RunOutputs, program: Program) -> Verdict:
    ledger = _ledger_of(run, program, None)
    problems = ledger.violations()
    recorded = run.ledger.get("totals", {})
    differing = [k for k, v in ledger.totals().items() if k in recorded and Decimal(recorded[k]) != v]
    if differing:
        problems.append(f"ledger.json totals differ from the entries for {', '.join(differing)}")
    if problems:
        return _fail("; ".join(problems), "Do not pay from this run: re-run with a corrected program or data, and report the discrepancy.")
    totals = ", ".join(f"{k} {v}" for k, v in ledger.totals().items())
    return _pass(f"every ledger invariant holds and the totals match the entries ({totals})")


def _run_non_participants(run: RunOutputs, program: Program) -> Verdict:
    outsiders = _ledger_of(run, program, frozenset(run.participants(program))).violations()
    taken = [v for v in outsiders if "non-participant" in v]
    if taken:
        return _fail(taken[0], "Remove the penalty entries of non-participants and re-run.")
    return _pass("no non-participant appears among withholds, penalties or shared losses")


def _run_reliability(run: RunOutputs, program: Program) -> Verdict:
    """Money moved on entity-measures below the reliability floor.

    A run that applied payment floors records, per entity-measure, whether it cleared them
    (`meets_payment_floors`); rows left out of scoring moved no money, so only rows below the floor
    that were still scored count against the run. Without that column (an older run, or results
    from elsewhere) every measure of a paid entity counts."""
    floor = program.payment.min_reliability or program.publication.min_reliability or MIN_RELIABILITY
    moved = run.payments
    if moved.empty:
        return _pass("no money moved in this run")
    rows = run.entity_measures
    rows = rows[(rows.period == "performance") & (rows.group_index == 0) & rows.reliability.notna()]
    below = rows[rows.reliability < floor]
    kept_out = 0
    if "meets_payment_floors" in below.columns:
        kept_out = int((~below.meets_payment_floors).sum())
        below = below[below.meets_payment_floors]
    shaky = set(below.entity_id)
    penalised = sorted(shaky & set(moved.entity_id[moved.kind.isin(PENALTY_KINDS - {"withhold"}) | (moved.kind == "recovery")]))
    paid = sorted(shaky & set(moved.entity_id))
    if penalised:
        return _fail(f"{len(penalised)} entities penalised on a measure with reliability below {floor}", "Do not penalise on measures below the reliability floor: set payment.min_reliability, pool years, or drop the measure for those entities.")
    if paid:
        return _warn(f"{len(paid)} of {moved.entity_id.nunique()} paid entities were scored on a measure with reliability below {floor}", "Set payment.min_reliability so that measures below the floor are left out of payment, or pool years until they meet it.")
    left = f"; {kept_out} entity-measures below it were left out of payment" if kept_out else ""
    return _pass(f"every entity with money moved was scored only on measures with reliability of at least {floor}{left}")


def _run_privacy(run: RunOutputs, program: Program) -> Verdict:
    rows = run.entity_measures
    leaking = rows[rows.publishable & (rows.performance_denominator < program.publication.min_denominator)]
    if not leaking.empty:
        return _fail(f"{len(leaking)} entity results marked publishable below the minimum denominator", "Fix the publication flag before anything is published.")
    return _pass(f"no entity result below {program.publication.min_denominator} patients is marked publishable")


def _run_risk_adjustment(run: RunOutputs, program: Program) -> Verdict:
    """Every measure the program risk-adjusts has adjusted rates in the run's entity results
    (`adjusted_rate`, performance period). HRRP adjusts its conditions in the binding, per index
    stay (the ERR in entity_scores), so its condition measures are not looked for here."""
    declared = [m.id for m in program.measures if m.model_covariates]
    if program.scoring.model == "hrrp":
        adjusted_elsewhere = [m for m in declared if m in program.scoring.conditions]
        declared = [m for m in declared if m not in adjusted_elsewhere]
    else:
        adjusted_elsewhere = []
    rows = run.entity_measures
    if "adjusted_rate" in rows.columns:
        rows = rows[(rows.period == "performance") & (rows.group_index == 0) & rows.adjusted_rate.notna()]
        present = set(rows.measure_id)
    else:
        present = set()
    missing = [m for m in declared if m not in present]
    if missing:
        return _warn(f"the program declares risk adjustment for {', '.join(missing)}, but the run's entity results carry no risk-adjusted rate for them", "Apply the declared adjustment (p4pkit.risk) before scoring, or do not pay on these measures.")
    if declared or adjusted_elsewhere:
        where = [f"adjusted rates present for {', '.join(declared)}"] if declared else []
        where += [f"{', '.join(adjusted_elsewhere)} adjusted in the HRRP excess readmission ratio"] if adjusted_elsewhere else []
        return _pass("; ".join(where))
    return _pass("no measure declares risk adjustment")


_NEEDS_DATA = "not assessed: the audit needs the run's data for patients' deprivation (--data)"


def _equity_missing(run: RunOutputs) -> Verdict | None:
    """A 'not assessed' verdict when the equity checks lack data; None when they can run."""
    if run.equity is None:
        return _warn(_NEEDS_DATA, "Pass --data with the folder or store the run used.")
    if run.equity.entities.known_deprivation.sum() == 0:
        return _warn("not assessed: no attributed patient has a deprivation quintile", "Load patients' deprivation_quintile (e.g. from the index of multiple deprivation of their area).")
    return None


def _run_concentration(run: RunOutputs, program: Program) -> Verdict:
    if missing := _equity_missing(run):
        return missing
    c = run.equity.concentration
    text = (
        f"the {c.top_fifth_entities} entities serving the most deprived patients (top fifth by deprived share) "
        f"bear {c.penalty_share:.0%} of penalties with {c.patient_share:.0%} of patients (ratio {c.ratio:.2f}; Spearman {c.spearman:.2f})"
    )
    if c.total_penalty == 0:
        return _pass("no entity lost money in this run")
    if c.warn:
        return _warn(text + f", at or above {CONCENTRATION_WARN}", "Adjust penalised outcomes for social risk or compare within peer groups (as HRRP), and review these entities' penalties.")
    return _pass(text)


def _run_gradient(run: RunOutputs, program: Program) -> Verdict:
    if missing := _equity_missing(run):
        return missing
    g = run.equity.gradient
    if math.isnan(g.slope):
        return _warn(f"not assessed: a gradient needs at least three entities with different deprived shares ({g.entities} entities)", "Audit a run with more entities.")
    text = f"net payment per patient changes by {g.slope:.2f} (95% CI {g.lower:.2f} to {g.upper:.2f}) from no deprived patients to all ({g.entities} entities)"
    if g.upper < 0:
        return _warn(text + ": money flows away from entities serving deprived patients", "Adjust for social risk, reward improvement as well as attainment, and check access for complex patients.")
    return _pass(text)


def _run_unmeasured(run: RunOutputs, program: Program) -> Verdict:
    if run.unmeasured is None:
        return _warn("not assessed: name comparable non-incentivised measures (--compare) and the run's data (--data)", "Pass --data and one --compare per comparison measure, e.g. --compare CMS125 --compare CMS130.")
    u = run.unmeasured
    text = (
        f"incentivised {u.incentivised_pre:.1%} -> {u.incentivised_post:.1%}, not incentivised ({', '.join(run.comparators)}) "
        f"{u.non_incentivised_pre:.1%} -> {u.non_incentivised_post:.1%}; gap change {u.gap_change.estimate:+.1%} "
        f"(95% CI {u.gap_change.lower:+.1%} to {u.gap_change.upper:+.1%})"
    )
    if u.neglect:
        return _warn(text + ": non-incentivised care fell while incentivised care rose", "Rotate indicators, add the neglected care to the measure set or to monitoring, and review with clinicians.")
    return _pass(text)


RUN_CHECKS: dict[str, Callable[[RunOutputs, Program], Verdict]] = {
    "money_adds_up": _run_money,
    "non_participants_unharmed": _run_non_participants,
    "minimum_reliability": _run_reliability,
    "privacy_in_public_output": _run_privacy,
    "risk_adjustment": _run_risk_adjustment,
    "penalties_within_control": _run_concentration,
    "access_for_complex_patients": _run_gradient,
    "care_beyond_the_measures": _run_unmeasured,
}


# ---- the audit ---------------------------------------------------------------------------------


def _row(principle_id: str, scope: str, verdict: Verdict) -> dict:
    principle = principles()[principle_id]
    clauses = "; ".join(f"{c['source']} {c['clause']}" for c in principle["clauses"])
    quote = principle["clauses"][0]["text"]
    return {
        "principle_id": principle_id,
        "principle": principle["title"],
        "scope": scope,
        "status": verdict.status,
        "clauses": clauses,
        "quote": quote,
        "finding": verdict.finding,
        "fix": verdict.fix,
    }


def audit_design(program: Program) -> pd.DataFrame:
    """The design findings of a program: one row per principle a program file can show."""
    rows = [_row(pid, "design", check(program)) for pid, check in DESIGN_CHECKS.items()]
    return pd.DataFrame(rows, columns=list(FINDING_COLUMNS))


def _nullable(table: ibis.Table) -> ibis.Table:
    """The same columns, all nullable (a union needs identical schemas, and files differ in this)."""
    return table.cast({name: dtype.copy(nullable=True) for name, dtype in table.schema().items()})


def _add_data(run: RunOutputs, program: Program, data: str | Path, comparators: tuple[str, ...]) -> None:
    """Equity and unmeasured-care statistics, which need the patients table and the measures."""
    from p4pkit.data import open_data

    with open_data(data) as store:
        if not store.has_table("patients"):
            raise UserError(f"{data} holds no patients table", hint="Pass the folder or store the run used.")
        patients = store.table("patients")
        attribution = ibis.memtable(run.attribution)
        run.equity = equity_of_run(run.patient_measures, attribution, patients, run.payments)
        if comparators:
            extra = results_over_periods(store, comparators, run.periods)
            extra = extra.drop_columns(["evidence_event_ids", "evidence_dates"])
            attributed = attribution.filter(attribution.entity_id.notnull()).select("patient_id", "period")
            compared = ibis.memtable(extra).semi_join(attributed, ["patient_id", "period"])
            columns = ["period", "measure_id", "group_index", "scoring", "denominator", "denominator_exclusion", "denominator_exception", "numerator"]
            both = _nullable(run.patient_measures.select(columns)).union(_nullable(compared.select(columns)), distinct=False)
            incentivised = [m.id for m in program.measures]
            run.unmeasured = unmeasured_care(period_rates(both, incentivised), post_periods={"performance"})
            run.comparators = comparators


def audit_program(
    program: Program | str | Path,
    run_dir: str | Path | None = None,
    data: str | Path | None = None,
    comparators: Iterable[str] = (),
) -> pd.DataFrame:
    """Audit a program file, and with `run_dir` a run of it, against AMA 8.056 and the VMS principles.

    `data` (the folder or store the run used) adds the equity checks; `comparators` (library
    measure ids not paid for by the program) add the unmeasured-care check. Returns the findings
    (`FINDING_COLUMNS`), design findings first.
    """
    if not isinstance(program, Program):
        program = load_program(program)
    comparators = tuple(comparators)
    if (data is not None or comparators) and run_dir is None:
        raise UserError("--data and --compare need --run", hint="Give the run folder to audit results.")
    if comparators and data is None:
        raise UserError("--compare needs --data", hint="The comparison measures are computed from the run's data.")
    findings = audit_design(program)
    if run_dir is None:
        return findings
    run = read_run(run_dir)
    if run.ledger.get("program_id") != program.id:
        raise UserError(f"{run_dir} is a run of '{run.ledger.get('program_id')}', not of '{program.id}'", hint="Audit a run with the program file it ran.")
    if data is not None:
        _add_data(run, program, data, comparators)
    rows = [_row(pid, "run", check(run, program)) for pid, check in RUN_CHECKS.items()]
    return pd.concat([findings, pd.DataFrame(rows, columns=list(FINDING_COLUMNS))], ignore_index=True)


def has_failures(findings: pd.DataFrame) -> bool:
    """True when any finding is FAIL (the CLI then exits 1)."""
    return bool((findings.status == FAIL).any())


def render_findings(findings: pd.DataFrame):
    """The findings as a Rich table (status coloured), for the terminal."""
    from rich.markup import escape
    from rich.table import Table

    colours = {PASS: "green", WARN: "yellow", FAIL: "bold red"}
    table = Table(title=f"Audit: {(findings.status == FAIL).sum()} fail, {(findings.status == WARN).sum()} warn, {(findings.status == PASS).sum()} pass")
    for column in ("status", "principle", "scope", "clause", "finding", "fix"):
        table.add_column(column, overflow="fold")
    for row in findings.itertuples(index=False):
        clause = f"{escape(row.clauses)}\n[italic]\"{escape(row.quote)}\"[/]"
        table.add_row(f"[{colours[row.status]}]{row.status.upper()}[/]", escape(row.principle), row.scope, clause, escape(row.finding), escape(row.fix))
    return table


def audit_section(program: Program):
    """The run report's design-audit section (`reports.html.Section`)."""
    from p4pkit.reports.html import Section

    findings = audit_design(program)
    counts = findings.status.value_counts()
    return Section(
        "Design audit (AMA Opinion 8.056, VMS principles)",
        text=f"{counts.get(FAIL, 0)} fail, {counts.get(WARN, 0)} warn, {counts.get(PASS, 0)} pass.",
        tables=[findings[["status", "principle", "clauses", "finding", "fix"]]],
        note="p4p audit PROGRAM --run RUN --data DATA adds the checks of this run's results.",
    )
