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

from pydantic import BaseModel, ConfigDict, Field, model_validator

SCHEMA_VERSION = 1

Percent = Annotated[Decimal, Field(ge=0, le=100)]
Money = Annotated[Decimal, Field(ge=0)]


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
    """AMA 8.056 (1)(c) and VMS: measures adjusted for case mix so high-risk patients are not avoided."""

    method: Literal["none", "indirect_standardization", "logistic", "hierarchical_logistic", "hcc", "stratification"]
    covariates: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _covariates_match(self) -> RiskAdjustment:
        if self.method == "none" and self.covariates:
            raise ValueError("covariates given but method is 'none'")
        return self


class SocialRisk(Section):
    """Social-risk handling: none, as a model covariate, or comparison within peer groups (HRRP quintiles)."""

    adjustment: Literal["off", "covariate", "peer_grouping"]
    peer_groups: int | None = Field(default=None, ge=2)
    grouping_variable: str | None = None

    @model_validator(mode="after")
    def _groups_when_grouping(self) -> SocialRisk:
        if (self.adjustment == "peer_grouping") != (self.peer_groups is not None):
            raise ValueError("peer_groups is required with, and only with, adjustment 'peer_grouping'")
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

    @model_validator(mode="after")
    def _caps_match_directions(self) -> Payment:
        if not self.downside and self.max_penalty_percent not in (None, Decimal(0)):
            raise ValueError("max_penalty_percent given but downside is false")
        if not self.upside and self.max_bonus_percent not in (None, Decimal(0)):
            raise ValueError("max_bonus_percent given but upside is false")
        return self


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
