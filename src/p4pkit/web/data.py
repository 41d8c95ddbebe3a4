"""What the portal shows, computed once when it starts: patient results tied to their clinician and practice.

The portal never recomputes measures per request. It starts from the measure runner's long patient
table (`measures.runner.RESULTS_SCHEMA`) joined to attribution (the patient's clinician) and to the
clinicians table (the clinician's practice), so every page is a filter of one table. The join is an
Ibis expression, like every analytic over patient-level data in p4pkit.
"""

from __future__ import annotations

from dataclasses import dataclass

import ibis
import pyarrow as pa
import pyarrow.compute as pc

from p4pkit.attribution import attribute
from p4pkit.measures.definition import Measure
from p4pkit.measures.library import LIBRARY
from p4pkit.measures.runner import run_measures
from p4pkit.measures.timing import Period
from p4pkit.store import Store

#: Measures the demo portal shows: single-group proportion eCQMs and QOF indicators of the library.
DEMO_MEASURES = ("CMS122", "CMS125", "CMS130", "CMS165", "QOF_DM_HBA1C58", "QOF_HYP_BP140")
DEMO_PERIOD = "2025-01-01:2025-12-31"


@dataclass(frozen=True)
class PortalData:
    """Patient results with `clinician_id` and `organization_id`, plus the measures' metadata.

    `results` keeps only attributed patients: a result nobody answers for has no page to be shown on.
    `clinicians` lists every clinician with `clinician_id`, `name` and `organization_id`.
    """

    results: pa.Table
    clinicians: pa.Table
    measures: dict[str, Measure]
    period: str

    def patient_clinician(self, patient_id: str) -> str | None:
        """The clinician a patient is attributed to, or None when the portal does not know the patient."""
        rows = self.results.filter(pc.equal(self.results["patient_id"], patient_id))
        return rows["clinician_id"][0].as_py() if rows.num_rows else None

    def organization_of(self, clinician_id: str) -> str | None:
        rows = self.clinicians.filter(pc.equal(self.clinicians["clinician_id"], clinician_id))
        return rows["organization_id"][0].as_py() if rows.num_rows else None

    def clinicians_of(self, organization_id: str) -> list[str]:
        rows = self.clinicians.filter(pc.equal(self.clinicians["organization_id"], organization_id))
        return sorted(rows["clinician_id"].to_pylist())


def attach_clinicians(results: pa.Table, attribution: pa.Table, clinicians: pa.Table) -> pa.Table:
    """Each result row with the patient's attributed clinician and that clinician's practice.

    Attribution must be to clinicians (its `clinician_id` column); unattributed patients drop out.
    """
    res = ibis.memtable(results)
    att = ibis.memtable(attribution.select(["patient_id", "clinician_id"]))
    att = att.filter(att.clinician_id.notnull())
    doc = ibis.memtable(clinicians.select(["clinician_id", "organization_id"]))
    joined = res.join(att, "patient_id").left_join(doc, "clinician_id").select(
        *results.column_names, "clinician_id", "organization_id"
    )
    ordered = joined.order_by(["measure_id", "group_index", "clinician_id", "patient_id"])
    return ibis.duckdb.connect().to_pyarrow(ordered)


def portal_data_from_store(
    store: Store, measure_ids: tuple[str, ...] = DEMO_MEASURES, period: str = DEMO_PERIOD
) -> PortalData:
    """Measure and attribute (plurality of primary-care visits to clinicians) the population in `store`."""
    window = Period.parse(period)
    results = run_measures(store, measure_ids, window)
    attribution = attribute(store, "plurality_of_visits", window, entity="clinician")
    clinicians = store.arrow("clinicians").select(["clinician_id", "name", "organization_id"])
    return PortalData(
        results=attach_clinicians(results, attribution, clinicians),
        clinicians=clinicians,
        measures={m: LIBRARY[m] for m in measure_ids},
        period=period,
    )
