"""How close a generated world's recorded prevalence is to its published targets.

Prevalence is measured the QOF way: patients on a practice list at the end of the data (alive,
registration still open) in the register's age band, with a recorded diagnosis code of the
condition, over all such patients. The generator calibrates each condition exactly in
expectation on that population, so the observed rate differs from the target by sampling noise
only; the tolerance is four binomial standard errors (a false alarm about once in 16,000).
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from p4pkit.errors import UserError
from p4pkit.synth import targets

Z_TOLERANCE = 4.0
CODE_TO_CONDITION = {**{code: name for name, code in targets.DIAGNOSIS_CODES.items()},
                     **{code: "ckd" for code in targets.CKD_STAGE_CODES}}


def prevalence_report(out_dir: str | Path) -> pa.Table:
    """Per condition: target, observed prevalence, tolerance and whether it is within tolerance."""
    folder = Path(out_dir)
    params_file = folder / "truth" / "params.json"
    if not params_file.is_file():
        raise UserError(f"{params_file}: not found", hint="point at a folder written by `p4p synth`")
    end = date.fromisoformat(json.loads(params_file.read_text())["end"])

    patients = pq.read_table(folder / "patients.parquet", columns=["patient_id", "birth_date", "death_date"])
    lists = pq.read_table(folder / "enrollments.parquet", columns=["patient_id", "kind", "end_date"],
                          filters=[("kind", "=", "practice_list")])
    open_lists = lists.filter(pc.is_null(lists["end_date"]))["patient_id"]
    alive = pc.or_kleene(pc.is_null(patients["death_date"]), pc.greater(patients["death_date"], pa.scalar(end)))
    registered = pc.and_(alive, pc.is_in(patients["patient_id"], open_lists))
    birth = patients["birth_date"].cast(pa.int32()).to_numpy()
    end_day = (end - date(1970, 1, 1)).days
    age = (end_day - birth) / 365.25
    registered = registered.to_numpy(zero_copy_only=False)

    diagnoses = pq.read_table(folder / "events.parquet", columns=["patient_id", "code", "negated"],
                              filters=[("kind", "=", "condition"), ("negated", "=", False)])
    rows = []
    for condition in targets.CONDITIONS:
        codes = [code for code, name in CODE_TO_CONDITION.items() if name == condition.name]
        with_code = diagnoses.filter(pc.is_in(diagnoses["code"], pa.array(codes)))["patient_id"]
        has = pc.is_in(patients["patient_id"], with_code).to_numpy(zero_copy_only=False)
        base = registered & (age >= condition.min_age)
        n = int(base.sum())
        observed = float(has[base].mean()) if n else float("nan")
        tolerance = Z_TOLERANCE * float(np.sqrt(condition.target * (1 - condition.target) / max(n, 1)))
        rows.append((condition.name, condition.target, observed, tolerance, n,
                     bool(abs(observed - condition.target) <= tolerance), condition.source))
    names = ("condition", "target", "observed", "tolerance", "denominator", "ok", "source")
    return pa.table({name: [row[i] for row in rows] for i, name in enumerate(names)})
