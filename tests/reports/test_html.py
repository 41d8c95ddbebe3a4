"""Reports are self-contained, escaped, and show suppressed cells as a dash."""

from __future__ import annotations

import pandas as pd

from p4pkit.reports.charts import histogram, interval_chart
from p4pkit.reports.html import Section, render_report, vega_bundle


def test_report_is_self_contained_and_escaped():
    frame = pd.DataFrame({"entity": ["<b>P1</b>", "P2"], "rate": [0.5, float("nan")], "lower": [0.4, None], "upper": [0.6, None]})
    html = render_report(
        "Run <1>",
        [Section("Scores & payments", text="a < b", charts=[interval_chart(frame, "entity", "rate", "lower", "upper", "t", [0.1, 0.2])], tables=[frame])],
    )
    assert "<title>Run &lt;1&gt;</title>" in html
    assert "&lt;b&gt;P1&lt;/b&gt;" in html
    assert "<b>P1</b>" not in html.replace(vega_bundle(), "")  # chart data goes through tojson
    assert "a &lt; b" in html
    assert "—" in html  # the missing rate
    assert "window.vegaEmbed" in html  # the library is inlined
    assert "https://cdn" not in html and "src=\"http" not in html
    assert html.count('class="chart"') == 1


def test_histogram_spec_carries_only_the_field():
    spec = histogram(pd.DataFrame({"amount": [1.0, 2.0], "patient_id": ["x", "y"]}), "amount", "Payments")
    assert spec["data"]["values"] == [{"amount": 1.0}, {"amount": 2.0}]
    assert spec["encoding"]["x"]["bin"] == {"maxbins": 30}


def test_the_bundle_is_cached_on_disk_for_later_processes(tmp_path, monkeypatch):
    from p4pkit.reports import html

    monkeypatch.setenv("P4P_CACHE_DIR", str(tmp_path))
    html.vega_bundle.cache_clear()
    try:
        built = html.vega_bundle()
        assert html.bundle_cache_path().parent == tmp_path
        assert html.bundle_cache_path().read_text(encoding="utf-8") == built
        assert [p.name for p in tmp_path.iterdir()] == [html.bundle_cache_path().name]  # no scratch file left
        html.bundle_cache_path().write_text("window.vegaEmbed = 'from the cache';", encoding="utf-8")
        html.vega_bundle.cache_clear()  # as a new process would start
        assert html.vega_bundle() == "window.vegaEmbed = 'from the cache';"
        html.bundle_cache_path().write_text("", encoding="utf-8")  # a damaged cache is rebuilt
        html.vega_bundle.cache_clear()
        assert html.vega_bundle() == built
    finally:
        html.vega_bundle.cache_clear()
