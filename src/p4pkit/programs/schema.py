"""The program file: one versioned, validated description of a pay-for-performance program.

A program file says everything a run needs (who takes part, how patients are attributed, which
measures count and how, how scores turn into money, when clinicians may review results) and
everything a design audit needs to judge the program against AMA Code of Medical Ethics Opinion
8.056 and the Vermont Medical Society principles for pay-for-performance (2023): whether joining is
voluntary and non-participants are left alone, where the money comes from, whether measures are
evidence-based and risk-adjusted, whether there is a review window and a clinical-exception
mechanism, and how improvement will be shown. `docs/programs/program-files.md` documents every field.

Every model forbids unknown keys: a misspelt key in a program file is an error, never silently
ignored. Money is `Decimal`. Load files with `p4pkit.programs.loader.load_program`.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

SCHEMA_VERSION = 1

Percent = Annotated[Decimal, Field(ge=0, le=100)]
Money = Annotated[Decimal, Field(ge=0)]

ADJUSTING_METHODS = ("indirect_standardization", "logistic", "hierarchical_logistic", "hcc")
"""Risk-adjustment methods that fit a model of the outcome on covariates (`risk.adjust`)."""
SOCIAL_COVARIATES = ("social_risk", "deprivation_quintile")
"""What `social_risk: {adjustment: covariate}` adds to a measure's risk model."""
GROUPING_VARIABLES = ("dual_proportion", "social_risk_share")
"""What social-risk peer groups can be formed on; both name the share of an entity's patients (for
HRRP, of its stays) with the social-risk flag (dual eligibility in Medicare data)."""
PEER_GROUPING_MODELS = ("hrrp", "peer_comparison")
"""Scoring models that compare entities within social-risk peer groups (peer comparison only with
`comparator: peer_group`); no other model has peers to compare within, so grouping would do nothing."""
HRRP_COHORT_MEASURES = ("READMIT_30D",)
"""Measures with stay-level cohorts the HRRP binding can score (`bindings/hrrp.py`)."""


def _path(loc: tuple) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


class FieldProblems(ValueError):
    """Problems a validator found in fields below the model it validates, each with its location
    relative to that model, so the loader can name every field and line (`loader._problems`)."""

    def __init__(self, problems: list[tuple[tuple, str]]):
        self.problems = problems
        super().__init__("; ".join(f"{_path(loc)}: {message}" if loc else message for loc, message in problems))


class Section(BaseModel):
    """Base of every part of a program file: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Period(Section):
    """A closed interval of days (architecture.md, "Conventions")."""

    start: date
    end: date

    @model_validator(mode="after")
    def _ordered(self) -> Period:
        if self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}")
        return self


class Dates(Section):
    program_start: date
    baseline: Period
    performance: Period

    @model_validator(mode="after")
    def _baseline_first(self) -> Dates:
        if self.baseline.end >= self.performance.start:
            raise ValueError("the baseline period must end before the performance period starts")
        return self


class Goals(Section):
    """What the program is for. VMS: the primary goal must be quality, not monetary savings."""

    primary: Literal["quality", "cost", "quality_and_cost"]
    statement: str


EntityType = Literal["clinician", "practice", "clinician_group", "hospital", "aco"]


class Participants(Section):
    """Who may join and what happens to those who do not (VMS: voluntary, no penalty for staying out,
    open to every specialty, not favouring practices by size)."""

    entity_type: EntityType
    entities: list[str] | None = None
    rule: str | None = None
    voluntary: bool
    non_participants: Literal["unaffected", "penalized", "not_applicable"]
    open_to_all_specialties: bool = True
    minimum_size: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _list_or_rule(self) -> Participants:
        if (self.entities is None) == (self.rule is None):
            raise ValueError("give exactly one of 'entities' (a list of ids) or 'rule' (who qualifies)")
        return self


class Funding(Section):
    """Where the money comes from. VMS: bonuses from supplemental funds, not redistribution."""

    supplemental_pool: Money | None = None
    withhold_percent: Percent | None = None
    budget_neutral_redistribution: bool = False
    from_savings: bool = False
    administrative_costs_reimbursed: bool = False

    @property
    def has_source(self) -> bool:
        """Whether any money is there to pay rewards from (a zero pool is none)."""
        pool = self.supplemental_pool is not None and self.supplemental_pool > 0
        return pool or bool(self.withhold_percent) or self.budget_neutral_redistribution or self.from_savings


AttributionEntity = Literal["clinician", "organization", "aco"]


class RegistrationRule(Section):
    """UK-style list attribution: the practice a patient is registered with on the reference date."""

    rule: Literal["registration"]
    reference_date: date | None = None


class MsspTwoStepRule(Section):
    """42 CFR 425.402 two-step plurality of primary-care allowed charges (see docs/attribution.md)."""

    rule: Literal["mssp_two_step"]
    entity: AttributionEntity = "aco"
    nonphysicians_in_step_one: bool = False
    primary_care_codes: str | None = None


class PluralityOfVisitsRule(Section):
    """Most visits in the period, ties broken by the most recent visit."""

    rule: Literal["plurality_of_visits"]
    entity: AttributionEntity = "clinician"
    encounter_classes: list[str] = Field(default_factory=lambda: ["ambulatory", "virtual", "home"])
    primary_care_only: bool = True


class HospitalOfStayRule(Section):
    """Hospital programs: the hospital of most of the patient's inpatient stays in the period."""

    rule: Literal["hospital_of_stay"]
    encounter_classes: list[str] = Field(default_factory=lambda: ["inpatient"])


AttributionRule = Annotated[
    RegistrationRule | MsspTwoStepRule | PluralityOfVisitsRule | HospitalOfStayRule, Field(discriminator="rule")
]


class Thresholds(Section):
    """Where a measure starts and stops earning: fixed values, or percentiles of the baseline distribution.

    `lower`/`upper` are QOF's lower and upper thresholds, ROSP's intermediate and final targets,
    HVBP's achievement threshold and benchmark (AT = p50; BM = mean of the top decile).
    """

    method: Literal["fixed", "baseline_percentile"]
    lower: float
    upper: float | Literal["top_decile_mean"]

    @model_validator(mode="after")
    def _consistent(self) -> Thresholds:
        if self.upper == "top_decile_mean":
            if self.method != "baseline_percentile":
                raise ValueError("upper 'top_decile_mean' needs method 'baseline_percentile'")
            return self
        if self.method == "baseline_percentile" and not (0 <= self.lower <= 100 and 0 <= self.upper <= 100):
            raise ValueError("percentile thresholds must lie between 0 and 100")
        return self


class RiskAdjustment(Section):
    """AMA 8.056 (1)(c) and VMS: measures adjusted for case mix so high-risk patients are not avoided.

    Covariates are checked here, when the file is loaded: each must be one p4pkit computes
    (`risk.features.COVARIATES`) and none may be named twice. `stratification` (reporting rates
    within risk strata) is a recognised method that p4pkit does not implement, so it is refused
    rather than accepted and ignored.
    """

    method: Literal["none", "indirect_standardization", "logistic", "hierarchical_logistic", "hcc", "stratification"]
    covariates: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _covariates_match(self) -> RiskAdjustment:
        from p4pkit.errors import UserError
        from p4pkit.risk.features import check_covariates

        problems: list[tuple[tuple, str]] = []
        if self.method == "stratification":
            problems.append((("method",), "method 'stratification' is not implemented: p4pkit would score the unadjusted rate. "
                                          f"Use one of {', '.join(ADJUSTING_METHODS)} (a model on covariates), or none"))
        if self.method == "none" and self.covariates:
            problems.append(((), "covariates given but method is 'none'"))
        repeated = sorted({c for c in self.covariates if self.covariates.count(c) > 1})
        if repeated:
            problems.append((("covariates",), f"covariate(s) named more than once: {', '.join(repeated)}"))
        try:
            check_covariates(self.covariates, "risk_adjustment")
        except UserError as error:
            problems.append((("covariates",), f"{error.message.removeprefix('risk_adjustment: ')}. {error.hint}"))
        if problems:
            raise FieldProblems(problems)
        return self


class SocialRisk(Section):
    """Social-risk handling: none, as a model covariate, or comparison within peer groups (HRRP quintiles)."""

    adjustment: Literal["off", "covariate", "peer_grouping"]
    peer_groups: int | None = Field(default=None, ge=2)
    grouping_variable: str | None = None

    @field_validator("adjustment", mode="before")
    @classmethod
    def _yaml_off(cls, value: object) -> object:
        """YAML 1.1 reads an unquoted `off` as false: take it as the 'off' the file says."""
        return "off" if value is False else value

    @model_validator(mode="after")
    def _groups_when_grouping(self) -> SocialRisk:
        problems: list[tuple[tuple, str]] = []
        if (self.adjustment == "peer_grouping") != (self.peer_groups is not None):
            problems.append(((), "peer_groups is required with, and only with, adjustment 'peer_grouping'"))
        if self.grouping_variable is not None:
            if self.adjustment != "peer_grouping":
                problems.append((("grouping_variable",), "grouping_variable is only used with adjustment 'peer_grouping'"))
            elif self.grouping_variable not in GROUPING_VARIABLES:
                problems.append((("grouping_variable",), f"unknown grouping variable '{self.grouping_variable}': peer groups can be formed on "
                                                         f"{' or '.join(GROUPING_VARIABLES)} (the share of an entity's patients with social risk)"))
        if problems:
            raise FieldProblems(problems)
        return self


class Measure(Section):
    id: str
    weight: Decimal = Field(gt=0)
    direction: Literal["higher_is_better", "lower_is_better"]
    kind: Literal["process", "outcome", "intermediate_outcome", "experience", "cost", "structure"] = "process"
    thresholds: Thresholds | None = None
    risk_adjustment: RiskAdjustment = RiskAdjustment(method="none")
    social_risk: SocialRisk = SocialRisk(adjustment="off")
    min_denominator: int | None = Field(default=None, ge=1)
    evidence: list[str] = Field(default_factory=list)
    why_it_matters: str | None = None

    @property
    def model_covariates(self) -> list[str]:
        """The covariates of the measure's risk model, as every run fits it (`programs/context.py`
        and the HRRP binding): `risk_adjustment.covariates`, then `social_risk` and
        `deprivation_quintile` when `social_risk.adjustment` is `covariate`, then `hcc` for method
        `hcc`; each once. Empty when the method fits no model (`none`)."""
        if self.risk_adjustment.method not in ADJUSTING_METHODS:
            return []
        covariates = list(self.risk_adjustment.covariates)
        if self.social_risk.adjustment == "covariate":
            covariates += [c for c in SOCIAL_COVARIATES if c not in covariates]
        if self.risk_adjustment.method == "hcc" and "hcc" not in covariates:
            covariates.append("hcc")
        return covariates

    @model_validator(mode="after")
    def _adjustment_does_something(self) -> Measure:
        method, social = self.risk_adjustment.method, self.social_risk
        problems: list[tuple[tuple, str]] = []
        if social.adjustment == "covariate" and method not in ADJUSTING_METHODS:
            problems.append((("social_risk", "adjustment"), f"social-risk adjustment 'covariate' needs a risk model, but risk_adjustment.method is '{method}': "
                                                           f"give a method ({', '.join(ADJUSTING_METHODS)}) or use adjustment 'peer_grouping' or 'off'"))
        if method in ADJUSTING_METHODS and not self.model_covariates:
            problems.append((("risk_adjustment", "covariates"), f"method '{method}' with no covariates adjusts for nothing: list the covariates "
                                                                "(e.g. [age, sex, comorbidities]) or use method 'none'"))
        if social.adjustment == "peer_grouping" and "social_risk" in self.risk_adjustment.covariates:
            problems.append((("social_risk", "adjustment"), "social risk is both a covariate and the basis of the peer groups, which counts it twice: "
                                                           "drop social_risk from the covariates or use adjustment 'covariate'"))
        if problems:
            raise FieldProblems(problems)
        return self


class QofScoring(Section):
    """QOF: points linear between thresholds; £/point × CPI × APDF (methodologies.md §6)."""

    model: Literal["qof"]
    value_per_point: Money
    national_average_list_size: int = Field(gt=0)
    prevalence_adjustment: bool = True
    total_points: int = Field(gt=0)


class RospScoring(Section):
    """ROSP: attainment and progress towards targets, prorated to an 800-patient panel (methodologies.md §7)."""

    model: Literal["rosp"]
    value_per_point: Money
    reference_panel: int = Field(gt=0)
    total_points: int = Field(gt=0)


class HvbpScoring(Section):
    """HVBP: achievement/improvement points, domain scores, TPS (42 CFR 412.165; methodologies.md §1)."""

    model: Literal["hvbp"]
    domain_weights: dict[str, Percent]
    min_domains: int = Field(ge=1)
    achievement_max: int = 10
    improvement_max: int = 9


class HrrpScoring(Section):
    """HRRP: ERR above the peer-group median, payment floor (42 CFR 412.154; methodologies.md §2)."""

    model: Literal["hrrp"]
    conditions: list[str]
    min_cases: int = Field(ge=1)
    payment_floor: Decimal = Field(gt=0, le=1)


class HacrpScoring(Section):
    """HACRP: winsorized z-scores, worst quartile penalised (42 CFR 412.172; methodologies.md §3)."""

    model: Literal["hacrp"]
    winsorize_percentiles: tuple[float, float]
    penalty_percentile: float = Field(gt=0, lt=100)
    reduction_percent: Percent


class MipsScoring(Section):
    """MIPS: decile points, category weights, final score, adjustment (42 CFR 414.1380/1405; §4)."""

    model: Literal["mips"]
    performance_threshold: float = Field(ge=0, le=100)
    category_weights: dict[str, Percent]
    max_adjustment_percent: Percent
    max_scaling_factor: Decimal = Field(gt=0)
    topped_out_cap: float = Field(ge=0, le=10)
    data_completeness: float = Field(ge=0, le=1)
    case_minimum: int = Field(ge=1)
    # For runs on patient-level data: the score (0-100) every entity gets in a category the data do
    # not measure (cost, improvement_activities, promoting_interoperability); a category left out is
    # not scored and its weight is redistributed (42 CFR 414.1380(c)).
    given_category_scores: dict[str, Percent] = Field(default_factory=dict)


class SharedSavingsScoring(Section):
    """MSSP-style shared savings and losses (42 CFR 425.604–425.610; methodologies.md §5)."""

    model: Literal["shared_savings"]
    track: str
    sharing_rate_percent: Percent
    minimum_savings_rate: Percent | Literal["sliding_scale"]
    savings_cap_percent: Percent
    loss_sharing_rate_percent: Percent | None = None
    loss_cap_percent: Percent | None = None
    sequestration_percent: Percent = Decimal(0)
    quality_gate: str | None = None
    # For runs on patient-level data: the quality score (percent) at which savings are shared at the
    # full rate (None: no gate), and the cap on risk-score growth between baseline and performance
    # years applied to the benchmark (MSSP caps HCC growth at 3% [K]).
    quality_standard_percent: Percent | None = None
    risk_growth_cap_percent: Percent = Decimal(3)

    @model_validator(mode="after")
    def _losses_together(self) -> SharedSavingsScoring:
        if (self.loss_sharing_rate_percent is None) != (self.loss_cap_percent is None):
            raise ValueError("give both loss_sharing_rate_percent and loss_cap_percent, or neither")
        return self


class CapitationScoring(Section):
    """Prospective capitation with a quality withhold returned in proportion to quality (NY VBP Level 3)."""

    model: Literal["capitation"]
    pmpm: Money
    quality_withhold_percent: Percent


class NeverEventsScoring(Section):
    """Nonpayment for listed events not present on admission (CMS HAC / NQF serious reportable events)."""

    model: Literal["never_events"]
    event_list: str
    present_on_admission_logic: bool = True


class PeerComparisonScoring(Section):
    """Feedback against peers with a significance flag (no money)."""

    model: Literal["peer_comparison"]
    comparator: Literal["state", "national", "peer_group"]
    significance_level: float = Field(gt=0, lt=1)


Scoring = Annotated[
    QofScoring
    | RospScoring
    | HvbpScoring
    | HrrpScoring
    | HacrpScoring
    | MipsScoring
    | SharedSavingsScoring
    | CapitationScoring
    | NeverEventsScoring
    | PeerComparisonScoring,
    Field(discriminator="model"),
]


class Payment(Section):
    """How scores become money, and in which directions money can move."""

    kind: Literal[
        "bonus",
        "withhold_and_return",
        "payment_adjustment",
        "shared_savings",
        "shared_savings_and_losses",
        "capitation",
        "nonpayment",
        "none",
    ]
    applies_to: str | None = None
    upside: bool
    downside: bool
    max_bonus_percent: Percent | None = None
    max_penalty_percent: Percent | None = None
    rounding: Literal["half_up"] = "half_up"
    quantum: Decimal = Decimal("0.01")
    # Payment floors: in the performance period an entity is scored on a measure (paid, penalised
    # or ranked on it) only when its performance denominator and reliability reach them; below
    # either it is left out of the measure as if unmeasured (`RunContext.measure`). None: no floor.
    min_denominator: int | None = Field(default=None, ge=1)
    min_reliability: float | None = Field(default=None, ge=0, le=1)

    @property
    def has_floors(self) -> bool:
        """Whether the program keeps entities below a denominator or reliability floor out of scoring."""
        return self.min_denominator is not None or self.min_reliability is not None

    @model_validator(mode="after")
    def _caps_match_directions(self) -> Payment:
        if not self.downside and self.max_penalty_percent not in (None, Decimal(0)):
            raise ValueError("max_penalty_percent given but downside is false")
        if not self.upside and self.max_bonus_percent not in (None, Decimal(0)):
            raise ValueError("max_bonus_percent given but upside is false")
        return self


# Scoring models that refuse payment floors, and why.
NO_PAYMENT_FLOORS = {
    "hrrp": "HRRP counts a condition from scoring.min_cases index stays and shrinks its ratio in the hierarchical model; "
            "set scoring.min_cases instead",
    "never_events": "never_events pays on listed events, not on measures",
    # Both judge one quality score per entity; with every measure below the floors an entity would have
    # none and fail the quality gate (shared savings: standard not met; capitation: withhold kept),
    # which is paying on noise again. Until a rule for an unscorable entity is decided, refuse.
    "shared_savings": "its quality gate needs a quality score, and an entity whose every measure is below the floors "
                      "would fail it (standard not met) instead of being left out; use publication floors",
    "capitation": "its withhold is returned on a quality score, and an entity whose every measure is below the floors "
                  "would keep losing it instead of being left out; use publication floors",
}


class Review(Section):
    """Days clinicians get to review and dispute results (VMS: before payment and before publication)."""

    before_payment_days: int = Field(ge=0)
    before_publication_days: int = Field(ge=0)
    disputes_allowed: bool = True


class Publication(Section):
    """Public reporting rules. Defaults: 30-patient minimum (MNCM), CMS suppression of cells 1–10."""

    public: bool
    min_denominator: int = Field(default=30, ge=1)
    min_reliability: float | None = Field(default=None, ge=0, le=1)
    suppress_cells: tuple[int, int] = (1, 10)
    used_for_credentialing: bool = False

    @model_validator(mode="after")
    def _suppression_range(self) -> Publication:
        low, high = self.suppress_cells
        if not 1 <= low <= high:
            raise ValueError("suppress_cells must be [low, high] with 1 <= low <= high")
        return self


class Exceptions(Section):
    """AMA 8.056 (1)(b), VMS: room to depart from a measure when sound clinical judgment says so."""

    clinical_exceptions: bool
    description: str | None = None


class DataSubmission(Section):
    """How data reach the program; VMS: no plan-specific IT purchases, added costs reimbursed."""

    paths: list[Literal["csv_upload", "fhir_api", "claims", "ehr_extract", "registry", "cms_files"]] = Field(min_length=1)
    requires_plan_specific_software: bool = False


class Evaluation(Section):
    """How the program will show it improved care (VMS), and what it watches for harm (AMA 8.056 (2)(b))."""

    design: Literal["difference_in_differences", "interrupted_time_series", "pre_post", "randomized", "none"]
    comparison_group: str | None = None
    outcomes: list[str] = Field(default_factory=list)
    monitor_patient_deselection: bool = False
    equity_strata: list[str] = Field(default_factory=list)


class Program(Section):
    """A whole program file (schema_version 1)."""

    schema_version: Literal[1]
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    name: str
    description: str | None = None
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    goals: Goals
    dates: Dates
    participants: Participants
    funding: Funding
    attribution: AttributionRule | None = None
    measures: list[Measure] = Field(default_factory=list)
    scoring: Scoring
    payment: Payment
    review: Review
    publication: Publication
    exceptions: Exceptions
    data_submission: DataSubmission
    evaluation: Evaluation

    @model_validator(mode="after")
    def _bonuses_funded(self) -> Program:
        if self.payment.upside and not self.funding.has_source:
            raise ValueError(
                "payment has an upside, so funding must say where the money comes from: "
                "supplemental_pool, withhold_percent, budget_neutral_redistribution or from_savings"
            )
        return self

    @model_validator(mode="after")
    def _unique_measures(self) -> Program:
        ids = [m.id for m in self.measures]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"measure ids appear more than once: {', '.join(duplicates)}")
        return self

    @model_validator(mode="after")
    def _settings_the_model_uses(self) -> Program:
        """Refuse settings the scoring model would ignore or cannot honour, naming each field.

        A setting that changes nothing would let a file (and the design audit) claim a safeguard the
        run does not apply: social-risk peer grouping in a model without peers, payment floors where
        the model does not score measures, risk adjustment of a measure that has no 0/1 outcome per
        patient, and the HRRP binding's requirements on its condition measures.
        """
        model = self.scoring.model
        problems: list[tuple[tuple, str]] = []
        by_id = {m.id: i for i, m in enumerate(self.measures)}
        listed = len(self.participants.entities) if self.participants.entities is not None else None
        for i, m in enumerate(self.measures):
            social, method = m.social_risk, m.risk_adjustment.method
            if social.adjustment == "peer_grouping":
                if model not in PEER_GROUPING_MODELS or (model == "peer_comparison" and self.scoring.comparator != "peer_group"):
                    problems.append((("measures", i, "social_risk", "adjustment"),
                                     f"scoring model '{model}'{' with comparator ' + repr(self.scoring.comparator) if model == 'peer_comparison' else ''} "
                                     "does not compare entities within peer groups, so peer grouping would change nothing: use adjustment "
                                     "'covariate' (social risk in the risk model) or 'off'; peer groups are used by hrrp and by "
                                     "peer_comparison with comparator peer_group"))
                if listed is not None and social.peer_groups > listed:
                    problems.append((("measures", i, "social_risk", "peer_groups"),
                                     f"{social.peer_groups} peer groups for {listed} listed participants: some groups would be empty "
                                     "and every entity its own peer; use fewer groups"))
            if model == "never_events" and (method != "none" or social.adjustment != "off"):
                problems.append((("measures", i), "never_events pays on listed events, not on measures, so risk or social-risk "
                                                  "adjustment of a measure changes nothing: remove it"))
            if model == "peer_comparison" and method == "hierarchical_logistic":
                problems.append((("measures", i, "risk_adjustment", "method"),
                                 "peer comparison flags an entity by the interval of its adjusted rate, and the hierarchical model's "
                                 "shrunken ratio has none here: use indirect_standardization or logistic"))
            if method in ADJUSTING_METHODS and model != "hrrp" and not _has_patient_outcome(m.id):
                problems.append((("measures", i, "risk_adjustment", "method"),
                                 f"{m.id} is scored on observations (counts or amounts per patient), not a 0/1 outcome per patient, "
                                 "so p4pkit cannot risk-adjust it and would score the unadjusted rate: use method 'none'"))
        if model == "hrrp":
            socials = set()
            for condition in self.scoring.conditions:
                where = ("scoring", "conditions", self.scoring.conditions.index(condition))
                if condition not in by_id or condition not in HRRP_COHORT_MEASURES:
                    problems.append((where, f"HRRP condition '{condition}' has no index stays to score on patient-level data: list "
                                            f"conditions that are program measures with stay-level cohorts ({', '.join(HRRP_COHORT_MEASURES)})"))
                    continue
                m = self.measures[by_id[condition]]
                socials.add((m.social_risk.adjustment, m.social_risk.peer_groups))
                if m.risk_adjustment.method != "hierarchical_logistic":
                    problems.append((("measures", by_id[condition], "risk_adjustment", "method"),
                                     "the HRRP excess readmission ratio needs method 'hierarchical_logistic' (predicted / expected, "
                                     "42 CFR 412.152), e.g. {method: hierarchical_logistic, covariates: [age, sex, comorbidities]}"))
            if len(socials) > 1:
                problems.append((("scoring", "conditions"), "HRRP places each hospital in one peer group: give every condition "
                                                            "measure the same social_risk"))
        if self.payment.has_floors and model in NO_PAYMENT_FLOORS:
            reason = NO_PAYMENT_FLOORS[model]
            for name in ("min_denominator", "min_reliability"):
                if getattr(self.payment, name) is not None:
                    problems.append((("payment", name), f"payment floors are not applied by the {model} model: {reason}"))
        if problems:
            raise FieldProblems(problems)
        return self


def _has_patient_outcome(measure_id: str) -> bool:
    """False only for a library measure whose first group observes counts or amounts per patient
    (ratio, continuous-variable or episode-counted outcome scoring); measures outside the library
    cannot be checked here and are taken as 0/1 (the run then says in `adjustment` if they are not)."""
    from p4pkit.measures.library import LIBRARY

    measure = LIBRARY.get(measure_id)
    return measure is None or measure.groups[0].numerator_observation is None
