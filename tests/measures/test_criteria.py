"""Spec tests of the measure language's building blocks: tiny tables, hand-worked answers."""

from __future__ import annotations

import pytest

from p4pkit.measures.criteria import (
    AgeAt,
    AtLeast,
    CumulativeDays,
    Exists,
    LowestOnMostRecentDay,
    MostRecent,
    Not,
    NotDone,
    SexIs,
    Timed,
)
from p4pkit.measures.runner import CompileContext
from p4pkit.measures.sources import Events
from p4pkit.measures.timing import START, Anchor, Period, Window, lookback
from p4pkit.model.codes import LOINC, SNOMED

from measure_tables import store_with

PERIOD = Period.parse("2025-01-01:2025-12-31")
LAB = Events(("observation",), codes=((LOINC, "X"),))
PATIENTS = [(p, "1960-06-15", "female") for p in "abcdefgh"]


def met(store, criterion) -> set[str]:
    ctx = CompileContext(store, PERIOD)
    return set(store.backend.to_pyarrow(criterion.members(ctx))["patient_id"].to_pylist())


def observation(patient: str, start: str, end: str | None = None, **extra) -> dict:
    return {"patient_id": patient, "code": "X", "start": start, "end": end, **extra}


@pytest.fixture(scope="module")
def timed_store():
    """One event per patient, placed around the measurement period's edges."""
    store = store_with(
        PATIENTS,
        [
            observation("a", "2025-03-01"),  # inside
            observation("b", "2024-12-20", "2025-01-05"),  # straddles the start
            observation("c", "2025-12-31", "2026-01-02"),  # straddles the end
            observation("d", "2024-06-01"),  # the year before
            observation("e", "2026-01-01"),  # after
            observation("f", "2024-01-01", "2026-06-01"),  # covers the whole period
        ],
    )
    yield store
    store.close()


@pytest.mark.parametrize(
    ("relation", "expected"),
    [
        ("during", {"a"}),
        ("overlaps", {"a", "b", "c", "f"}),
        ("starts_during", {"a", "c"}),
        ("ends_during", {"a", "b"}),
        ("starts_by", {"a", "b", "c", "d", "f"}),
        ("ends_by", {"a", "b", "d"}),
    ],
)
def test_timing_relations_at_day_precision(timed_store, relation, expected):
    assert met(timed_store, Exists(Timed(LAB, relation))) == expected


def test_lookback_window_reaches_the_year_before(timed_store):
    assert met(timed_store, Exists(Timed(LAB, "during", lookback(years=1)))) == {"a", "b", "d"}


def test_anchor_pinned_to_october_first_two_years_prior():
    assert Anchor("start", years=-2, month_day=(10, 1)).resolve(PERIOD).isoformat() == "2023-10-01"
    assert Window(START, Anchor("start", months=6, days=-1)).resolve(PERIOD)[1].isoformat() == "2025-06-30"


def test_unknown_relation_is_refused(timed_store):
    with pytest.raises(ValueError, match="unknown timing relation"):
        met(timed_store, Exists(Timed(LAB, "sometime")))


def test_age_at_end_and_start_of_period():
    store = store_with(
        [("born_dec31", "2007-12-31", "male"), ("born_jan1", "2007-01-01", "male"), ("born_jan2", "2007-01-02", "male")],
        [],
    )
    # On 2025-12-31 all three are 18; on 2025-01-01 only the one born on January 1 is 18.
    assert met(store, AgeAt(18, 18)) == {"born_dec31", "born_jan1", "born_jan2"}
    assert met(store, AgeAt(18, 18, anchor=START)) == {"born_jan1"}
    assert met(store, Not(AgeAt(18))) == set()
    assert met(store, SexIs("female")) == set()


def test_most_recent_value_decides_not_any_value():
    user, non_user = (SNOMED, "user"), (SNOMED, "non-user")
    store = store_with(
        PATIENTS,
        [
            observation("a", "2025-02-01", value_code_system=SNOMED, value_code="user"),
            observation("a", "2025-09-01", value_code_system=SNOMED, value_code="non-user"),
            observation("b", "2025-02-01", value_code_system=SNOMED, value_code="non-user"),
            observation("b", "2025-09-01", value_code_system=SNOMED, value_code="user"),
        ],
    )
    latest_user = MostRecent(Timed(LAB, "during"), "start_date", value_codes=(user,))
    latest_non_user = MostRecent(Timed(LAB, "during"), "start_date", value_codes=(non_user,))
    assert met(store, latest_user) == {"b"}
    assert met(store, latest_non_user) == {"a"}


def test_lowest_value_on_most_recent_day():
    store = store_with(
        PATIENTS,
        [
            # a: the most recent day has 9.5 and 8.5: the lowest, 8.5, is not above 9.
            observation("a", "2025-11-03", value_num=9.5),
            observation("a", "2025-11-03", value_num=8.5),
            # b: an older day was high, the most recent one is 9.2: above 9.
            observation("b", "2025-03-01", value_num=12.0),
            observation("b", "2025-10-01", value_num=9.2),
            # c: the most recent day has a reading without a result.
            observation("c", "2025-05-01", value_num=7.0),
            observation("c", "2025-08-01"),
            # d: the high reading was last year, outside the period: no reading at all.
            observation("d", "2024-08-01", value_num=11.0),
            # e: a coded (non-numeric) result cannot be compared.
            observation("e", "2025-08-01", value_code_system=SNOMED, value_code="373066001"),
        ],
    )
    readings = Timed(LAB, "ends_during")
    assert met(store, LowestOnMostRecentDay(readings, ">", 9.0, missing_counts=True)) == {"b", "c"}
    assert met(store, LowestOnMostRecentDay(readings, ">", 9.0)) == {"b"}
    assert met(store, LowestOnMostRecentDay(readings, "<", 9.0)) == {"a"}


def test_most_recent_day_must_be_shared_by_both_readings():
    systolic = Events(("observation",), codes=((LOINC, "S"),))
    diastolic = Events(("observation",), codes=((LOINC, "D"),))
    store = store_with(
        PATIENTS,
        [
            {"patient_id": "a", "code": "S", "start": "2025-06-01", "value_num": 150.0},
            {"patient_id": "a", "code": "D", "start": "2025-06-01", "value_num": 80.0},
            # a systolic alone on a later day does not make that day the most recent BP day
            {"patient_id": "a", "code": "S", "start": "2025-07-01", "value_num": 120.0},
        ],
    )
    sbp = LowestOnMostRecentDay(Timed(systolic, "during"), "<", 140.0, same_day_as=(Timed(diastolic, "during"),))
    assert met(store, sbp) == set()


def test_at_least_two_distinct_events():
    store = store_with(PATIENTS, [observation("a", "2025-01-05"), observation("a", "2025-02-05"), observation("b", "2025-01-05")])
    assert met(store, AtLeast(2, Timed(LAB, "during"))) == {"a"}


def test_cumulative_medication_days_collapse_overlaps():
    drug = Events(("medication",), codes=((LOINC, "X"),), interval="medication")
    store = store_with(
        PATIENTS,
        [
            # a: Jan 1 +30 days and Jan 15 +30 days overlap: Jan 1..Feb 13 = 44 days, not 60.
            {"patient_id": "a", "kind": "medication", "code": "X", "start": "2025-01-01", "days_supply": 30},
            {"patient_id": "a", "kind": "medication", "code": "X", "start": "2025-01-15", "days_supply": 30},
            # b: two separate 30-day fills = 60 days.
            {"patient_id": "b", "kind": "medication", "code": "X", "start": "2025-01-01", "days_supply": 30},
            {"patient_id": "b", "kind": "medication", "code": "X", "start": "2025-06-01", "days_supply": 30},
            # c: a fill from December 2024 counts only from January 1: 10 days.
            {"patient_id": "c", "kind": "medication", "code": "X", "start": "2024-12-22", "days_supply": 20},
        ],
    )
    rows = Timed(drug, "overlaps")
    assert met(store, CumulativeDays(rows, 44)) == {"a", "b"}
    assert met(store, CumulativeDays(rows, 45)) == {"b"}
    assert met(store, CumulativeDays(rows, 10)) == {"a", "b", "c"}
    assert met(store, CumulativeDays(rows, 11)) == {"a", "b"}


def test_not_done_needs_an_accepted_reason():
    medical_reason = "2.16.840.1.113883.3.526.3.1007"
    store = store_with(
        PATIENTS,
        [
            # a: not done for "medical contraindication" (in the Medical Reason value set).
            observation("a", "2025-03-01", negated=True, negation_reason_system=SNOMED, negation_reason_code="183932001"),
            # b: not done, reason not in the value set.
            observation("b", "2025-03-01", negated=True, negation_reason_system=SNOMED, negation_reason_code="000"),
            # c: done, not negated.
            observation("c", "2025-03-01"),
        ],
    )
    assert met(store, NotDone(Timed(LAB, "during"), (medical_reason,))) == {"a"}
    assert met(store, Exists(Timed(LAB, "during"))) == {"c"}
