"""Small-cell suppression for anything published: primary and complementary.

Policy (CMS Cell Size Suppression Policy: no cell of 1 to 10 beneficiaries may be shown, nor any
value from which such a cell can be derived, e.g. by subtraction from a total or from a percentage):

1. **Primary suppression.** A count of 1 to 10 is hidden. Zero is shown. For a rate, the
   complement (denominator − numerator) is a count too: 95 of 100 reveals that 5 did not.
2. **Derived values.** A rate (and its interval) is hidden whenever its numerator or denominator
   is hidden, since rate × denominator gives the numerator back and numerator / rate the
   denominator.
3. **Complementary suppression.** Where a total is published (a program-wide row, the sum over
   strata), the hidden cells that add up to it must not be recoverable: each such group must hide
   either none or at least two cells whose sum is at least 11, so that a reader who subtracts the
   shown cells from the total learns only that the hidden ones together hold 11 or more. When a
   group falls short, the smallest shown non-zero cell of the group is hidden as well, and the
   check repeats until every group is safe (hiding a total re-checks the groups it belongs to).

The engine works on a generic set of cells and additive constraints; `suppress_measure_table`
applies it to the usual report-card table (entities × numerator, denominator, rate, plus a total
row). A test attacks the published tables with linear programming and must fail to pin any
hidden cell to a value of 10 or less.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

SMALL_MIN = 1
SMALL_MAX = 10
SAFE_HIDDEN_TOTAL = SMALL_MAX + 1


def is_small(count: float) -> bool:
    """True for a count that may not be shown: 1 to 10 (zero may be shown)."""
    return SMALL_MIN <= count <= SMALL_MAX


@dataclass
class CellTable:
    """Cells with non-negative integer values and additive constraints `sum(parts) == total`.

    `total` is itself a cell id, so totals can be hidden and re-checked like any other cell.
    `links` says which cells must be hidden together with a cell (values derivable from it).
    """

    values: dict[Hashable, int]
    constraints: list[tuple[tuple[Hashable, ...], Hashable]] = field(default_factory=list)
    links: dict[Hashable, tuple[Hashable, ...]] = field(default_factory=dict)
    hidden: set[Hashable] = field(default_factory=set)

    def hide(self, cells: Iterable[Hashable]) -> None:
        """Hide cells and, transitively, every cell linked to them."""
        pending = list(cells)
        while pending:
            cell = pending.pop()
            if cell not in self.hidden:
                self.hidden.add(cell)
                pending.extend(self.links.get(cell, ()))

    def _unsafe(self, parts: tuple[Hashable, ...], total: Hashable) -> bool:
        if total in self.hidden:
            return False  # nothing to subtract from
        hidden = [c for c in parts if c in self.hidden]
        return bool(hidden) and (len(hidden) < 2 or sum(self.values[c] for c in hidden) < SAFE_HIDDEN_TOTAL)

    def protect(self) -> None:
        """Complementary suppression until every constraint with a shown total is safe."""
        changed = True
        while changed:
            changed = False
            for parts, total in self.constraints:
                while self._unsafe(parts, total):
                    shown = sorted(
                        (c for c in parts if c not in self.hidden and self.values[c] > 0),
                        key=lambda c: (self.values[c], str(c)),
                    )
                    # no shown non-zero cell is left to hide: hide the total instead
                    self.hide([shown[0] if shown else total])
                    changed = True


def suppress_measure_table(
    table: pd.DataFrame,
    entity: str = "entity_id",
    numerator: str = "numerator",
    denominator: str = "denominator",
    derived: tuple[str, ...] = ("rate", "lower", "upper"),
    publishable: str | None = None,
    total_label: str = "All entities",
) -> pd.DataFrame:
    """The report-card table as published: small cells hidden, a total row, nothing recoverable.

    `publishable` (optional boolean column) marks entities that meet the minimum denominator and
    reliability; the others are not shown at all, yet they are in the total, so their counts are
    treated as hidden cells when protecting the total. Hidden values become missing (NA) and a
    `suppressed` column says which rows lost something.
    """
    rows = table.reset_index(drop=True)
    shown_rows = rows[publishable].to_numpy(bool) if publishable else [True] * len(rows)
    values: dict[Hashable, int] = {}
    for i, row in rows.iterrows():
        values[("num", i)] = int(row[numerator])
        values[("den", i)] = int(row[denominator])
        values[("cmp", i)] = int(row[denominator]) - int(row[numerator])
    values[("num", "total")] = sum(values[("num", i)] for i in rows.index)
    values[("den", "total")] = sum(values[("den", i)] for i in rows.index)
    values[("cmp", "total")] = values[("den", "total")] - values[("num", "total")]
    # Numerator, denominator and complement of a row: any two give the third. Hiding the numerator
    # or the complement hides the other; hiding the denominator hides all three.
    links: dict[Hashable, tuple[Hashable, ...]] = {}
    for key in [*rows.index, "total"]:
        links[("num", key)] = (("cmp", key),)
        links[("cmp", key)] = (("num", key),)
        links[("den", key)] = (("num", key), ("cmp", key))
    cells = CellTable(
        values,
        [(tuple((kind, i) for i in rows.index), (kind, "total")) for kind in ("num", "den", "cmp")],
        links,
    )
    for i in rows.index:
        if not shown_rows[i]:
            cells.hide([("num", i), ("den", i), ("cmp", i)])
        if is_small(values[("den", i)]):
            cells.hide([("num", i), ("den", i), ("cmp", i)])
        if is_small(values[("num", i)]) or is_small(values[("cmp", i)]):
            cells.hide([("num", i), ("cmp", i)])
    for kind in ("num", "den", "cmp"):
        if is_small(values[(kind, "total")]):
            cells.hide([(kind, "total")])
    cells.protect()

    published = rows.copy()
    published[[numerator, denominator]] = published[[numerator, denominator]].astype("Int64")
    total = {entity: total_label, numerator: values[("num", "total")], denominator: values[("den", "total")]}
    published = pd.concat([published, pd.DataFrame([total])], ignore_index=True)
    keys = list(rows.index) + ["total"]
    present = [c for c in derived if c in published.columns]
    hidden_num = np.array([("num", key) in cells.hidden for key in keys])
    hidden_den = np.array([("den", key) in cells.hidden for key in keys])
    lost = hidden_num | hidden_den
    published[numerator] = published[numerator].mask(hidden_num)
    published[denominator] = published[denominator].mask(hidden_den)
    for column in present:
        published[column] = published[column].mask(lost)
    published["suppressed"] = lost
    if publishable:
        keep = list(shown_rows) + [True]
        published = published[keep].drop(columns=[publishable]).reset_index(drop=True)
    return published

