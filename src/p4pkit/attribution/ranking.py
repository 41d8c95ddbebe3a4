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
    score) and `same_day` (entities with the winner's score and last date)."""
    by_patient = ibis.window(group_by="patient_id")
    scored = per_entity.mutate(
        total_score=per_entity.score.sum().over(by_patient),
        total_count=per_entity.count_.sum().over(by_patient),
        top_score=per_entity.score.max().over(by_patient),
    )
    tied = scored.mutate(at_top=(scored.score == scored.top_score).cast("int64"))
    tied = tied.mutate(
        tied=tied.at_top.sum().over(by_patient),
        same_day=tied.count().over(ibis.window(group_by=["patient_id", "score", "last_date"])),
    )
    winners = first_per(tied, "patient_id", [ibis.desc("score"), ibis.desc("last_date"), "entity_id"])
    return winners.drop("top_score", "at_top")


def tie_note(winners: ibis.Table, what: str) -> ibis.StringValue:
    """"; tied with 1 other(s), most recent <what> (2025-06-02) decides" when a tie was broken, else "".

    When the tied entities were also last seen on the same day, the note says the smallest id decided.
    """
    tied = "; tied with " + (winners.tied - 1).cast("string") + " other(s), "
    last = " (" + winners.last_date.cast("string") + ")"
    by_date = tied + "most recent " + what + last + " decides"
    by_id = tied + "also on the most recent " + what + last + ": the smallest entity id decides"
    return ibis.cases((winners.same_day > 1, by_id), (winners.tied > 1, by_date), else_="")
