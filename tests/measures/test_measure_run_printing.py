"""`p4p measure run` prints each measure's rate in its own unit: proportions and outcomes as a
percentage, ratios per their multiplier, cost per member-month as a number to the cent."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from spec_world import World
from typer.testing import CliRunner

from p4pkit.cli import _rate_text, app


def _row(scoring: str, numerator: int, denominator: int, rate: float | None, totals=(None, None), multiplier=1.0) -> dict:
    return {"scoring": scoring, "rate_multiplier": multiplier, "numerator": numerator, "performance_denominator": denominator,
            "numerator_total": totals[0], "denominator_total": totals[1], "rate": rate}


def test_each_scoring_is_printed_in_its_unit():
    assert _rate_text(_row("proportion", 4, 11, 4 / 11)) == "36.4% (4/11)"
    assert _rate_text(_row("proportion", 0, 0, None)) == "n/a (0/0)"
    # Outcomes observed in episodes: 1 readmission of 25 index stays of 24 patients.
    assert _rate_text(_row("outcome", 1, 24, 1 / 25, totals=(1.0, 25.0))) == "4.0% (1/25)"
    assert _rate_text(_row("ratio", 71, 269, 86 / 255.1667 * 1000, totals=(86.0, 255.1667), multiplier=1000.0)) == "337.0 per 1,000 (86/255.17)"
    assert _rate_text(_row("continuous-variable", 269, 269, 520957.79 / 3062, totals=(520957.79, 3062.0))) == "170.14 (520,957.79/3,062)"


def test_measure_run_prints_ed_visits_per_1000_and_cost_pmpm_in_their_units(tmp_path: Path):
    """Four payer members with 29 member-months in 2025 (12 + 3 + 2 + 12), two ED visits that did
    not become stays, and $3,900 of allowed claims in the year: 2 / (29/12) x 1,000 = 827.6 visits
    per 1,000 member-years and 3,900 / 29 = 134.48 per member-month."""
    w = World()
    w.patient("full").enrolled("full", date(2024, 7, 1))
    w.patient("q1").enrolled("q1", date(2025, 1, 1), date(2025, 3, 31))
    w.patient("jan2").enrolled("jan2", date(2025, 1, 2), date(2025, 3, 31))
    w.patient("overlap").enrolled("overlap", date(2025, 1, 1), date(2025, 6, 30)).enrolled("overlap", date(2025, 3, 1))
    w.encounter("ed1", "full", "emergency", date(2025, 2, 1)).encounter("ed2", "full", "emergency", date(2025, 8, 1))
    w.encounter("ed3", "full", "emergency", date(2025, 9, 1)).encounter("adm3", "full", "inpatient", date(2025, 9, 2), date(2025, 9, 4))
    w.claim("full", date(2025, 3, 1), "1200.00").claim("full", date(2024, 12, 31), "500.00")
    w.claim("q1", date(2025, 2, 1), "300.00").claim("overlap", date(2025, 5, 1), "2400.00")
    db = tmp_path / "world.duckdb"
    with w.store() as store:
        store.connection.execute(f"attach '{db}' as target")
        for (name,) in store.connection.execute("select table_name from information_schema.tables where table_schema = 'main'").fetchall():
            store.connection.execute(f'create table target."{name}" as select * from "{name}"')
        store.connection.execute("detach target")
    result = CliRunner().invoke(app, ["measure", "run", "--measures", "ED_VISITS_1000,TCOC_PMPM", "--data", str(db),
                                      "--period", "2025-01-01:2025-12-31", "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "ED_VISITS_1000 group 0: 827.6 per 1,000 (2/2.42)" in lines
    assert "TCOC_PMPM group 0: 134.48 (3,900/29)" in lines
