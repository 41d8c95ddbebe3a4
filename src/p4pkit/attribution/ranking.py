"""Plurality with explicit tie breaks, shared by the claims- and visit-based rules.

Given one row per (patient, candidate entity) with a `score` (allowed charges, visit count) and the
date of the entity's `last_date` of service, the winner is the highest score; ties go to the most
recent service, then to the smallest entity id so the result never depends on row order. Along
with the winner come the patient's total score and how many entities shared the top score, so the
reason can say "$412.00 of $610.00" and when a tie was broken.
"""

from __future__ import annotations

import ibis


def first_per(table: ibis.Table, group: str | list[str], order_by: list) -> ibis.Table:
    """The first row of each group in the given order (ties must be broken by `order_by`)."""
    window = ibis.window(group_by=group, order_by=order_by)
    ranked = table.mutate(_rank=ibis.row_number().over(window))
    return ranked.filter(ranked._rank == 0).drop("_rank")


def plurality(per_entity: ibis.Table) -> ibis.Table:
    """The winning entity per patient, with `total_score`, `total_count`, `tied` (entities at the top
    score) and `same_day` (entities with the winner's score and last date).

    Written as grouped aggregates and joins rather than windows ranked per patient: the same winner
    (top score, then latest date, then smallest id), but hash aggregation instead of a sort per window,
    which made the windows most of the time of a million-patient attribution.
    """
    by_patient = per_entity.group_by("patient_id").aggregate(
        total_score=per_entity.score.sum(), total_count=per_entity.count_.sum(), top_score=per_entity.score.max()
    )
    at_top = per_entity.join(by_patient, "patient_id")
    at_top = at_top.filter(at_top.score == at_top.top_score)
    latest = at_top.group_by("patient_id").aggregate(tied=at_top.count(), latest=at_top.last_date.max())
    last = at_top.join(latest, "patient_id")
    last = last.filter((last.last_date == last.latest) | last.latest.isnull())  # no dates at all: every top entity
    first = last.group_by("patient_id").aggregate(same_day=last.count(), winner=last.entity_id.min())
    winners = last.join(first, "patient_id")
    return winners.filter(winners.entity_id == winners.winner).drop("top_score", "latest", "winner")


def tie_note(winners: ibis.Table, what: str) -> ibis.StringValue:
    """"; tied with 1 other(s), most recent <what> (2025-06-02) decides" when a tie was broken, else "".

    When the tied entities were also last seen on the same day, the note says the smallest id decided.
    """
    tied = "; tied with " + (winners.tied - 1).cast("string") + " other(s), "
    last = " (" + winners.last_date.cast("string") + ")"
    by_date = tied + "most recent " + what + last + " decides"
    by_id = tied + "also on the most recent " + what + last + ": the smallest entity id decides"
    return ibis.cases((winners.same_day > 1, by_id), (winners.tied > 1, by_date), else_="")
