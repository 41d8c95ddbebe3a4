"""`p4p serve`'s preparation: a synthetic population made once, measured once, with a run open for
review and demo logins; a second start reuses all of it."""

from __future__ import annotations

import pytest

from p4pkit.review.db import session_scope
from p4pkit.review.lifecycle import get_run
from p4pkit.review.users import authenticate
from p4pkit.web import build_app
from p4pkit.web.demo import prepare

from conftest import TestClient, token_of


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    folder = tmp_path_factory.mktemp("serve") / "demo"
    return folder, prepare(folder, patients=300, seed=5, measures=("CMS165",))


def test_first_start_makes_population_results_run_and_logins(prepared):
    folder, ready = prepared
    assert (folder / "patients.parquet").exists() and (folder / "portal" / "results.parquet").exists()
    results = ready.data.results
    assert results.num_rows > 0
    assert results["clinician_id"].null_count == 0 and results["organization_id"].null_count == 0
    roles = sorted(login.role for login in ready.logins)
    assert roles == ["clinician", "clinician", "practice_manager", "program_admin", "public"]
    with session_scope(ready.engine) as session:
        assert get_run(session, ready.run_id).state == "review_open"
        for login in ready.logins:
            assert authenticate(session, login.username, login.password) is not None
    clinician = next(login for login in ready.logins if login.role == "clinician")
    manager = next(login for login in ready.logins if login.role == "practice_manager")
    assert manager.organization_id == ready.data.organization_of(clinician.clinician_id)


def test_a_second_start_reuses_everything(prepared):
    folder, ready = prepared
    results_file = folder / "portal" / "results.parquet"
    written = results_file.stat().st_mtime_ns
    again = prepare(folder)
    assert again.run_id == ready.run_id
    assert results_file.stat().st_mtime_ns == written
    assert again.data.results.equals(ready.data.results)
    assert list(again.data.measures) == ["CMS165"]


def test_the_prepared_portal_serves_the_demo_clinician(prepared):
    _, ready = prepared
    app = build_app(ready.data, ready.engine, ready.run_id, upload_dir=ready.upload_dir)
    client = TestClient(app, follow_redirects=False)
    assert client.get("/").status_code == 200
    clinician = next(login for login in ready.logins if login.role == "clinician")
    token = token_of(client.get("/login").text)
    response = client.post("/login", data={"username": clinician.username, "password": clinician.password, "csrf_token": token})
    assert response.headers["location"] == "/home"
    assert client.get("/home").headers["location"] == f"/clinicians/{clinician.clinician_id}"
    assert client.get(f"/clinicians/{clinician.clinician_id}").status_code == 200
