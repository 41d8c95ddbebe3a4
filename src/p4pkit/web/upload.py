"""Data submission for small practices: upload canonical CSV tables in the browser, no IT project needed.

The files go through exactly the validation of `p4p load` (`ingest.load.load_folder`): every
problem comes back with its file, row and column, and a submission with any problem stores
nothing. An accepted submission becomes its own store file in the portal's upload folder, named by
who sent it and when, for the program team to pick up.
"""

from __future__ import annotations

import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from fastapi import APIRouter, Depends, File, Request, UploadFile

from p4pkit.errors import Problem, UserError
from p4pkit.ingest.files import accepted_names
from p4pkit.ingest.load import load_folder
from p4pkit.review.audit import record_event
from p4pkit.review.db import session_scope
from p4pkit.web.access import ADMIN, MANAGER, Portal, checked_form, portal, signed_in

router = APIRouter()
uploaders = signed_in(ADMIN, MANAGER)


@router.get("/upload")
def upload_form(request: Request, user=Depends(uploaders), site: Portal = Depends(portal)):
    return site.render(request, "upload.html.j2", accepted=accepted_names())


@router.post("/upload", dependencies=[Depends(checked_form)])
def upload(request: Request, files: list[UploadFile] = File(...), user=Depends(uploaders), site: Portal = Depends(portal)):
    """Validate and store the uploaded tables; show the rows loaded, or every problem found."""
    site.upload_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".upload-", dir=site.upload_dir))
    try:
        names = [Path(f.filename or "").name for f in files]
        bad = [Problem(name or "(no name)", None, None, "not a plain file name") for name, f in zip(names, files)
               if not name or name != f.filename]
        if bad:
            raise UserError("some uploaded files have unusable names; nothing was stored", bad)
        for name, f in zip(names, files):
            with (work / name).open("wb") as out:
                shutil.copyfileobj(f.file, out)
        who = user.organization_id or user.username
        target = site.upload_dir / f"{who}-{datetime.now(UTC):%Y%m%dT%H%M%S%f}.duckdb"
        report = load_folder(work, target)
    except UserError as error:
        return site.render(request, "upload.html.j2", status_code=400, accepted=accepted_names(), error=error)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    with session_scope(site.engine) as session:
        record_event(session, user.username, "data.upload", "store", target.name, detail={"rows": report.rows_loaded})
    return site.render(request, "upload.html.j2", accepted=accepted_names(), loaded=report.summary().to_pylist())
