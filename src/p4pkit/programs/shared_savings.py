"""Shared savings and losses: the Medicare Shared Savings Program model, reused for NY Medicaid VBP.

An accountable entity (an ACO, a VBP contractor) is measured against a benchmark:

    gross          = benchmark − expenditure                       (totals for the assigned population)
    savings rate   = gross / benchmark                             (42 CFR 425.604(a), 425.605(a), 425.610(a))
    MSR / MLR      = the rules' fixed rate, else the entity's election or CMS's own value (`msr_pct`),
                     else the §425.604(b) table by assigned beneficiaries, linear inside each band
    shared savings = min(gross × final sharing rate, savings cap % × benchmark) × (1 − sequestration)
                     when savings rate ≥ MSR                        (§425.605(d), §425.610(d); PUF [V])
    shared losses  = min(|gross| × loss rate, loss cap) − loss adjustment, when −savings rate ≥ MLR
                     loss cap = loss-cap % × benchmark, and no more than revenue-cap % × participant
                     FFS revenue when the track has one and the revenue is known (BASIC C–E)

The final sharing rate is gated on quality: the full rate when the quality performance standard is
met; when only the alternative standard is met and the rules say `sliding_scale`, the full rate ×
quality score (PY2023 §425.605(d)/§425.610(d)); otherwise nothing. The ENHANCED loss rate is
1 − 0.75 × quality score kept within [40%, 75%] (§425.610(d)(2)); BASIC two-sided levels use 30%.

Why a loss adjustment: CMS reduces shared losses for extreme and uncontrollable circumstances (the
PUF's `DisAdj`) using where beneficiaries lived, which no public file carries, so it is an input.

Year-specific numbers are data in `programs/rules/*.yaml`; `docs/programs/shared-savings.md` records
which were confirmed against which source.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from importlib import resources
from pathlib import Path

import pyarrow as pa
import yaml

from p4pkit.errors import Problem, UserError
from p4pkit.model.schemas import MONEY
from p4pkit.programs.ledger import Ledger
from p4pkit.programs.money import round_money, to_decimal

HUNDRED = Decimal(100)

INPUT_COLUMNS = (
    "entity_id",
    "track",
    "benchmark",
    "expenditure",
    "assigned_beneficiaries",
    "quality_score",
    "met_quality_standard",
    "met_alternative_standard",
    "msr_pct",
    "participant_revenue",
    "loss_adjustment",
)
"""What `shared_savings` reads. `quality_score` is in percent; `msr_pct`, `participant_revenue` and
`loss_adjustment` may be null (table MSR, no revenue cap, no adjustment)."""

RATE = pa.decimal128(12, 6)
"""Rates in percent, exact to 1e-6 so that publishing rounds (half-up) from the exact value, not a float."""
RATE_QUANTUM = Decimal("0.000001")

OUTPUT_SCHEMA = pa.schema(
    [
        pa.field("entity_id", pa.string(), nullable=False),
        pa.field("track", pa.string(), nullable=False),
        pa.field("gross_savings", MONEY),
        pa.field("savings_rate_pct", RATE),
        pa.field("msr_pct", RATE),
        pa.field("final_sharing_rate_pct", RATE),
        pa.field("final_loss_rate_pct", RATE),
        pa.field("earned", MONEY),
        pa.field("outcome", pa.string()),
    ]
)


@dataclass(frozen=True)
class LossRateFromQuality:
    """Loss rate = 100% − multiplier × quality score, kept within [min_pct, max_pct] (§425.610(d)(2))."""

    multiplier: Decimal
    min_pct: Decimal
    max_pct: Decimal


@dataclass(frozen=True)
class Track:
    """One track or level: how much of the savings is shared, what risk is borne, and the caps."""

    code: str
    two_sided: bool
    sharing_rate_pct: Decimal
    savings_cap_pct: Decimal | None = None
    fixed_msr_pct: Decimal | None = None
    loss_rate_pct: Decimal | None = None
    loss_rate_from_quality: LossRateFromQuality | None = None
    loss_cap_benchmark_pct: Decimal | None = None
    loss_cap_revenue_pct: Decimal | None = None


@dataclass(frozen=True)
class SharedSavingsRules:
    """A year's (or a contract's) parameters for the shared savings model."""

    program: str
    year: int | None
    source: str
    sequestration_pct: Decimal
    msr_bands: tuple[tuple[int, int | None, Decimal, Decimal], ...]
    tracks: dict[str, Track]
    alternative_standard: str  # "sliding_scale" or "none"


def _dec(value: object) -> Decimal | None:
    return None if value is None else to_decimal(value)


def load_rules(path: str | Path) -> SharedSavingsRules:
    """Read a rules YAML file (see `programs/rules/mssp_2023.yaml` for the layout)."""
    raw = yaml.safe_load(Path(path).read_text())
    tracks = {}
    for code, spec in raw["tracks"].items():
        from_quality = spec.get("loss_rate_from_quality")
        tracks[code] = Track(
            code=code,
            two_sided=bool(spec["two_sided"]),
            sharing_rate_pct=to_decimal(spec["sharing_rate_pct"]),
            savings_cap_pct=_dec(spec.get("savings_cap_pct")),
            fixed_msr_pct=_dec(spec.get("fixed_msr_pct")),
            loss_rate_pct=_dec(spec.get("loss_rate_pct")),
            loss_rate_from_quality=None
            if from_quality is None
            else LossRateFromQuality(*(to_decimal(from_quality[k]) for k in ("multiplier", "min_pct", "max_pct"))),
            loss_cap_benchmark_pct=_dec(spec.get("loss_cap_benchmark_pct")),
            loss_cap_revenue_pct=_dec(spec.get("loss_cap_revenue_pct")),
        )
    bands = tuple((int(lo), None if hi is None else int(hi), to_decimal(a), to_decimal(b)) for lo, hi, a, b in raw["msr_bands"])
    return SharedSavingsRules(
        program=raw["program"],
        year=raw.get("year"),
        source=raw["source"],
        sequestration_pct=to_decimal(raw["sequestration_pct"]),
        msr_bands=bands,
        tracks=tracks,
        alternative_standard=raw["alternative_standard"],
    )


def _rules_dir() -> Path:
    return Path(str(resources.files("p4pkit.programs") / "rules"))


def mssp_rules(year: int) -> SharedSavingsRules:
    """The MSSP rules for a performance year; a year without a rules file is a user error."""
    path = _rules_dir() / f"mssp_{year}.yaml"
    if not path.exists():
        known = sorted(p.stem.removeprefix("mssp_") for p in _rules_dir().glob("mssp_*.yaml"))
        raise UserError(f"No MSSP rules for performance year {year}.", hint=f"Years with rules: {', '.join(known)}.")
    return load_rules(path)


def ny_vbp_rules() -> SharedSavingsRules:
    """NY Medicaid VBP Level 1 (upside-only, track `L1`) and Level 2 (two-sided, track `L2`)."""
    return load_rules(_rules_dir() / "ny_vbp.yaml")


def table_msr_pct(assigned: int, rules: SharedSavingsRules) -> Decimal | None:
    """§425.604(b): the MSR for `assigned` beneficiaries, interpolated linearly inside its band.

    None when the count falls below the table (CMS then sets the rate itself).
    """
    for low, high, at_low, at_high in rules.msr_bands:
        if high is None and assigned >= low:
            return at_low
        if high is not None and low <= assigned < high:
            return at_low + (at_high - at_low) * Decimal(assigned - low) / Decimal(high - low)
    return None


def final_sharing_rate_pct(track: Track, quality_score: Decimal, met_standard: bool, met_alternative: bool, rules: SharedSavingsRules) -> Decimal:
    """The quality gate: full rate, sliding scale (rate × quality score) or zero (PY2023 §425.605(d), §425.610(d))."""
    if met_standard:
        return track.sharing_rate_pct
    if met_alternative and rules.alternative_standard == "sliding_scale":
        return track.sharing_rate_pct * quality_score / HUNDRED
    return Decimal(0)


def final_loss_rate_pct(track: Track, quality_score: Decimal, met_standard: bool, met_alternative: bool) -> Decimal | None:
    """The shared loss rate: fixed (BASIC 30%) or 1 − 0.75 × quality score in [40%, 75%] (ENHANCED, §425.610(d)(2)).

    An ENHANCED ACO that meets neither quality standard bears the maximum rate.
    """
    if not track.two_sided:
        return None
    rule = track.loss_rate_from_quality
    if rule is None:
        return track.loss_rate_pct
    if not (met_standard or met_alternative):
        return rule.max_pct
    return min(rule.max_pct, max(rule.min_pct, HUNDRED - rule.multiplier * quality_score))


def _rate(value: Decimal) -> Decimal:
    return round_money(value, RATE_QUANTUM)


def _msr(row: int, track: Track, assigned: int, given: Decimal | None, rules: SharedSavingsRules, source: str) -> Decimal:
    if track.fixed_msr_pct is not None:
        return track.fixed_msr_pct
    if given is not None:
        return given
    from_table = table_msr_pct(assigned, rules)
    if from_table is None:
        raise UserError(
            "The minimum savings rate cannot be looked up.",
            [Problem(source, row, "msr_pct", f"{assigned} assigned beneficiaries is below the MSR table; give the rate CMS set")],
        )
    return from_table


def _entity(row: int, record: dict, rules: SharedSavingsRules, source: str) -> dict:
    track = rules.tracks.get(record["track"])
    if track is None:
        raise UserError(
            "Unknown track.",
            [Problem(source, row, "track", f"'{record['track']}' is not one of {', '.join(rules.tracks)}")],
        )
    benchmark = to_decimal(record["benchmark"])
    if benchmark <= 0:
        raise UserError("The benchmark must be positive.", [Problem(source, row, "benchmark", f"got {benchmark}")])
    gross = benchmark - to_decimal(record["expenditure"])
    savings_rate = gross / benchmark
    msr = _msr(row, track, int(record["assigned_beneficiaries"]), _dec(record.get("msr_pct")), rules, source)
    quality = to_decimal(record.get("quality_score") or 0)
    met, alternative = bool(record.get("met_quality_standard")), bool(record.get("met_alternative_standard"))
    share = final_sharing_rate_pct(track, quality, met, alternative, rules)
    loss_rate = final_loss_rate_pct(track, quality, met, alternative)
    earned, outcome = Decimal(0), "within_corridor"
    if gross > 0 and savings_rate * HUNDRED >= msr:
        earned = gross * share / HUNDRED
        if track.savings_cap_pct is not None:
            earned = min(earned, benchmark * track.savings_cap_pct / HUNDRED)
        earned *= 1 - rules.sequestration_pct / HUNDRED
        outcome = "shared_savings"
    elif track.two_sided and gross < 0 and -savings_rate * HUNDRED >= msr:
        loss = -gross * loss_rate / HUNDRED
        caps = []
        if track.loss_cap_benchmark_pct is not None:
            caps.append(benchmark * track.loss_cap_benchmark_pct / HUNDRED)
        revenue = _dec(record.get("participant_revenue"))
        if track.loss_cap_revenue_pct is not None and revenue is not None:
            caps.append(revenue * track.loss_cap_revenue_pct / HUNDRED)
        loss = min([loss, *caps])
        adjustment = _dec(record.get("loss_adjustment")) or Decimal(0)
        earned = -max(Decimal(0), loss - abs(adjustment))
        outcome = "shared_loss"
    return {
        "entity_id": str(record["entity_id"]),
        "track": track.code,
        "gross_savings": round_money(gross),
        "savings_rate_pct": _rate(savings_rate * HUNDRED),
        "msr_pct": _rate(msr),
        "final_sharing_rate_pct": _rate(share),
        "final_loss_rate_pct": None if loss_rate is None else _rate(loss_rate),
        "earned": round_money(earned),
        "outcome": outcome,
    }


def shared_savings(entities: pa.Table, rules: SharedSavingsRules, source: str = "shared savings input") -> pa.Table:
    """Shared savings or losses for each entity (one row per entity, `OUTPUT_SCHEMA`).

    `entities` holds `INPUT_COLUMNS` (optional ones may be absent). Entity-level arithmetic is exact
    `Decimal`; each amount is rounded once, half-up to the cent, at the end. Problems name `source`
    (the user's file) and the entity's row in it.
    """
    missing = [c for c in INPUT_COLUMNS[:5] if c not in entities.column_names]
    if missing:
        raise UserError(
            "The shared savings input lacks required columns.",
            [Problem(source, None, c, "required column is missing") for c in missing],
        )
    rows = [_entity(i + 1, record, rules, source) for i, record in enumerate(entities.to_pylist())]
    return pa.Table.from_pylist(rows, schema=OUTPUT_SCHEMA)


def shared_savings_ledger(results: pa.Table, rules: SharedSavingsRules) -> Ledger:
    """The run's ledger: shared savings paid and shared losses owed, checked before it is returned.

    The pot is the savings the entities generated: no entity may be paid more than it saved, so a
    program whose tracks are all one-sided is checked as upside-only against that pot.
    """
    rows = results.to_pylist()
    ledger = Ledger(
        program=rules.program,
        upside_only=not any(rules.tracks[r["track"]].two_sided for r in rows),
        funded=sum((r["gross_savings"] for r in rows if r["outcome"] == "shared_savings"), Decimal(0)),
        participants=frozenset(r["entity_id"] for r in rows),
    )
    for r in rows:
        kind = "shared_loss" if r["earned"] < 0 else "shared_savings"
        reason = f"savings rate {r['savings_rate_pct']:.2f}% against MSR/MLR {r['msr_pct']:.2f}%"
        ledger.add(r["entity_id"], abs(r["earned"]), kind, reason)
    ledger.check()
    return ledger
