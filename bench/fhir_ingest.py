"""Benchmark FHIR bulk-data ingest (`p4pkit.ingest.fhir.read_fhir`): wall and CPU time (CPU time,
including imports, is the steadier figure on a shared machine), resources per CPU second and peak
memory (RSS), as JSON.

Usage: python bench/fhir_ingest.py [PATIENTS ...]   (default: 10000 50000)

For each size a bulk export is written as NDJSON (one file per resource type, as the FHIR Bulk Data
spec lays it out): per patient one Patient, three Encounters, a blood-pressure panel with two
components and an HbA1c Observation per encounter, two Conditions and a MedicationRequest.
Each size is read in a fresh child process so peak RSS belongs to that size alone.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = """
import json, resource, sys, time
from p4pkit.ingest.fhir import read_fhir
started = time.perf_counter()
tables = read_fhir(sys.argv[1])
seconds = time.perf_counter() - started
usage = resource.getrusage(resource.RUSAGE_SELF)
cpu = usage.ru_utime + usage.ru_stime
print(json.dumps({"seconds": round(seconds, 2), "cpu_seconds": round(cpu, 2), "peak_rss_mb": round(usage.ru_maxrss / 1024, 1), "rows": {k: v.num_rows for k, v in tables.items()}}))
"""


def _coding(system: str, code: str) -> dict:
    return {"coding": [{"system": system, "code": code}]}


def write_export(folder: Path, patients: int, seed: int = 1) -> int:
    """Write the synthetic bulk export; returns the number of resources."""
    rng = random.Random(seed)
    files = {name: (folder / f"{name}.ndjson").open("w") for name in ("Patient", "Encounter", "Observation", "Condition", "MedicationRequest")}
    count = 0

    def emit(resource: dict) -> None:
        nonlocal count
        files[resource["resourceType"]].write(json.dumps(resource) + "\n")
        count += 1

    for p in range(patients):
        pid = f"p{p}"
        subject = {"reference": f"Patient/{pid}"}
        emit({"resourceType": "Patient", "id": pid, "gender": rng.choice(["female", "male"]), "birthDate": f"{rng.randint(1930, 2005)}-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}"})
        for e in range(3):
            eid = f"{pid}-e{e}"
            day = f"2025-{rng.randint(1, 12):02d}-{rng.randint(10, 28)}"
            emit({"resourceType": "Encounter", "id": eid, "status": "finished", "class": {"code": "AMB"}, "type": [_coding("http://www.ama-assn.org/go/cpt", "99213")], "subject": subject, "period": {"start": f"{day}T09:00:00Z", "end": f"{day}T09:20:00Z"}})
            emit({
                "resourceType": "Observation", "id": f"{eid}-bp", "status": "final", "subject": subject, "encounter": {"reference": f"Encounter/{eid}"},
                "category": [_coding("http://terminology.hl7.org/CodeSystem/observation-category", "vital-signs")],
                "code": _coding("http://loinc.org", "85354-9"), "effectiveDateTime": f"{day}T09:05:00Z",
                "component": [
                    {"code": _coding("http://loinc.org", "8480-6"), "valueQuantity": {"value": rng.randint(100, 180), "code": "mm[Hg]"}},
                    {"code": _coding("http://loinc.org", "8462-4"), "valueQuantity": {"value": rng.randint(60, 110), "code": "mm[Hg]"}},
                ],
            })
            emit({"resourceType": "Observation", "id": f"{eid}-a1c", "status": "final", "subject": subject, "code": _coding("http://loinc.org", "4548-4"), "effectiveDateTime": day, "valueQuantity": {"value": round(rng.uniform(5, 12), 1), "code": "%"}})
        for c, code in enumerate(("E11.9", "I10")):
            emit({"resourceType": "Condition", "id": f"{pid}-c{c}", "subject": subject, "code": _coding("http://hl7.org/fhir/sid/icd-10-cm", code), "clinicalStatus": _coding("http://terminology.hl7.org/CodeSystem/condition-clinical", "active"), "onsetDateTime": "2020-05-01"})
        emit({"resourceType": "MedicationRequest", "id": f"{pid}-m", "status": "active", "intent": "order", "subject": subject, "medicationCodeableConcept": _coding("http://www.nlm.nih.gov/research/umls/rxnorm", "860975"), "authoredOn": "2025-02-01", "dispenseRequest": {"expectedSupplyDuration": {"value": 90, "code": "d"}, "numberOfRepeatsAllowed": 1}})
    for handle in files.values():
        handle.close()
    return count


def run(patients: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        resources = write_export(Path(tmp), patients)
        size_mb = sum(f.stat().st_size for f in Path(tmp).iterdir()) / 2**20
        done = subprocess.run([sys.executable, "-c", CHILD, tmp], capture_output=True, text=True, check=True)
        result = json.loads(done.stdout.strip().splitlines()[-1])
    per_cpu_second = round(resources / result["cpu_seconds"])
    return {"patients": patients, "resources": resources, "input_mb": round(size_mb, 1), "resources_per_cpu_second": per_cpu_second, **result}


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:]] or [10_000, 50_000]
    print(json.dumps([run(size) for size in sizes], indent=2))


if __name__ == "__main__":
    main()
