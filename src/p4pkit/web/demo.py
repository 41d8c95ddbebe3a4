"""`p4p serve`: everything the portal needs, made or reused in one data folder.

Layout of the data folder:

    <data>/*.parquet | *.csv     the population (canonical tables); generated when there are none
    <data>/portal/store.duckdb   the loaded store
    <data>/portal/results.parquet, clinicians.parquet   measures and attribution, computed once
    <data>/portal/review.sqlite  the review database (unless --db names another)
    <data>/portal/uploads/       data submitted through the portal

Demo logins are created only for a synthetic population (one with the generator's `truth/`
folder): fixed, printed passwords on real data would be an open door.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from p4pkit.errors import UserError
from p4pkit.ingest.files import discover
from p4pkit.ingest.load import load_folder
from p4pkit.measures.library import LIBRARY
from p4pkit.review.db import engine_for, session_scope, upgrade
from p4pkit.review.lifecycle import open_review, register_run
from p4pkit.review.models import Run, User
from p4pkit.review.users import create_user
from p4pkit.store import Store
from p4pkit.synth import generate
from p4pkit.web.data import DEMO_MEASURES, DEMO_PERIOD, PortalData, portal_data_from_store

DEMO_PATIENTS = 20_000
DEMO_SEED = 42
DEMO_PROGRAM = "portal-demo"
REVIEW_DAYS = 30


@dataclass(frozen=True)
class Login:
    username: str
    password: str
    role: str
    clinician_id: str | None = None
    organization_id: str | None = None


@dataclass(frozen=True)
class Prepared:
    """What `build_app` needs, plus the logins to print."""

    data: PortalData
    engine: Engine
    run_id: int
    upload_dir: Path
    logins: tuple[Login, ...]


def prepare(
    data_dir: str | Path,
    db: str | None = None,
    patients: int = DEMO_PATIENTS,
    seed: int = DEMO_SEED,
    measures: tuple[str, ...] = DEMO_MEASURES,
) -> Prepared:
    """Make (or reuse) the population, store, measure results, review database, run and demo users.

    `measures` is used when results are first computed; a later start shows what was computed.
    """
    folder = Path(data_dir)
    work = folder / "portal"
    if not _has_tables(folder):
        generate(patients, seed, folder)
    work.mkdir(parents=True, exist_ok=True)
    data = _portal_data(folder, work, measures)
    engine = engine_for(db if db is not None else work / "review.sqlite")
    upgrade(engine)
    synthetic = (folder / "truth").is_dir()
    with session_scope(engine) as session:
        logins = _demo_logins(data) if synthetic else ()
        for login in logins:
            if session.scalar(select(User.id).where(User.username == login.username)) is None:
                create_user(session, login.username, login.password, login.role, login.clinician_id,
                            login.organization_id, created_by="p4p serve")
        run_id = _registered_run(session, work)
    return Prepared(data, engine, run_id, work / "uploads", logins)


def _has_tables(folder: Path) -> bool:
    if not folder.is_dir() or not any(folder.iterdir()):
        return False
    return bool(discover(folder))


def _portal_data(folder: Path, work: Path, measures: tuple[str, ...]) -> PortalData:
    """Measure and attribute once; later starts read the saved tables."""
    results_file, clinicians_file = work / "results.parquet", work / "clinicians.parquet"
    if not (results_file.exists() and clinicians_file.exists()):
        store_file = work / "store.duckdb"
        if not store_file.exists():
            load_folder(folder, store_file)
        with Store(store_file) as store:
            data = portal_data_from_store(store, measures)
        for table, path in ((data.results, results_file), (data.clinicians, clinicians_file)):
            partial = path.with_name(f".{path.name}.partial")
            pq.write_table(table, partial)
            partial.replace(path)
        return data
    results = pq.read_table(results_file)
    computed = sorted(pc.unique(results["measure_id"]).to_pylist())
    return PortalData(results, pq.read_table(clinicians_file), {m: LIBRARY[m] for m in computed}, DEMO_PERIOD)


def _demo_logins(data: PortalData) -> tuple[Login, ...]:
    """An admin, the two clinicians with the most attributed patients, the first one's practice
    manager, and a public account."""
    counts = pc.value_counts(data.results["clinician_id"])
    ranked = sorted(counts.to_pylist(), key=lambda c: (-c["counts"], c["values"]))
    if len(ranked) < 2:
        raise UserError("the population has fewer than two attributed clinicians", hint="Generate more patients.")
    first, second = ranked[0]["values"], ranked[1]["values"]
    return (
        Login("admin", "demo-admin-password", "program_admin"),
        Login("dr.one", "demo-clinician-one", "clinician", clinician_id=first),
        Login("dr.two", "demo-clinician-two", "clinician", clinician_id=second),
        Login("manager", "demo-manager-password", "practice_manager", organization_id=data.organization_of(first)),
        Login("visitor", "demo-public-password", "public"),
    )


def _registered_run(session: Session, work: Path) -> int:
    """The demo run (registered and opened for review on first start), as its newest version's root."""
    source = str(work.resolve())
    run_id = session.scalar(select(Run.id).where(Run.source == source, Run.version == 1))
    if run_id is not None:
        return run_id
    admin = session.scalar(select(User).where(User.role == "program_admin").order_by(User.id))
    if admin is None:
        raise UserError("the review database has no program administrator to register the run",
                        hint="Create one: p4p review create-user NAME --role program_admin --db URL")
    run = register_run(session, work, DEMO_PROGRAM, admin)
    open_review(session, run.id, admin, REVIEW_DAYS)
    return run.id



def serve(host: str, port: int, data_dir: str | Path, db: str | None = None, say=print) -> None:
    """Prepare the data folder, print the address and demo logins, and serve until interrupted."""
    import uvicorn

    from p4pkit.web.app import build_app

    say(f"preparing {data_dir} (the first start generates and measures the demo population)...")
    prepared = prepare(data_dir, db)
    app = build_app(prepared.data, prepared.engine, prepared.run_id, upload_dir=prepared.upload_dir)
    say(f"p4pkit portal: http://{host}:{port}/")
    for login in prepared.logins:
        who = login.clinician_id or login.organization_id or ""
        say(f"  {login.role:<17} {login.username:<8} password {login.password}  {who}".rstrip())
    # No access log: patient pages carry the patient's identifier in their path.
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
