"""Every route of the app, for every role (anonymous too), answers with the expected status.

The table below must name every route `app.routes` has: a new route without an entry fails the
test, so nobody adds a page without deciding who may open it. Each client carries a valid CSRF
token, so these statuses are about authorization alone (CSRF has its own tests). Admin actions on
run 999 and dispute 999, which do not exist, get 400 from the review service: the request passed
authorization and reached it.
"""

from __future__ import annotations

import pytest
from starlette.routing import Mount

from conftest import TestClient, patient_id, patients_of, sign_in

ROLES = ("anonymous", "visitor", "dr.a", "dr.b", "manager", "admin")
PATIENT = patient_id("CA1", 0)
DISPUTE = {"measure_id": "CMS165", "element": "numerator", "reason": "the visit was coded elsewhere",
           "patient_id": PATIENT, "idempotency_key": "authz-"}

#: (method, route path) -> (concrete path, form, {role: status})
EXPECTED = {
    ("GET", "/"): ("/", None, dict.fromkeys(ROLES, 200)),
    ("GET", "/assets/vega.js"): ("/assets/vega.js", None, dict.fromkeys(ROLES, 200)),
    ("GET", "/static"): ("/static/portal.css", None, dict.fromkeys(ROLES, 200)),
    ("GET", "/login"): ("/login", None, dict.fromkeys(ROLES, 200)),
    ("POST", "/login"): ("/login", {"username": "nobody-", "password": "wrong-password"}, dict.fromkeys(ROLES, 401)),
    ("POST", "/logout"): ("/logout", {}, dict.fromkeys(ROLES, 303)),
    ("GET", "/home"): ("/home", None, {"anonymous": 401, "visitor": 303, "dr.a": 303, "dr.b": 303, "manager": 303, "admin": 303}),
    ("GET", "/clinicians/{clinician_id}"): (
        "/clinicians/CA1", None, {"anonymous": 401, "visitor": 403, "dr.a": 200, "dr.b": 403, "manager": 200, "admin": 200}),
    ("GET", "/clinicians/{clinician_id}/gaps/{measure_id}"): (
        "/clinicians/CA1/gaps/CMS165", None,
        {"anonymous": 401, "visitor": 403, "dr.a": 200, "dr.b": 403, "manager": 200, "admin": 200}),
    ("GET", "/patients/{patient_id}"): (
        f"/patients/{PATIENT}", None, {"anonymous": 401, "visitor": 403, "dr.a": 200, "dr.b": 404, "manager": 200, "admin": 200}),
    ("POST", "/patients/{patient_id}/exceptions"): (
        f"/patients/{PATIENT}/exceptions", {"measure_id": "CMS165", "reason": "documented medical reason"},
        {"anonymous": 401, "visitor": 403, "dr.a": 303, "dr.b": 404, "manager": 303, "admin": 403}),
    ("POST", "/disputes"): (
        "/disputes", DISPUTE, {"anonymous": 401, "visitor": 403, "dr.a": 303, "dr.b": 404, "manager": 303, "admin": 403}),
    ("POST", "/comments"): (
        "/comments", {"text": "please check the attribution"},
        {"anonymous": 401, "visitor": 403, "dr.a": 303, "dr.b": 303, "manager": 303, "admin": 303}),
    ("GET", "/practice"): (
        "/practice", None, {"anonymous": 401, "visitor": 403, "dr.a": 403, "dr.b": 403, "manager": 200, "admin": 403}),
    ("GET", "/upload"): (
        "/upload", None, {"anonymous": 401, "visitor": 403, "dr.a": 403, "dr.b": 403, "manager": 200, "admin": 200}),
    ("POST", "/upload"): (
        "/upload", "files", {"anonymous": 401, "visitor": 403, "dr.a": 403, "dr.b": 403, "manager": 400, "admin": 400}),
}
ADMIN_ONLY = {"anonymous": 401, "visitor": 403, "dr.a": 403, "dr.b": 403, "manager": 403}
for method, route, path, form, admin_status in (
    ("GET", "/admin", "/admin", None, 200),
    ("GET", "/admin/audit", "/admin/audit", None, 200),
    ("POST", "/admin/runs/{run_id}/open", "/admin/runs/999/open", {"days": "30"}, 400),
    ("POST", "/admin/runs/{run_id}/close", "/admin/runs/999/close", {"early": "true"}, 400),
    ("POST", "/admin/runs/{run_id}/corrections", "/admin/runs/999/corrections", {}, 400),
    ("POST", "/admin/runs/{run_id}/finalize", "/admin/runs/999/finalize", {}, 400),
    ("POST", "/admin/disputes/{dispute_id}/resolve", "/admin/disputes/999/resolve", {"resolution": "rejected"}, 400),
):
    EXPECTED[(method, route)] = (path, form, {**ADMIN_ONLY, "admin": admin_status})


def app_routes(app) -> set[tuple[str, str]]:
    found = set()
    for route in app.routes:
        if isinstance(route, Mount):
            found.add(("GET", route.path))
        else:
            found.update((method, route.path) for method in route.methods - {"HEAD"})
    return found


@pytest.fixture(scope="module")
def clients(portal):
    app, _, _ = portal
    return {role: sign_in(app, None if role == "anonymous" else role) for role in ROLES}


def test_the_table_covers_every_route(portal):
    app, _, _ = portal
    assert app_routes(app) == set(EXPECTED)


@pytest.mark.parametrize("route", sorted(EXPECTED), ids=lambda r: f"{r[0]} {r[1]}")
def test_every_role_gets_the_expected_status(portal, clients, route):
    app, _, _ = portal
    path, form, statuses = EXPECTED[route]
    got = {}
    for role in ROLES:
        client, token = clients[role]
        if route == ("POST", "/logout"):  # sign out a copy of the session, not the shared client
            client = TestClient(app, follow_redirects=False, cookies=dict(client.cookies))
        if form is None:
            response = client.get(path)
        elif form == "files":
            response = client.post(path, data={"csrf_token": token}, files=[("files", ("notes.txt", b"x", "text/plain"))])
        else:
            data = {**form, "csrf_token": token}
            for unique in ("idempotency_key", "username"):  # one dispute and one login name per role
                if unique in data:
                    data[unique] += role
            response = client.post(path, data=data)
        got[role] = response.status_code
    assert got == statuses


def test_a_clinician_cannot_open_another_clinicians_pages(portal, clients):
    client, _ = clients["dr.b"]
    assert client.get("/clinicians/CA1").status_code == 403
    assert client.get("/clinicians/CA1/gaps/CMS165").status_code == 403
    for patient in sorted(patients_of("CA1"))[:5]:
        assert client.get(f"/patients/{patient}").status_code == 404
    # An unknown patient looks the same as someone else's: nothing to learn from the answer.
    assert client.get("/patients/NO-SUCH-PATIENT").status_code == 404


def test_a_clinicians_pages_list_only_their_own_patients(portal, clients):
    client, _ = clients["dr.a"]
    own, others = patients_of("CA1"), set().union(*(patients_of(c) for c in ("CA2", "CB1", "CC1", "CD1")))
    for measure in ("CMS165", "CMS122"):
        html = client.get(f"/clinicians/CA1/gaps/{measure}").text
        assert any(p in html for p in own)
        assert not any(p in html for p in others)


def test_a_practice_manager_sees_only_their_practice(portal, clients):
    client, _ = clients["manager"]
    html = client.get("/practice").text
    assert "CA1" in html and "CA2" in html and "CB1" not in html
    assert client.get("/clinicians/CB1").status_code == 403
    assert client.get("/clinicians/CA2").status_code == 200
