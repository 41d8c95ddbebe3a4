"""Self-contained HTML reports: one file that opens anywhere, with no network access.

A run's `report.html` must be readable years later and on machines without internet, so the
Vega, Vega-Lite and Vega-Embed libraries are inlined from the `vl-convert-python` package's
offline bundle rather than loaded from a CDN. Text is autoescaped by Jinja2; tables come from
pandas with escaping on. Hidden (suppressed) values render as "—".
"""

from __future__ import annotations

import functools
import os
import re
import tempfile
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
    """The offline Vega/Vega-Lite/Vega-Embed bundle, defining `window.vegaEmbed`.

    vl-convert builds the bundle on each first call in a process (several CPU-seconds: a third of
    a 1M-patient run's report stage), and the result depends only on the vl-convert version, so it
    is kept in the user's cache folder (`bundle_cache_path`) and read from there by later processes.
    """
    cached = bundle_cache_path()
    try:
        text = cached.read_text(encoding="utf-8")
        if "vegaEmbed" in text:
            return text
    except OSError:
        pass
    bundle = vl_convert.javascript_bundle()
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        handle, scratch = tempfile.mkstemp(dir=cached.parent, prefix=f".{cached.name}.")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                out.write(bundle)
            os.replace(scratch, cached)  # atomic: a concurrent reader sees the whole file or none
        finally:
            Path(scratch).unlink(missing_ok=True)
    except OSError:
        pass  # an unwritable cache only costs the next process the rebuild
    return bundle


def bundle_cache_path() -> Path:
    """Where the bundle of the installed vl-convert is cached: `$P4P_CACHE_DIR`, else
    `$XDG_CACHE_HOME/p4pkit`, else `~/.cache/p4pkit`."""
    root = os.environ.get("P4P_CACHE_DIR") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "p4pkit"
    return Path(root) / f"vega-bundle-vl-convert-{vl_convert.__version__}.js"


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
