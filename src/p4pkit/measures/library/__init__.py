"""The measure library: one module per measure, each defining `MEASURE`."""

from __future__ import annotations

from p4pkit.measures.definition import Measure
from p4pkit.measures.library import (
    cms122,
    cms125,
    cms130,
    cms138,
    cms165,
    cost_of_care_pmpm,
    ed_visits_per_1000,
    mncm_odc,
    qof_ast_review,
    qof_copd_review,
    qof_dm_hba1c58,
    qof_hyp_bp140,
    readmission_30day,
)

MODULES = (
    cms122, cms125, cms130, cms138, cms165,
    qof_dm_hba1c58, qof_hyp_bp140, qof_ast_review, qof_copd_review,
    readmission_30day, ed_visits_per_1000, cost_of_care_pmpm, mncm_odc,
)
LIBRARY: dict[str, Measure] = {m.MEASURE.id: m.MEASURE for m in MODULES}
