"""CSRF tokens, the login rate limit, signed sessions and the security headers."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from p4pkit.review.db import session_scope
from p4pkit.review.models import Dispute
from p4pkit.web.security import SECURITY_HEADERS

from conftest import USERS, TestClient, patient_id, sign_in, token_of

DISPUTE = {"measure_id": "CMS165", "element": "numerator", "reason": "coded at another site",
           "patient_id": patient_id("CA1", 0), "idempotency_key": "csrf-test"}


def disputes(engine) -> int:
    with session_scope(engine) as session:
        return session.scalar(select(func.count()).select_from(Dispute))


@pytest.mark.parametrize("token", [None, "", "forged-token"])
def test_a_form_without_the_sessions_token_is_refused_and_changes_nothing(portal, token):
    app, engine, _ = portal
    client, _ = sign_in(app, "dr.a")
    before = disputes(engine)
    data = dict(DISPUTE) if token is None else {**DISPUTE, "csrf_token": token}
    response = client.post("/disputes", data=data)
    assert response.status_code == 403
    assert "security token" in response.text
    assert disputes(engine) == before


def test_another_sessions_token_is_refused(portal):
    app, engine, _ = portal
    client, _ = sign_in(app, "dr.a")
    _, other_token = sign_in(app, None)
    assert client.post("/disputes", data={**DISPUTE, "csrf_token": other_token}).status_code == 403
    assert client.post("/login", data={"username": "dr.a", "password": USERS["dr.a"][0]}).status_code == 403


def test_login_is_locked_after_five_failures_per_name_and_address(portal):
    app, _, _ = portal
    clock = app.state.portal.limiter.clock
    client, token = sign_in(app, None)
    wrong = {"username": "manager", "password": "not-the-password", "csrf_token": token}
    assert [client.post("/login", data=wrong).status_code for _ in range(5)] == [401] * 5
    right = {**wrong, "password": USERS["manager"][0]}
    assert client.post("/login", data=right).status_code == 429  # even the right password, while locked
    # Another username from the same address is not locked.
    other = {"username": "visitor", "password": USERS["visitor"][0], "csrf_token": token}
    assert client.post("/login", data=other).status_code == 303
    client, token = sign_in(app, None)
    clock.now += 15 * 60 - 1
    assert client.post("/login", data={**right, "csrf_token": token}).status_code == 429
    clock.now += 1
    assert client.post("/login", data={**right, "csrf_token": token}).status_code == 303


def test_responses_carry_the_security_headers_and_a_strict_session_cookie(portal):
    app, _, _ = portal
    client = TestClient(app)
    response = client.get("/login")
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value
    assert "script-src 'self' 'unsafe-eval';" in response.headers["Content-Security-Policy"]
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie


def test_a_tampered_session_cookie_is_not_accepted(portal):
    app, _, _ = portal
    client, _ = sign_in(app, "admin")
    assert client.get("/admin").status_code == 200
    value = client.cookies["p4p_session"]
    forged = TestClient(app, follow_redirects=False, cookies={"p4p_session": value[:-4] + ("AAAA" if not value.endswith("AAAA") else "BBBB")})
    assert forged.get("/admin").status_code == 401


def test_signing_in_starts_a_new_session(portal):
    app, _, _ = portal
    client = TestClient(app, follow_redirects=False)
    before = token_of(client.get("/login").text)
    client.post("/login", data={"username": "dr.b", "password": USERS["dr.b"][0], "csrf_token": before})
    assert token_of(client.get("/login").text) != before
    client.post("/logout", data={"csrf_token": token_of(client.get("/login").text)})
    assert client.get("/home").status_code == 401
