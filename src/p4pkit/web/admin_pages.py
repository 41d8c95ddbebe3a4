"""Program administrators' pages: the run's review window, disputes, finalization and the audit log.

Each button calls one `review.lifecycle` function; the rules (no finalization while a dispute is
unresolved, nothing changes once finalized) live there, and a refused move comes back as a 409
page with the lifecycle's own explanation.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import RedirectResponse
from sqlalchemy import select

from p4pkit.review import lifecycle
from p4pkit.review.audit import audit_events, record_view
from p4pkit.review.db import session_scope
from p4pkit.review.models import Comment, Dispute
from p4pkit.web.access import ADMIN, Portal, checked_form, portal, signed_in

router = APIRouter(prefix="/admin")
admin_only = signed_in(ADMIN)


@router.get("")
def admin_page(request: Request, user=Depends(admin_only), site: Portal = Depends(portal)):
    """Runs with their states, the current run's disputes and comments, and the lifecycle buttons."""
    run_id = site.current_run_id()
    with session_scope(site.engine) as session:
        runs = lifecycle.runs_table(session).to_pylist()
        disputes = list(session.scalars(select(Dispute).where(Dispute.run_id == run_id).order_by(Dispute.id)))
        comments = list(session.scalars(select(Comment).where(Comment.run_id == run_id).order_by(Comment.id)))
        if any(d.patient_id for d in disputes):
            record_view(session, user, run_id, "admin disputes")
    return site.render(request, "admin.html.j2", run_id=run_id, runs=runs, disputes=disputes, comments=comments,
                       clinicians=site.data.clinicians["clinician_id"].to_pylist())


@router.get("/audit")
def audit_page(request: Request, user=Depends(admin_only), site: Portal = Depends(portal)):
    """The whole audit log, newest first; opening it is itself recorded (it names patients)."""
    with session_scope(site.engine) as session:
        record_view(session, user, site.current_run_id(), "audit log")
        events = list(reversed(audit_events(session)))
    return site.render(request, "audit.html.j2", events=events)


@router.post("/runs/{run_id}/open", dependencies=[Depends(checked_form)])
def open_window(run_id: int, days: int = Form(30), user=Depends(admin_only), site: Portal = Depends(portal)):
    with session_scope(site.engine) as session:
        lifecycle.open_review(session, run_id, user, days)
    return RedirectResponse("/admin", status_code=303)


@router.post("/runs/{run_id}/close", dependencies=[Depends(checked_form)])
def close_window(run_id: int, early: bool = Form(False), user=Depends(admin_only), site: Portal = Depends(portal)):
    with session_scope(site.engine) as session:
        lifecycle.close_review(session, run_id, user, early=early)
    return RedirectResponse("/admin", status_code=303)


@router.post("/runs/{run_id}/corrections", dependencies=[Depends(checked_form)])
def apply_corrections(run_id: int, user=Depends(admin_only), site: Portal = Depends(portal)):
    with session_scope(site.engine) as session:
        lifecycle.apply_corrections(session, run_id, user)
    return RedirectResponse("/admin", status_code=303)


@router.post("/runs/{run_id}/finalize", dependencies=[Depends(checked_form)])
def finalize(run_id: int, user=Depends(admin_only), site: Portal = Depends(portal)):
    with session_scope(site.engine) as session:
        lifecycle.finalize(session, run_id, user)
    return RedirectResponse("/admin", status_code=303)


@router.post("/disputes/{dispute_id}/resolve", dependencies=[Depends(checked_form)])
def resolve(
    dispute_id: int,
    resolution: str = Form(...),
    correction: str = Form(""),
    note: str = Form(""),
    user=Depends(admin_only),
    site: Portal = Depends(portal),
):
    if resolution not in ("accepted", "rejected"):
        raise HTTPException(400, "Choose 'accepted' or 'rejected'.")
    with session_scope(site.engine) as session:
        lifecycle.resolve_dispute(session, dispute_id, user, resolution, correction or None, note or None)
    return RedirectResponse("/admin", status_code=303)
