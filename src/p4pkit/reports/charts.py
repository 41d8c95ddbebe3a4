"""Vega-Lite (v6) chart specifications used by run reports, report cards and the portal.

Plain dictionaries (Vega-Lite v5 JSON), so the same chart renders in `report.html`, in the web
portal and in a notebook. Data are inlined as records; callers pass only what may be shown
(suppression happens before a chart is built).
"""

from __future__ import annotations

import math

import pandas as pd

SCHEMA = "https://vega.github.io/schema/vega-lite/v6.json"  # the version vl-convert bundles (6.4)


def _records(frame: pd.DataFrame) -> list[dict]:
    """JSON-safe records: missing values become null."""
    return [
        {k: (None if isinstance(v, float) and math.isnan(v) else (None if v is pd.NA else v)) for k, v in row.items()}
        for row in frame.to_dict(orient="records")
    ]


def interval_chart(frame: pd.DataFrame, entity: str, rate: str, lower: str, upper: str, title: str, deciles: list[float] | None = None) -> dict:
    """Each entity's rate with its interval, sorted by rate, with peer deciles as reference rules."""
    layers: list[dict] = [
        {
            "mark": {"type": "rule"},
            "encoding": {
                "y": {"field": entity, "type": "nominal", "sort": "-x", "title": None},
                "x": {"field": lower, "type": "quantitative", "title": "rate"},
                "x2": {"field": upper},
            },
        },
        {
            "mark": {"type": "point", "filled": True},
            "encoding": {
                "y": {"field": entity, "type": "nominal", "sort": "-x"},
                "x": {"field": rate, "type": "quantitative"},
                "tooltip": [{"field": entity}, {"field": rate, "format": ".3f"}, {"field": lower, "format": ".3f"}, {"field": upper, "format": ".3f"}],
            },
        },
    ]
    if deciles:
        layers.append(
            {
                "data": {"values": [{"decile": (i + 1) * 10, "value": v} for i, v in enumerate(deciles)]},
                "mark": {"type": "rule", "strokeDash": [3, 3], "opacity": 0.4},
                "encoding": {"x": {"field": "value", "type": "quantitative"}, "tooltip": [{"field": "decile"}, {"field": "value", "format": ".3f"}]},
            }
        )
    return {"$schema": SCHEMA, "title": title, "data": {"values": _records(frame)}, "layer": layers, "width": 520}


def histogram(frame: pd.DataFrame, field: str, title: str, bins: int = 30) -> dict:
    """Distribution of one numeric field (e.g. payment per entity)."""
    return {
        "$schema": SCHEMA,
        "title": title,
        "data": {"values": _records(frame[[field]])},
        "mark": "bar",
        "encoding": {
            "x": {"field": field, "type": "quantitative", "bin": {"maxbins": bins}},
            "y": {"aggregate": "count", "type": "quantitative"},
        },
        "width": 520,
    }


def funnel_plot(frame: pd.DataFrame, size: str, rate: str, limits: pd.DataFrame, title: str) -> dict:
    """Entities' rates against their size, with control limits (columns: size, lower, upper, label)."""
    return {
        "$schema": SCHEMA,
        "title": title,
        "width": 520,
        "layer": [
            {
                "data": {"values": _records(limits)},
                "mark": {"type": "line", "strokeDash": [4, 3]},
                "encoding": {
                    "x": {"field": "size", "type": "quantitative", "title": size},
                    "y": {"field": "limit", "type": "quantitative"},
                    "detail": {"field": "label"},
                },
            },
            {
                "data": {"values": _records(frame)},
                "mark": {"type": "point", "filled": True},
                "encoding": {
                    "x": {"field": size, "type": "quantitative"},
                    "y": {"field": rate, "type": "quantitative", "title": rate},
                },
            },
        ],
    }
