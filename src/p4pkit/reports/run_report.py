"""The run report: one self-contained `report.html` per run, for program staff and reviewers.

Sections: what was run; the ledger (funded, withheld, paid, recovered, and that every invariant
held); the payment distribution; per-measure scorecards (each entity's rate with its interval,
shrunken towards the mean where the data are thin, against the peer deciles); and who was
attributed and why not. Entity-level counts go through the same small-cell suppression as public
output, so a report forwarded beyond the program office leaks nothing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from p4pkit.reports.charts import histogram, interval_chart
from p4pkit.reports.html import Section, write_report
from p4pkit.reports.suppression import suppress_measure_table
from p4pkit.safeguards.audit import audit_section
from p4pkit.safeguards.equity import equity_section
from p4pkit.safeguards.gaming import gaming_section


def _summary(program, ctx, output) -> Section:
    periods = ", ".join(f"{name} {p.start} to {p.end}" for name, p in ctx.periods.items())
    table = pd.DataFrame(
        {
            "item": ["program", "scoring model", "periods", "participants", "patients attributed (performance)", "review before payment (days)"],
            "value": [
                f"{program.name} ({program.id})",
                program.scoring.model,
                periods,
                str(len(ctx.participants)),
                str(ctx.patients_attributed),
                str(program.review.before_payment_days),
            ],
        }
    )
    return Section("What was run", text=program.goals.statement, tables=[table])


def _ledger(program, output) -> Section:
    totals = output.ledger.totals()
    table = pd.DataFrame({"total": list(totals), f"amount ({program.currency})": [f"{v:,.2f}" for v in totals.values()]})
    return Section(
        "Ledger",
        tables=[table],
        note="Checked on this run: an upside-only program pays no more than it funded; a budget-neutral one nets to zero within a cent; no non-participant is penalised.",
    )


def _payments(program, output) -> Section:
    entries = output.ledger.to_arrow().to_pandas()
    if entries.empty:
        return Section("Payments", text="No money moved in this run.")
    entries["signed"] = [float(a) if k in {"bonus", "withhold_return", "shared_savings", "capitation"} else -float(a) for a, k in zip(entries.amount, entries.kind)]
    per_entity = entries.groupby("entity_id", as_index=False)["signed"].sum().rename(columns={"signed": f"net ({program.currency})"})
    return Section(
        "Payments",
        charts=[histogram(per_entity, f"net ({program.currency})", "Net payment per entity")],
        tables=[per_entity.assign(**{f"net ({program.currency})": per_entity[f"net ({program.currency})"].map("{:,.2f}".format)})],
    )


def _scorecards(program, ctx) -> list[Section]:
    sections = []
    measures = ctx.entity_measures
    for measure in program.measures:
        rows = measures[(measures.measure_id == measure.id) & (measures.period == "performance") & (measures.group_index == 0)]
        if rows.empty:
            continue
        shown = rows.assign(
            rate=rows.shrunk_rate.fillna(rows.rate),
            lower=rows.shrunk_lower.fillna(rows.rate_lower),
            upper=rows.shrunk_upper.fillna(rows.rate_upper),
        )
        deciles = list(np.nanpercentile(shown.rate.to_numpy(float), np.arange(10, 100, 10))) if shown.rate.notna().any() else None
        table = suppress_measure_table(
            shown[["entity_id", "numerator", "performance_denominator", "rate", "lower", "upper", "reliability"]].rename(
                columns={"performance_denominator": "denominator"}
            ),
            derived=("rate", "lower", "upper", "reliability"),
        )
        visible = table.dropna(subset=["rate"]).iloc[:-1] if len(table) > 1 else table
        chart = interval_chart(visible.astype({"rate": float, "lower": float, "upper": float}), "entity_id", "rate", "lower", "upper", measure.id, deciles)
        direction = "higher is better" if measure.direction == "higher_is_better" else "lower is better"
        sections.append(
            Section(
                f"Measure {measure.id}",
                text=(measure.why_it_matters or "") + f" ({direction}; rates shrunk towards the mean by reliability; dashed lines are peer deciles.)",
                charts=[chart],
                tables=[table],
            )
        )
    return sections


def _attribution(ctx) -> Section:
    # Counted in Arrow: the table has a row per patient (10M at scale) and only the counts are shown.
    table = ctx.attribution["performance"]
    step = pc.binary_join_element_wise("attributed: ", pc.fill_null(table["step"], ""), "")
    outcome = pc.if_else(pc.is_valid(table["entity_id"]), step, "not attributed")
    counts = pa.table({"outcome": outcome}).group_by("outcome").aggregate([([], "count_all")]).sort_by("outcome")
    reasons = pd.DataFrame({"outcome": counts["outcome"].to_pylist(), "patients": counts["count_all"].to_pylist()})
    reasons["patients"] = [n if n == 0 or n > 10 else pd.NA for n in reasons.patients]
    return Section("Attribution", tables=[reasons], note="Counts of 1 to 10 are suppressed.")


def write_run_report(path: Path, program, ctx, output) -> Path:
    """Write the run's `report.html`."""
    payments = output.ledger.to_arrow().to_pandas()
    sections = [_summary(program, ctx, output), _ledger(program, output), _payments(program, output), *_scorecards(program, ctx), _attribution(ctx)]
    sections += [equity_section(ctx, payments), gaming_section(ctx), audit_section(program)]
    return write_report(path, f"{program.name}: run report", sections, subtitle=f"p4pkit run of {program.id}")
