"""`generate`: write a whole synthetic world as canonical Parquet tables plus its ground truth.

The world is drawn in stages (providers, patients, behaviours, then care chunk by chunk), each
with its own random stream derived from the seed, so the same seed gives byte-identical tables.
Everything is written into a temporary folder beside `out_dir` and renamed into place at the end:
a failed run leaves nothing behind.
"""

from __future__ import annotations

import json
import shutil
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from numbers import Integral
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from p4pkit.atomic import scratch_folder
from p4pkit.errors import UserError
from p4pkit.model.schemas import TABLES, conform
from p4pkit.progress import Progress, quiet
from p4pkit.synth import targets
from p4pkit.synth.behaviours import Behaviours, assign_behaviours, check_behaviours
from p4pkit.synth.care import Slice, assemble_encounters, encounter_parts
from p4pkit.synth.endoflife import end_of_life_encounters
from p4pkit.synth.clinical import draw_events
from p4pkit.synth.params import BEHAVIOURS, Params, rng_for
from p4pkit.synth.people import NO_DAY, Population, build_population
from p4pkit.synth.tables import care_tables, dates, enrollments_table, patient_ids, patients_table
from p4pkit.synth.world import World, build_world

# Columns holding a different value on (nearly) every row: dictionary-encoding them only wastes time.
UNIQUE_COLUMNS = frozenset({"patient_id", "encounter_id", "event_id", "claim_id", "enrollment_id"})


def _parquet_options(name: str) -> dict:
    dictionary = [c for c in TABLES[name].schema.names if c not in UNIQUE_COLUMNS]
    return dict(compression="zstd", use_dictionary=dictionary, write_statistics=True)


def _write_chunk(writers: dict[str, pq.ParquetWriter], tables: dict[str, pa.Table]) -> None:
    for name, table in tables.items():
        writers[name].write_table(table)


def _write_table(table: pa.Table, path: Path, name: str) -> int:
    pq.write_table(table, path, **_parquet_options(name))
    return table.num_rows


def check_seed(seed: int) -> None:
    """A world's seed seeds numpy's generator, which takes whole numbers from 0 up only: anything
    else is the user's mistake, said before any work starts."""
    if isinstance(seed, bool) or not isinstance(seed, Integral) or seed < 0:
        raise UserError(f"--seed {seed}: a seed is a whole number, 0 or more", hint="for example --seed 1")


def generate(
    n_patients: int,
    seed: int,
    out_dir: str | Path,
    behaviours: tuple[str, ...] | list[str] = (),
    program_start: date | None = None,
    on_progress: Progress = quiet,
    **overrides,
) -> dict[str, int]:
    """Write every canonical table to `out_dir/<table>.parquet` and the ground truth to `out_dir/truth/`.

    `behaviours` switches on any of `BEHAVIOURS` (all off by default); `program_start` is when
    behaviours and the program effect begin; `overrides` set other `Params` fields. Returns the
    number of rows written per table. `on_progress(step, done, total)` is called as work advances.
    """
    out = Path(out_dir)
    check_seed(seed)
    if n_patients < 100:
        raise UserError(f"--patients {n_patients}: too few", hint="ask for at least 100 patients")
    if out.exists() and any(out.iterdir()):
        raise UserError(f"output folder {out} exists and is not empty", hint="choose a new folder or remove it")
    fields = dict(overrides)
    if program_start is not None:
        fields["program_start"] = program_start
    params = Params(n_patients=n_patients, seed=seed, behaviours=check_behaviours(behaviours), **fields)
    if not params.start <= params.program_start <= params.end:
        raise UserError(f"--program-start {params.program_start}: outside the data ({params.start} to {params.end})",
                        hint="choose a date inside the generated period")

    work = scratch_folder(out)
    try:
        counts = _write_world(params, work, on_progress)
        if out.exists():
            out.rmdir()
        work.rename(out)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return counts


def _write_world(params: Params, work: Path, on_progress: Progress) -> dict[str, int]:
    chunks = range(0, params.n_patients, params.chunk_size)
    total = len(chunks) + 2
    on_progress("providers and patients", 0, total)
    world = build_world(params)
    pop = build_population(params, world)
    beh = assign_behaviours(params, len(world.practice_ids), pop)
    # Each patient-level table is built, written and dropped before the next: at 10M patients the
    # patients and enrollments tables hold about 2 GB that the care chunks must not carry along.
    static = {
        "organizations": lambda: conform("organizations", world.organizations),
        "clinicians": lambda: conform("clinicians", world.clinicians),
        "patients": lambda: patients_table(pop),
        "enrollments": lambda: enrollments_table(params, world, pop),
    }
    counts = {name: _write_table(make(), work / f"{name}.parquet", name) for name, make in static.items()}
    on_progress("care", 1, total)

    care = ("encounters", "events", "claim_lines")
    writers = {name: pq.ParquetWriter(work / f"{name}.parquet", TABLES[name].schema, **_parquet_options(name)) for name in care}
    offsets = dict.fromkeys(care, 0)
    # One thread writes chunk k (Arrow releases the GIL) while the next chunk is drawn; a single
    # writer thread keeps the row order, so the files stay byte-identical for a seed.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = None
        try:
            for i, lo in enumerate(chunks):
                hi = min(lo + params.chunk_size, params.n_patients)
                rng = rng_for(params, 4, i)
                s = Slice.of(params, world, pop, lo, hi)
                enc = assemble_encounters(rng, encounter_parts(rng, world, s) + end_of_life_encounters(rng, world, s))
                ev = draw_events(rng, params, world, s, beh, enc)
                tables = care_tables(rng, world, s, enc, ev, offsets["encounters"], offsets["events"])
                for name, table in tables.items():
                    offsets[name] += table.num_rows
                if pending is not None:
                    pending.result()
                    on_progress("care", 1 + i, total)
                pending = pool.submit(_write_chunk, writers, tables)
            if pending is not None:
                pending.result()
                on_progress("care", 1 + len(chunks), total)
        finally:
            for writer in writers.values():
                writer.close()
    counts.update(offsets)
    _write_truth(params, world, pop, beh, work / "truth")
    on_progress("done", total, total)
    return counts


def _write_truth(params: Params, world: World, pop: Population, beh: Behaviours, truth: Path) -> None:
    """Latent qualities, true conditions, behaviours and every parameter with the seed."""
    truth.mkdir()
    practices = dict(world.truth_practices)
    for name in BEHAVIOURS:
        practices[name] = beh.practices[name]
    pq.write_table(pa.table(practices), truth / "practices.parquet")
    pq.write_table(pa.table(world.truth_hospitals), truth / "hospitals.parquet")
    pq.write_table(pa.table(world.truth_groups), truth / "clinician_groups.parquet")
    pq.write_table(pa.table(world.truth_clinicians), truth / "clinicians.parquet")

    who, k = np.nonzero(pop.conditions)
    pq.write_table(pa.table({
        "patient_id": patient_ids(who),
        "condition": pa.array(np.array(targets.CONDITION_NAMES)[k]),
        "onset_date": dates(pop.onset_day[who, k]),
    }), truth / "conditions.parquet")
    pq.write_table(pa.table({
        "patient_id": patient_ids(np.arange(pop.n)),
        "severity": pop.severity,
        "general_morbidity": pop.general,
        "cardiometabolic": pop.cardiometabolic,
        "smoker": pop.smoker,
        "frail": pop.frail,
        "dementia_onset": dates(np.where(pop.dementia_day == NO_DAY, 0, pop.dementia_day), pop.dementia_day == NO_DAY),
        "nursing_home": pop.nursing_home,
    }), truth / "patients.parquet")

    rows = {"behaviour": [], "organization_id": [], "start_date": []}
    for name in params.behaviours:
        chosen = np.flatnonzero(beh.practices[name])
        rows["behaviour"] += [name] * len(chosen)
        rows["organization_id"] += world.practice_ids.take(pa.array(chosen)).to_pylist()
        rows["start_date"] += [params.program_start] * len(chosen)
    pq.write_table(pa.table(rows, schema=pa.schema([("behaviour", pa.string()), ("organization_id", pa.string()),
                                                     ("start_date", pa.date32())])), truth / "behaviours.parquet")
    marks = {
        "exception_reporting": beh.exception_patient,
        "deregistration": beh.removed_patient,
        "upcoding": beh.upcode >= 0,
    }
    touched = [(name, np.flatnonzero(mask)) for name, mask in marks.items()]
    upcode_codes = np.array(targets.UPCODE_CODES)
    pq.write_table(pa.table({
        "behaviour": pa.array(np.concatenate([np.full(len(i), name, dtype=object) for name, i in touched]).astype(str)),
        "patient_id": patient_ids(np.concatenate([i for _, i in touched])),
        "organization_id": world.practice_ids.take(pa.array(np.concatenate([pop.practice[i] for _, i in touched]))),
        "detail": pa.array(np.concatenate([
            np.where(name == "upcoding", upcode_codes[np.maximum(beh.upcode[i], 0)], "") for name, i in touched
        ]).astype(str)),
    }), truth / "behaviour_patients.parquet")
    (truth / "params.json").write_text(json.dumps(params.to_json(), indent=2, sort_keys=True) + "\n")
