"""Review through the portal: views recorded in the audit log, exceptions, disputes and finalization,
and CSV submissions validated by the ingest checks."""

from __future__ import annotations

from sqlalchemy import select

from p4pkit.review.audit import audit_events
from p4pkit.review.db import session_scope
from p4pkit.review.models import Dispute, PatientException, Run

from conftest import patient_id, sign_in

PATIENT = patient_id("CA1", 45)  # in CMS165's denominator, not its numerator: a gap


def views(engine) -> list:
    with session_scope(engine) as session:
        return [e for e in audit_events(session) if e.action == "view"]


def test_every_page_with_patient_rows_records_a_view(portal):
    app, engine, run_id = portal
    client, _ = sign_in(app, "dr.a")
    before = len(views(engine))
    assert client.get("/clinicians/CA1").status_code == 200  # aggregates only: no view recorded
    assert len(views(engine)) == before
    assert PATIENT in client.get("/clinicians/CA1/gaps/CMS165").text
    assert client.get(f"/patients/{PATIENT}").status_code == 200
    recorded = views(engine)[before:]
    assert [(e.actor, e.run_id, e.patient_id, e.detail["what"]) for e in recorded] == [
        ("dr.a", run_id, None, "gaps CMS165 of clinician CA1"),
        ("dr.a", run_id, PATIENT, "patient results"),
    ]
    assert all(PATIENT not in str(e.detail) for e in recorded)


def test_a_clinician_records_an_exception_with_its_reason(portal):
    app, engine, run_id = portal
    client, token = sign_in(app, "dr.a")
    response = client.post(f"/patients/{PATIENT}/exceptions",
                           data={"measure_id": "CMS165", "reason": "patient declined treatment", "csrf_token": token})
    assert response.status_code == 303
    with session_scope(engine) as session:
        stored = session.scalars(select(PatientException).where(PatientException.patient_id == PATIENT)).all()
    assert [(e.run_id, e.recorded_by, e.measure_id, e.reason) for e in stored] == [
        (run_id, "dr.a", "CMS165", "patient declined treatment")]
    assert "patient declined treatment" in client.get(f"/patients/{PATIENT}").text


def test_finalize_is_refused_until_every_dispute_is_resolved(fresh_portal):
    app, engine, run_id = fresh_portal
    clinician, token = sign_in(app, "dr.a")
    dispute = {"measure_id": "CMS165", "element": "numerator", "reason": "the reading was taken at home",
               "patient_id": PATIENT, "idempotency_key": "k-1", "csrf_token": token}
    assert clinician.post("/disputes", data=dispute).status_code == 303
    assert clinician.post("/disputes", data=dispute).status_code == 303  # a double click files it once
    assert "the reading was taken at home" in clinician.get("/clinicians/CA1").text
    with session_scope(engine) as session:
        (filed,) = session.scalars(select(Dispute)).all()

    admin, token = sign_in(app, "admin")
    assert admin.post(f"/admin/runs/{run_id}/close", data={"early": "true", "csrf_token": token}).status_code == 303
    refused = admin.post(f"/admin/runs/{run_id}/finalize", data={"csrf_token": token})
    assert refused.status_code == 409 and "unresolved dispute" in refused.text
    resolve = {"resolution": "rejected", "note": "home readings do not count", "csrf_token": token}
    assert admin.post(f"/admin/disputes/{filed.id}/resolve", data=resolve).status_code == 303
    assert admin.post(f"/admin/runs/{run_id}/finalize", data={"csrf_token": token}).status_code == 303
    with session_scope(engine) as session:
        assert session.get(Run, run_id).state == "finalized"
    # Nothing can be filed against a finalized run.
    late = clinician.post("/disputes", data={**dispute, "idempotency_key": "k-2"})
    assert late.status_code == 409
    assert "finalized" in admin.get("/admin").text


def test_an_accepted_correction_makes_a_new_version_the_portal_follows(fresh_portal):
    app, engine, run_id = fresh_portal
    clinician, token = sign_in(app, "dr.a")
    clinician.post("/disputes", data={"measure_id": "CMS165", "element": "numerator", "reason": "result filed late",
                                      "patient_id": PATIENT, "idempotency_key": "c-1", "csrf_token": token})
    admin, token = sign_in(app, "admin")
    with session_scope(engine) as session:
        (filed,) = session.scalars(select(Dispute)).all()
    admin.post(f"/admin/runs/{run_id}/close", data={"early": "true", "csrf_token": token})
    admin.post(f"/admin/disputes/{filed.id}/resolve", data={"resolution": "accepted", "correction": "1", "csrf_token": token})
    assert admin.post(f"/admin/runs/{run_id}/finalize", data={"csrf_token": token}).status_code == 409
    assert admin.post(f"/admin/runs/{run_id}/corrections", data={"csrf_token": token}).status_code == 303
    new_version = app.state.portal.current_run_id()
    assert new_version != run_id
    assert admin.post(f"/admin/runs/{new_version}/finalize", data={"csrf_token": token}).status_code == 303
    with session_scope(engine) as session:
        assert (session.get(Run, run_id).state, session.get(Run, new_version).state) == ("superseded", "finalized")


def test_a_submission_with_problems_lists_them_and_stores_nothing(portal):
    app, _, _ = portal
    client, token = sign_in(app, "manager")
    uploads = app.state.portal.upload_dir
    stores_before = list(uploads.glob("*.duckdb"))
    bad = b"patient_id,birth_date,sex\nQ1,1950-02-30,female\nQ2,1960-01-01,robot\n"
    response = client.post("/upload", data={"csrf_token": token}, files=[("files", ("patients.csv", bad, "text/csv"))])
    assert response.status_code == 400
    page = response.text
    assert "patients.csv" in page and "<td>2</td>" in page and "<td>sex</td>" in page
    assert list(uploads.glob("*.duckdb")) == stores_before
    assert not list(uploads.glob(".upload-*"))


def test_a_valid_submission_is_stored_as_its_own_store(portal):
    app, _, _ = portal
    client, token = sign_in(app, "manager")
    good = b"patient_id,birth_date,sex\nQ1,1950-02-28,female\nQ2,1960-01-01,male\n"
    response = client.post("/upload", data={"csrf_token": token}, files=[("files", ("patients.csv", good, "text/csv"))])
    assert response.status_code == 200, response.text
    assert "Stored." in response.text
    stored = [p.name for p in app.state.portal.upload_dir.iterdir()]
    assert len([n for n in stored if n.startswith("ORG_A-") and n.endswith(".duckdb")]) == 1
    assert not [n for n in stored if n.startswith(".upload-")]


def test_the_audit_log_page_lists_events_and_records_its_own_opening(portal):
    app, engine, run_id = portal
    admin, _ = sign_in(app, "admin")
    before = len(views(engine))
    page = admin.get("/admin/audit").text
    assert "run.register" in page and "review.open" in page
    (opened,) = views(engine)[before:]
    assert (opened.actor, opened.run_id, opened.detail["what"]) == ("admin", run_id, "audit log")
