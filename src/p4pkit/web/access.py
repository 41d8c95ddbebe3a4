"""Who is asking, and what they may see: the portal's request dependencies.

Authorization is decided here and nowhere else, so the route table reads as a list of rules:
`signed_in(*roles)` for the role, `visible_clinician` / `visible_patient` for the row-level rule
(a clinician sees only their own attributed patients, a practice manager their practice's
clinicians, a program admin everyone), and `checked_form` for the CSRF token of every POST.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from fastapi import Depends, Form, HTTPException, Request
from fastapi.templating import Jinja2Templates
from sqlalchemy import Engine, select

from p4pkit.review.db import session_scope
from p4pkit.review.models import Run, User
from p4pkit.web.data import PortalData
from p4pkit.web.security import CSRF_FIELD, LoginLimiter, csrf_token, csrf_valid

ADMIN = "program_admin"
CLINICIAN = "clinician"
MANAGER = "practice_manager"
PUBLIC = "public"
STAFF = (ADMIN, CLINICIAN, MANAGER)
REVIEWERS = (CLINICIAN, MANAGER)


@dataclass
class Portal:
    """Everything a request needs, computed once when the app is built."""

    data: PortalData
    engine: Engine
    run_id: int
    scores: pd.DataFrame
    deciles: dict[tuple[str, int], list[float]]
    preview: pd.DataFrame
    cards: dict[tuple[str, int], pd.DataFrame]
    limiter: LoginLimiter
    upload_dir: Path
    templates: Jinja2Templates
    min_denominator: int
    min_reliability: float

    def current_run_id(self) -> int:
        """The newest version of the portal's run: corrections make a new version with the old as parent."""
        with session_scope(self.engine) as session:
            run_id = self.run_id
            while (child := session.scalar(select(Run.id).where(Run.parent_id == run_id))) is not None:
                run_id = child
            return run_id

    def render(self, request: Request, template: str, status_code: int = 200, **context: object):
        """A page, with the signed-in user and the session's CSRF token available to every form."""
        context.update(request=request, user=getattr(request.state, "user", None), csrf_field=CSRF_FIELD,
                       csrf_token=csrf_token(request), portal=self)
        return self.templates.TemplateResponse(request, template, context, status_code=status_code)


def portal(request: Request) -> Portal:
    return request.app.state.portal


def session_user(request: Request) -> User | None:
    """The signed-in user, read fresh from the review database (a removed user is signed out)."""
    user_id = request.session.get("user_id")
    if user_id is None:
        return None
    with session_scope(portal(request).engine) as session:
        user = session.get(User, user_id)
    if user is None:
        request.session.clear()
    request.state.user = user
    return user


def signed_in(*roles: str) -> Callable[[Request], User]:
    """A dependency: the signed-in user, 401 when nobody is, 403 when their role is not in `roles`."""

    def dependency(request: Request) -> User:
        user = session_user(request)
        if user is None:
            raise HTTPException(401, "Please sign in to see this page.")
        if user.role not in roles:
            raise HTTPException(403, f"A {user.role.replace('_', ' ')} account cannot use this page.")
        return user

    return dependency


def checked_form(request: Request, csrf_token: str | None = Form(None)) -> None:
    """A dependency for every POST: the form must carry the session's CSRF token."""
    if not csrf_valid(request, csrf_token):
        raise HTTPException(403, "The form's security token is missing or out of date. Reload the page and try again.")


def may_see_clinician(user: User, clinician_id: str, data: PortalData) -> bool:
    if user.role == ADMIN:
        return True
    if user.role == CLINICIAN:
        return user.clinician_id == clinician_id
    if user.role == MANAGER:
        return user.organization_id is not None and data.organization_of(clinician_id) == user.organization_id
    return False


def visible_clinician(
    request: Request, clinician_id: str, user: User = Depends(signed_in(*STAFF))
) -> tuple[User, str]:
    """The clinician in the path, if this user may see them: 404 when unknown, 403 when not theirs."""
    data = portal(request).data
    if clinician_id not in data.clinicians["clinician_id"].to_pylist():
        raise HTTPException(404, "There is no such clinician.")
    if not may_see_clinician(user, clinician_id, data):
        raise HTTPException(403, "You can only see your own results.")
    return user, clinician_id


def visible_patient(request: Request, patient_id: str, user: User = Depends(signed_in(*STAFF))) -> tuple[User, str]:
    """The patient in the path, if attributed to a clinician this user may see; 404 otherwise, so the
    answer does not reveal whether someone else's patient exists."""
    clinician_id = portal(request).data.patient_clinician(patient_id)
    if clinician_id is None or not may_see_clinician(user, clinician_id, portal(request).data):
        raise HTTPException(404, "There is no such patient among yours.")
    return user, patient_id
