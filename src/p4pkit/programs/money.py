"""Money: `Decimal` amounts in the program's currency, one rounding rule, exact allocation.

The one rounding rule (architecture.md, "Conventions"): amounts are computed at full precision and
rounded once, at the end, half-up to the cent (or to the program's `quantum`). Whenever a fixed
pot is split between entities, `allocate` uses the largest-remainder method so the parts add up to
the pot exactly: the ledger invariant "what is paid out equals what is funded, to the cent" holds
by construction rather than by luck.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")


def to_decimal(value: object) -> Decimal:
    """Exact Decimal of a number; floats go through their shortest repr, not their binary expansion."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        return Decimal(repr(float(value)))  # float() so NumPy floats give "1.5", not "np.float64(1.5)"
    return Decimal(value)  # type: ignore[arg-type]


def round_money(value: object, quantum: Decimal = CENT) -> Decimal:
    """Round once, half-up, to the quantum (default one cent)."""
    return to_decimal(value).quantize(quantum, rounding=ROUND_HALF_UP)


def allocate(total: Decimal, weights: Sequence[object], quantum: Decimal = CENT) -> list[Decimal]:
    """Split `total` in proportion to `weights` so that the parts sum to `total` exactly.

    Each part is first rounded down to the quantum; the cents left over go one each to the parts
    with the largest remainders (ties to the earlier part, so the result is deterministic).
    Weights must be non-negative and not all zero.
    """
    total = round_money(total, quantum)
    exact_weights = [to_decimal(w) for w in weights]
    if any(w < 0 for w in exact_weights):
        raise ValueError("allocation weights must be non-negative")
    weight_sum = sum(exact_weights, Decimal(0))
    if weight_sum == 0:
        raise ValueError("allocation weights must not all be zero")
    sign = -1 if total < 0 else 1
    magnitude = abs(total)
    exact = [magnitude * w / weight_sum for w in exact_weights]
    floors = [e.quantize(quantum, rounding=ROUND_DOWN) for e in exact]
    leftover = int((magnitude - sum(floors, Decimal(0))) / quantum)
    by_remainder = sorted(range(len(exact)), key=lambda i: (-(exact[i] - floors[i]), i))
    for i in by_remainder[:leftover]:
        floors[i] += quantum
    return [sign * part for part in floors]
