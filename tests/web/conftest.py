"""A small hand-made portal: five clinicians in four practices, two measures, and every role's user.

Counts per clinician (patients in the performance denominator, patients in the numerator):

    practice  clinician  CMS165 (higher is better)  CMS122 (inverse)
    ORG_A     CA1 (dr.a)  60, 40  (+5 excluded)      40, 8
    ORG_A     CA2         40, 20                     30, 9
    ORG_B     CB1 (dr.b)  80, 74                     50, 5
    ORG_C     CC1         20, 12                     10, 2
    ORG_D     CD1        120, 40                     60, 30

ORG_C is below the 30-patient floor; ORG_B's CMS165 complement (6) and CMS122 numerator (5) are
small cells. Measures are the library's, so titles, rationale and direction are the real ones.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
from pathlib import Path

import warnings

import pyarrow as pa
import pytest

from p4pkit.measures.library import LIBRARY
from p4pkit.measures.runner import RESULTS_SCHEMA
from p4pkit.review.db import engine_for, session_scope, upgrade
from p4pkit.review.lifecycle import open_review, register_run
from p4pkit.review.users import create_user
from p4pkit.web import build_app
from p4pkit.web.data import PortalData

with warnings.catch_warnings():
    # Starlette suggests httpx2 for its test client; httpx (the documented FastAPI choice) still works.
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

PERIOD = (dt.date(2025, 1, 1), dt.date(2025, 12, 31))
PRACTICE = {"CA1": "ORG_A", "CA2": "ORG_A", "CB1": "ORG_B", "CC1": "ORG_C", "CD1": "ORG_D"}
COUNTS = {
    "CMS165": {"CA1": (60, 40), "CA2": (40, 20), "CB1": (80, 74), "CC1": (20, 12), "CD1": (120, 40)},
    "CMS122": {"CA1": (40, 8), "CA2": (30, 9), "CB1": (50, 5), "CC1": (10, 2), "CD1": (60, 30)},
}
EXCLUDED = {("CMS165", "CA1"): 5}
USERS = {
    "admin": ("admin-password-1", "program_admin", None, None),
    "dr.a": ("dr-a-password-1", "clinician", "CA1", None),
    "dr.b": ("dr-b-password-1", "clinician", "CB1", None),
    "manager": ("manager-password-1", "practice_manager", None, "ORG_A"),
    "visitor": ("visitor-password-1", "public", None, None),
}


def patient_id(clinician: str, i: int) -> str:
    return f"{clinician}-P{i:03d}"


def patients_of(clinician: str) -> set[str]:
    largest = max(den + EXCLUDED.get((m, clinician), 0) for m, rows in COUNTS.items() for c, (den, _) in rows.items() if c == clinician)
    return {patient_id(clinician, i) for i in range(largest)}


def _rows(counts: dict, practice: dict, excluded_counts: dict) -> list[dict]:
    rows = []
    for measure, per_clinician in counts.items():
        for clinician, (denominator, numerator) in per_clinician.items():
            excluded = excluded_counts.get((measure, clinician), 0)
            for i in range(denominator + excluded):
                pid = patient_id(clinician, i)
                is_excluded = i >= denominator
                rows.append({
                    "measure_id": measure, "group_index": 0, "patient_id": pid,
                    "period_start": PERIOD[0], "period_end": PERIOD[1],
                    "initial_population": 1, "denominator": 1, "denominator_exclusion": int(is_excluded),
                    "denominator_exception": 0, "numerator": int(i < numerator and not is_excluded),
                    "exclusion_reason": "hospice" if is_excluded else None, "exception_reason": None,
                    "evidence_event_ids": [f"E-{pid}-{measure}"], "evidence_dates": [dt.date(2025, 6, 1)],
                    "scoring": "proportion", "numerator_value": None, "denominator_value": None, "rate_multiplier": 1.0,
                    "clinician_id": clinician, "organization_id": practice[clinician],
                })
    return rows


def portal_data(counts: dict = COUNTS, practice: dict = PRACTICE, excluded: dict = EXCLUDED) -> PortalData:
    """Patient rows for `counts` ({measure: {clinician: (denominator, numerator)}}), one clinician per row of `practice`."""
    schema = RESULTS_SCHEMA.append(pa.field("clinician_id", pa.string())).append(pa.field("organization_id", pa.string()))
    clinicians = pa.table({
        "clinician_id": list(practice), "name": [f"Dr {c}" for c in practice], "organization_id": list(practice.values()),
    })
    return PortalData(pa.Table.from_pylist(_rows(counts, practice, excluded), schema=schema), clinicians,
                      {m: LIBRARY[m] for m in counts}, "2025-01-01:2025-12-31")


class FakeClock:
    """A monotonic clock the rate-limit tests move by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_review_database(path: Path) -> int:
    """A review database (SQLite) with every user and one run open for review; returns the run id."""
    engine = engine_for(path)
    upgrade(engine)
    with session_scope(engine) as session:
        users = {name: create_user(session, name, pw, role, cid, org) for name, (pw, role, cid, org) in USERS.items()}
        run = register_run(session, "demo-run-1", "demo", users["admin"])
        open_review(session, run.id, users["admin"], 30)
        run_id = run.id
    engine.dispose()
    return run_id


def make_portal(folder: Path, template: tuple[Path, int]):
    """An app on a copy of the template review database (Argon2 hashing the users once is enough)."""
    database, run_id = template
    shutil.copyfile(database, folder / "review.sqlite")
    engine = engine_for(folder / "review.sqlite")
    app = build_app(portal_data(), engine, run_id, upload_dir=folder / "uploads", secret_key="test-secret", clock=FakeClock())
    return app, engine, run_id


def token_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def sign_in(app, username: str | None) -> tuple[TestClient, str]:
    """A client signed in as `username` (anonymous for None) and its session's CSRF token."""
    client = TestClient(app, follow_redirects=False)
    token = token_of(client.get("/login").text)
    if username is not None:
        response = client.post("/login", data={"username": username, "password": USERS[username][0], "csrf_token": token})
        assert response.status_code == 303, response.text
        token = token_of(client.get("/login").text)
    return client, token


@pytest.fixture(scope="session")
def review_template(tmp_path_factory) -> tuple[Path, int]:
    path = tmp_path_factory.mktemp("review") / "review.sqlite"
    return path, make_review_database(path)


@pytest.fixture(scope="module")
def portal(tmp_path_factory, review_template):
    """One portal shared by a module's tests: (app, engine, run_id)."""
    return make_portal(tmp_path_factory.mktemp("portal"), review_template)


@pytest.fixture
def fresh_portal(tmp_path, review_template):
    """A portal of its own, for a test that moves the run through its lifecycle."""
    return make_portal(tmp_path, review_template)
