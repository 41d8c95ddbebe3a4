"""The web portal and public report cards (FastAPI, server-rendered Jinja2, offline Vega-Lite charts).

`build_app(data, engine, run_id, upload_dir=...)` returns the FastAPI app for one run under review;
`demo.prepare` makes everything `p4p serve` needs from a data folder. See docs/portal.md.
"""

from p4pkit.web.app import build_app

__all__ = ["build_app"]
