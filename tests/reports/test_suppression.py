"""Small-cell suppression: hand-worked tables, and an attacker who must fail to recover hidden cells."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from p4pkit.reports.suppression import CellTable, is_small, suppress_measure_table


def _table(nums, dens, publishable=None) -> pd.DataFrame:
    frame = pd.DataFrame({"entity_id": [f"E{i}" for i in range(len(nums))], "numerator": nums, "denominator": dens})
    frame["rate"] = frame["numerator"] / frame["denominator"]
    if publishable is not None:
        frame["publishable"] = publishable
    return frame


def test_small_counts_are_one_to_ten():
    assert [is_small(v) for v in (0, 1, 10, 11)] == [False, True, True, False]


def test_primary_and_complementary_suppression_hand_worked():
    published = suppress_measure_table(_table([3, 40, 55, 70], [50, 60, 80, 100]))
    # E0's numerator 3 is small: hidden with its rate. Alone it could be recovered from the total
    # (168 - 40 - 55 - 70), so the smallest shown numerator (E1's 40) is hidden too.
    assert published["numerator"].isna().tolist() == [True, True, False, False, False]
    assert published["rate"].isna().tolist() == [True, True, False, False, True]
    assert published.loc[4, "numerator"] == 168 and published.loc[4, "denominator"] == 290
    assert published["denominator"].notna().all()


def test_complement_counts_are_small_cells_too():
    # 95 of 100 reveals that 5 did not: the numerator is hidden (and a partner for the total)
    published = suppress_measure_table(_table([95, 30, 60], [100, 80, 90]))
    assert published["numerator"].isna().tolist()[:3] == [True, True, False]


def test_entities_below_the_publication_floor_are_dropped_but_protected():
    published = suppress_measure_table(
        _table([12, 40, 50], [20, 90, 95], publishable=[False, True, True]), publishable="publishable"
    )
    # E0 is not shown; its counts are in the total, so one more numerator and denominator go
    assert published["entity_id"].tolist() == ["E1", "E2", "All entities"]
    assert published["numerator"].isna().tolist() == [True, False, False]
    assert published["denominator"].isna().tolist() == [True, False, False]


def test_engine_hides_the_total_when_nothing_else_can_be_hidden():
    cells = CellTable({"a": 4, "b": 0, "t": 4}, [(("a", "b"), "t")])
    cells.hide(["a"])
    cells.protect()
    assert cells.hidden == {"a", "t"}


def _attack(published: pd.DataFrame, original: pd.DataFrame) -> list[tuple[int, str, float, float]]:
    """Bounds an attacker can put on each hidden numerator and complement by linear programming.

    Unknowns: every hidden numerator and denominator of every original entity (unpublished ones
    included); known: shown values, shown totals, 0 <= numerator <= denominator.
    """
    rows = original.reset_index(drop=True)
    shown = published.set_index("entity_id")
    n = len(rows)
    known_num = [shown.loc[e, "numerator"] if e in shown.index else pd.NA for e in rows.entity_id]
    known_den = [shown.loc[e, "denominator"] if e in shown.index else pd.NA for e in rows.entity_id]
    total = shown.loc["All entities"]
    # variables x = [num_0..num_{n-1}, den_0..den_{n-1}]
    eq_a, eq_b = [], []
    for i in range(n):
        for offset, value in ((0, known_num[i]), (n, known_den[i])):
            if not pd.isna(value):
                row = np.zeros(2 * n)
                row[offset + i] = 1
                eq_a.append(row)
                eq_b.append(float(value))
    for offset, column in ((0, "numerator"), (n, "denominator")):
        if not pd.isna(total[column]):
            row = np.zeros(2 * n)
            row[offset : offset + n] = 1
            eq_a.append(row)
            eq_b.append(float(total[column]))
    ub_a = [np.eye(2 * n)[i] - np.eye(2 * n)[n + i] for i in range(n)]  # num <= den
    big = float(rows["denominator"].sum()) * 2 + 100
    found = []
    for i in range(n):
        if not pd.isna(known_num[i]) and not pd.isna(known_den[i]):
            continue
        for label, objective in (("numerator", np.eye(2 * n)[i]), ("complement", np.eye(2 * n)[n + i] - np.eye(2 * n)[i])):
            bounds = []
            for sign in (1, -1):
                result = linprog(sign * objective, A_ub=ub_a, b_ub=np.zeros(n), A_eq=eq_a or None, b_eq=eq_b or None, bounds=[(0, big)] * (2 * n))
                assert result.status == 0
                bounds.append(sign * result.fun)
            found.append((i, label, bounds[0], bounds[1]))
    return found


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 120), st.integers(0, 120), st.booleans()),
        min_size=2,
        max_size=8,
    )
)
def test_an_attacker_cannot_recover_any_small_hidden_cell(rows):
    nums = [min(a, b) for a, b, _ in rows]
    dens = [max(a, b) for a, b, _ in rows]
    publishable = [flag and d >= 30 for (_, _, flag), d in zip(rows, dens)]
    original = _table(nums, dens, publishable)
    published = suppress_measure_table(original, publishable="publishable")
    # nothing small is shown
    body = published.iloc[:-1]
    for _, row in body.iterrows():
        if not pd.isna(row["numerator"]):
            assert not is_small(row["numerator"]) and not is_small(row["denominator"] - row["numerator"])
    # and no small value can be pinned down from what is shown
    truth = {i: (nums[i], dens[i] - nums[i]) for i in range(len(nums))}
    for i, label, low, high in _attack(published, original):
        value = truth[i][0] if label == "numerator" else truth[i][1]
        if is_small(value):
            assert high >= 11 - 1e-6, (label, value, low, high)
