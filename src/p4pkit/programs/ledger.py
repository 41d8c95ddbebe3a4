"""The ledger: every amount a program run moves, and the invariants checked before anything is written.

Amounts are positive `Decimal` cents; the kind says which way the money goes:

- paid to the entity: bonus, withhold_return, shared_savings, capitation;
- taken from the entity: withhold, penalty, shared_loss, recovery.

Why invariants here: a formula error in any program model shows up as money that should not exist.
Checking the totals on every run (architecture.md, "payments and ledger") catches it before anything
is published. The invariants:

1. an upside-only program never pays more than it funded: paid ≤ funded + withheld;
2. a budget-neutral program nets to zero: |paid − withheld − recovered| ≤ one cent;
3. non-participants never appear in penalties (penalty, shared_loss, withhold entries).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

import pyarrow as pa

from p4pkit.model.schemas import MONEY
from p4pkit.programs.money import CENT, round_money

PAID_KINDS = frozenset({"bonus", "withhold_return", "shared_savings", "capitation"})
TAKEN_KINDS = frozenset({"withhold", "penalty", "shared_loss", "recovery"})
KINDS = PAID_KINDS | TAKEN_KINDS
PENALTY_KINDS = frozenset({"penalty", "shared_loss", "withhold"})

ENTRY_SCHEMA = pa.schema(
    [
        pa.field("entity_id", pa.string(), nullable=False),
        pa.field("amount", MONEY, nullable=False),
        pa.field("kind", pa.string(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),
    ]
)


class LedgerInvariantError(RuntimeError):
    """A run's money does not add up. Raised before any output is written; every violation is listed."""

    def __init__(self, program: str, violations: list[str]):
        self.violations = tuple(violations)
        super().__init__(f"ledger of '{program}' violates its invariants: " + "; ".join(violations))


@dataclass(frozen=True)
class Entry:
    """One movement of money for one entity, with the reason a reviewer will read."""

    entity_id: str
    amount: Decimal
    kind: str
    reason: str

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown ledger kind {self.kind!r}; use one of {sorted(KINDS)}")
        if not isinstance(self.amount, Decimal) or self.amount < 0 or self.amount != round_money(self.amount):
            raise ValueError(f"ledger amounts are non-negative Decimal cents, got {self.amount!r}")


@dataclass
class Ledger:
    """The entries of one run and what the program promised about them.

    `funded` is the pot an upside-only program set aside (for shared savings: the savings generated);
    `participants`, when given, is the set of entities that may be penalised.
    """

    program: str
    upside_only: bool = False
    budget_neutral: bool = False
    funded: Decimal = Decimal(0)
    participants: frozenset[str] | None = None
    entries: list[Entry] = field(default_factory=list)

    def add(self, entity_id: str, amount: Decimal, kind: str, reason: str) -> None:
        """Record an amount (rounded once, half-up to the cent). Zero amounts are not recorded."""
        amount = round_money(amount)
        if amount != 0:
            self.entries.append(Entry(str(entity_id), amount, kind, reason))

    def _sum(self, kinds: Iterable[str]) -> Decimal:
        kinds = frozenset(kinds)
        return sum((e.amount for e in self.entries if e.kind in kinds), Decimal(0))

    def totals(self) -> dict[str, Decimal]:
        """funded, withheld, paid (all paid kinds), recovered (penalty, shared_loss, recovery)."""
        return {
            "funded": round_money(self.funded),
            "withheld": self._sum({"withhold"}),
            "paid": self._sum(PAID_KINDS),
            "recovered": self._sum(TAKEN_KINDS - {"withhold"}),
        }

    def violations(self) -> list[str]:
        """Every broken invariant, described; empty when the ledger is sound."""
        totals = self.totals()
        found = []
        if self.upside_only and totals["paid"] > totals["funded"] + totals["withheld"]:
            found.append(f"upside-only program pays {totals['paid']} but funded {totals['funded']} and withheld {totals['withheld']}")
        if self.budget_neutral:
            net = totals["paid"] - totals["withheld"] - totals["recovered"]
            if abs(net) > CENT:
                found.append(f"budget-neutral program nets to {net}, not zero")
        if self.participants is not None:
            outsiders = sorted({e.entity_id for e in self.entries if e.kind in PENALTY_KINDS} - self.participants)
            if outsiders:
                found.append(f"{len(outsiders)} non-participant(s) penalised, first: {outsiders[0]}")
        return found

    def check(self) -> dict[str, Decimal]:
        """Raise `LedgerInvariantError` if any invariant fails; otherwise return the totals."""
        found = self.violations()
        if found:
            raise LedgerInvariantError(self.program, found)
        return self.totals()

    def to_arrow(self) -> pa.Table:
        """The entries as a table (entity_id, amount, kind, reason)."""
        return pa.Table.from_pylist([e.__dict__ for e in self.entries], schema=ENTRY_SCHEMA)
