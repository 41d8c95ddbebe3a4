"""Coding intensity: is an entity's recorded illness growing faster than its patients are?

Risk-adjusted payment and outcome measures pay more for sicker patients, so recording more
diagnoses raises payment and lowers "expected" thresholds without any change in the patients.
CMS's answer is an across-the-board coding-pattern adjustment (5.9%, SSA section 1853(a)(1)(C)(ii));
the entity-level question is who drives it (Kronick and Welch, "Measuring coding intensity in the
Medicare Advantage program", Medicare & Medicaid Research Review 2014;4(2)).

The check follows the patients on each practice's list on the first day of a window:

- a *new diagnosis* is an ICD-10-CM category (the three-character code, so a more specific code
  for a condition already recorded is not new) recorded on a condition event inside the window
  and never before it;
- a new diagnosis is *backed* when a clinical event confirms it by the end of the window:
  diabetes (E08-E11, E13) by an HbA1c of 6.5% or more (ADA Standards of Care, diagnosis criterion) and
  chronic kidney disease (N18) by an eGFR below 60 mL/min/1.73 m2 (KDIGO 2012, categories G3a-G5);
  backed new diagnoses are left out, unbacked ones counted;
- honest practices' rates differ with who is on their lists: new diagnoses come with age, differ by
  sex and are commoner in deprived areas, and lists differ in all three by an amount that does not
  shrink with list size (on the default synthetic world the crude rate flagged 7 honest practices of
  2,500 patients in 600 checks against 0.81 expected, docs/validity.md). The comparator is therefore
  indirectly standardised: each stratum of age band x sex x deprivation quintile gets the pooled
  rate of all practices' patients in it, a practice's *expected* count is the sum over its strata of
  patients x stratum rate, and its standardised rate is observed / expected x the crude rate of all
  practices (Breslow and Day, *Statistical Methods in Cancer Research* vol. II, IARC 1987, ch. 2; the
  "indirectly standardised rate" Spiegelhalter 2005 plots on funnels). Strata are what patients bring;
  earlier recorded diagnoses are left out on purpose, since a practice that coded hard in past years
  would otherwise buy itself a higher expected rate now;
- the standardised rates go on a funnel plot (`funnel.funnel_flags`) with Spiegelhalter's additive
  (random-effects) overdispersion, which is zero when standardisation has explained the spread and
  widens large practices' limits when it has not (case mix the strata miss, in real data); the
  evidence gives observed and expected counts, their ratio and the mean number of unbacked new
  diagnoses per patient.

Gamers inflate the stratum rates with everyone else's, but about evenly across strata, so the ratio
observed / expected hardly moves and the funnel's revised peer rate (without flagged practices)
sets the bar.
"""

from __future__ import annotations

from datetime import date

import ibis
import pandas as pd

from p4pkit.measures.timing import Period, age_in_years_at
from p4pkit.model import codes
from p4pkit.safeguards.deselection import registered_on
from p4pkit.safeguards.funnel import funnel_flags
from p4pkit.store import Store

# ICD-10-CM category -> (LOINC code, comparison, threshold) of a result that confirms it.
SUPPORTING_RESULTS = {
    **{category: ("4548-4", ">=", 6.5) for category in ("E08", "E09", "E10", "E11", "E13")},
    "N18": ("62238-1", "<", 60.0),
}
AGE_BANDS = (18, 35, 45, 55, 65, 75, 85)  # lower bounds of the bands above 0-17, in years at the window start
STRATA = ("age_band", "sex", "deprivation")  # what the patients bring, not what the practice records


def _supported(events: ibis.Table, until: ibis.Value) -> ibis.Table:
    """(patient_id, category) pairs confirmed by a qualifying result on or before `until`."""
    parts = []
    for category, (loinc, op, threshold) in SUPPORTING_RESULTS.items():
        value = events.value_num
        meets = value >= threshold if op == ">=" else value < threshold
        hits = events.filter(
            (events.code_system == codes.LOINC) & (events.code == loinc) & ~events.negated & meets & (events.start.date() <= until)
        )
        parts.append(hits.select("patient_id", category=ibis.literal(category)))
    return ibis.union(*parts, distinct=True)


def _age_band(birth_date: ibis.Value, on: date) -> ibis.Value:
    """Index of the age band (`AGE_BANDS`) a patient born on `birth_date` is in on `on`: the number of
    band boundaries their age has reached (-1 when the birth date is unknown)."""
    age = age_in_years_at(birth_date, on)
    reached = [(age >= low).cast("int64") for low in AGE_BANDS]
    return sum(reached[1:], reached[0]).fill_null(-1)


def new_diagnosis_strata(store: Store, window: Period) -> pd.DataFrame:
    """Per practice and stratum (`STRATA`: age band, sex, deprivation quintile):
    patients on its list at the window start (`size`), how many gained at least one unbacked new
    diagnosis in the window (`count`) and how many such diagnoses there were (`diagnoses`)."""
    start, end = ibis.literal(window.start), ibis.literal(window.end)
    events = store.table("events")
    conditions = events.filter((events.kind == "condition") & (events.code_system == codes.ICD10CM) & ~events.negated)
    categorised = conditions.mutate(category=conditions.code.replace(".", "").upper()[:3], day=conditions.start.date())
    before = categorised.filter(categorised.day < start).select("patient_id", "category").distinct()
    during = categorised.filter((categorised.day >= start) & (categorised.day <= end)).select("patient_id", "category").distinct()
    new = during.anti_join(before, ["patient_id", "category"]).anti_join(_supported(events, end), ["patient_id", "category"])
    per_patient = new.group_by("patient_id").aggregate(diagnoses=new.count())
    lists = registered_on(store, window.start)
    people = store.table("patients")
    joined = (
        lists.left_join(per_patient, "patient_id")
        .left_join(people, lists.patient_id == people.patient_id)
        .select(
            entity_id=lists.organization_id,
            age_band=_age_band(people.birth_date, window.start),
            sex=people.sex.fill_null("unknown"),
            deprivation=people.deprivation_quintile.fill_null(0),
            diagnoses=per_patient.diagnoses.fill_null(0),
        )
    )
    table = joined.group_by("entity_id", *STRATA).aggregate(
        size=joined.count(), count=(joined.diagnoses > 0).cast("int64").sum(), diagnoses=joined.diagnoses.sum()
    )
    return store.backend.to_pyarrow(table.order_by(["entity_id", *STRATA])).to_pandas()


def indirectly_standardised(strata: pd.DataFrame) -> pd.DataFrame:
    """Per entity: `size`, observed `count`, `diagnoses`, and `expected`, the count its list would have
    at the pooled rate of each stratum (indirect standardisation)."""
    keys = list(STRATA)
    pooled = strata.groupby(keys)[["count", "size"]].sum()
    rate = (pooled["count"] / pooled["size"]).rename("stratum_rate")
    with_rate = strata.join(rate, on=keys)
    with_rate["expected"] = with_rate["size"] * with_rate["stratum_rate"]
    return with_rate.groupby("entity_id", sort=True)[["size", "count", "diagnoses", "expected"]].sum().reset_index()


def coding_intensity_flags(store: Store, window: Period) -> pd.DataFrame:
    """Flag practices whose patients gain unbacked new diagnoses more often than peers' patients of
    the same age, sex and deprivation would (3-SD funnel on the indirectly standardised rate)."""
    return standardised_flags(indirectly_standardised(new_diagnosis_strata(store, window)), window)


def standardised_flags(counts: pd.DataFrame, window: Period) -> pd.DataFrame:
    """The funnel on indirectly standardised rates (`indirectly_standardised` output).

    The standardised rate O/E x crude is O / (E / crude): the observed count over the list size at
    which the crude rate would give the expected count. That *effective size* E / crude, not the
    list size, sets the rate's chance spread (its variance is about crude^2 / E), so it is what the
    funnel is given: a young list (few expected) gets the wide limits its few expected events
    warrant, an old list the narrow ones (Spiegelhalter 2005: the funnel of a standardised ratio is
    drawn against its expected count); it is rounded to a whole number for the exact binomial
    limits. A practice expecting none cannot be judged and is left out.
    The flag table's `size` and `count` are the list size and observed count."""
    crude = counts["count"].sum() / counts["size"].sum()
    judged = counts[counts["expected"] > 0].reset_index(drop=True)
    # The funnel's exact binomial limits need whole sizes: the effective size rounded (at least 1).
    effective = (judged["expected"] / crude).round().clip(lower=1).astype(int)
    flags = funnel_flags(judged.assign(size=effective), "coding_intensity", overdispersion="additive")
    flags["size"], flags["count"] = judged["size"].to_numpy(), judged["count"].to_numpy()  # funnel_flags keeps row order
    ratio = judged["count"] / judged["expected"]
    flags["evidence"] = [
        f"{o} of {n} patients on the list on {window.start} gained an unbacked new diagnosis by {window.end}, "
        f"{e:.1f} expected at peers' rates for patients of the same age band, sex and deprivation quintile "
        f"(ratio {r:.2f}); {d / n:.3f} unbacked new diagnoses per patient; standardised rate {rate:.2%} against "
        f"peers {peer:.2%}, 3-SD upper limit at {e:.1f} expected {limit:.2%}"
        for o, n, e, r, d, rate, peer, limit in zip(judged["count"], judged["size"], judged["expected"], ratio, judged["diagnoses"],
                                                    flags["statistic"], flags["peer_rate"], flags["limit"])
    ]
    return flags
