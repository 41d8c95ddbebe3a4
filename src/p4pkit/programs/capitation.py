"""Prospective capitation with a quality withhold (New York State Medicaid VBP, Level 3).

Tables are pandas DataFrames with one row per entity (a VBP contractor: IPA, ACO, health system).

Level 3 of the NYS VBP Roadmap (June 2016 update, Appendix X) is prospective capitation: the
contractor receives a fixed amount per member per month (PMPM) for the members it is responsible
for, with an outcome-based component. Here that component is a withhold: a percentage of the
capitation is held back and returned in proportion to the contractor's quality score, either
linearly (score/100 of the withhold) or by tiers written as data (score at or above a cut → the
share returned). The Roadmap describes the arrangement but leaves the percentages to the MCO-provider
contract [S Roadmap ToC; K for typical values], so both the withhold and the return rule are inputs.

    capitation = PMPM × member-months
    withheld   = capitation × withhold%
    returned   = withheld × share(quality)
    net        = capitation − withheld + returned
Each amount is rounded once, half-up to the cent (programs.money).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import pandas as pd

from p4pkit.errors import Problem, UserError
from p4pkit.programs.money import round_money, to_decimal
from p4pkit.programs.tables import require_columns

HUNDRED = Decimal(100)


def returned_share(quality_score: float, tiers: Sequence[tuple[float, Decimal]] | None = None) -> Decimal:
    """Share (0-1) of the withhold returned for a quality score (0-100).

    Without tiers: score/100. With tiers [(cut, share), ...]: the share of the highest cut the score
    reaches, 0 when it reaches none.
    """
    if tiers is None:
        return to_decimal(float(quality_score)) / HUNDRED
    reached = [to_decimal(share) for cut, share in tiers if quality_score >= cut]
    return max(reached, default=Decimal(0))


def settle(members: pd.DataFrame, *, pmpm: Decimal, quality_withhold_percent: Decimal,
           tiers: Sequence[tuple[float, Decimal]] | None = None) -> pd.DataFrame:
    """Capitation, withhold, return and net per entity.

    `members`: entity_id, member_months, quality_score (0-100). A PMPM per entity may be given in an
    optional `pmpm` column (risk-adjusted rates); otherwise the program's `pmpm` applies to all.
    """
    require_columns(members, "capitation members", ("entity_id", "member_months", "quality_score"))
    problems = [Problem("capitation members", i, "quality_score", f"{s} is outside 0-100")
                for i, s in enumerate(members["quality_score"], start=1) if not 0 <= s <= 100]
    problems += [Problem("capitation members", i, "member_months", "negative member-months")
                 for i, m in enumerate(members["member_months"], start=1) if m < 0]
    if problems:
        raise UserError("capitation inputs are out of range", problems)
    rate = to_decimal(quality_withhold_percent) / HUNDRED
    rows = []
    for record in members.to_dict("records"):
        entity_pmpm = to_decimal(record["pmpm"]) if "pmpm" in record and not pd.isna(record["pmpm"]) else pmpm
        capitation = round_money(entity_pmpm * to_decimal(record["member_months"]))
        withheld = round_money(capitation * rate)
        returned = round_money(withheld * returned_share(record["quality_score"], tiers))
        rows.append({"entity_id": record["entity_id"], "capitation": capitation, "withheld": withheld,
                     "returned": returned, "net": capitation - withheld + returned})
    return pd.DataFrame(rows)


def ledger_entries(settlement: pd.DataFrame) -> pd.DataFrame:
    """The settlement as ledger entries (entity_id, amount, kind, reason) for `programs.ledger`:
    capitation paid, withhold taken, withhold_return paid; zero amounts are left out."""
    entries = []
    for row in settlement.itertuples(index=False):
        for kind, amount, reason in (
            ("capitation", row.capitation, "prospective capitation: PMPM x member-months"),
            ("withhold", row.withheld, "quality withhold"),
            ("withhold_return", row.returned, "withhold returned in proportion to quality"),
        ):
            if amount != 0:
                entries.append({"entity_id": row.entity_id, "amount": amount, "kind": kind, "reason": reason})
    return pd.DataFrame(entries, columns=["entity_id", "amount", "kind", "reason"])
