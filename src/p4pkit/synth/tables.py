"""Turn the generator's integer arrays into canonical tables (through `model.schemas.conform`).

Codes travel as small integers into vocabularies until here; Arrow dictionary arrays expand them
to strings in C++. Money is drawn in whole cents (rounded half-up once, when drawn) and stored as
`decimal128(18, 2)` straight from those cents, so no float ever reaches a money column.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from p4pkit.model import codes
from p4pkit.model.schemas import MONEY, conform
from p4pkit.synth import targets as t
from p4pkit.synth.care import (
    ADMISSION, CKD, CKD_TYPES, CONDITION_TYPE, DIAG_OF_TYPE0, DIAGNOSES, DISPOSITIONS, EMERGENCY, ENCOUNTER_TYPES,
    EVENT_TYPES, FRAILTY_DX, FRAILTY_VISIT, HOSPICE, PALLIATIVE, PALLIATIVE_DX, POS, ROUTINE, SOURCES, TYPE_NAMES,
    UNSPECIFIED, UPCODE_TYPES, VALUE_CODES, Slice,
)
from p4pkit.synth.collector import REASONS, STATUSES
from p4pkit.synth.params import Params
from p4pkit.synth.people import NO_DAY, YEAR, Population
from p4pkit.synth.world import PAYERS, World, ids

DAY_US = 86_400_000_000
MINUTE_US = 60_000_000
PLANS = ("medicare_ffs", "dual", "medicaid", "commercial")
PAID_PERCENT = np.array([t.PAID_PERCENT[p] for p in PLANS])


def vocab(values: tuple | list, index: np.ndarray) -> pa.Array:
    """Strings from a vocabulary by integer index; negative indices become nulls."""
    index = np.asarray(index)
    indices = pa.array(np.where(index < 0, 0, index).astype(np.int32), mask=index < 0)
    return pa.DictionaryArray.from_arrays(indices, pa.array(list(values), pa.string())).cast(pa.string())


def money(cents: np.ndarray) -> pa.Array:
    """decimal128(18, 2) from integer cents: the decimal's unscaled value IS the number of cents."""
    cents = np.asarray(cents, dtype=np.int64)
    words = np.empty((len(cents), 2), dtype=np.int64)
    words[:, 0] = cents
    words[:, 1] = np.where(cents < 0, -1, 0)
    return pa.Array.from_buffers(MONEY, len(cents), [None, pa.py_buffer(words.tobytes())])


def half_up_cents(amount: np.ndarray) -> np.ndarray:
    """Round a non-negative amount in cents half-up to a whole cent (the house rounding rule)."""
    return np.floor(amount + 0.5).astype(np.int64)


def dates(days: np.ndarray, missing: np.ndarray | None = None) -> pa.Array:
    return pa.array(np.asarray(days, dtype=np.int32), pa.date32(), mask=missing)


def stamps(days: np.ndarray, minutes: np.ndarray) -> pa.Array:
    return pa.array(np.asarray(days, np.int64) * DAY_US + np.asarray(minutes, np.int64) * MINUTE_US, pa.timestamp("us"))


def patient_ids(index: np.ndarray) -> pa.Array:
    return ids("P", index, 8)


def plan_at(pop: Population, patient: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Index into PLANS: Medicare (dual when socially at risk) from 65, else Medicaid or commercial."""
    senior = (day - pop.birth_day[patient]) / YEAR >= 65
    at_risk = pop.social_risk[patient]
    return np.where(senior, np.where(at_risk, 1, 0), np.where(at_risk, 2, 3))


def patients_table(pop: Population) -> pa.Table:
    n = pop.n
    dead = pop.death_day == NO_DAY
    return conform("patients", {
        "patient_id": patient_ids(np.arange(n)),
        "birth_date": dates(pop.birth_day),
        "sex": vocab(("female", "male"), pop.male.astype(np.int64)),
        "ethnicity": pa.array(pop.ethnicity.astype(str)),
        "deprivation_index": np.round(pop.imd, 2),
        "deprivation_quintile": pop.quintile,
        "social_risk": pop.social_risk,
        "death_date": dates(np.where(dead, 0, pop.death_day), dead),
    })


def enrollments_table(params: Params, world: World, pop: Population) -> pa.Table:
    """A practice_list registration per patient, and payer coverage split at the 65th birthday."""
    n = pop.n
    patient = np.arange(n)
    left = pop.left_day <= params.end_day
    reg_end = np.where(left, pop.left_day - 1, 0)
    reason = np.where(left, pop.end_reason, None)

    cov_start = pop.obs_start(params).astype(np.int64)
    cov_end = pop.obs_end(params).astype(np.int64)
    covered = cov_end >= cov_start
    turns_65 = pop.birth_day.astype(np.int64) + int(np.ceil(65 * YEAR))
    pre = covered & (turns_65 > cov_start)
    post = covered & (turns_65 <= cov_end)
    pre_end = np.minimum(cov_end, turns_65 - 1)
    post_start = np.maximum(cov_start, turns_65)

    who = np.concatenate([patient[pre], patient[post]])
    is_pre = np.concatenate([np.ones(pre.sum(), bool), np.zeros(post.sum(), bool)])
    start = np.concatenate([cov_start[pre], post_start[post]])
    end = np.concatenate([pre_end[pre], cov_end[post]])
    closed = end < params.end_day
    plan = plan_at(pop, who, start)
    payer = np.where(plan <= 1, 0, np.where(plan == 2, 1, 2))
    aged_in = is_pre & (end == turns_65[who] - 1)
    payer_reason = np.where(~closed, None, np.where(
        aged_in, "aged_into_medicare", np.where(pop.end_reason[who] == "died", "died", "coverage_ended")))

    total = n + len(who)
    return conform("enrollments", {
        "enrollment_id": ids("ENR", np.arange(total), 9),
        "patient_id": patient_ids(np.concatenate([patient, who])),
        "kind": vocab(("practice_list", "payer"), np.concatenate([np.zeros(n, np.int64), np.ones(len(who), np.int64)])),
        "organization_id": pa.concat_arrays([
            world.practice_ids.take(pa.array(pop.practice)),
            vocab(tuple(p[0] for p in PAYERS), payer),
        ]),
        "plan": vocab(PLANS, np.concatenate([np.full(n, -1), plan])),
        "start_date": dates(np.concatenate([pop.reg_start, start])),
        "end_date": dates(np.concatenate([reg_end, np.where(closed, end, 0)]), np.concatenate([~left, ~closed])),
        "end_reason": pa.array(np.concatenate([reason, payer_reason]), pa.string()),
    })


def _type_column(attribute: str, type_index: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    """An EventType attribute per event; null where the type has none or `mask` is False."""
    values = [getattr(EVENT_TYPES[name], attribute) for name in TYPE_NAMES]
    keep = np.array([v is not None for v in values])[type_index]
    if mask is not None:
        keep &= mask
    return vocab([v or "" for v in values], np.where(keep, type_index, -1))


def care_tables(rng: np.random.Generator, world: World, s: Slice, enc: dict[str, np.ndarray],
                ev: dict[str, np.ndarray], enc_offset: int, ev_offset: int) -> dict[str, pa.Table]:
    """Encounters, events and claim lines of one chunk; ids continue from the given offsets."""
    pop = s.pop
    m = len(enc["who"])
    patient = s.lo + enc["who"]
    enc_ids = ids("E", enc_offset + np.arange(m), 10)
    claim_ids = ids("CL", enc_offset + np.arange(m), 10)
    organizations = pa.concat_arrays([world.practice_ids, world.group_ids, world.hospital_ids])

    cond = enc["cond"]
    cond_type = np.where(cond == CKD, CKD_TYPES[pop.ckd_stage[patient]], CONDITION_TYPE[np.maximum(cond, 0)])
    diag = np.where(cond >= 0, cond_type - DIAG_OF_TYPE0, np.where(enc["setting"] == 0, ROUTINE, UNSPECIFIED))
    diag = np.where(np.isin(enc["etype"], (HOSPICE, PALLIATIVE)), PALLIATIVE_DX, np.where(enc["etype"] == FRAILTY_VISIT, FRAILTY_DX, diag))
    # A visit's own diagnosis record goes on its claim; where there are several the first is kept
    # (an upcode is written before the advanced-illness diagnoses of endoflife.py).
    coded = np.flatnonzero(np.isin(ev["type"], UPCODE_TYPES) & (ev["encounter"] >= 0))
    _, first = np.unique(ev["encounter"][coded], return_index=True)
    coded = coded[first]
    diag[ev["encounter"][coded]] = ev["type"][coded] - DIAG_OF_TYPE0

    inpatient = enc["setting"] == ADMISSION
    drg_weight = np.array([w for _, w in t.DRGS])[np.maximum(enc["drg"], 0)]
    base = np.where(inpatient, drg_weight * t.INPATIENT_BASE_CENTS, np.array([e[3] for e in ENCOUNTER_TYPES])[enc["etype"]])
    visit_cents = half_up_cents(base * rng.lognormal(0.0, 0.1, m))

    billed = (ev["encounter"] >= 0) & ~ev["negated"] & np.array([EVENT_TYPES[n].cpt is not None for n in TYPE_NAMES])[ev["type"]]
    b = np.flatnonzero(billed)
    b = b[np.argsort(ev["encounter"][b], kind="stable")]
    b_enc = ev["encounter"][b]
    b_cents = half_up_cents(np.array([EVENT_TYPES[n].cents for n in TYPE_NAMES])[ev["type"][b]] * rng.lognormal(0.0, 0.1, len(b)))
    b_line = 2 + np.arange(len(b)) - np.searchsorted(b_enc, b_enc, side="left")
    allowed_cost = visit_cents + np.bincount(b_enc, weights=b_cents, minlength=m).astype(np.int64)

    minute = enc["minute"]
    end_minute = np.where(
        inpatient,
        np.where(enc["end_day"] > enc["day"], 11 * 60, np.minimum(minute + 60, 1439)),
        np.minimum(minute + np.where(enc["setting"] == EMERGENCY, 240, 20), 1439),
    )
    encounters = conform("encounters", {
        "encounter_id": enc_ids,
        "patient_id": patient_ids(patient),
        "clinician_id": world.clinician_ids.take(pa.array(enc["clinician"])),
        "organization_id": organizations.take(pa.array(enc["org"])),
        "encounter_class": vocab([e[0] for e in ENCOUNTER_TYPES], enc["etype"]),
        "type_system": vocab([e[1] for e in ENCOUNTER_TYPES], enc["etype"]),
        "type_code": vocab([e[2] for e in ENCOUNTER_TYPES], enc["etype"]),
        "start": stamps(enc["day"], minute),
        "end": stamps(enc["end_day"], end_minute),
        "admission_source": vocab(SOURCES, enc["source"]),
        "discharge_disposition": vocab(DISPOSITIONS, enc["disposition"]),
        "drg_code": vocab([code for code, _ in t.DRGS], enc["drg"]),
        "allowed_cost": money(allowed_cost),
        "status": vocab(("finished",), np.zeros(m, np.int64)),
    })

    k = len(ev["who"])
    has_value = ~np.isnan(ev["value"])
    has_code = ev["value_code"] >= 0
    kind = np.array([EVENT_TYPES[n].kind for n in TYPE_NAMES])[ev["type"]]
    # Default FHIR status by kind: conditions and device orders active, procedures and letters
    # completed, observations final, "not done" records cancelled; medications carry their own.
    default = np.where(np.isin(kind, ("condition", "device")), 0, np.where(np.isin(kind, ("procedure", "communication")), 2, 1))
    status = np.where(ev["status"] >= 0, ev["status"], np.where(ev["negated"], 3, default))
    ordered = np.isin(kind, ("medication", "device"))
    supply = np.array([EVENT_TYPES[n].supply for n in TYPE_NAMES])[ev["type"]]
    events = conform("events", {
        "event_id": ids("V", ev_offset + np.arange(k), 11),
        "patient_id": patient_ids(s.lo + ev["who"]),
        "encounter_id": enc_ids.take(pa.array(ev["encounter"], mask=ev["encounter"] < 0)),
        "kind": _type_column("kind", ev["type"]),
        "code_system": _type_column("system", ev["type"]),
        "code": _type_column("code", ev["type"]),
        "start": stamps(ev["day"], ev["minute"]),
        # An abatement or end is a day: the record ends with that day.
        "end": pa.array(ev["end"] * DAY_US + (DAY_US - MINUTE_US), pa.timestamp("us"), mask=ev["end"] < 0),
        "value_num": pa.array(ev["value"], from_pandas=True),
        "value_unit": _type_column("unit", ev["type"], has_value),
        "value_code_system": vocab((codes.SNOMED,), np.where(has_code, 0, -1)),
        "value_code": vocab(VALUE_CODES, ev["value_code"]),
        "status": vocab(STATUSES, status),
        # Diagnoses dated at onset are problem-list entries; one written at a visit is an encounter diagnosis.
        "category": pc.if_else(pa.array(kind == "condition"),
                               vocab(("problem-list-item", "encounter-diagnosis"), (ev["encounter"] >= 0).astype(np.int64)),
                               _type_column("category", ev["type"])),
        "verification_status": vocab(("confirmed",), np.where(kind == "condition", 0, -1)),
        "recorded": pa.array(np.where(ev["negated"], ev["day"] * DAY_US + ev["minute"] * MINUTE_US, 0), pa.timestamp("us"),
                             mask=~ev["negated"]),
        "negated": ev["negated"],
        "negation_reason_system": vocab((codes.SNOMED,), np.where(ev["negated"], 0, -1)),
        "negation_reason_code": vocab(REASONS, ev["reason"]),
        "days_supply": pa.array(supply, pa.int32(), mask=~((kind == "medication") & ~ev["negated"])),
        "intent": vocab(("order",), np.where(ordered, 0, -1)),
    })

    line_enc = np.concatenate([np.arange(m), b_enc])
    line_cents = np.concatenate([visit_cents, b_cents])
    line_day = np.concatenate([enc["day"], ev["day"][b]])
    line_end = np.concatenate([enc["end_day"], ev["day"][b]])
    line_patient = s.lo + enc["who"][line_enc]
    percent = PAID_PERCENT[plan_at(pop, line_patient, line_day)]
    event_cpt = [EVENT_TYPES[n].cpt or "" for n in TYPE_NAMES]
    line_code = pa.concat_arrays([
        pc.if_else(pa.array(inpatient), vocab([c for c, _ in t.DRGS], enc["drg"]), vocab([e[5] or "" for e in ENCOUNTER_TYPES], enc["etype"])),
        vocab(event_cpt, ev["type"][b]),
    ])
    line_system = pa.concat_arrays([
        vocab([e[4] for e in ENCOUNTER_TYPES], enc["etype"]),
        vocab((codes.CPT,), np.zeros(len(b), np.int64)),
    ])
    claims = conform("claim_lines", {
        "claim_id": claim_ids.take(pa.array(line_enc)),
        "line_number": np.concatenate([np.ones(m, np.int32), b_line.astype(np.int32)]),
        "patient_id": patient_ids(line_patient),
        "encounter_id": enc_ids.take(pa.array(line_enc)),
        "service_start": dates(line_day),
        "service_end": dates(line_end),
        "place_of_service": vocab(POS, enc["setting"][line_enc]),
        "code_system": line_system,
        "code": line_code,
        "diagnosis_system": vocab((codes.ICD10CM,), np.zeros(len(line_enc), np.int64)),
        "diagnosis_code": vocab(DIAGNOSES, diag[line_enc]),
        "rendering_clinician_id": world.clinician_ids.take(pa.array(enc["clinician"][line_enc])),
        "billing_organization_id": organizations.take(pa.array(enc["org"][line_enc])),
        "allowed_amount": money(line_cents),
        "paid_amount": money((line_cents * percent + 50) // 100),
    })
    return {"encounters": encounters, "events": events, "claim_lines": claims}

