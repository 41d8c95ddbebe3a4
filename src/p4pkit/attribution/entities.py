"""Who a clinician's work counts for: the clinician, their organization, or the ACO above it.

The clinician's `organization_id` is their home organization (TIN/practice). For ACO-level rules
the organization's parent links are followed upwards to the nearest organization of kind `aco`, as
42 CFR 425.402 counts services by ACO participants' clinicians towards the ACO. Clinicians whose
chain reaches no ACO stay with their own organization, which still competes in the plurality (a
non-ACO TIN can win and then no ACO gets the patient). A clinician without an organization counts
as an entity of their own.

Parent chains are followed at most `MAX_PARENT_DEPTH` levels: a fixed number of self-joins keeps the
expression plain SQL that runs unchanged on any Ibis backend (no recursive queries).
"""

from __future__ import annotations

from typing import Literal

import ibis

from p4pkit.errors import UserError
from p4pkit.store import Store

EntityLevel = Literal["clinician", "organization", "aco"]
ENTITY_LEVELS: tuple[str, ...] = ("clinician", "organization", "aco")
MAX_PARENT_DEPTH = 5


def clinician_entities(store: Store, level: EntityLevel) -> ibis.Table:
    """clinician_id, role, primary_care, entity_id, entity_type for every clinician."""
    if level not in ENTITY_LEVELS:
        raise UserError(f"unknown entity level '{level}'", hint=f"Choose one of: {', '.join(ENTITY_LEVELS)}.")
    clinicians = store.table("clinicians")
    organizations = store.table("organizations")
    if level == "clinician":
        return clinicians.select(
            "clinician_id", "role", "primary_care", entity_id=clinicians.clinician_id, entity_type=ibis.literal("clinician")
        )
    home = clinicians.left_join(organizations, clinicians.organization_id == organizations.organization_id)
    home = home.select(
        home.clinician_id,
        home.role,
        home.primary_care,
        entity_id=home.organization_id.fill_null(home.clinician_id),
        entity_type=ibis.ifelse(home.organization_id.isnull(), "clinician", home.kind),
    )
    if level == "organization":
        return home
    aco = _nearest_aco(clinicians, organizations)
    joined = home.join(aco, home.clinician_id == aco.aco_clinician_id)
    return joined.select(
        "clinician_id",
        "role",
        "primary_care",
        entity_id=joined.aco_id.fill_null(joined.entity_id),
        entity_type=ibis.ifelse(joined.aco_id.isnull(), joined.entity_type, "aco"),
    )


def _nearest_aco(clinicians: ibis.Table, organizations: ibis.Table) -> ibis.Table:
    """aco_clinician_id, aco_id: the nearest organization of kind 'aco' up the clinician's parent chain."""
    walk = clinicians.select(
        aco_clinician_id=clinicians.clinician_id, node=clinicians.organization_id, aco_id=ibis.null("string")
    )
    orgs = organizations.view().select("organization_id", "kind", "parent_id")
    for _ in range(MAX_PARENT_DEPTH):
        parent = orgs.view()
        step = walk.left_join(parent, walk.node == parent.organization_id)
        walk = step.select(
            aco_clinician_id=step.aco_clinician_id,
            node=step.parent_id,
            aco_id=step.aco_id.fill_null(ibis.ifelse(step.kind == "aco", step.organization_id, ibis.null("string"))),
        )
    return walk.select("aco_clinician_id", "aco_id")
