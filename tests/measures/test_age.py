"""Spec test of `age_in_years_at`, the age every measure criterion, supplemental age band and
coding-intensity stratum uses: a tiny patients table, ages worked by hand."""

from __future__ import annotations

from datetime import date

import pytest

from p4pkit.measures.timing import age_in_years_at

from measure_tables import store_with

PATIENTS = [
    ("born_jun14", "2007-06-14", "female"),
    ("born_jun15", "2007-06-15", "female"),
    ("born_jun16", "2007-06-16", "female"),
    ("born_feb29", "2008-02-29", "male"),
]


@pytest.fixture(scope="module")
def store():
    store = store_with(PATIENTS, [])
    yield store
    store.close()


def ages_on(store, day: date) -> dict[str, int]:
    p = store.table("patients")
    rows = store.backend.to_pyarrow(p.select("patient_id", age=age_in_years_at(p.birth_date, day))).to_pylist()
    return {r["patient_id"]: r["age"] for r in rows}


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        # 18th birthday of born_jun15 on the day, the day before it and the day after it
        (date(2025, 6, 15), {"born_jun14": 18, "born_jun15": 18, "born_jun16": 17, "born_feb29": 17}),
        (date(2025, 6, 14), {"born_jun14": 18, "born_jun15": 17, "born_jun16": 17, "born_feb29": 17}),
        (date(2025, 6, 16), {"born_jun14": 18, "born_jun15": 18, "born_jun16": 18, "born_feb29": 17}),
        # 2025 has no 29 February: born_feb29 is still 16 on the 28th and turns 17 on 1 March
        (date(2025, 2, 28), {"born_jun14": 17, "born_jun15": 17, "born_jun16": 17, "born_feb29": 16}),
        (date(2025, 3, 1), {"born_jun14": 17, "born_jun15": 17, "born_jun16": 17, "born_feb29": 17}),
        # in a leap year the birthday is on its own day
        (date(2024, 2, 28), {"born_jun14": 16, "born_jun15": 16, "born_jun16": 16, "born_feb29": 15}),
        (date(2024, 2, 29), {"born_jun14": 16, "born_jun15": 16, "born_jun16": 16, "born_feb29": 16}),
    ],
)
def test_age_in_whole_years_counts_a_birthday_from_its_day(store, day, expected):
    assert ages_on(store, day) == expected
