"""Population nesting in the runner, the performance-rate formula and Wilson intervals."""

from __future__ import annotations

import math
from datetime import date

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from p4pkit.errors import UserError
from p4pkit.measures import run_measures, summarise, wilson_interval
from p4pkit.measures.criteria import AgeAt, Exists, Timed
from p4pkit.measures.definition import Group, Measure, Reasoned
from p4pkit.measures.sources import Events
from p4pkit.model.codes import LOINC

from measure_tables import store_with


def test_wilson_interval_hand_worked():
    # 5 of 10: p = 0.5, z = 1.96: centre 0.5, half-width 1.96 * sqrt(0.025 + 0.0096) / 1.384 = 0.2634.
    low, high = wilson_interval([5, 0, 3], [10, 10, 0])
    assert low[0] == pytest.approx(0.2366, abs=1e-4) and high[0] == pytest.approx(0.7634, abs=1e-4)
    # 0 of 10: lower bound 0, upper z^2/n / (1 + z^2/n) = 0.38415 / 1.38415 = 0.2775.
    assert low[1] == pytest.approx(0.0, abs=1e-12) and high[1] == pytest.approx(0.2775, abs=1e-4)
    assert math.isnan(low[2]) and math.isnan(high[2])


@given(st.integers(1, 5000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_wilson_interval_brackets_the_rate_inside_zero_one(case):
    x, n = case
    low, high = wilson_interval([x], [n])
    assert 0.0 <= low[0] <= x / n <= high[0] <= 1.0


def _results(rows: list[tuple[str, int, int, int, int]]) -> pa.Table:
    """(practice, denominator, exclusion, exception, numerator) per patient."""
    return pa.table(
        {
            "measure_id": ["M"] * len(rows),
            "group_index": pa.array([0] * len(rows), pa.int32()),
            "period_start": [date(2025, 1, 1)] * len(rows),
            "period_end": [date(2025, 12, 31)] * len(rows),
            "practice": [r[0] for r in rows],
            "initial_population": [1] * len(rows),
            "denominator": [r[1] for r in rows],
            "denominator_exclusion": [r[2] for r in rows],
            "denominator_exception": [r[3] for r in rows],
            "numerator": [r[4] for r in rows],
        }
    )


def test_rate_is_numerator_over_denominator_less_exclusions_and_exceptions():
    rows = [("p1", 1, 0, 0, 1)] * 3 + [("p1", 1, 0, 0, 0)] + [("p1", 1, 1, 0, 0)] * 2 + [("p1", 1, 0, 1, 0)]
    rows += [("p2", 1, 1, 0, 0)]
    summary = summarise(_results(rows), by=["practice"]).to_pylist()
    p1, p2 = summary
    assert (p1["denominator"], p1["exclusions"], p1["exceptions"], p1["numerator"]) == (7, 2, 1, 3)
    assert p1["performance_denominator"] == 4 and p1["rate"] == pytest.approx(0.75)
    assert p2["performance_denominator"] == 0 and p2["rate"] is None and p2["rate_lower"] is None


def test_summarise_names_missing_entity_column():
    with pytest.raises(UserError, match="clinician_id"):
        summarise(_results([("p1", 1, 0, 0, 1)]), by=["clinician_id"])


def _nesting_measure() -> Measure:
    """Adults; excluded by H overlapping the period, numerator T, exception R (both during it)."""
    test = Events(("observation",), codes=((LOINC, "T"),))
    refused = Events(("observation",), codes=((LOINC, "R"),))
    hospice = Events(("observation",), codes=((LOINC, "H"),))
    return Measure(
        id="TEST1", title="t", steward="s", version="1", description="d", rationale="r", guideline="g",
        references=(), improvement_notation="increase", scoring="proportion", source="test",
        groups=(
            Group(
                initial_population=AgeAt(18),
                denominator=None,
                numerator=Exists(Timed(test, "during")),
                exclusions=(Reasoned("hospice", Exists(Timed(hospice, "overlaps"))),),
                exceptions=(Reasoned("refused", Exists(Timed(refused, "during"))),),
            ),
        ),
    )


def test_runner_nests_populations_and_reports_reasons():
    measure = _nesting_measure()
    store = store_with(
        [("adult_tested", "1980-01-01", "male"), ("adult_hospice", "1980-01-01", "male"), ("adult_refused", "1980-01-01", "male"),
         ("tested_and_refused", "1980-01-01", "male"), ("child", "2015-01-01", "male")],
        [
            {"patient_id": "adult_tested", "code": "T", "start": "2025-04-01", "event_id": "t1"},
            {"patient_id": "adult_hospice", "code": "H", "start": "2024-12-01", "end": "2025-02-01", "event_id": "h1"},
            {"patient_id": "adult_hospice", "code": "T", "start": "2025-04-01", "event_id": "t2"},
            {"patient_id": "adult_refused", "code": "R", "start": "2025-04-01", "event_id": "r1"},
            {"patient_id": "tested_and_refused", "code": "T", "start": "2025-04-01", "event_id": "t3"},
            {"patient_id": "tested_and_refused", "code": "R", "start": "2025-05-01", "event_id": "r2"},
            {"patient_id": "child", "code": "T", "start": "2025-04-01", "event_id": "t4"},
        ],
    )
    rows = {r["patient_id"]: r for r in run_measures(store, [measure], "2025-01-01:2025-12-31").to_pylist()}
    assert set(rows) == {"adult_tested", "adult_hospice", "adult_refused", "tested_and_refused"}
    flags = lambda r: (r["denominator"], r["denominator_exclusion"], r["numerator"], r["denominator_exception"])  # noqa: E731
    assert flags(rows["adult_tested"]) == (1, 0, 1, 0) and rows["adult_tested"]["evidence_event_ids"] == ["t1"]
    # Excluded patients never count in the numerator, even with the test done.
    assert flags(rows["adult_hospice"]) == (1, 1, 0, 0) and rows["adult_hospice"]["exclusion_reason"] == "hospice"
    assert rows["adult_hospice"]["evidence_event_ids"] == ["h1"]
    assert flags(rows["adult_refused"]) == (1, 0, 0, 1) and rows["adult_refused"]["exception_reason"] == "refused"
    # An exception only applies to patients not already in the numerator.
    assert flags(rows["tested_and_refused"]) == (1, 0, 1, 0)
    summary = summarise(run_measures(store, [measure], "2025-01-01:2025-12-31")).to_pylist()[0]
    assert summary["performance_denominator"] == 2 and summary["rate"] == pytest.approx(1.0)
    store.close()


def test_unknown_measure_is_a_user_error():
    store = store_with([("a", "1980-01-01", "male")], [])
    with pytest.raises(UserError, match="unknown measure 'CMS000'"):
        run_measures(store, ["CMS000"], "2025-01-01:2025-12-31")
    with pytest.raises(UserError, match="START:END"):
        run_measures(store, ["CMS122"], "2025")
    store.close()


PEOPLE = st.lists(
    st.tuples(
        st.sampled_from(["1950-05-05", "2010-05-05"]),  # adult or child at the end of 2025
        st.lists(st.tuples(st.sampled_from("THR"), st.sampled_from(["2024-06-01", "2025-06-01", "2026-02-01"])), max_size=4),
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=5, deadline=None)
@given(PEOPLE)
def test_runner_matches_the_population_rules_written_out(people):
    """Oracle: the nesting rules applied by hand to random patients agree with the compiled run."""
    measure = _nesting_measure()
    patients = [(f"p{i}", born, "female") for i, (born, _) in enumerate(people)]
    events = [
        {"patient_id": f"p{i}", "code": code, "start": day}
        for i, (_, facts) in enumerate(people)
        for code, day in facts
    ]
    store = store_with(patients, events)
    rows = {r["patient_id"]: r for r in run_measures(store, [measure], "2025-01-01:2025-12-31").to_pylist()}
    store.close()
    for i, (born, facts) in enumerate(people):
        in_2025 = {code for code, day in facts if day.startswith("2025")}
        if born.startswith("2010"):
            assert f"p{i}" not in rows
            continue
        excluded = "H" in in_2025
        numerator = not excluded and "T" in in_2025
        exception = not excluded and not numerator and "R" in in_2025
        row = rows[f"p{i}"]
        assert (row["denominator"], row["denominator_exclusion"], row["numerator"], row["denominator_exception"]) == (
            1, int(excluded), int(numerator), int(exception)
        )


def test_progress_is_reported_per_group_in_result_order_and_at_the_end():
    store = store_with([("a", "1980-01-01", "male")], [])
    steps = []
    results = run_measures(store, ["CMS138", "CMS122"], "2025-01-01:2025-12-31", on_progress=lambda *step: steps.append(step))
    assert steps == [("CMS122 group 0", 0, 4), ("CMS138 group 0", 1, 4), ("CMS138 group 1", 2, 4),
                     ("CMS138 group 2", 3, 4), ("measures done", 4, 4)]
    assert results.num_rows == 0
    store.close()


def test_a_measure_named_twice_is_run_once():
    """CMS122,cms122 counted every patient twice (and doubled the summary's counts)."""
    from p4pkit.measures.library import LIBRARY
    from p4pkit.measures.runner import resolve_measures

    assert resolve_measures(["CMS122", " cms122", LIBRARY["CMS122"], "CMS125"]) == [LIBRARY["CMS122"], LIBRARY["CMS125"]]
    impostor = Measure(**{**LIBRARY["CMS122"].__dict__, "title": "another"})
    with pytest.raises(UserError, match="two different measures have the id 'CMS122'"):
        resolve_measures(["CMS122", impostor])


def test_an_active_condition_is_dated_by_its_onset_in_the_evidence():
    """A condition with no abatement runs to the far end of time (CQL prevalence interval); the
    evidence shows its onset, not 9999-12-31; a resolved one is dated by its end, like any event."""
    condition = Events(("condition",), codes=((LOINC, "D"),), interval="prevalence")
    measure = Measure(**{**_nesting_measure().__dict__, "groups": (
        Group(initial_population=Exists(Timed(condition, "overlaps")), denominator=None, numerator=Exists(Timed(condition, "overlaps"))),
    )})
    store = store_with(
        [("active", "1980-01-01", "male"), ("resolved", "1980-01-01", "male")],
        [
            {"patient_id": "active", "kind": "condition", "code": "D", "start": "2018-05-25", "status": "active", "event_id": "c1"},
            {"patient_id": "resolved", "kind": "condition", "code": "D", "start": "2024-03-01", "end": "2025-02-01", "event_id": "c2"},
        ],
    )
    rows = {r["patient_id"]: r for r in run_measures(store, [measure], "2025-01-01:2025-12-31").to_pylist()}
    assert rows["active"]["evidence_dates"] == [date(2018, 5, 25)] and rows["resolved"]["evidence_dates"] == [date(2025, 2, 1)]
    store.close()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2025-13-01:2025-12-31", "the start '2025-13-01' is not a date (month must be in 1..12)"),
        ("2025-01-01:2025-02-30", "the end '2025-02-30' is not a date (day is out of range for month)"),
        ("2025", "is not START:END"),
        ("2025-12-31:2025-01-01", "ends (2025-01-01) before it starts (2025-12-31)"),
    ],
)
def test_a_bad_period_names_the_bad_part(text, message):
    from p4pkit.measures.timing import Period

    with pytest.raises(UserError) as error:
        Period.parse(text)
    assert message in error.value.message


def test_bad_rows_in_a_data_folder_point_to_p4p_load_not_to_an_option_measure_run_lacks(tmp_path):
    from typer.testing import CliRunner

    from p4pkit.cli import app
    from p4pkit.synth import generate

    generate(200, 3, tmp_path / "data")
    patients = tmp_path / "data" / "patients.parquet"
    table = pq.read_table(patients)
    pq.write_table(table.set_column(table.schema.get_field_index("birth_date"), "birth_date",
                                            pa.array([None] * table.num_rows, table.schema.field("birth_date").type)), patients)
    result = CliRunner().invoke(app, ["measure", "run", "--measures", "CMS122", "--data", str(tmp_path / "data"),
                                      "--period", "2025-01-01:2025-12-31", "--out", str(tmp_path / "out")])
    output = " ".join(result.output.split())
    assert result.exit_code == 2 and "nothing was loaded" in output and "p4p load FOLDER --db STORE --quarantine FILE" in output
    assert "pass --quarantine" not in output and not (tmp_path / "out").exists()
