"""Organizations and clinicians of the synthetic world, each with a latent TRUE quality.

True quality is a standard-normal score: +1 means a provider one standard deviation better than
average. It moves lab values, testing rates and outcomes (see `care.py`) and is written to
`truth/`, so that measures, risk adjustment and shrinkage can be checked against the truth.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from scipy.stats import norm

from p4pkit.synth import targets
from p4pkit.synth.params import Params, rng_for

PRIMARY_CARE_SPECIALTIES = ("Family Medicine", "Internal Medicine")
OTHER_SPECIALTIES = ("Dermatology", "Orthopedic Surgery", "Ophthalmology", "Gastroenterology")
SPECIALTIES = tuple(dict.fromkeys([c.specialty for c in targets.CONDITIONS] + list(OTHER_SPECIALTIES)))
HOSPITAL_SPECIALTIES = ("Hospital Medicine", "Emergency Medicine")
PAYERS = (("PAY-MEDICARE", "Medicare"), ("PAY-MEDICAID", "Medicaid"), ("PAY-COMMERCIAL", "Commercial health plan"))


def ids(prefix: str, numbers: np.ndarray, width: int = 0) -> pa.Array:
    """String ids `prefix` + number (zero-padded to `width`), built in Arrow, not in a Python loop."""
    text = pc.cast(pa.array(numbers, pa.int64()), pa.string())
    if width:
        text = pc.utf8_lpad(text, width, "0")
    return pc.binary_join_element_wise(prefix, text, "")


def npi_like(numbers: np.ndarray) -> pa.Array:
    """10-digit NPI-shaped ids: '1' + 8 digits + a Luhn check digit over the '80840' prefix (CMS NPI standard)."""
    body = 100_000_000 + numbers.astype(np.int64)  # 9 digits starting with 1
    digits = np.stack([(body // 10**k) % 10 for k in range(8, -1, -1)], axis=1)
    prefix = np.array([8, 0, 8, 4, 0])
    full = np.concatenate([np.broadcast_to(prefix, (len(body), 5)), digits], axis=1)
    # Luhn: double every second digit from the right of the payload (the check digit is appended).
    doubled = full[:, ::-1].copy()
    doubled[:, ::2] *= 2
    doubled = np.where(doubled > 9, doubled - 9, doubled)
    check = (10 - doubled.sum(axis=1) % 10) % 10
    return pc.cast(pa.array(body * 10 + check), pa.string())


@dataclass
class World:
    """Providers as arrays (index = position) plus the canonical tables and the truth tables."""

    practice_ids: pa.Array
    practice_share: np.ndarray
    practice_quality: np.ndarray
    practice_imd: np.ndarray
    practice_hospital: np.ndarray
    hospital_ids: pa.Array
    hospital_quality: np.ndarray
    clinician_ids: pa.Array
    clinician_quality: np.ndarray
    # Clinicians of practice p are clinician_ids[pc_offsets[p]:pc_offsets[p + 1]].
    pc_offsets: np.ndarray
    # Specialists of specialty s are clinician_ids[spec_offsets[s]:spec_offsets[s + 1]].
    spec_offsets: np.ndarray
    spec_group: np.ndarray
    # Hospitalists / ED physicians of hospital h: clinician_ids[hosp_offsets[h]:hosp_offsets[h + 1]].
    hosp_offsets: np.ndarray
    group_ids: pa.Array
    organizations: dict
    clinicians: dict
    truth_practices: dict
    truth_hospitals: dict
    truth_groups: dict
    truth_clinicians: dict


def build_world(params: Params) -> World:
    """Practices (grouped into ACOs), hospitals, specialist groups, payers and their clinicians."""
    rng = rng_for(params, 1)
    n = params.n_patients
    n_prac = params.practices
    n_hosp = max(3, round(n / params.patients_per_hospital))
    n_aco = max(2, round(n_prac / params.practices_per_aco))

    share = rng.lognormal(0.0, 0.5, n_prac)
    share /= share.sum()
    prac_quality = rng.standard_normal(n_prac)
    # Practice areas at evenly spaced quantiles (shuffled), so even a small world spans every quintile.
    spaced = norm.ppf((rng.permutation(n_prac) + 0.5) / n_prac)
    prac_imd = np.exp(np.log(targets.PRACTICE_IMD_MEDIAN) + targets.PRACTICE_IMD_SIGMA * spaced)
    prac_hosp = rng.integers(0, n_hosp, n_prac)
    prac_aco = np.where(rng.random(n_prac) < params.aco_share, rng.integers(0, n_aco, n_prac), -1)
    hosp_quality = rng.standard_normal(n_hosp)

    # Primary care: physicians by expected list size, plus nurse practitioners / physician assistants.
    expected_list = share * n
    physicians = np.maximum(1, np.round(expected_list / params.patients_per_physician)).astype(np.int64)
    midlevels = np.maximum(rng.binomial(physicians, 0.5), 1)
    per_practice = physicians + midlevels
    pc_offsets = np.concatenate([[0], np.cumsum(per_practice)])
    n_pc = int(pc_offsets[-1])
    pc_practice = np.repeat(np.arange(n_prac), per_practice)
    position = np.arange(n_pc) - pc_offsets[pc_practice]
    is_physician = position < physicians[pc_practice]
    pc_role = np.where(is_physician, "physician", np.where(rng.random(n_pc) < 0.6, "nurse_practitioner", "physician_assistant"))
    pc_specialty = np.where(rng.random(n_pc) < 0.6, PRIMARY_CARE_SPECIALTIES[0], PRIMARY_CARE_SPECIALTIES[1])
    pc_quality = prac_quality[pc_practice] + rng.normal(0.0, 0.5, n_pc)

    # Specialists: equal pools per specialty, in groups of about ten.
    per_spec = max(12, round(n * params.specialists_per_1000 / 1000 / len(SPECIALTIES)))
    n_spec = per_spec * len(SPECIALTIES)
    spec_offsets = n_pc + np.arange(len(SPECIALTIES) + 1) * per_spec
    spec_specialty = np.repeat(np.array(SPECIALTIES), per_spec)
    groups_per_spec = max(1, per_spec // 10)
    spec_group = (np.repeat(np.arange(len(SPECIALTIES)), per_spec) * groups_per_spec
                  + np.tile(np.arange(per_spec) % groups_per_spec, len(SPECIALTIES)))
    n_groups = len(SPECIALTIES) * groups_per_spec
    group_quality = rng.standard_normal(n_groups)
    spec_quality = group_quality[spec_group] + rng.normal(0.0, 0.5, n_spec)

    # Hospital doctors: hospitalists and emergency physicians.
    per_hosp = 8
    n_hdoc = per_hosp * n_hosp
    hosp_offsets = n_pc + n_spec + np.arange(n_hosp + 1) * per_hosp
    hdoc_hosp = np.repeat(np.arange(n_hosp), per_hosp)
    hdoc_specialty = np.tile(np.array(HOSPITAL_SPECIALTIES).repeat(per_hosp // 2), n_hosp)
    hdoc_quality = hosp_quality[hdoc_hosp] + rng.normal(0.0, 0.5, n_hdoc)

    practice_ids = ids("PR", np.arange(n_prac), 5)
    hospital_ids = ids("H", np.arange(n_hosp), 4)
    aco_ids = ids("ACO", np.arange(n_aco), 3)
    group_ids = ids("G", np.arange(n_groups), 4)
    n_clin = n_pc + n_spec + n_hdoc
    clinician_ids = ids("C", np.arange(n_clin), 6)
    clin_org = pa.concat_arrays([
        practice_ids.take(pa.array(pc_practice)),
        group_ids.take(pa.array(spec_group)),
        hospital_ids.take(pa.array(hdoc_hosp)),
    ])
    clin_quality = np.concatenate([pc_quality, spec_quality, hdoc_quality])
    role = np.concatenate([pc_role, np.full(n_spec + n_hdoc, "physician")])
    specialty = np.concatenate([pc_specialty, spec_specialty, hdoc_specialty])
    clinicians = {
        "clinician_id": clinician_ids,
        "national_id": npi_like(np.arange(n_clin)),
        "name": ids("Clinician ", np.arange(n_clin)),
        "role": role,
        "specialty": specialty,
        "primary_care": np.arange(n_clin) < n_pc,
        "organization_id": clin_org,
    }

    region = ids("R", prac_hosp // 3)  # three hospitals per region
    aco_parent = pa.array(np.where(prac_aco >= 0, prac_aco, 0)).to_numpy()
    practice_parent = pc.if_else(pa.array(prac_aco >= 0), aco_ids.take(pa.array(aco_parent)), pa.nulls(n_prac, pa.string()))
    org_parts = [
        (practice_ids, "Practice ", "practice", practice_parent, ids("Y", np.arange(n_prac), 5), region),
        (hospital_ids, "Hospital ", "hospital", None, ids("", 100_001 + np.arange(n_hosp)), ids("R", np.arange(n_hosp) // 3)),
        (aco_ids, "ACO ", "aco", None, ids("A", np.arange(n_aco), 4), None),
        (group_ids, "Specialist group ", "clinician_group", None, None, None),
    ]
    organizations = _stack_orgs(org_parts)
    payer_rows = {
        "organization_id": [p[0] for p in PAYERS],
        "name": [p[1] for p in PAYERS],
        "kind": ["payer"] * len(PAYERS),
    }
    for key in organizations:
        organizations[key] = pa.concat_arrays([organizations[key], pa.array(payer_rows.get(key, [None] * len(PAYERS)), pa.string())])

    truth_practices = {
        "organization_id": practice_ids,
        "true_quality": prac_quality,
        "list_share": share,
        "area_imd_score": prac_imd,
        "hospital_id": hospital_ids.take(pa.array(prac_hosp)),
        "aco_id": practice_parent,
    }
    truth_hospitals = {"organization_id": hospital_ids, "true_quality": hosp_quality}
    truth_groups = {"organization_id": group_ids, "specialty": np.array(SPECIALTIES)[np.arange(n_groups) // groups_per_spec],
                    "true_quality": group_quality}
    truth_clinicians = {
        "clinician_id": clinician_ids,
        "organization_id": clin_org,
        "true_quality": clin_quality,
        "group_true_quality": np.concatenate([prac_quality[pc_practice], group_quality[spec_group], hosp_quality[hdoc_hosp]]),
    }
    return World(
        practice_ids=practice_ids, practice_share=share, practice_quality=prac_quality, practice_imd=prac_imd,
        practice_hospital=prac_hosp, hospital_ids=hospital_ids,
        hospital_quality=hosp_quality, clinician_ids=clinician_ids, clinician_quality=clin_quality,
        pc_offsets=pc_offsets, spec_offsets=spec_offsets, spec_group=spec_group, hosp_offsets=hosp_offsets,
        group_ids=group_ids, organizations=organizations, clinicians=clinicians,
        truth_practices=truth_practices, truth_hospitals=truth_hospitals, truth_groups=truth_groups,
        truth_clinicians=truth_clinicians,
    )


def _stack_orgs(parts: list) -> dict:
    """Concatenate organization kinds into one set of columns (None parts become nulls)."""
    columns: dict[str, list] = {k: [] for k in ("organization_id", "name", "kind", "parent_id", "national_id", "region")}
    for org_ids, name_prefix, kind, parent, national, region in parts:
        n = len(org_ids)
        columns["organization_id"].append(org_ids)
        columns["name"].append(pc.binary_join_element_wise(name_prefix, org_ids, ""))
        columns["kind"].append(pa.array([kind] * n, pa.string()))
        for key, value in (("parent_id", parent), ("national_id", national), ("region", region)):
            columns[key].append(value if value is not None else pa.nulls(n, pa.string()))
    return {k: pa.concat_arrays(v) for k, v in columns.items()}
