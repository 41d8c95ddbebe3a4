"""Spec tests for the utilization and outcome measures: member-month arithmetic, ED visits per 1,000
member-years (ratio, exact Poisson interval), total cost of care PMPM (continuous variable, ratio
estimator t interval) and 30-day readmissions counted per index stay (day 30 in, day 31 out)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats
from spec_world import World, run

from p4pkit.measures import Period, summarise
from p4pkit.measures.library import ed_visits_per_1000
from p4pkit.measures.observations import MemberMonths, month_starts, observed
from p4pkit.measures.runner import CompileContext
from p4pkit.measures.summary import poisson_interval, ratio_estimate_interval, wilson_interval
from p4pkit.model.codes import SNOMED

YEAR_2025 = "2025-01-01:2025-12-31"


def test_month_starts_are_the_first_days_inside_the_period():
    assert month_starts(date(2025, 1, 1), date(2025, 3, 31)) == [date(2025, 1, 1), date(2025, 2, 1), date(2025, 3, 1)]
    assert month_starts(date(2024, 12, 15), date(2025, 2, 1)) == [date(2025, 1, 1), date(2025, 2, 1)]
    assert month_starts(date(2025, 1, 2), date(2025, 1, 31)) == []


@pytest.fixture(scope="module")
def members() -> World:
    """Four payer members (29 member-months in 2025) and one patient only on a practice list."""
    w = World()
    w.patient("full").enrolled("full", date(2024, 7, 1))  # open-ended: 12 months
    w.patient("q1").enrolled("q1", date(2025, 1, 1), date(2025, 3, 31))  # 3 months
    w.patient("jan2").enrolled("jan2", date(2025, 1, 2), date(2025, 3, 31))  # not enrolled on 1 January: 2 months
    w.patient("overlap").enrolled("overlap", date(2025, 1, 1), date(2025, 6, 30)).enrolled("overlap", date(2025, 3, 1))  # 12, not 16
    w.patient("listed").registered("listed", date(2020, 1, 1))
    w.encounter("ed1", "full", "emergency", date(2025, 2, 1)).encounter("ed2", "full", "emergency", date(2025, 8, 1))
    w.encounter("ed3", "full", "emergency", date(2025, 9, 1)).encounter("adm3", "full", "inpatient", date(2025, 9, 2), date(2025, 9, 4))
    w.encounter("ed4", "q1", "emergency", date(2024, 12, 31))  # before the period
    w.encounter("ed5", "listed", "emergency", date(2025, 5, 1))  # not a payer member
    w.claim("full", date(2025, 3, 1), "1200.00").claim("full", date(2024, 12, 31), "500.00")
    w.claim("q1", date(2025, 2, 1), "300.00").claim("overlap", date(2025, 5, 1), "2400.00")
    return w


@pytest.fixture(scope="module")
def ed(members):
    return run(members, "ED_VISITS_1000", YEAR_2025)


def test_member_years_and_ed_visit_counts(ed):
    rows = {r["patient_id"]: r for r in ed.to_pylist()}
    assert sorted(rows) == ["full", "jan2", "overlap", "q1"]
    assert {p: r["denominator_value"] * 12 for p, r in rows.items()} == pytest.approx({"full": 12, "q1": 3, "jan2": 2, "overlap": 12})
    # ed3 turned into an admission the next day, ed4 is before the period.
    assert {p: r["numerator_value"] for p, r in rows.items()} == {"full": 2.0, "q1": 0.0, "jan2": 0.0, "overlap": 0.0}
    assert rows["full"]["evidence_event_ids"] == ["ed1", "ed2"]


def test_ed_rate_per_1000_member_years_with_exact_poisson_interval(ed):
    (s,) = summarise(ed).to_pylist()
    years = 29 / 12
    assert (s["numerator_total"], s["denominator_total"]) == pytest.approx((2, years))
    assert s["rate"] == pytest.approx(2 / years * 1000)  # 827.6 per 1,000 member-years
    # Garwood: chi2(0.025, 4) / 2 = 0.2422 and chi2(0.975, 6) / 2 = 7.2247 events.
    assert s["rate_lower"] == pytest.approx(0.24220 / years * 1000, rel=1e-4)
    assert s["rate_upper"] == pytest.approx(7.22469 / years * 1000, rel=1e-4)


def test_cost_pmpm_is_allowed_dollars_over_member_months(members):
    results = run(members, "TCOC_PMPM", YEAR_2025)
    rows = {r["patient_id"]: r for r in results.to_pylist()}
    assert {p: (r["numerator_value"], r["denominator_value"]) for p, r in rows.items()} == {
        "full": (1200.0, 12.0), "q1": (300.0, 3.0), "jan2": (0.0, 2.0), "overlap": (2400.0, 12.0)
    }
    (s,) = summarise(results).to_pylist()
    y, m = np.array([1200.0, 300.0, 0.0, 2400.0]), np.array([12.0, 3.0, 2.0, 12.0])
    r = y.sum() / m.sum()
    se = np.sqrt(4 / 3 * ((y - r * m) ** 2).sum()) / m.sum()
    t = stats.t.ppf(0.975, 3)
    assert s["rate"] == pytest.approx(3900 / 29)  # $134.48 PMPM
    assert (s["rate_lower"], s["rate_upper"]) == pytest.approx((r - t * se, r + t * se))


def test_readmission_day_30_counts_day_31_does_not():
    w = World()
    elective = (SNOMED, "8715000")
    w.patient("r30").encounter("a1", "r30", "inpatient", date(2025, 1, 1), date(2025, 1, 10))
    w.encounter("a2", "r30", "inpatient", date(2025, 2, 9), date(2025, 2, 11))  # day 30 after 10 January
    w.patient("r31").encounter("b1", "r31", "inpatient", date(2025, 1, 1), date(2025, 1, 10))
    w.encounter("b2", "r31", "inpatient", date(2025, 2, 10), date(2025, 2, 12))  # day 31
    w.patient("planned").encounter("c1", "planned", "inpatient", date(2025, 3, 1), date(2025, 3, 5))
    w.encounter("c2", "planned", "inpatient", date(2025, 3, 20), date(2025, 3, 22), type_code=elective)
    w.patient("died").encounter("d1", "died", "inpatient", date(2025, 4, 1), date(2025, 4, 3), disposition="exp")
    w.patient("transfer").encounter("t1", "transfer", "inpatient", date(2025, 4, 1), date(2025, 4, 5))
    w.encounter("t2", "transfer", "inpatient", date(2025, 4, 6), date(2025, 4, 10))  # next day: one stay with t1
    w.encounter("t3", "transfer", "inpatient", date(2025, 4, 25), date(2025, 4, 27))  # 15 days after t2
    w.patient("late").encounter("l1", "late", "inpatient", date(2025, 12, 1), date(2025, 12, 5))  # after 1 December
    results = run(w, "READMIT_30D", YEAR_2025)
    rows = {r["patient_id"]: r for r in results.to_pylist()}
    assert sorted(rows) == ["planned", "r30", "r31", "transfer"]
    assert {p: (r["numerator_value"], r["denominator_value"]) for p, r in rows.items()} == {
        "r30": (1.0, 2.0), "r31": (0.0, 2.0), "planned": (0.0, 2.0), "transfer": (1.0, 2.0)
    }
    assert rows["transfer"]["evidence_event_ids"] == ["t2"]
    (s,) = summarise(results).to_pylist()
    low, high = wilson_interval(np.array([2]), np.array([8]))
    assert (s["rate"], s["rate_lower"], s["rate_upper"]) == pytest.approx((0.25, low[0], high[0]))
    assert (s["initial_population"], s["numerator"]) == (4, 2)


@given(st.integers(0, 500), st.floats(0.5, 1e4))
def test_poisson_interval_brackets_the_rate(count, exposure):
    low, high = poisson_interval(np.array([count]), np.array([exposure]))
    assert 0 <= low[0] <= count / exposure <= high[0]


@given(st.lists(st.tuples(st.floats(0, 1e4), st.integers(1, 12)), min_size=2, max_size=30))
def test_ratio_estimate_interval_contains_the_estimate(members):
    y = np.array([m[0] for m in members])
    m = np.array([float(m[1]) for m in members])
    r, low, high = ratio_estimate_interval(len(y), y.sum(), m.sum(), (y * y).sum(), (m * m).sum(), (y * m).sum())
    assert r == pytest.approx(y.sum() / m.sum())
    assert low <= r + 1e-9 and r - 1e-9 <= high


def test_equal_pmpm_members_give_a_zero_width_interval():
    y, m = np.array([100.0, 300.0, 1200.0]), np.array([1.0, 3.0, 12.0])
    r, low, high = ratio_estimate_interval(3, y.sum(), m.sum(), (y * y).sum(), (m * m).sum(), (y * m).sum())
    assert (r, low, high) == pytest.approx((100.0, 100.0, 100.0))


def test_ratio_scoring_needs_both_observations():
    measure = ed_visits_per_1000.MEASURE
    with pytest.raises(ValueError, match="ratio scoring needs numerator and denominator observations"):
        replace(measure, groups=(replace(measure.groups[0], denominator_observation=None),))


def test_member_months_match_counting_every_snapshot_day_by_hand():
    """The arithmetic count of a single enrollment and the one-by-one count of several (possibly
    overlapping) ones agree with checking every month start against every enrollment."""
    rng = np.random.default_rng(7)
    period = Period(date(2024, 11, 15), date(2026, 2, 1))  # starts mid-month, ends on a month start
    w, expected = World(), {}
    for p in range(40):
        pid = f"p{p}"
        w.patient(pid)
        spans = []
        for _ in range(int(rng.integers(1, 4))):
            start = date.fromordinal(date(2024, 1, 1).toordinal() + int(rng.integers(0, 900)))
            end = None if rng.random() < 0.3 else date.fromordinal(start.toordinal() + int(rng.integers(0, 400)))
            w.enrolled(pid, start, end)
            spans.append((start, end or date.max))
        months = sum(any(s <= m <= e for s, e in spans) for m in month_starts(period.start, period.end))
        if months:
            expected[pid] = float(months)
    with w.store() as store:
        ctx = CompileContext(store, period)
        found = store.backend.to_pyarrow(observed(MemberMonths(), ctx)).to_pylist()
    assert {row["patient_id"]: row["value"] for row in found} == expected
    assert len(expected) > 20 and max(expected.values()) == 15.0
