"""The canonical tables: Arrow schemas are the single source of truth for every stage.

Ingest validates against these schemas, the synthetic generator writes them, the store creates
its tables from them and every later stage reads them. `docs/data-model.md` describes each column
and how it maps to FHIR R4 and to claims fields; a test keeps that document and these schemas in
step.

Conventions (see `docs/data-model.md`):
- clinical days are `date32`; events with a time are `timestamp[us]` holding UTC wall time;
- money is `decimal128(18, 2)` in the program's currency;
- codes always travel as a (system URI, code) pair.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa

MONEY = pa.decimal128(18, 2)
TIMESTAMP = pa.timestamp("us")


@dataclass(frozen=True)
class ForeignKey:
    """`column` must name an existing row of `table`.`target_column` (nulls are allowed)."""

    column: str
    table: str
    target_column: str


@dataclass(frozen=True)
class TableSpec:
    """A canonical table: its Arrow schema plus the keys and rules ingest enforces."""

    name: str
    schema: pa.Schema
    primary_key: tuple[str, ...]
    foreign_keys: tuple[ForeignKey, ...] = ()
    # (start, end) column pairs where end, when present, may not precede start.
    intervals: tuple[tuple[str, str], ...] = ()
    # Columns holding a date or time of care: must not fall before birth or after death.
    patient_dated: tuple[str, ...] = ()
    # Columns whose values must come from a closed vocabulary.
    vocabularies: dict[str, frozenset[str]] = field(default_factory=dict)

    @property
    def required(self) -> tuple[str, ...]:
        """Columns that may not be null (non-nullable fields of the schema)."""
        return tuple(f.name for f in self.schema if not f.nullable)


def _f(name: str, type_: pa.DataType, required: bool = False) -> pa.Field:
    return pa.field(name, type_, nullable=not required)


SEX = frozenset({"female", "male", "other", "unknown"})
ORGANIZATION_KINDS = frozenset({"practice", "hospital", "aco", "clinician_group", "payer", "network"})
ENROLLMENT_KINDS = frozenset({"payer", "practice_list"})
ENCOUNTER_CLASSES = frozenset({"ambulatory", "inpatient", "emergency", "virtual", "home", "observation"})
EVENT_KINDS = frozenset(
    {
        "condition",
        "observation",
        "procedure",
        "medication",
        "immunization",
        "device",
        "assessment",
        "communication",
        "diagnostic_report",
        "service_request",
        "allergy",
    }
)
CLINICIAN_ROLES = frozenset({"physician", "nurse_practitioner", "physician_assistant", "nurse", "other"})

PATIENTS = TableSpec(
    name="patients",
    schema=pa.schema(
        [
            _f("patient_id", pa.string(), True),
            _f("birth_date", pa.date32(), True),
            _f("sex", pa.string(), True),
            _f("ethnicity", pa.string()),
            _f("deprivation_index", pa.float64()),
            # 1 = most deprived fifth, 5 = least deprived (the English IMD convention).
            _f("deprivation_quintile", pa.int8()),
            # Social risk, e.g. Medicare-Medicaid dual eligibility.
            _f("social_risk", pa.bool_()),
            _f("death_date", pa.date32()),
            _f("postcode_area", pa.string()),
        ]
    ),
    primary_key=("patient_id",),
    vocabularies={"sex": SEX},
)

ORGANIZATIONS = TableSpec(
    name="organizations",
    schema=pa.schema(
        [
            _f("organization_id", pa.string(), True),
            _f("name", pa.string(), True),
            _f("kind", pa.string(), True),
            _f("parent_id", pa.string()),
            # CMS Certification Number, ODS code or other national identifier.
            _f("national_id", pa.string()),
            _f("region", pa.string()),
        ]
    ),
    primary_key=("organization_id",),
    foreign_keys=(ForeignKey("parent_id", "organizations", "organization_id"),),
    vocabularies={"kind": ORGANIZATION_KINDS},
)

CLINICIANS = TableSpec(
    name="clinicians",
    schema=pa.schema(
        [
            _f("clinician_id", pa.string(), True),
            # NPI-like national identifier.
            _f("national_id", pa.string()),
            _f("name", pa.string()),
            _f("role", pa.string(), True),
            # NUCC/CMS specialty description, e.g. "Family Medicine", "Cardiology".
            _f("specialty", pa.string(), True),
            _f("primary_care", pa.bool_(), True),
            _f("organization_id", pa.string()),
        ]
    ),
    primary_key=("clinician_id",),
    foreign_keys=(ForeignKey("organization_id", "organizations", "organization_id"),),
    vocabularies={"role": CLINICIAN_ROLES},
)

ENROLLMENTS = TableSpec(
    name="enrollments",
    schema=pa.schema(
        [
            _f("enrollment_id", pa.string(), True),
            _f("patient_id", pa.string(), True),
            # "payer" (coverage) or "practice_list" (UK-style registration).
            _f("kind", pa.string(), True),
            # The practice's organization_id, or the payer's organization_id.
            _f("organization_id", pa.string(), True),
            # medicare_ffs, medicare_advantage, medicaid, dual, commercial, nhs, ...
            _f("plan", pa.string()),
            _f("start_date", pa.date32(), True),
            _f("end_date", pa.date32()),
            # Why the period ended: moved, died, removed_by_practice, coverage_ended, ...
            _f("end_reason", pa.string()),
        ]
    ),
    primary_key=("enrollment_id",),
    foreign_keys=(
        ForeignKey("patient_id", "patients", "patient_id"),
        ForeignKey("organization_id", "organizations", "organization_id"),
    ),
    intervals=(("start_date", "end_date"),),
    vocabularies={"kind": ENROLLMENT_KINDS},
)

ENCOUNTERS = TableSpec(
    name="encounters",
    schema=pa.schema(
        [
            _f("encounter_id", pa.string(), True),
            _f("patient_id", pa.string(), True),
            _f("clinician_id", pa.string()),
            _f("organization_id", pa.string()),
            _f("encounter_class", pa.string(), True),
            _f("type_system", pa.string()),
            _f("type_code", pa.string()),
            _f("start", TIMESTAMP, True),
            _f("end", TIMESTAMP),
            _f("admission_source", pa.string()),
            _f("discharge_disposition", pa.string()),
            # MS-DRG or HRG-like grouping code for inpatient stays.
            _f("drg_code", pa.string()),
            _f("allowed_cost", MONEY),
            # FHIR Encounter.status (planned, in-progress, finished, cancelled, ...): added for FHIR
            # ingest, because the eCQMs count only finished encounters as performed.
            _f("status", pa.string()),
        ]
    ),
    primary_key=("encounter_id",),
    foreign_keys=(
        ForeignKey("patient_id", "patients", "patient_id"),
        ForeignKey("clinician_id", "clinicians", "clinician_id"),
        ForeignKey("organization_id", "organizations", "organization_id"),
    ),
    intervals=(("start", "end"),),
    patient_dated=("start", "end"),
    vocabularies={"encounter_class": ENCOUNTER_CLASSES},
)

EVENTS = TableSpec(
    name="events",
    schema=pa.schema(
        [
            _f("event_id", pa.string(), True),
            _f("patient_id", pa.string(), True),
            _f("encounter_id", pa.string()),
            _f("kind", pa.string(), True),
            _f("code_system", pa.string(), True),
            _f("code", pa.string(), True),
            _f("start", TIMESTAMP, True),
            _f("end", TIMESTAMP),
            _f("value_num", pa.float64()),
            _f("value_unit", pa.string()),
            _f("value_code_system", pa.string()),
            _f("value_code", pa.string()),
            # FHIR status of the source resource: final, active, completed, resolved, ...
            _f("status", pa.string()),
            # True when the record says the thing was NOT done (QI-Core "not done").
            _f("negated", pa.bool_(), True),
            _f("negation_reason_system", pa.string()),
            _f("negation_reason_code", pa.string()),
            # For medications: days of supply (cumulative medication duration).
            _f("days_supply", pa.int32()),
            # Added for FHIR ingest, because the QI-Core status checks of the eCQMs need them:
            # the source resource's category code (Observation laboratory / vital-signs / survey,
            # Condition problem-list-item / encounter-diagnosis, ServiceRequest category), ...
            _f("category", pa.string()),
            # ... Condition.verificationStatus (confirmed, unconfirmed, refuted, entered-in-error), ...
            _f("verification_status", pa.string()),
            # ... the request intent (order, plan, proposal): only orders count as active medications, ...
            _f("intent", pa.string()),
            # ... and when the fact was recorded or authored (Condition.recordedDate, request authoredOn,
            # QI-Core `recorded` extension, Observation.issued): the time of a "not done" record.
            _f("recorded", TIMESTAMP),
            # The body site (first coding of Condition/Procedure/Observation.bodySite): added for FHIR
            # ingest because CMS125 reads the laterality of a unilateral mastectomy from it.
            _f("body_site_system", pa.string()),
            _f("body_site_code", pa.string()),
        ]
    ),
    primary_key=("event_id",),
    foreign_keys=(
        ForeignKey("patient_id", "patients", "patient_id"),
        ForeignKey("encounter_id", "encounters", "encounter_id"),
    ),
    intervals=(("start", "end"),),
    patient_dated=("start",),
    vocabularies={"kind": EVENT_KINDS},
)

CLAIM_LINES = TableSpec(
    name="claim_lines",
    schema=pa.schema(
        [
            _f("claim_id", pa.string(), True),
            _f("line_number", pa.int32(), True),
            _f("patient_id", pa.string(), True),
            _f("encounter_id", pa.string()),
            _f("service_start", pa.date32(), True),
            _f("service_end", pa.date32()),
            # CMS place-of-service code, e.g. "11" office, "21" inpatient hospital, "23" ED.
            _f("place_of_service", pa.string()),
            _f("code_system", pa.string()),
            _f("code", pa.string()),
            _f("diagnosis_system", pa.string()),
            _f("diagnosis_code", pa.string()),
            _f("rendering_clinician_id", pa.string()),
            _f("billing_organization_id", pa.string()),
            _f("allowed_amount", MONEY, True),
            _f("paid_amount", MONEY),
        ]
    ),
    primary_key=("claim_id", "line_number"),
    foreign_keys=(
        ForeignKey("patient_id", "patients", "patient_id"),
        ForeignKey("encounter_id", "encounters", "encounter_id"),
        ForeignKey("rendering_clinician_id", "clinicians", "clinician_id"),
        ForeignKey("billing_organization_id", "organizations", "organization_id"),
    ),
    intervals=(("service_start", "service_end"),),
    patient_dated=("service_start",),
)

# Load order respects the foreign keys: a table only points at tables listed before it.
TABLES: dict[str, TableSpec] = {
    spec.name: spec
    for spec in (ORGANIZATIONS, CLINICIANS, PATIENTS, ENROLLMENTS, ENCOUNTERS, EVENTS, CLAIM_LINES)
}


def empty_table(name: str) -> pa.Table:
    """A zero-row table with the canonical schema, for stages that must emit every table."""
    return TABLES[name].schema.empty_table()


def conform(name: str, columns: dict[str, object]) -> pa.Table:
    """Build a canonical table from whichever columns a producer has, in schema order and types.

    Producers (the synthetic generator, FHIR ingest) name only the columns they fill; nullable
    columns they leave out become nulls, so adding an optional column to a schema breaks nobody.
    A missing required column is a bug in the producer and raises KeyError.
    """
    schema = TABLES[name].schema
    lengths = {len(v) for v in columns.values()}  # type: ignore[arg-type]
    if len(lengths) > 1:
        raise ValueError(f"{name}: columns of different lengths {sorted(lengths)}")
    n_rows = lengths.pop() if lengths else 0
    unknown = set(columns) - set(schema.names)
    if unknown:
        raise KeyError(f"{name}: not canonical columns: {sorted(unknown)}")
    arrays = []
    for f in schema:
        if f.name in columns:
            arrays.append(pa.array(columns[f.name], type=f.type) if not isinstance(columns[f.name], (pa.Array, pa.ChunkedArray)) else columns[f.name].cast(f.type))
        elif f.nullable:
            arrays.append(pa.nulls(n_rows, type=f.type))
        else:
            raise KeyError(f"{name}: required column '{f.name}' missing")
    return pa.Table.from_arrays(arrays, schema=schema)
