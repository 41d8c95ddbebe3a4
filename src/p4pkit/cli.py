"""The `p4p` command line. Thin: each verb parses its options, calls one public function and renders
the result. User mistakes (`UserError`) become a readable message and exit code 2."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

from p4pkit import __version__
from p4pkit.errors import UserError
from p4pkit.progress import Progress
from p4pkit.review.commands import review_app

class _UserErrorsExitTwo(typer.core.TyperGroup):
    """The root command group: a `UserError` from any verb becomes a readable message and exit 2.

    Done at the group rather than around `app()` so that every way of invoking the CLI (the `p4p`
    script, `python -m`, typer's CliRunner in tests) behaves the same.
    """

    def invoke(self, ctx: typer.Context):  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except UserError as error:
            console.print(f"[bold red]error:[/] {escape(error.render())}", highlight=False, markup=True)
            raise typer.Exit(2) from None


app = typer.Typer(
    cls=_UserErrorsExitTwo,
    name="p4p",
    help="p4pkit: run pay-for-performance programs end to end, with fairness safeguards.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console(stderr=True)


@app.callback()
def _root() -> None:
    """p4pkit: run pay-for-performance programs end to end, with fairness safeguards."""


cms_app = typer.Typer(help="Reproduce CMS programs from CMS's public files.", no_args_is_help=True)
app.add_typer(cms_app, name="cms")
measure_app = typer.Typer(help="Compute quality measures.", no_args_is_help=True)
app.add_typer(measure_app, name="measure")
app.add_typer(review_app, name="review")


@cms_app.command("hvbp")
def cms_hvbp(
    input: Path = typer.Option(..., "--input", help="Folder with the four hvbp_*.csv domain files."),
    out: Path = typer.Option(..., "--out", help="Folder to write tps.csv into."),
) -> None:
    """Hospital VBP: domain scores and Total Performance Score from CMS's domain files."""
    from p4pkit.cms.hvbp import run_hvbp

    table = run_hvbp(input, out)
    with_tps = int(table["Total Performance Score"].notna().sum())
    console.print(f"{len(table)} hospitals scored, {with_tps} with a TPS → {out / 'tps.csv'}")


@cms_app.command("hacrp")
def cms_hacrp(
    input: Path = typer.Option(..., "--input", help="HAC Reduction Program hospital file (CSV)."),
    out: Path = typer.Option(..., "--out", help="Folder to write hacrp.csv into."),
) -> None:
    """HAC Reduction Program: Total HAC Score and payment reduction from CMS's hospital file."""
    from p4pkit.cms.hacrp import run_hacrp

    table = run_hacrp(input, out)
    penalised = int((table["Payment Reduction"] == "Yes").sum())
    console.print(f"{len(table)} hospitals, {penalised} with a payment reduction → {out / 'hacrp.csv'}")


@cms_app.command("mssp")
def cms_mssp(
    input: Path = typer.Option(..., "--input", help="MSSP ACO Results public use file (CSV)."),
    year: int = typer.Option(..., "--year", help="Performance year of the file (selects the year's rules)."),
    out: Path = typer.Option(..., "--out", help="Folder to write mssp.csv into."),
) -> None:
    """Shared Savings Program: savings rate, MSR, sharing and loss rates and earned savings or losses per ACO."""
    from p4pkit.cms.mssp import run_mssp

    table = run_mssp(input, year, out)
    earned = table["EarnSaveLoss"]
    console.print(f"{len(table)} ACOs: {int((earned > 0).sum())} share savings, {int((earned < 0).sum())} owe losses → {out / 'mssp.csv'}")


@cms_app.command("hrrp")
def cms_hrrp(
    input: Path = typer.Option(..., "--input", help="HRRP hospital file (CSV, one row per hospital and condition)."),
    out: Path = typer.Option(..., "--out", help="Folder to write hrrp.csv (and hrrp_payment.csv) into."),
    supplemental: Path | None = typer.Option(None, "--supplemental", help="Per-hospital peer group or dual proportion and DRG ratios (see docs/programs/hrrp.md)."),
    fiscal_year: int = typer.Option(2024, "--fiscal-year", help="Fiscal year of the payment adjustment (selects the floor)."),
    neutrality_modifier: float | None = typer.Option(None, "--neutrality-modifier", help="Use CMS's published modifier instead of solving it."),
) -> None:
    """Hospital Readmissions Reduction Program: ERRs, public-reporting suppression and, with supplemental inputs, the payment adjustment factor."""
    from p4pkit.cms.hrrp import run_hrrp

    tables = run_hrrp(input, out, supplemental, fiscal_year, neutrality_modifier)
    summary = f"{len(tables['hrrp.csv'])} hospital-condition rows → {out / 'hrrp.csv'}"
    if "hrrp_payment.csv" in tables:
        payment = tables["hrrp_payment.csv"]
        summary += f"; {int((payment['Payment Adjustment Factor'] < 1).sum())} of {len(payment)} hospitals penalised → {out / 'hrrp_payment.csv'}"
    console.print(summary)


@cms_app.command("mips-points")
def cms_mips_points(
    benchmarks: Path = typer.Option(..., "--benchmarks", help="qpp-measures-data benchmarks/<year>.json."),
    results: Path = typer.Option(..., "--results", help="CSV: entity_id, measure_id, submission_method, numerator, denominator, reported, eligible."),
    out: Path = typer.Option(..., "--out", help="Folder to write mips_points.csv into."),
    small_practice: bool = typer.Option(False, "--small-practice", help="Apply the small-practice 3-point floor."),
) -> None:
    """MIPS quality: achievement points per entity and measure from the official benchmarks."""
    from p4pkit.cms.mips import run_mips_points

    table = run_mips_points(benchmarks, results, out, small_practice=small_practice)
    scored = int((table["rule"] != "no benchmark").sum()) if len(table) else 0
    console.print(f"{len(table)} entity-measure rows, {scored} with a benchmark → {out / 'mips_points.csv'}")


@app.command()
def load(
    folder: Path = typer.Argument(..., help="Folder of <table>.csv or <table>.parquet files (organizations, clinicians, patients, enrollments, encounters, events, claim_lines)."),
    db: Path = typer.Option(..., "--db", help="DuckDB store to load into (created if missing)."),
    quarantine: Path | None = typer.Option(None, "--quarantine", help="Write rejected rows with their reasons to this .csv or .parquet file and load the rest."),
    replace: bool = typer.Option(False, "--replace", help="Replace each table the folder names instead of appending to it."),
    memory_limit: str | None = typer.Option(None, "--memory-limit", help="Cap DuckDB's memory, e.g. 4GB; staged rows beyond it spill to disk."),
) -> None:
    """Validate a folder of table files and load it into the store, all or nothing.

    Loads APPEND to the tables the folder names; a row whose key is already stored is rejected, so a folder can never be counted twice. To reload corrected files, use --replace: each table named in the folder then replaces the stored one (other tables are kept).

    Any problem loads nothing unless --quarantine is given. Row numbers count data rows from 1 (the CSV header is row 0).
    """
    from rich.table import Table

    from p4pkit.ingest import load_folder

    with _progress_bar("reading the files") as progress:
        report = load_folder(folder, db, quarantine, replace=replace, memory_limit=memory_limit, on_progress=progress)
    table = Table("table", "file", "rows read", "rows loaded", "rows quarantined", title=f"{'Replaced' if replace else 'Appended'} into {db}")
    for row in report.summary().to_pylist():
        table.add_row(row["table"], row["file"], *(f"{row[k]:,}" for k in ("rows_read", "rows_loaded", "rows_quarantined")))
    Console().print(table)
    if report.quarantine is not None:
        console.print(f"{sum(report.rows_quarantined.values()):,} rows set aside with their reasons in {report.quarantine}", highlight=False, markup=False)


@measure_app.command("run")
def measure_run(
    measures: str = typer.Option(..., "--measures", help="Comma-separated measure ids, e.g. CMS122,CMS165."),
    data: Path | None = typer.Option(None, "--data", help="Folder of canonical CSV/Parquet tables, or a DuckDB store file."),
    period: str = typer.Option(..., "--period", help="Measurement period START:END, e.g. 2025-01-01:2025-12-31."),
    out: Path = typer.Option(..., "--out", help="Folder for patient_results.parquet and summary.parquet."),
    valuesets: Path | None = typer.Option(None, "--valuesets", help="Folder of FHIR ValueSet expansions adding to or overriding the packaged ones (by OID)."),
    fhir: Path | None = typer.Option(None, "--fhir", help="Instead of --data: a folder of FHIR R4 Bundles/resources (*.json) or bulk NDJSON."),
    format: str = typer.Option("parquet", "--format", help="parquet, or measurereport to also write measurereports.ndjson (FHIR individual MeasureReports; with --by-entity also measurereports_summary.ndjson)."),
    reports_for: str = typer.Option("all", "--reports-for", help="With --format measurereport: all (every patient of the data, zero counts outside the initial population, as the eCQM test cases) or initial-population (only patients in one; about 1.2 KB a report, so this matters at scale)."),
    by_entity: Path | None = typer.Option(None, "--by-entity", help="An attribution file (.parquet or .csv, as p4p attribute writes): also summarise per entity into summary_by_entity.parquet."),
    engine: str = typer.Option("duckdb", "--engine", help="Analytic engine: duckdb, or spark (local Spark; needs the spark extra and Java 17)."),
    spark_url: str | None = typer.Option(None, "--spark-url", help="With --engine spark: a Spark Connect server, e.g. sc://host:15002 (default: SPARK_REMOTE, else local Spark)."),
) -> None:
    """Run quality measures and write patient-level results and per-measure summaries as Parquet."""
    from contextlib import nullcontext

    import pyarrow.compute as pc

    from p4pkit.ingest.fhir import fhir_store
    from p4pkit.measures.files import run_measure_files

    if (data is None) == (fhir is None):
        raise UserError("give exactly one of --data (canonical tables or a store) or --fhir (a folder of FHIR resources)")
    ids = [m.strip() for m in measures.split(",") if m.strip()]
    if not ids:
        raise UserError(f"--measures {measures!r} names no measure", hint="For example --measures CMS122,CMS165.")
    _check_spark_url(engine, spark_url)
    with fhir_store(fhir) if fhir else nullcontext(data) as source, _progress_bar("opening the data") as report:
        tables = run_measure_files(source, ids, period, out, valuesets, engine=engine, spark_url=spark_url, on_progress=report,
                                   entities=by_entity, format=format, reports_for=reports_for)
    if format == "measurereport":
        console.print(f"MeasureReports → {out / 'measurereports.ndjson'}", highlight=False, markup=False)
        if by_entity is not None:
            console.print(f"summary MeasureReports → {out / 'measurereports_summary.ndjson'}", highlight=False, markup=False)
    for row in tables["summary"].to_pylist():
        console.print(f"{row['measure_id']} group {row['group_index']}: {_rate_text(row)}", highlight=False, markup=False)
    if by_entity is not None:
        entities = pc.count_distinct(tables["summary_by_entity"]["entity_id"]).as_py()
        console.print(f"{entities:,} entities summarised → summary_by_entity.parquet", highlight=False, markup=False)
    console.print(f"results → {out}", highlight=False, markup=False)


@contextmanager
def _progress_bar(first_step: str) -> Iterator[Progress]:
    """A Rich progress bar for long work, as an `on_progress(step, done, total)` callback; it
    disappears when the work ends (`transient`), leaving only the command's own output."""
    from rich.progress import BarColumn, TextColumn, TimeElapsedColumn
    from rich.progress import Progress as RichProgress

    with RichProgress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), console=console, transient=True) as bar:
        task = bar.add_task(first_step, total=None)
        yield lambda step, done, total: bar.update(task, description=step, completed=done, total=total)


def _rate_text(row: dict) -> str:
    """A summary row's rate in its measure's own unit, then what it was computed from: proportions
    (and outcomes, counted in episodes when observed) as a percentage, ratios per their multiplier
    ("per 1,000"), continuous variables (cost per member-month) as the number itself, to the cent."""
    observed = row.get("numerator_total") is not None
    numerator, denominator = (row["numerator_total"], row["denominator_total"]) if observed else (row["numerator"], row["performance_denominator"])
    counts = f"({_number(numerator)}/{_number(denominator)})"
    rate = row["rate"]
    if rate is None or rate != rate:  # null or NaN: an empty denominator
        return f"n/a {counts}"
    scoring = row.get("scoring", "proportion")
    if scoring == "ratio":
        return f"{rate:,.1f} per {_number(row['rate_multiplier'])} {counts}"
    if scoring == "continuous-variable":
        return f"{rate:,.2f} {counts}"
    return f"{rate:.1%} {counts}"


def _number(value: float) -> str:
    """Counts and whole exposures without decimals, other sums to two places, with thousands separators."""
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


@app.command()
def synth(
    out: Path = typer.Option(..., "--out", help="New folder to write <table>.parquet files and truth/ into."),
    patients: int = typer.Option(100_000, "--patients", help="Number of patients."),
    seed: int = typer.Option(1, "--seed", help="Random seed: the same seed gives byte-identical tables."),
    behaviours: str = typer.Option("", "--behaviours", help="Comma-separated, all off by default: exception_reporting, deregistration, upcoding, program_effect."),
    program_start: datetime | None = typer.Option(None, "--program-start", formats=["%Y-%m-%d"], help="When behaviours and the program effect start (default 2024-01-01)."),
) -> None:
    """Generate a synthetic population in the canonical tables, with its ground truth in truth/."""
    from rich.table import Table

    from p4pkit.synth import generate, prevalence_report

    names = [name.strip() for name in behaviours.split(",") if name.strip()]
    with _progress_bar("synth") as report:
        counts = generate(patients, seed, out, behaviours=names, program_start=program_start.date() if program_start else None,
                          on_progress=report)
    rows = Table("table", "rows", title=f"Synthetic world in {out}")
    for name, count in counts.items():
        rows.add_row(name, f"{count:,}")
    prevalence = Table("condition", "target", "observed", "tolerance", "ok", title="Recorded prevalence vs published targets")
    for row in prevalence_report(out).to_pylist():
        prevalence.add_row(row["condition"], f"{row['target']:.1%}", f"{row['observed']:.1%}", f"±{row['tolerance']:.1%}", "yes" if row["ok"] else "NO")
    Console().print(rows, prevalence)


@app.command()
def validate(
    patients: int = typer.Option(500_000, "--patients", help="Patients in the synthetic world (at least 5,000)."),
    seed: list[int] = typer.Option([1, 2, 3], "--seed", help="Random seed of a world; repeat for several (figures are averaged over them)."),
    mean_list_size: int = typer.Option(2_500, "--mean-list-size", help="Mean patients per practice in the generated worlds."),
    out: Path | None = typer.Option(None, "--out", help="Also write the JSON report to this file."),
    jobs: int = typer.Option(1, "--jobs", help="Seeds to run at once, each in its own process (memory grows with each)."),
) -> None:
    """Score the engine against a synthetic world's known truth (docs/validity.md) and print the JSON report."""
    from p4pkit.evaluation.validate import check_report_path, report_json, validity_report, write_report

    if out is not None:
        check_report_path(out)  # before the run: a folder or an unwritable place fails now, not minutes later
    with _progress_bar("validating") as progress:
        report = validity_report(patients, seed, mean_list_size, jobs=jobs, on_progress=progress)
    typer.echo(report_json(report))
    if out is not None:
        console.print(f"report → {write_report(report, out)}", highlight=False, markup=False)


@app.command()
def attribute(
    data: Path = typer.Option(..., "--data", help="Folder of canonical CSV/Parquet tables, or a DuckDB store file."),
    rule: str = typer.Option(..., "--rule", help="registration, mssp_two_step or plurality_of_visits."),
    period: str = typer.Option(..., "--period", help="Period START:END, e.g. 2025-01-01:2025-12-31."),
    out: Path = typer.Option(..., "--out", help="File to write: .parquet or .csv, one row per patient with a reason."),
    entity: str | None = typer.Option(None, "--entity", help="clinician, organization or aco (mssp_two_step, plurality_of_visits)."),
    reference_date: datetime | None = typer.Option(None, "--reference-date", formats=["%Y-%m-%d"], help="registration: the day the lists are read (default: period end)."),
    engine: str = typer.Option("duckdb", "--engine", help="Analytic engine: duckdb, or spark (local Spark; needs the spark extra and Java 17)."),
    spark_url: str | None = typer.Option(None, "--spark-url", help="With --engine spark: a Spark Connect server, e.g. sc://host:15002 (default: SPARK_REMOTE, else local Spark)."),
) -> None:
    """Attribute every patient to an accountable entity, with the reason, and write the table."""
    from p4pkit.attribution.files import attribute_files, summary

    parameters: dict[str, object] = {}
    if entity is not None:
        parameters["entity"] = entity
    if reference_date is not None:
        parameters["reference_date"] = reference_date.date()
    _check_spark_url(engine, spark_url)
    table = attribute_files(data, rule, period, out, engine=engine, spark_url=spark_url, **parameters)
    for row in summary(table).to_pylist():
        console.print(f"{row['step']}: {row['patients']:,} patients", highlight=False, markup=False)
    console.print(f"{table.num_rows:,} patients → {out}", highlight=False, markup=False)


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8000, "--port", help="Port to listen on."),
    data: Path = typer.Option(Path("portal-demo"), "--data", help="Data folder: canonical tables, or empty for the demo population."),
    db: str | None = typer.Option(None, "--db", help="Review database URL (default: <data>/portal/review.sqlite)."),
) -> None:
    """Start the web portal and public report cards; prints the address and the demo logins."""
    from p4pkit.web.demo import serve as run_portal

    run_portal(host, port, data, db, say=lambda text: console.print(text, highlight=False, markup=False))


@app.command()
def run(
    program: Path = typer.Argument(..., help="Program file (YAML)."),
    data: Path = typer.Option(..., "--data", help="Folder of canonical tables, or a DuckDB store file."),
    out: Path = typer.Option(..., "--out", help="New folder for the run (never overwritten)."),
    engine: str = typer.Option("duckdb", "--engine", help="Analytic engine: duckdb, or spark (local Spark; needs the spark extra and Java 17)."),
    spark_url: str | None = typer.Option(None, "--spark-url", help="With --engine spark: a Spark Connect server, e.g. sc://host:15002 (default: SPARK_REMOTE, else local Spark)."),
) -> None:
    """Run a program: attribute, measure, score, pay; write tables, ledger, report.html and manifest.json."""
    from p4pkit.programs.runner import run_program

    _check_spark_url(engine, spark_url)
    with console.status("running") as status:
        result = run_program(program, data, out, engine=engine, spark_url=spark_url, progress=lambda step: status.update(step))
    _print_run(result)


def _check_spark_url(engine: str, spark_url: str | None) -> None:
    """Before any work: --spark-url only with Spark, and a Connect server that answers."""
    from p4pkit.engine.spark import check_connect_url

    if spark_url and engine != "spark":
        raise UserError("--spark-url is for the Spark engine", hint="Add --engine spark.")
    if engine == "spark":
        check_connect_url(spark_url)


@app.command()
def audit(
    program: Path = typer.Argument(..., help="Program file (YAML)."),
    run_dir: Path | None = typer.Option(None, "--run", help="A run folder of this program: adds result checks."),
    data: Path | None = typer.Option(None, "--data", help="The data the run used: adds the equity checks."),
    compare: list[str] = typer.Option([], "--compare", help="A non-incentivised library measure to compare with (repeatable)."),
    output: str = typer.Option("table", "--format", help="table or json."),
) -> None:
    """Audit a program design (and a run) against AMA Opinion 8.056 and the VMS principles. Exit 1 if any FAIL."""
    from p4pkit.safeguards.audit import audit_program, has_failures, render_findings

    if output not in ("table", "json"):
        raise UserError(f"unknown --format '{output}'", hint="Use --format table or --format json.")
    findings = audit_program(program, run_dir, data, compare)
    if output == "json":
        print(findings.to_json(orient="records", indent=2))
    else:
        Console().print(render_findings(findings))
    if has_failures(findings):
        raise typer.Exit(1)


def _print_run(result) -> None:
    """One line per run: what was scored and the ledger's totals, money with thousands separators."""
    from decimal import Decimal

    totals = ", ".join(f"{k} {Decimal(v):,}" for k, v in result.totals.items())
    console.print(
        f"[bold]{escape(result.program_id)}[/]: {result.entities_scored} entities scored, "
        f"{result.patients_attributed:,} patients attributed; ledger ({escape(result.currency)}) {totals}\n  → {escape(str(result.out_dir))}/report.html"
    )


@app.command()
def demo(
    patients: int = typer.Option(20000, "--patients", help="Synthetic patients to generate."),
    seed: int = typer.Option(42, "--seed", help="Random seed."),
    out: Path = typer.Option(Path("demo-out"), "--out", help="New folder for the demo's data, store and runs."),
) -> None:
    """The make-demo job: generate a synthetic population, load it, check prevalences, run two programs."""
    from rich.table import Table

    from p4pkit.demo import run_demo

    with console.status("demo") as status:
        result = run_demo(patients, seed, out, progress=lambda step: status.update(step))
    counts = Table(title="Loaded into " + str(result.store))
    counts.add_column("table")
    counts.add_column("rows", justify="right")
    for name, rows in result.counts.items():
        counts.add_row(name, f"{rows:,}")
    console.print(counts)
    prevalence = Table(title="Prevalence against published targets (sources: docs/synthetic.md)")
    shown = ("condition", "target", "observed", "tolerance", "ok")
    for column in shown:
        prevalence.add_column(column)
    for row in result.prevalence.select(list(shown)).to_pylist():
        prevalence.add_row(*[f"{v:.1%}" if isinstance(v, float) else str(v) for v in row.values()])
    console.print(prevalence)
    for run_result in result.runs:
        _print_run(run_result)


@app.command()
def version() -> None:
    """Print the p4pkit version."""
    print(__version__)


def main() -> None:
    """Entry point of the `p4p` script."""
    app()
