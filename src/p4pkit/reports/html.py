"""Self-contained HTML reports: one file that opens anywhere, with no network access.

A run's `report.html` must be readable years later and on machines without internet, so the
Vega, Vega-Lite and Vega-Embed libraries are inlined from the `vl-convert-python` package's
offline bundle rather than loaded from a CDN. Text is autoescaped by Jinja2; tables come from
pandas with escaping on. Hidden (suppressed) values render as "—".
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
import pandas as pd
import vl_convert

_TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("p4pkit.reports", "templates"),
    autoescape=jinja2.select_autoescape(["html", "j2"]),
    undefined=jinja2.StrictUndefined,
)


@dataclass
class Section:
    """One titled part of a report: optional text, Vega-Lite charts, tables and a note."""

    heading: str
    text: str = ""
    charts: list[dict] = field(default_factory=list)
    tables: list[pd.DataFrame] = field(default_factory=list)
    note: str = ""

    @property
    def anchor(self) -> str:
        return re.sub(r"[^a-z0-9]+", "-", self.heading.lower()).strip("-")


@functools.cache
def vega_bundle() -> str:
    """The offline Vega/Vega-Lite/Vega-Embed bundle, defining `window.vegaEmbed`."""
    return vl_convert.javascript_bundle()


def table_html(table: pd.DataFrame) -> str:
    """An escaped HTML table; missing values (suppressed cells) show as an em dash."""
    shown = table.astype(object).where(table.notna(), "—")  # pandas' na_rep misses nullable-integer NA
    return shown.to_html(index=False, escape=True, border=0, float_format=lambda v: f"{v:,.3f}")


def render_report(title: str, sections: list[Section], subtitle: str = "") -> str:
    """The whole report as one HTML string."""
    template = _TEMPLATES.get_template("report.html.j2")
    view = [
        {
            "heading": s.heading,
            "anchor": s.anchor,
            "text": s.text,
            "charts": s.charts,
            "tables": [table_html(t) for t in s.tables],
            "note": s.note,
        }
        for s in sections
    ]
    return template.render(title=title, subtitle=subtitle, sections=view, vega_bundle=vega_bundle())


def write_report(path: Path, title: str, sections: list[Section], subtitle: str = "") -> Path:
    """Render and write the report; returns the path."""
    path.write_text(render_report(title, sections, subtitle), encoding="utf-8")
    return path
