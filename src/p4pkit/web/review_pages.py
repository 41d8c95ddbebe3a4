"""Pages for clinicians and practice managers: their scores, their patients' care gaps, and the
review actions open to them (exceptions, disputes, comments) through `review.lifecycle`.

Every page that lists patients records a view in the audit log (`review.audit.record_view`) in the
same request that shows it; the audit detail names the page, and a patient's identifier goes only
in the audit log's patient column.
"""

from __future__ import annotations

import uuid

import pandas as pd
import pyarrow.compute as pc
from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import RedirectResponse
from sqlalchemy import select

from p4pkit.reports.charts import interval_chart
from p4pkit.review.audit import record_view
from p4pkit.review.db import session_scope
from p4pkit.review.lifecycle import comment, file_dispute, record_exception
from p4pkit.review.models import Dispute, PatientException
from p4pkit.web.access import (
    MANAGER, REVIEWERS, STAFF, Portal, checked_form, portal, signed_in, visible_clinician, visible_patient,
)
from p4pkit.web.scores import clinician_gaps, gap_mask, measure_label

router = APIRouter()

#: The parts of a measure result a reviewer can dispute (the runner's columns, plus the evidence
#: behind them and the attribution that put the patient on this list).
ELEMENTS = ("initial_population", "denominator", "denominator_exclusion", "denominator_exception", "numerator",
            "evidence", "attribution")


def _label(site: Portal, measure_id: str, group: int) -> str:
    return measure_label(measure_id, group, site.data.measures[measure_id])


@router.get("/clinicians/{clinician_id}")
def clinician_page(request: Request, seen=Depends(visible_clinician), site: Portal = Depends(portal)):
    """Scores with intervals against peer deciles, gap counts, the payment preview and review forms."""
    user, clinician_id = seen
    own = site.scores[site.scores["clinician_id"] == clinician_id]
    rows = site.data.results.filter(pc.equal(site.data.results["clinician_id"], clinician_id))
    gaps = rows.filter(gap_mask(rows, site.data.measures)).group_by(["measure_id", "group_index"]).aggregate([("patient_id", "count")])
    gap_counts = {(r["measure_id"], r["group_index"]): r["patient_id_count"] for r in gaps.to_pylist()}
    measures = []
    for row in own.sort_values(["measure_id", "group_index"]).to_dict("records"):
        key = (row["measure_id"], int(row["group_index"]))
        label = _label(site, *key)
        chart = None
        if pd.notna(row["rate"]):
            frame = pd.DataFrame([{"who": clinician_id, "rate": row["rate"], "lower": row["rate_lower"], "upper": row["rate_upper"]}])
            chart = interval_chart(frame, "who", "rate", "lower", "upper", f"{label}: your rate and the peer deciles",
                                   site.deciles.get(key))
        measures.append({**row, "label": label, "title": site.data.measures[key[0]].title,
                         "gaps": gap_counts.get(key, 0), "chart": chart})
    preview = site.preview[site.preview["clinician_id"] == clinician_id].to_dict("records")
    with session_scope(site.engine) as session:
        disputes = list(session.scalars(select(Dispute).where(Dispute.filed_by == user.username).order_by(Dispute.id)))
    return site.render(request, "clinician.html.j2", clinician_id=clinician_id, measures=measures,
                       preview=preview[0] if preview else None, disputes=disputes, elements=ELEMENTS,
                       idempotency_key=uuid.uuid4().hex)


@router.get("/clinicians/{clinician_id}/gaps/{measure_id}")
def gaps_page(request: Request, measure_id: str, seen=Depends(visible_clinician), site: Portal = Depends(portal)):
    """The clinician's patients with a gap on one measure, with the evidence; recorded as a view."""
    user, clinician_id = seen
    if measure_id not in site.data.measures:
        raise HTTPException(404, "There is no such measure in this run.")
    gaps = clinician_gaps(site.data, clinician_id, measure_id).to_pylist()
    with session_scope(site.engine) as session:
        record_view(session, user, site.current_run_id(), f"gaps {measure_id} of clinician {clinician_id}")
    return site.render(request, "gaps.html.j2", clinician_id=clinician_id, measure=site.data.measures[measure_id], gaps=gaps)


@router.get("/patients/{patient_id}")
def patient_page(request: Request, seen=Depends(visible_patient), site: Portal = Depends(portal)):
    """One patient's results on every measure, with the evidence; recorded as a view of that patient."""
    user, patient_id = seen
    rows = site.data.results.filter(pc.equal(site.data.results["patient_id"], patient_id))
    gap = gap_mask(rows, site.data.measures).to_pylist()
    results = [{**r, "label": _label(site, r["measure_id"], r["group_index"]), "gap": g} for r, g in zip(rows.to_pylist(), gap)]
    run_id = site.current_run_id()
    with session_scope(site.engine) as session:
        record_view(session, user, run_id, "patient results", patient_id=patient_id)
        exceptions = list(session.scalars(select(PatientException).where(
            PatientException.patient_id == patient_id, PatientException.run_id == run_id)))
    return site.render(request, "patient.html.j2", patient_id=patient_id, results=results, exceptions=exceptions,
                       elements=ELEMENTS, idempotency_key=uuid.uuid4().hex,
                       clinician_id=rows["clinician_id"][0].as_py())


@router.post("/patients/{patient_id}/exceptions", dependencies=[Depends(checked_form)])
def add_exception(measure_id: str = Form(...), reason: str = Form(...), seen=Depends(visible_patient),
                  site: Portal = Depends(portal)):
    """Record a clinical exception (a documented reason the measure does not fit this patient)."""
    user, patient_id = seen
    _known_measure(site, measure_id)
    with session_scope(site.engine) as session:
        record_exception(session, site.current_run_id(), user, patient_id, measure_id, reason)
    return RedirectResponse(f"/patients/{patient_id}", status_code=303)


@router.post("/disputes", dependencies=[Depends(checked_form)])
def add_dispute(
    request: Request,
    measure_id: str = Form(...),
    element: str = Form(...),
    reason: str = Form(...),
    idempotency_key: str = Form(...),
    patient_id: str | None = Form(None),
    user=Depends(signed_in(*REVIEWERS)),
    site: Portal = Depends(portal),
):
    """Dispute one element of a measure result, for one patient or for the measure as a whole."""
    _known_measure(site, measure_id)
    if element not in ELEMENTS:
        raise HTTPException(400, f"Unknown element {element!r}: choose one of {', '.join(ELEMENTS)}.")
    if patient_id:
        visible_patient(request, patient_id, user)
    with session_scope(site.engine) as session:
        file_dispute(session, site.current_run_id(), user, measure_id, element, reason, patient_id or None,
                     idempotency_key=idempotency_key)
    return RedirectResponse(f"/patients/{patient_id}" if patient_id else "/home", status_code=303)


@router.post("/comments", dependencies=[Depends(checked_form)])
def add_comment(text: str = Form(...), user=Depends(signed_in(*STAFF)), site: Portal = Depends(portal)):
    """A remark on the run, seen by the program administrators."""
    if not text.strip():
        raise HTTPException(400, "A comment cannot be empty.")
    with session_scope(site.engine) as session:
        comment(session, site.current_run_id(), user, text)
    return RedirectResponse("/home", status_code=303)


@router.get("/practice")
def practice_page(request: Request, user=Depends(signed_in(MANAGER)), site: Portal = Depends(portal)):
    """A practice manager's clinicians and their rates (no patient rows here)."""
    clinicians = site.data.clinicians_of(user.organization_id)
    scores = site.scores[site.scores["clinician_id"].isin(clinicians)].copy()
    scores["label"] = [_label(site, m, int(g)) for m, g in zip(scores["measure_id"], scores["group_index"])]
    return site.render(request, "practice.html.j2", clinicians=clinicians,
                       scores=scores.sort_values(["clinician_id", "label"]).to_dict("records"))


def _known_measure(site: Portal, measure_id: str) -> None:
    if measure_id not in site.data.measures:
        raise HTTPException(400, f"Unknown measure {measure_id!r}.")
