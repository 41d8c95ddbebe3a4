"""One small synthetic world, and one run of each example program over it, shared by the binding tests.

Generating the world and running a program are the slow parts, so each happens once per pytest
process, whichever test file asks first (`functools.cache`); the folder is removed at exit.
The world has 2,000 patients in six practices (so clinicians and practices have panels of a few
hundred, enough for MIPS's 20-case minimum) and eight hospitals (so hospital programs have peers).

`harmed_store()` is a copy of the store with hospital harms written into it — the synthetic world
records none: on every fourth stay of 2025 at the hospital with the most stays, a central-line
bloodstream infection (T80.211A) and a retained foreign object (T81.500A) recorded the day after
admission (not present on admission); on one stay at another hospital the same foreign-object code
recorded on the admission day (present on admission, so paid).
"""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from datetime import date
from pathlib import Path
from unittest.mock import patch

import duckdb
import pyarrow as pa
import yaml

from p4pkit.ingest import load_folder
from p4pkit.measures import Period, run_measures
from p4pkit.programs.runner import run_program
from p4pkit.store import Store
from p4pkit.synth import generate

PROGRAMS = Path(__file__).resolve().parents[2] / "programs"
EXAMPLES = sorted(p.stem for p in PROGRAMS.glob("*.yaml") if p.stem != "bad-design")


@functools.cache
def _folder() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="p4p-bindings-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


@functools.cache
def store() -> Path:
    """The world's DuckDB store."""
    generate(2000, 11, _folder() / "data", patients_per_hospital=250, min_practices=6)
    load_folder(_folder() / "data", _folder() / "store.duckdb")
    return _folder() / "store.duckdb"


@functools.cache
def _measured(data: Path, measure_id: str, start: date, end: date) -> pa.Table:
    with Store(data, read_only=True) as opened:
        return run_measures(opened, [measure_id], Period(start, end))


@functools.cache
def run(name: str, data: Path | None = None) -> Path:
    """The run folder of `programs/<name>.yaml` over `data` (default: the world's store).

    Many examples share measures (CMS122 and CMS165 appear in six), so the runs share each measure's
    patient results per period instead of recomputing them: one measure at a time, concatenated in
    measure order, which is the table `run_measures` returns for several measures at once.
    """
    data = data or store()
    return _run_file(PROGRAMS / f"{name}.yaml", data, _folder() / "runs" / f"{name}-{data.stem}")


def variant(name: str, changes: dict) -> str:
    """The YAML of `programs/<name>.yaml` with dotted-path changes, e.g. `{"measures.0.risk_adjustment":
    {"method": "none"}}` (a value of `DELETE` removes the key)."""
    data = yaml.safe_load((PROGRAMS / f"{name}.yaml").read_text(encoding="utf-8"))
    for path, value in changes.items():
        *parents, last = path.split(".")
        node = data
        for key in parents:
            node = node[int(key)] if key.isdigit() else node[key]
        if value is DELETE:
            node.pop(int(last) if last.isdigit() else last)
        else:
            node[int(last) if last.isdigit() else last] = value
    return yaml.safe_dump(data, sort_keys=False)


DELETE = object()
_VARIANTS: dict[tuple[str, str], Path] = {}


def run_variant(name: str, label: str, changes: dict) -> Path:
    """The run folder of a variant of `programs/<name>.yaml` (see `variant`) over the world's store,
    sharing measure results with the other runs; `label` names the variant and caches its run."""
    key = (name, label)
    if key not in _VARIANTS:
        folder = _folder() / "variants"
        folder.mkdir(exist_ok=True)
        path = folder / f"{name}-{label}.yaml"
        path.write_text(variant(name, changes), encoding="utf-8")
        _VARIANTS[key] = _run_file(path, store(), _folder() / "runs" / f"{name}-{label}")
    return _VARIANTS[key]


def _run_file(path: Path, data: Path, out: Path) -> Path:
    def shared(_store, measure_ids, period):
        return pa.concat_tables([_measured(data, m, period.start, period.end) for m in sorted(measure_ids)])

    with patch("p4pkit.programs.context.run_measures", shared):
        run_program(path, data, out)
    return out


HARMED_HOSPITAL_STAYS = """
    with stays as (
        select e.encounter_id, e.patient_id, e.organization_id, e.start,
               row_number() over (partition by e.organization_id order by e.encounter_id) as n
        from encounters e
        where e.encounter_class = 'inpatient' and year(e.start) = 2025
    ), busiest as (
        select organization_id from stays group by 1 order by count(*) desc, organization_id limit 1
    )
    select s.* from stays s join busiest using (organization_id) where s.n % 4 = 1
"""


@functools.cache
def harmed_store() -> Path:
    """A copy of the store with hospital-acquired conditions written in (see the module docstring)."""
    path = _folder() / "harmed.duckdb"
    shutil.copy(store(), path)
    with duckdb.connect(str(path)) as con:
        con.execute(f"create temp table harmed as {HARMED_HOSPITAL_STAYS}")
        for code, suffix in (("T80.211A", "C"), ("T81.500A", "F")):
            con.execute(
                """insert into events (event_id, patient_id, encounter_id, kind, code_system, code, start, negated)
                   select 'HARM' || ? || encounter_id, patient_id, encounter_id, 'condition',
                          'http://hl7.org/fhir/sid/icd-10-cm', ?, start + interval 1 day, false
                   from harmed""",
                [suffix, code],
            )
        con.execute(
            """insert into events (event_id, patient_id, encounter_id, kind, code_system, code, start, negated)
               select 'HARMPOA' || encounter_id, patient_id, encounter_id, 'condition',
                      'http://hl7.org/fhir/sid/icd-10-cm', 'T81.500A', start, false
               from encounters
               where encounter_class = 'inpatient' and year(start) = 2025
                 and organization_id not in (select organization_id from harmed)
               order by encounter_id limit 1"""
        )
    return path


def harmed_stays() -> list[str]:
    """encounter_ids of the stays harmed after admission."""
    with duckdb.connect(str(harmed_store()), read_only=True) as con:
        return [r[0] for r in con.execute("select distinct encounter_id from events where event_id like 'HARMC%'").fetchall()]
