"""Invariants of plurality attribution on random visit histories (Hypothesis)."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

from attribution_world import YEAR_2025, by_patient, encounters_table, store_fixture
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from p4pkit.attribution import plurality_of_visits

PRIMARY_CARE = ("C1", "C2", "C6")
PATIENTS = ["A", "B", "C"]
visit = st.tuples(
    st.sampled_from(PATIENTS),
    st.sampled_from(("C1", "C2", "C3", "C5", "C6")),
    st.just("ambulatory"),
    st.integers(0, 364).map(lambda d: date(2025, 1, 1) + timedelta(days=d)),
)


store = store_fixture(PATIENTS)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(visits=st.lists(visit, max_size=14))
def test_winner_has_the_most_visits_and_the_latest_among_ties(store, visits):
    store.replace_tables({"encounters": encounters_table(visits)})
    rows = by_patient(plurality_of_visits(store, YEAR_2025))
    assert sorted(rows) == PATIENTS
    for patient in PATIENTS:
        mine = [v for v in visits if v[0] == patient and v[1] in PRIMARY_CARE]
        row = rows[patient]
        if not mine:
            assert row["entity_id"] is None and row["reason"].startswith("unattributed")
            continue
        counts = Counter(v[1] for v in mine)
        top = max(counts.values())
        assert counts[row["entity_id"]] == top
        latest = {c: max(v[3] for v in mine if v[1] == c) for c in counts if counts[c] == top}
        assert latest[row["entity_id"]] == max(latest.values())
        assert f"{top} of {len(mine)} visits" in row["reason"]
