"""The validity report: run the engine on a synthetic world whose truth is known and score it.

Issues "Risk adjustment and statistical validity" and "Safeguards" ask whether the engine ranks,
penalises and polices providers correctly. A synthetic world (`p4pkit.synth`) knows each practice's
true quality and which practices game, so the answers can be measured rather than argued:

- quality: per measure, the Spearman correlation between estimated and true practice quality for
  raw, risk-adjusted and shrunken scores (outcome measures CMS122 and CMS165 through
  `risk.outcome`: a logistic GLM on age, sex, deprivation quintile, social risk and the number of
  recorded conditions, each practice's additive shift on its log-odds scale, and that shift shrunk
  by its reliability; the O/E ratio from the same GLM is reported beside it as `oe`; process measures CMS125, CMS130 and CMS138 through `risk.shrinkage`), for practices
  with at least 200 patients;
  the share of practices placed in the worst quartile that are not truly there; the correlation
  between a worst-quartile 1% penalty and the practice's share of patients in the most deprived
  quintile, and between the score itself and that share; the mean reliability of each measure
  (beta-binomial, Adams 2009);
- detection: recall and precision of the gaming checks for each planted behaviour, on a world with
  every behaviour on; false flags on the same world with behaviours off against what the 3-SD
  limits imply (one-sided, 0.135% of honest practice-checks), with the exact binomial probability;
- program effect: the difference in differences of HbA1c and systolic pressure readings,
  participants against the others, before and after the program start, with patient and quarter
  fixed effects and practice-clustered 95% intervals, against the planted effect as the recorded
  readings can show it (`planted`, from `planted_on_readings`), and the event-study pre-trend
  test; the same for cholesterol, which is not incentivised and should not move (a placebo).

Every figure is measured on several worlds (seeds) and reported as the mean and standard deviation
over them, so that one world's luck does not decide a target. The default world is 500,000
patients in practices of 2,500 on average (the generator's own list size, near real practices):
200 practices, so correlations have a chance standard error near 0.07 and a worst quartile of 50
moves in steps of 0.02, and each practice has a few hundred diabetics rather than fifty. The acceptance targets are those of the issue; `targets` says which
are met, judged on the means: true, false, or null when a figure a target needs is undefined in this
world (e.g. no practice large enough for a rank correlation), with `notes` saying why.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import tempfile
from concurrent.futures import ProcessPoolExecutor, as_completed
from numbers import Integral
from pathlib import Path

import ibis
import numpy as np
import pandas as pd
from scipy import stats

from p4pkit.atomic import replacing
from p4pkit.attribution import attribute
from p4pkit.errors import UserError
from p4pkit.evaluation.did import difference_in_differences, event_study
from p4pkit.measures import Period, run_measures
from p4pkit.model import codes
from p4pkit.progress import Progress, quiet
from p4pkit.risk.outcome import expected_values, log_odds_effects, observed_expected
from p4pkit.risk.shrinkage import shrink, shrink_normal
from p4pkit.safeguards.deselection import HBA1C, SYSTOLIC
from p4pkit.safeguards.gaming import gaming_flags
from p4pkit.store import Store
from p4pkit.synth import BEHAVIOURS, check_seed, generate
from p4pkit.synth.clinical import HBA1C_RANGE, SYSTOLIC_RANGE
from p4pkit.synth.params import Params

PERIOD = Period.parse("2025-01-01:2025-12-31")
WINDOW = Period.parse("2024-01-01:2025-12-31")
OUTCOME_MEASURES = {"CMS122": False, "CMS165": True}  # measure -> higher is better
PROCESS_MEASURES = {"CMS125": True, "CMS130": True, "CMS138": True}
COVARIATES = ("age", "sex", "deprivation_quintile", "social_risk", "conditions")
MIN_PATIENTS = 200
MIN_SPEARMAN_PRACTICES = 3  # a rank correlation over two practices is always +1 or -1
PENALTY = 0.01
CHECK_BEHAVIOUR = {"exception_reporting": "exception_reporting", "deregistration_high_risk": "deregistration", "coding_intensity": "upcoding"}
ONE_SIDED_3SD = float(stats.norm.sf(3.0))
CHOLESTEROL = "2093-3"  # LOINC total cholesterol: measured, not incentivised
MIN_WORLD = 5_000  # below this, practices are too small for measures, shrinkage and the DiD to mean anything
SEEDS = (1, 2, 3)
PATIENTS = 500_000
MEAN_LIST_SIZE = 2_500  # the generator's own US-style list: 200 practices in 500,000 patients (docs/validity.md)
FIGURES = ("spearman", "score_deprivation_corr", "worst_quartile_misplaced", "penalty_deprivation_corr", "mean_reliability")


def open_world(folder: Path) -> Store:
    """A store over a generated world's canonical tables, attached as Parquet views (the generator's
    own output, already canonical, so it skips the ingest checks).

    Views, not copies: copying every table into an in-memory database held the whole world in RAM
    (2 GB at 100,000 patients, growing linearly) and cost more time than the queries save."""
    store = Store()
    store.attach_parquet(folder)
    return store


def _patients(store: Store) -> pd.DataFrame:
    """Registration-attributed practice and case-mix covariates per patient, at the period end."""
    attributed = attribute(store, "registration", PERIOD).to_pandas()[["patient_id", "entity_id"]].dropna()
    events = store.table("events")
    conditions = events.filter((events.kind == "condition") & ~events.negated & (events.start.date() <= ibis.literal(PERIOD.end)))
    counted = conditions.group_by("patient_id").aggregate(conditions=conditions.code.nunique())
    people = store.table("patients")
    joined = people.left_join(counted, "patient_id").select(
        people.patient_id, people.birth_date, people.sex, people.deprivation_quintile, people.social_risk,
        conditions=counted.conditions.fill_null(0),
    )
    frame = store.backend.to_pyarrow(joined).to_pandas()
    frame["age"] = (pd.Timestamp(PERIOD.end) - pd.to_datetime(frame["birth_date"])).dt.days / 365.25
    frame["deprivation_quintile"] = frame["deprivation_quintile"].astype("Int64").astype(str)
    frame["social_risk"] = frame["social_risk"].fillna(False).astype(float)
    return attributed.merge(frame.drop(columns="birth_date"), on="patient_id")


def _scores(measure: str, higher_better: bool, results: pd.DataFrame, patients: pd.DataFrame, outcome: bool) -> pd.DataFrame:
    """Per practice: goodness (higher = better) of the raw, adjusted and shrunken score."""
    rows = results[(results["measure_id"] == measure) & (results["denominator"] == 1)
                   & (results["denominator_exclusion"] == 0) & (results["denominator_exception"] == 0)]
    frame = rows[["patient_id", "numerator"]].merge(patients, on="patient_id")
    sign = 1.0 if higher_better else -1.0
    counts = frame.groupby("entity_id")["numerator"].agg(["sum", "size"])
    shrunk = shrink(counts["sum"], counts["size"])
    table = pd.DataFrame({"entity_id": counts.index, "raw": sign * shrunk.raw, "shrunken": sign * shrunk.shrunk,
                          "reliability": shrunk.reliability})
    if outcome:
        expected = expected_values(frame, "numerator", COVARIATES, "binomial")
        oe = observed_expected(frame, "entity_id", "numerator", expected).set_index("entity_id")
        effects = log_odds_effects(frame, "entity_id", "numerator", expected).set_index("entity_id")
        shrunk_effect = shrink_normal(effects["effect"], effects["variance"])
        table["oe"] = sign * table["entity_id"].map(oe["oe_ratio"]).to_numpy()
        table["adjusted"] = sign * table["entity_id"].map(effects["effect"]).to_numpy()
        table["shrunken"] = sign * table["entity_id"].map(pd.Series(shrunk_effect.shrunk, effects.index)).to_numpy()
        table["reliability"] = table["entity_id"].map(pd.Series(shrunk_effect.reliability, effects.index)).to_numpy()
    return table


def _pearson(x: pd.Series, y: pd.Series) -> float:
    """Pearson's r, NaN (without NumPy's warning) when either variable does not vary."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if len(x) < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(np.corrcoef(x, y)[0, 1])


def _figures(table: pd.DataFrame, practices: pd.DataFrame, method: str) -> dict:
    """The quality figures of one score; `spearman` is NaN (null in the report) when fewer than
    MIN_SPEARMAN_PRACTICES practices have MIN_PATIENTS listed patients (`spearman_practices` says
    how many did)."""
    data = table.merge(practices, on="entity_id")
    large = data[data["patients"] >= MIN_PATIENTS]
    quarter = int(np.floor(len(data) / 4))
    estimated_worst = set(data.nsmallest(quarter, method)["entity_id"])
    truly_worst = set(data.nsmallest(quarter, "true_quality")["entity_id"])
    penalty = data["entity_id"].isin(estimated_worst).astype(float) * PENALTY
    spearman = (float(stats.spearmanr(large[method], large["true_quality"]).statistic)
                if len(large) >= MIN_SPEARMAN_PRACTICES else float("nan"))
    return {
        "spearman": spearman,
        "spearman_practices": len(large),
        "score_deprivation_corr": _pearson(data[method], data["deprived_share"]),
        "worst_quartile_misplaced": len(estimated_worst - truly_worst) / max(quarter, 1),
        "penalty_deprivation_corr": _pearson(penalty, data["deprived_share"]),
    }


def quality_figures(
    store: Store, truth: Path, outcome_measures: dict[str, bool] = OUTCOME_MEASURES, process_measures: dict[str, bool] = PROCESS_MEASURES
) -> pd.DataFrame:
    """One row per measure and method (raw, adjusted, shrunken) with the quality figures, and a row
    `true` scoring practices by their true quality: the floor chance leaves, e.g. the correlation
    between a perfectly aimed penalty and deprivation in this world."""
    patients = _patients(store)
    practices = patients.groupby("entity_id").agg(
        patients=("patient_id", "size"), deprived_share=("deprivation_quintile", lambda q: float((q == "1").mean()))
    ).reset_index()
    true = pd.read_parquet(truth / "practices.parquet")[["organization_id", "true_quality"]]
    practices = practices.merge(true.rename(columns={"organization_id": "entity_id"}), on="entity_id")
    measures = {**outcome_measures, **process_measures}
    results = run_measures(store, list(measures), PERIOD).to_pandas()
    rows = []
    for measure, higher_better in measures.items():
        outcome = measure in outcome_measures
        table = _scores(measure, higher_better, results, patients, outcome)
        reliability = float(table["reliability"].mean())
        table["true"] = table["entity_id"].map(practices.set_index("entity_id")["true_quality"])
        for method in ("raw", "oe", "adjusted", "shrunken", "true") if outcome else ("raw", "shrunken", "true"):
            rows.append({"measure": measure, "kind": "outcome" if outcome else "process", "method": method,
                         **_figures(table, practices, method), "mean_reliability": reliability})
    return pd.DataFrame(rows)


def detection_figures(store: Store, truth: Path) -> pd.DataFrame:
    """Per gaming check: practices doing the behaviour it should find, practices flagged, and hits."""
    flags = gaming_flags(store, WINDOW)
    planted = pd.read_parquet(truth / "behaviours.parquet")
    rows = []
    for check, behaviour in CHECK_BEHAVIOUR.items():
        mine = flags[flags["check"] == check]
        guilty = mine["entity_id"].isin(set(planted.loc[planted["behaviour"] == behaviour, "organization_id"]))
        hits = int((mine["flagged"] & guilty).sum())
        rows.append({"check": check, "behaviour": behaviour, "planted": int(guilty.sum()), "flagged": int(mine["flagged"].sum()), "hits": hits})
    return pd.DataFrame(rows)


def false_flag_figures(store: Store) -> pd.DataFrame:
    """Flags per check on an honest world (`entities` practice-checks, `flagged` of them)."""
    flags = gaming_flags(store, WINDOW)
    return flags.groupby("check", sort=True)["flagged"].agg(entities="size", flagged="sum").reset_index()


def false_flag_summary(per_world: pd.DataFrame) -> pd.DataFrame:
    """False flags per check pooled over worlds, against the number the one-sided 3-SD limits imply
    (0.135% of practice-checks), with the exact binomial probability of that many or more."""
    pooled = per_world.groupby("check", sort=True)[["entities", "flagged"]].sum().reset_index()
    pooled["expected"] = pooled["entities"] * ONE_SIDED_3SD
    pooled["p_at_least"] = stats.binom.sf(pooled["flagged"] - 1, pooled["entities"], ONE_SIDED_3SD)
    return pooled


def readings(store: Store, loinc: str, participants: set[str], register: str | None) -> pd.DataFrame:
    """Each reading of `loinc` (in patients with a recorded `register` diagnosis, an ICD-10-CM
    category, when given) with the practice the patient was registered with on that day."""
    events = store.table("events")
    values = events.filter((events.code_system == codes.LOINC) & (events.code == loinc) & ~events.negated & events.value_num.notnull())
    if register is not None:
        diagnosed = events.filter((events.kind == "condition") & ~events.negated & events.code.startswith(register))
        values = values.filter(values.patient_id.isin(diagnosed.patient_id))
    values = values.select("patient_id", value=values.value_num, day=values.start.date())
    lists = store.table("enrollments")
    lists = lists.filter(lists.kind == "practice_list")
    joined = values.join(lists, [values.patient_id == lists.patient_id, values.day >= lists.start_date,
                                 lists.end_date.isnull() | (values.day <= lists.end_date)])
    frame = store.backend.to_pyarrow(joined.select("value", "day", patient_id=values.patient_id, entity_id=lists.organization_id)).to_pandas()
    day = pd.to_datetime(frame["day"])
    frame["quarter"] = day.dt.year.astype(str) + "Q" + day.dt.quarter.astype(str)
    frame["post"] = (day >= pd.Timestamp(WINDOW.start)).astype(float)
    frame["treated"] = frame["entity_id"].isin(participants).astype(float)
    return frame


def planted_on_readings(frame: pd.DataFrame, drop: float, floor: float) -> float:
    """The planted drop as participants' recorded readings can show it.

    The generator lowers a latent value by `drop` and records it rounded and clipped at `floor`,
    so a reading already within `drop` of the floor falls by less (HbA1c: 2-4% of participants'
    readings sit at or below 5.0%, floor 4.5%, and the mean reading falls by about 0.49, not 0.5).
    Applied to participants' pre-program readings (the program never touched them):
    mean(max(y - drop, floor)) - mean(y). Exact for readings below the ceiling when `drop` is a
    whole number of rounding steps; it uses no post-program reading and no estimate.
    """
    before = frame.loc[(frame["treated"] == 1) & (frame["post"] == 0), "value"].to_numpy(float)
    return float(np.mean(np.maximum(before - drop, floor) - before))


def program_effect_figures(store: Store, truth: Path, params: dict) -> pd.DataFrame:
    """DiD of HbA1c and systolic readings, participants against the rest, against the planted drop;
    and of cholesterol, which the program does not incentivise, against no effect (a placebo).

    Patient (not practice) fixed effects: the gamed world's deregistration and exception reporting
    take high-risk patients' readings out of some practices after the program starts, and new
    diagnoses and registrations change who is measured, so a practice's mean reading moves with its
    mix. Comparing each patient with themself removes that, and the patient's severity (the
    largest share of a reading's variance), which makes the interval about three times narrower;
    patients are nested in practices, so errors are still clustered by practice."""
    practices = pd.read_parquet(truth / "practices.parquet")
    participants = set(practices.loc[practices["program_effect"], "organization_id"])
    rows = []
    outcomes = (("HbA1c % (diabetes)", HBA1C, "E11", params["program_hba1c_drop"], HBA1C_RANGE[0]),
                ("systolic mm[Hg] (hypertension)", SYSTOLIC, "I10", params["program_sbp_drop"], SYSTOLIC_RANGE[0]),
                ("total cholesterol mg/dL (not incentivised)", CHOLESTEROL, None, 0.0, None))
    for name, loinc, register, drop, floor in outcomes:
        frame = readings(store, loinc, participants, register)
        planted = planted_on_readings(frame, drop, floor) if drop else 0.0
        did = difference_in_differences(frame, "value", "treated", "post", "entity_id", absorb="patient_id", period="quarter").iloc[0]
        study = event_study(frame, "value", "treated", "quarter", "2024Q1", "entity_id", absorb="patient_id")
        rows.append({"outcome": name, "latent_drop": -drop, "planted": planted, "estimate": did["estimate"], "lower": did["lower"],
                     "upper": did["upper"], "covers_planted": bool(did["lower"] <= planted <= did["upper"]),
                     "clusters": int(did["clusters"]), "pretrend_p_value": study.pretrend_p_value})
    return pd.DataFrame(rows)


def interval_coverage(effect: pd.DataFrame, level: float = 0.95) -> dict:
    """How many of the DiD intervals (every outcome and seed) cover the planted effect, and the
    exact binomial probability of at least that many misses if each 95% interval misses 5% of
    the time: nine honest intervals all cover only 63% of the time, so one miss is no evidence
    of bias, while a low probability is."""
    intervals, covering = len(effect), int(effect["covers_planted"].sum())
    return {"intervals": intervals, "covering": covering,
            "p_at_least_misses": float(stats.binom.sf(intervals - covering - 1, intervals, 1 - level))}


def _holds(left: float, compare, right: float) -> bool | None:
    """compare(left, right), or None (not judged) when either figure is missing (NaN)."""
    return None if pd.isna(left) or pd.isna(right) else bool(compare(left, right))


def _all(judgements) -> bool | None:
    """False if any judgement is False, else None if any could not be made, else True."""
    judgements = list(judgements)
    if any(j is False for j in judgements):
        return False
    return None if any(j is None for j in judgements) else True


def _beats(better: pd.Series, raw: pd.Series) -> bool | None:
    """A score beats raw when it is no worse on each quality figure (means over worlds)."""
    return _all([_holds(better["spearman"], np.greater_equal, raw["spearman"]),
                 _holds(better["worst_quartile_misplaced"], np.less_equal, raw["worst_quartile_misplaced"]),
                 _holds(abs(better["penalty_deprivation_corr"]), np.less_equal, abs(raw["penalty_deprivation_corr"]))])


def _targets(quality: pd.DataFrame, detection: pd.DataFrame, false_flags: pd.DataFrame, effect: pd.DataFrame) -> dict:
    """Each acceptance target: true, false, or None (null: not judged, because a figure it needs
    is missing; the report's `notes` say why)."""
    by = quality.set_index(["measure", "method"])
    better = [_beats(by.loc[(m, method)], by.loc[(m, "raw")]) for m, method in by.index if method in ("adjusted", "shrunken")]
    outcome = quality[quality["method"] == "adjusted"].set_index("measure")
    outcome_raw = quality[(quality["kind"] == "outcome") & (quality["method"] == "raw")].set_index("measure")
    return {
        "adjusted_and_shrunken_beat_raw_everywhere": _all(better),
        "adjusted_outcome_spearman_at_least_0.85": _all(_holds(r, np.greater_equal, 0.85) for r in outcome["spearman"]),
        "worst_quartile_misplacement_at_least_halved": _all(
            _holds(outcome.loc[m, "worst_quartile_misplaced"], np.less_equal, outcome_raw.loc[m, "worst_quartile_misplaced"] / 2)
            for m in outcome.index),
        "penalty_deprivation_corr_below_0.1_after_adjustment": _all(
            _holds(abs(r), np.less, 0.1) for r in outcome["penalty_deprivation_corr"]),
        "detection_recall_at_least_0.9": _all(_holds(r, np.greater_equal, 0.9) for r in detection["recall"]),
        "detection_precision_at_least_0.8": _all(_holds(r, np.greater_equal, 0.8) for r in detection["precision"]),
        "did_interval_contains_planted_effect": bool(effect["covers_planted"].all()),
        "false_flags_within_limits": bool((false_flags["p_at_least"] >= 0.01).all()),
    }


def _one_world(patients: int, seed: int, mean_list_size: int, outcome_measures: dict, process_measures: dict) -> dict[str, pd.DataFrame]:
    """Every figure on one seed's honest and gamed worlds, each table tagged with the seed."""
    with tempfile.TemporaryDirectory(prefix="p4p-validate-") as scratch:
        honest, gamed = Path(scratch) / "honest", Path(scratch) / "gamed"
        generate(patients, seed, honest, mean_list_size=mean_list_size)
        generate(patients, seed, gamed, behaviours=BEHAVIOURS, mean_list_size=mean_list_size)
        params = json.loads((gamed / "truth" / "params.json").read_text())
        with open_world(honest) as store:
            tables = {"quality": quality_figures(store, honest / "truth", outcome_measures, process_measures),
                      "false_flags": false_flag_figures(store)}
        with open_world(gamed) as store:
            tables["detection"] = detection_figures(store, gamed / "truth")
            tables["program_effect"] = program_effect_figures(store, gamed / "truth", params)
        tables["practices"] = pd.DataFrame({"practices": [len(pd.read_parquet(honest / "truth" / "practices.parquet"))]})
    return {name: table.assign(seed=seed) for name, table in tables.items()}


def _summaries(worlds: list[dict[str, pd.DataFrame]]) -> dict[str, pd.DataFrame]:
    """Quality figures as mean and standard deviation over worlds; detection pooled over worlds
    (recall and precision from the summed counts); false flags pooled against the limits."""
    stacked = {name: pd.concat([w[name] for w in worlds], ignore_index=True) for name in worlds[0]}
    keys = ["measure", "kind", "method"]
    grouped = stacked["quality"].groupby(keys, sort=False)[list(FIGURES)]
    # A figure missing in any world is missing in the mean (not averaged over the other worlds).
    # The standard deviation of one world's figure is undefined: NaN, null in the report.
    means = grouped.agg(lambda values: values.mean(skipna=False))
    spread = grouped.agg(lambda values: values.std(ddof=1, skipna=False))
    quality = means.join(spread.add_suffix("_sd")).reset_index()
    detection = stacked["detection"].groupby(["check", "behaviour"], sort=False)[["planted", "flagged", "hits"]].sum().reset_index()
    # No planted practice: recall undefined; no flag: precision undefined (NaN, null in the report).
    detection["recall"] = detection["hits"] / detection["planted"].where(detection["planted"] > 0)
    detection["precision"] = detection["hits"] / detection["flagged"].where(detection["flagged"] > 0)
    return {"quality": quality, "detection": detection, "false_flags": false_flag_summary(stacked["false_flags"]),
            "program_effect": stacked["program_effect"], "practices": stacked["practices"]}


def _whole_number(value: object, least: int) -> bool:
    return not isinstance(value, bool) and isinstance(value, Integral) and value >= least


def _check_world(patients: int, mean_list_size: int, jobs: int) -> None:
    """Refuse, before any work, a list size or job count the report cannot honour."""
    if not _whole_number(jobs, 1):
        raise UserError(f"--jobs {jobs}: the number of seeds to run at once is a whole number, 1 or more",
                        hint="--jobs 1 runs the seeds one after another in this process.")
    if not _whole_number(mean_list_size, 1):
        raise UserError(f"--mean-list-size {mean_list_size}: the mean number of patients per practice is a whole number, 1 or more",
                        hint=f"The default is {MEAN_LIST_SIZE:,}.")
    asked = round(patients / mean_list_size)
    built = Params(n_patients=patients, seed=0, mean_list_size=mean_list_size).practices
    if built != asked:
        raise UserError(
            f"--mean-list-size {mean_list_size:,} with {patients:,} patients would make {asked} practice(s); the generator keeps "
            f"at least {Params.min_practices}, so it would build {built} practices of {patients / built:,.0f} patients on average, "
            f"not the {mean_list_size:,} asked for",
            hint=f"Use --mean-list-size {patients // Params.min_practices:,} or less with {patients:,} patients, "
                 f"or at least {mean_list_size * Params.min_practices:,} patients for lists of {mean_list_size:,}.")


def _notes(quality_by_seed: pd.DataFrame, detection: pd.DataFrame) -> list[str]:
    """Why figures or targets are missing (null) from the report."""
    notes = []
    missing = quality_by_seed[quality_by_seed["spearman"].isna()]
    if not missing.empty:
        counts = quality_by_seed.groupby("seed", sort=False)["spearman_practices"].max()
        measures = ", ".join(dict.fromkeys(missing["measure"]))
        notes.append(
            f"spearman is null for {measures}: it is taken over practices with at least {MIN_PATIENTS} listed patients and needs "
            f"{MIN_SPEARMAN_PRACTICES} of them, and "
            + ", ".join(f"seed {seed} has {count}" for seed, count in counts.items())
            + " (the lists are too small: raise --mean-list-size). A figure missing in any seed is missing from the means, "
              "and the targets that use it (adjusted_and_shrunken_beat_raw_everywhere, adjusted_outcome_spearman_at_least_0.85) "
              "are null, not judged, unless another figure already fails them.")
    for figure in ("score_deprivation_corr", "penalty_deprivation_corr"):
        missing = quality_by_seed[quality_by_seed[figure].isna()]
        if not missing.empty:
            where = ", ".join(f"{r.measure} {r.method} (seed {r.seed})" for r in missing.itertuples())
            notes.append(f"{figure} is null for {where}: a correlation is undefined when one of its variables does not vary "
                         "across practices, here the score (e.g. shrunk wholly to the centre when the between-practice variance "
                         "is estimated as 0) or the practices' share of most-deprived patients.")
    for column, count, meaning in (("recall", "planted", "no practice does the behaviour"), ("precision", "flagged", "the check flagged no practice")):
        missing = detection.loc[detection[column].isna(), "check"].tolist()
        if missing:
            notes.append(f"detection {column} is null for {', '.join(missing)}: {meaning} ({count} 0 over all seeds), so the "
                         f"target on {column} is null unless another check fails it.")
    return notes


def validity_report(
    patients: int = PATIENTS,
    seeds: tuple[int, ...] | list[int] = SEEDS,
    mean_list_size: int = MEAN_LIST_SIZE,
    outcome_measures: dict[str, bool] = OUTCOME_MEASURES,
    process_measures: dict[str, bool] = PROCESS_MEASURES,
    jobs: int = 1,
    on_progress: Progress = quiet,
) -> dict:
    """For each seed, generate the world twice (behaviours off, then all on) and run the checks;
    return the report with figures summarised over the seeds and per seed.

    `mean_list_size` is passed to the generator (patients per practice); a size that would leave
    fewer than the generator's minimum of 20 practices is refused, as the generator would silently
    build smaller lists than asked for. The measure dictionaries
    (measure id -> higher is better) choose what the quality figures cover. `jobs` > 1 runs that
    many seeds at once in separate processes (each holds one world at a time). `on_progress(step,
    done, total)` counts seeds: as each starts when they run one by one, as each ends with `jobs` > 1."""
    if patients < MIN_WORLD:
        raise UserError(f"--patients {patients} is too small for a validity report",
                        hint=f"Use at least {MIN_WORLD:,} patients (the default world has {PATIENTS:,}).")
    if not seeds:
        raise UserError("no seeds given for the validity report", hint="Give at least one --seed (the default is 1, 2 and 3).")
    for seed in seeds:  # before any worker starts: one bad seed would otherwise stop the others midway
        check_seed(seed)
    _check_world(patients, mean_list_size, jobs)
    arguments = {seed: (patients, seed, mean_list_size, outcome_measures, process_measures) for seed in seeds}
    if jobs > 1:
        # Workers are spawned, not forked: the CLI's progress bar runs a thread that may hold its
        # console's lock at the moment of a fork, and a forked child writing a warning would wait on it.
        with ProcessPoolExecutor(max_workers=min(jobs, len(seeds)), mp_context=multiprocessing.get_context("spawn")) as pool:
            running = {pool.submit(_one_world, *arguments[seed]): seed for seed in seeds}
            on_progress(f"{len(running)} seed(s), {min(jobs, len(seeds))} at a time", 0, len(seeds))
            for done, finished in enumerate(as_completed(running), start=1):
                if finished.exception() is not None:
                    pool.shutdown(cancel_futures=True)  # seeds not started yet are dropped, not run for nothing
                    raise finished.exception()
                on_progress(f"seed {running[finished]} done", done, len(seeds))
            worlds = [future.result() for future in running]  # in the order of the seeds
    else:
        worlds = []
        for done, seed in enumerate(seeds):
            on_progress(f"seed {seed}", done, len(seeds))
            worlds.append(_one_world(*arguments[seed]))
        on_progress("seeds done", len(seeds), len(seeds))
    summary = _summaries(worlds)
    quality_by_seed = pd.concat([w["quality"] for w in worlds], ignore_index=True)
    return {
        "world": {"patients": patients, "seeds": list(seeds), "mean_list_size": mean_list_size,
                  "practices": summary["practices"]["practices"].tolist(), "period": f"{PERIOD.start}:{PERIOD.end}",
                  "gaming_window": f"{WINDOW.start}:{WINDOW.end}"},
        "quality": summary["quality"].to_dict(orient="records"),
        "quality_by_seed": quality_by_seed.to_dict(orient="records"),
        "detection": summary["detection"].to_dict(orient="records"),
        "false_flags": summary["false_flags"].to_dict(orient="records"),
        "program_effect": summary["program_effect"].to_dict(orient="records"),
        "program_effect_coverage": interval_coverage(summary["program_effect"]),
        "targets": _targets(summary["quality"], summary["detection"], summary["false_flags"], summary["program_effect"]),
        "notes": _notes(quality_by_seed, summary["detection"]),
    }


def _plain(value: object) -> object:
    """NumPy scalars as plain numbers, NaN as null, for JSON."""
    if isinstance(value, np.generic):
        value = value.item()
    return None if isinstance(value, float) and np.isnan(value) else value


def report_json(report: dict) -> str:
    """The report as indented JSON."""
    def clean(node: object) -> object:
        if isinstance(node, dict):
            return {k: clean(v) for k, v in node.items()}
        if isinstance(node, list):
            return [clean(v) for v in node]
        return _plain(node)
    return json.dumps(clean(report), indent=2)


def check_report_path(out: str | Path) -> Path:
    """Refuse (UserError) a report path that cannot be written: an existing folder, or a place
    under a file or an unwritable folder. Call it before the run, so the mistake costs nothing."""
    out = Path(out)
    if out.is_dir():
        raise UserError(f"--out {out}: is a folder; the report is one JSON file",
                        hint=f"Name a file, e.g. --out {out / 'validity.json'}.")
    ancestor = out.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise UserError(f"--out {out}: {ancestor} is a file, so no folder can be made there for the report")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise UserError(f"--out {out}: the folder {ancestor} is not writable")
    return out


def write_report(report: dict, out: str | Path) -> Path:
    """Write the JSON report to `out` through a temporary file, so a failed write leaves nothing."""
    out = check_report_path(out)
    with replacing(out) as scratch:
        scratch.write_text(report_json(report) + "\n")
    return out
