"""A small, valid world of canonical tables as text, and helpers to write it as a load folder.

Tests change one value of this world and check that `load_folder` names the file, row and column.
"""

from __future__ import annotations

import copy
import csv
from pathlib import Path

import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from p4pkit.model.schemas import TABLES, conform
from p4pkit.store import Store

WORLD: dict[str, list[dict[str, str]]] = {
    "organizations": [
        {"organization_id": "O1", "name": "Practice One", "kind": "practice", "parent_id": ""},
        {"organization_id": "O2", "name": "Group Two", "kind": "clinician_group", "parent_id": "O1"},
    ],
    "clinicians": [
        {"clinician_id": "C1", "role": "physician", "specialty": "Family Medicine", "primary_care": "true", "organization_id": "O1"},
    ],
    "patients": [
        {"patient_id": "P1", "birth_date": "1950-03-01", "sex": "female", "death_date": ""},
        {"patient_id": "P2", "birth_date": "1960-07-15", "sex": "male", "death_date": "2024-06-30"},
        {"patient_id": "P3", "birth_date": "1985-11-02", "sex": "other", "death_date": ""},
    ],
    "enrollments": [
        {"enrollment_id": "N1", "patient_id": "P1", "kind": "practice_list", "organization_id": "O1", "start_date": "2020-01-01", "end_date": ""},
        {"enrollment_id": "N2", "patient_id": "P2", "kind": "payer", "organization_id": "O2", "start_date": "2021-01-01", "end_date": "2024-06-30"},
    ],
    "encounters": [
        {"encounter_id": "V1", "patient_id": "P1", "clinician_id": "C1", "organization_id": "O1", "encounter_class": "ambulatory",
         "start": "2024-01-02 10:00:00", "end": "2024-01-02 10:30:00", "allowed_cost": "125.50"},
        {"encounter_id": "V2", "patient_id": "P2", "clinician_id": "", "organization_id": "O1", "encounter_class": "inpatient",
         "start": "2024-03-01 08:00:00", "end": "2024-03-05 12:00:00", "allowed_cost": "9800.00"},
    ],
    "events": [
        {"event_id": "E1", "patient_id": "P1", "encounter_id": "V1", "kind": "observation", "code_system": "http://loinc.org",
         "code": "4548-4", "start": "2024-01-02 10:15:00", "value_num": "7.2", "value_unit": "%", "negated": "false"},
        {"event_id": "E2", "patient_id": "P2", "encounter_id": "V2", "kind": "condition", "code_system": "http://hl7.org/fhir/sid/icd-10-cm",
         "code": "E11.9", "start": "2024-03-01 08:00:00", "value_num": "", "value_unit": "", "negated": "false"},
        {"event_id": "E3", "patient_id": "P1", "encounter_id": "V1", "kind": "observation", "code_system": "http://loinc.org",
         "code": "8480-6", "start": "2024-01-02 10:16:00", "value_num": "130", "value_unit": "mm[Hg]", "negated": "false"},
    ],
    "claim_lines": [
        {"claim_id": "K1", "line_number": "1", "patient_id": "P1", "encounter_id": "V1", "service_start": "2024-01-02", "place_of_service": "11",
         "code_system": "http://www.ama-assn.org/go/cpt", "code": "99213", "diagnosis_system": "http://hl7.org/fhir/sid/icd-10-cm",
         "diagnosis_code": "E11.9", "rendering_clinician_id": "C1", "billing_organization_id": "O1", "allowed_amount": "125.50", "paid_amount": "100.40"},
    ],
}


def world(**changes: dict[int, dict[str, str]]) -> dict[str, list[dict[str, str]]]:
    """A copy of WORLD with some values changed: world(patients={1: {"sex": "F"}}) changes data row 2."""
    tables = copy.deepcopy(WORLD)
    for table, rows in changes.items():
        for index, values in rows.items():
            tables[table][index].update(values)
    return tables


def write_csv(folder: Path, tables: dict[str, list[dict[str, str]]]) -> Path:
    """Write each table as `<table>.csv` (empty strings become empty fields)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in tables.items():
        with (folder / f"{name}.csv").open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    return folder


def write_parquet(folder: Path, tables: dict[str, list[dict[str, str]]]) -> Path:
    """Write each table as `<table>.parquet` in canonical types (parsed from the text by Arrow's CSV reader)."""
    text = write_csv(folder / "_text", tables)
    for name in tables:
        columns = pacsv.read_csv(text / f"{name}.csv", convert_options=pacsv.ConvertOptions(column_types=TABLES[name].schema))
        data = conform(name, {c: columns.column(c) for c in columns.column_names})
        pq.write_table(data, folder / f"{name}.parquet")
    for path in text.iterdir():
        path.unlink()
    text.rmdir()
    return folder


def snapshot(db: Path) -> dict[str, list[dict]] | None:
    """Every stored canonical table as rows (None when the store does not exist), to prove a load changed nothing."""
    if not db.exists():
        return None
    with Store(db, read_only=True) as store:
        return {name: store.arrow(name).to_pylist() for name in TABLES if store.has_table(name)}
