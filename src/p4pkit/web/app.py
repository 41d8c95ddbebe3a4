"""The portal's FastAPI application: `build_app` wires data, review database, sessions and pages.

Server-rendered Jinja2 pages (autoescaped), plain HTML forms, charts drawn in the browser by the
offline Vega bundle. User mistakes raised by the review service (`UserError`) become readable
pages: 403 for a role that may not act, 409 for a lifecycle move the run's state refuses, 400
otherwise.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from pathlib import Path

import jinja2
import pandas as pd
from fastapi import FastAPI, Request
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlalchemy import Engine
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware

from p4pkit.errors import UserError
from p4pkit.review.lifecycle import TransitionRefused
from p4pkit.review.users import PermissionDenied
from p4pkit.web import admin_pages, public, review_pages, upload
from p4pkit.web.access import Portal
from p4pkit.web.data import PortalData
from p4pkit.web.scores import clinician_scores, payment_preview, peer_deciles, report_cards
from p4pkit.web.security import SECURITY_HEADERS, LoginLimiter

HERE = Path(__file__).resolve().parent


def _missing(value: object) -> bool:
    """None, NaN and pandas' NA (a suppressed cell) all show as a dash."""
    return value is None or bool(pd.isna(value))


def _templates() -> Jinja2Templates:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True, undefined=jinja2.StrictUndefined
    )
    environment.tests["missing"] = _missing
    environment.filters["pct"] = lambda v: "—" if _missing(v) else f"{100 * float(v):.1f}%"
    environment.filters["count"] = lambda v: "—" if _missing(v) else f"{int(v):,}"
    return Jinja2Templates(env=environment)


def build_app(
    data: PortalData,
    engine: Engine,
    run_id: int,
    *,
    upload_dir: str | Path,
    secret_key: str | None = None,
    min_denominator: int = 30,
    min_reliability: float = 0.7,
    clock: Callable[[], float] = time.monotonic,
    https_only: bool = False,
) -> FastAPI:
    """The portal for one registered run (`run_id` in the review database behind `engine`).

    `secret_key` signs session cookies (a random key, valid until restart, when not given);
    `clock` drives the login rate limit (tests pass a fake one); `https_only` marks the session
    cookie Secure, as it must be behind TLS.
    """
    scores = clinician_scores(data)
    site = Portal(
        data=data, engine=engine, run_id=run_id, scores=scores, deciles=peer_deciles(scores),
        preview=payment_preview(scores, data.measures),
        cards=report_cards(data, min_denominator, min_reliability),
        limiter=LoginLimiter(clock=clock), upload_dir=Path(upload_dir), templates=_templates(),
        min_denominator=min_denominator, min_reliability=min_reliability,
    )
    app = FastAPI(title="p4pkit portal", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.portal = site
    app.add_middleware(SessionMiddleware, secret_key=secret_key or secrets.token_urlsafe(32), session_cookie="p4p_session",
                       same_site="strict", https_only=https_only, max_age=8 * 3600)

    @app.middleware("http")
    async def secure_headers(request: Request, call_next):
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException):
        return site.render(request, "error.html.j2", status_code=error.status_code, message=error.detail)

    @app.exception_handler(UserError)
    async def user_error(request: Request, error: UserError):
        status = 403 if isinstance(error, PermissionDenied) else 409 if isinstance(error, TransitionRefused) else 400
        return site.render(request, "error.html.j2", status_code=status, message=error.render())

    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    for module in (public, review_pages, admin_pages, upload):
        # Added as they are (not through include_router) so `app.routes` lists every page, which
        # the authorization test enumerates.
        app.router.routes.extend(module.router.routes)
    return app
