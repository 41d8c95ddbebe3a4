"""Coding intensity compares each practice with what peers' rates by age band, sex and deprivation
would give for its own list (indirect standardisation), worked by hand on small worlds."""

from __future__ import annotations

from datetime import date, datetime

import pandas as pd
import pytest

from p4pkit.measures.timing import Period
from p4pkit.model import codes
from p4pkit.model.schemas import conform
from p4pkit.safeguards import coding
from p4pkit.safeguards.coding import _age_band, coding_intensity_flags, indirectly_standardised, new_diagnosis_strata, standardised_flags
from p4pkit.store import Store

WINDOW = Period(date(2024, 1, 1), date(2025, 12, 31))
YOUNG, OLD = date(1990, 6, 1), date(1942, 6, 1)  # 33 and 81 on the window start: bands 18-34 and 75-84
# practice -> (patients, birth date, patients with a new unbacked diagnosis)
LISTS = {"Y1": (400, YOUNG, 8), "Y2": (400, YOUNG, 8), "Y3": (400, YOUNG, 8), "Y4": (400, YOUNG, 8),
         "O1": (400, OLD, 60), "O2": (400, OLD, 60), "G": (400, YOUNG, 40)}


def test_expected_counts_are_list_sizes_times_pooled_stratum_rates():
    strata = pd.DataFrame({
        "entity_id": ["A", "A", "B", "B"], "age_band": [1, 6, 1, 6], "sex": "female", "deprivation": 3,
        "size": [100, 100, 300, 100], "count": [2, 20, 6, 10], "diagnoses": [2, 25, 6, 10],
    })
    table = indirectly_standardised(strata).set_index("entity_id")
    # young: 8 of 400 = 2%, old: 30 of 200 = 15%; A expects 100 x 2% + 100 x 15%, B 300 x 2% + 100 x 15%
    assert table["expected"].to_dict() == pytest.approx({"A": 17.0, "B": 21.0})
    assert table["count"].to_dict() == {"A": 22, "B": 16}
    assert table["diagnoses"].to_dict() == {"A": 27, "B": 16}


def test_age_band_counts_the_boundaries_reached_by_birth_date():
    with Store() as s:
        births = [date(2010, 1, 1), date(2006, 1, 1), date(2006, 1, 2), date(1939, 1, 1), date(1938, 12, 31)]
        s.replace_tables({"patients": conform("patients", {"patient_id": list("abcde"), "birth_date": births, "sex": ["male"] * 5})})
        people = s.table("patients")
        bands = s.backend.to_pyarrow(people.select(band=_age_band(people.birth_date, date(2024, 1, 1)))).to_pandas()
    # 14, 18 that day, a day short of 18, 85 that day, 85 and a day
    assert bands["band"].tolist() == [0, 1, 0, 7, 7]


def world(groups: list[tuple[str, int, date, str, int, int]]) -> Store:
    """Practice lists from groups (practice, patients, birth date, sex, deprivation quintile, patients
    coded): everyone registered since 2015, the first `coded` of each group with an unbacked new
    diagnosis (COPD, J44.9) in the window."""
    patients, lists, events = [], [], []
    for practice, n, born, sex, quintile, coded in groups:
        for i in range(n):
            pid = f"P{len(patients)}"
            patients.append({"patient_id": pid, "birth_date": born, "sex": sex, "deprivation_quintile": quintile})
            lists.append({"enrollment_id": f"L-{pid}", "patient_id": pid, "kind": "practice_list", "organization_id": practice,
                          "start_date": date(2015, 1, 1), "end_date": None, "end_reason": None})
            if i < coded:
                events.append({"event_id": f"E{len(events)}", "patient_id": pid, "kind": "condition", "code_system": codes.ICD10CM,
                               "code": "J44.9", "start": datetime(2024, 9, 1), "value_num": None, "negated": False})
    practices = list(dict.fromkeys(g[0] for g in groups))
    store = Store()
    store.replace_tables({
        "organizations": conform("organizations", {"organization_id": practices, "name": practices, "kind": ["practice"] * len(practices)}),
        **{name: conform(name, {k: [row[k] for row in rows] for k in rows[0]})
           for name, rows in (("patients", patients), ("enrollments", lists), ("events", events))},
    })
    return store


@pytest.fixture(scope="module")
def store():
    with world([(practice, n, born, "female", 3, coded) for practice, (n, born, coded) in LISTS.items()]) as s:
        yield s


def test_old_lists_are_not_flagged_for_their_age_but_the_young_upcoder_is(store):
    flags = coding_intensity_flags(store, WINDOW).set_index("entity_id")
    assert flags["flagged"].to_dict() == {"G": True, "O1": False, "O2": False, "Y1": False, "Y2": False, "Y3": False, "Y4": False}
    assert flags["count"].to_dict() == {p: coded for p, (_, _, coded) in LISTS.items()}
    # young stratum: (4 x 8 + 40) of 2,000 = 3.6%, old: 120 of 800 = 15%; crude rate 192 of 2,800.
    # G: 40 observed against 400 x 3.6% = 14.4 expected, ratio 2.78, standardised rate 2.78 x 6.86% = 19.0%
    assert flags.loc["G", "statistic"] == pytest.approx(40 / 14.4 * 192 / 2800)
    assert flags.loc["O1", "statistic"] == pytest.approx(192 / 2800)  # exactly as expected for its ages
    assert "14.4 expected" in flags.loc["G", "evidence"] and "(ratio 2.78)" in flags.loc["G", "evidence"]


def test_limits_follow_the_expected_count_not_the_list_size(store):
    """Equal lists of 400: a young list expects 14.4, an old one 60, so chance moves the young list's
    standardised rate more and its limit must be wider (its variance is about crude^2 / E). Judged
    at the list size, both would get the same limit."""
    flags = coding_intensity_flags(store, WINDOW).set_index("entity_id")
    assert flags.loc["Y1", "size"] == flags.loc["O1", "size"] == 400
    assert flags.loc["Y1", "limit"] > flags.loc["O1", "limit"] + 0.02
    assert "3-SD upper limit at 14.4 expected" in flags.loc["Y1", "evidence"]


def test_without_standardisation_the_old_lists_would_be_flagged(store):
    """The same funnel with every practice expected at the crude rate (no strata) flags the old lists
    for their age; practices expecting nothing cannot be judged and are left out."""
    counts = indirectly_standardised(new_diagnosis_strata(store, WINDOW))
    crude = counts["count"].sum() / counts["size"].sum()
    unstandardised = counts.assign(expected=counts["size"] * crude)
    flagged = standardised_flags(unstandardised, WINDOW).set_index("entity_id")["flagged"]
    assert flagged[["O1", "O2", "G"]].all() and not flagged[["Y1", "Y2", "Y3", "Y4"]].any()
    nobody = pd.concat([counts, pd.DataFrame([{"entity_id": "Z", "size": 50, "count": 0, "diagnoses": 0, "expected": 0.0}])])
    assert "Z" not in set(standardised_flags(nobody, WINDOW)["entity_id"])


# Same ages, different sex and deprivation mix, every practice coding honestly at its stratum's rate:
# female quintile 1 at 2%, male quintile 1 and female quintile 5 at 10%.
MIX = [("F1", 400, YOUNG, "female", 1, 8), ("F2", 400, YOUNG, "female", 1, 8), ("F3", 400, YOUNG, "female", 1, 8),
       ("M", 400, YOUNG, "male", 1, 40), ("D", 400, YOUNG, "female", 5, 40)]


@pytest.fixture(scope="module")
def mix_store():
    with world(MIX) as s:
        yield s


def test_sex_and_deprivation_mix_is_standardised_away(mix_store):
    """Each practice is expected exactly what it coded: the male list at the male rate (400 x 10%),
    the deprived list at the deprived rate (400 x 10%), the others at 400 x 2%."""
    counts = indirectly_standardised(new_diagnosis_strata(mix_store, WINDOW)).set_index("entity_id")
    assert counts["expected"].to_dict() == pytest.approx({"D": 40.0, "F1": 8.0, "F2": 8.0, "F3": 8.0, "M": 40.0})
    assert not coding_intensity_flags(mix_store, WINDOW)["flagged"].any()


@pytest.mark.parametrize(("left_out", "wronged"), [("sex", "M"), ("deprivation", "D")])
def test_leaving_sex_or_deprivation_out_of_the_strata_flags_an_honest_list(mix_store, monkeypatch, left_out, wronged):
    """Without sex, quintile 1 pools F1-F3 with M: (3 x 8 + 40) of 1,600 = 4%, so M expects 16 and
    its 40 is flagged; without deprivation the female stratum pools F1-F3 with D, likewise."""
    monkeypatch.setattr(coding, "STRATA", tuple(k for k in coding.STRATA if k != left_out))
    counts = indirectly_standardised(new_diagnosis_strata(mix_store, WINDOW)).set_index("entity_id")
    assert counts.loc[wronged, "expected"] == pytest.approx(16.0)
    assert counts.loc["F1", "expected"] == pytest.approx(16.0)
    flags = standardised_flags(counts.reset_index(), WINDOW)
    assert set(flags.loc[flags["flagged"], "entity_id"]) == {wronged}
