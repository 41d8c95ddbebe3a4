"""Pages anyone may open: the public report cards, signing in and out, and the chart library.

The report cards are computed when the app is built (`scores.report_cards`), already suppressed;
the page shows them as they are, and its charts are drawn from the same suppressed rows.
"""

from __future__ import annotations

import pandas as pd
from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from p4pkit.reports.charts import interval_chart
from p4pkit.reports.html import vega_bundle
from p4pkit.review.audit import record_event
from p4pkit.review.db import session_scope
from p4pkit.review.users import authenticate
from p4pkit.web.access import ADMIN, CLINICIAN, MANAGER, Portal, checked_form, portal, session_user, signed_in
from p4pkit.web.scores import measure_label

router = APIRouter()

HOME_BY_ROLE = {ADMIN: "/admin", MANAGER: "/practice", "public": "/"}


@router.get("/")
def report_cards_page(request: Request, site: Portal = Depends(portal)):
    """Public report cards: one table and chart per measure, with why the measure matters."""
    session_user(request)
    cards = []
    for (measure_id, group), table in site.cards.items():
        measure = site.data.measures[measure_id]
        label = measure_label(measure_id, group, measure)
        shown = table.iloc[:-1].dropna(subset=["rate"])
        chart = None
        if not shown.empty:
            frame = pd.DataFrame({"practice": shown["entity_id"], "rate": shown["rate"].astype(float),
                                  "lower": shown["lower"].astype(float), "upper": shown["upper"].astype(float)})
            chart = interval_chart(frame, "practice", "rate", "lower", "upper", f"{label}: rate with 95% interval")
        cards.append({"label": label, "measure": measure, "rows": table.to_dict("records"), "chart": chart})
    return site.render(request, "report_cards.html.j2", cards=cards, period=site.data.period)


@router.get("/assets/vega.js")
def vega_script() -> Response:
    """Vega, Vega-Lite and Vega-Embed from the installed package: charts work offline, with no CDN."""
    return Response(vega_bundle(), media_type="application/javascript", headers={"Cache-Control": "public, max-age=86400"})


@router.get("/login")
def login_form(request: Request, site: Portal = Depends(portal)):
    session_user(request)
    return site.render(request, "login.html.j2")


@router.post("/login", dependencies=[Depends(checked_form)])
def login(request: Request, username: str = Form(...), password: str = Form(...), site: Portal = Depends(portal)):
    """Check the password (Argon2, `review.users.authenticate`) unless this name and address are locked out."""
    address = request.client.host if request.client else "unknown"
    if site.limiter.blocked(username, address):
        raise HTTPException(429, "Too many failed sign-ins. Wait 15 minutes and try again.")
    with session_scope(site.engine) as session:
        user = authenticate(session, username, password)
        if user is not None:
            record_event(session, user.username, "login", "user", user.id)
    if user is None:
        site.limiter.failed(username, address)
        return site.render(request, "login.html.j2", status_code=401, error="Wrong username or password.")
    site.limiter.succeeded(username, address)
    request.session.clear()  # a fresh session (and CSRF token) at sign-in: no session fixation
    request.session["user_id"] = user.id
    return RedirectResponse("/home", status_code=303)


@router.post("/logout", dependencies=[Depends(checked_form)])
def logout(request: Request):
    request.session.clear()
    return RedirectResponse("/", status_code=303)


@router.get("/home")
def home(user=Depends(signed_in(ADMIN, CLINICIAN, MANAGER, "public"))):
    """Where each role starts: a clinician on their own results page."""
    target = f"/clinicians/{user.clinician_id}" if user.role == CLINICIAN else HOME_BY_ROLE[user.role]
    return RedirectResponse(target, status_code=303)
