"""Bounds for every value read from a panel, so one absurd field never reaches a column it cannot fit.

The panel is not trusted (docs/panel-api-family.md §7): a `max` of "1e30", a 60-digit start count
or a 50-character rate parse as valid numbers but overflow a column (a 64-bit integer on both
databases, a `String(40)` for exact decimals, `String(32)` for a service id). Storing one such
value fails the whole transaction it is part of, so every number and every short text is checked
here first; the caller skips (or clamps) the one bad record and reports it.

The limits are far above anything real (no panel sells a trillion of anything) and far below what
the columns hold, so arithmetic on them (price = rate × quantity / 1000, stored in 1/10000 units of
a 64-bit integer, see storage/types.py) cannot overflow either.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, Decimal

__all__ = [
    "MAX_COUNT",
    "MAX_ID_LENGTH",
    "MAX_MONEY",
    "MAX_RATE",
    "MAX_STATUS_LENGTH",
    "MAX_TYPE_LENGTH",
    "RATE_PLACES",
    "OutOfBounds",
    "bounded_count",
    "bounded_money",
    "bounded_rate",
    "bounded_text",
    "check_id",
]

MAX_COUNT = 10**12
"""Quantities, start counts, remains, runs, posts: |value| ≤ 10^12 (BIGINT holds 9.2 × 10^18)."""

MAX_MONEY = Decimal(10**10)
"""Charges and balances: ≤ 10^10 of the currency (Money keeps 1/10000 units in a BIGINT)."""

MAX_RATE = Decimal(10**9)
"""Price per 1000 (or per package): 10^9 × 10^12 / 1000 still fits MAX_MONEY × 10^2."""

RATE_PLACES = Decimal("0.00000001")
"""Rates keep at most 8 decimal places (rounded up: the shop never under-prices)."""

DECIMAL_TEXT_LENGTH = 40  # storage.types.DecimalText
MAX_ID_LENGTH = 32  # services.service_id, orders.service_id
MAX_UPSTREAM_ID_LENGTH = 64  # orders.upstream_id, refills.upstream_refill_id
MAX_TYPE_LENGTH = 64  # services.type / type_key, orders.service_type
MAX_STATUS_LENGTH = 64  # orders.upstream_status


class OutOfBounds(ValueError):
    """A value read from the panel that no column of ours can hold (or that makes no sense)."""

    def __init__(self, field: str, value: object) -> None:
        shown = str(value)
        if len(shown) > 40:
            shown = shown[:37] + "..."
        super().__init__(f"{field} out of bounds: {shown!r}")
        self.field = field


def bounded_count(
    value: int | None, field: str, *, low: int = -MAX_COUNT, high: int = MAX_COUNT
) -> int | None:
    """A counter within [low, high]; None passes (unknown). Raises OutOfBounds otherwise."""
    if value is None:
        return None
    if not low <= value <= high:
        raise OutOfBounds(field, value)
    return value


def bounded_money(value: Decimal | None, field: str) -> Decimal | None:
    """An amount within ±MAX_MONEY whose text fits a DecimalText column; None passes."""
    if value is None:
        return None
    if not value.is_finite() or abs(value) > MAX_MONEY:
        raise OutOfBounds(field, value)
    if len(format(value, "f")) > DECIMAL_TEXT_LENGTH:
        raise OutOfBounds(field, value)
    return value


def bounded_rate(value: Decimal, field: str = "rate") -> Decimal:
    """A rate in [0, MAX_RATE], more than 8 places rounded UP (a price is never below the panel's)."""
    if not value.is_finite() or value < 0 or value > MAX_RATE:
        raise OutOfBounds(field, value)
    if value != value.quantize(RATE_PLACES, rounding=ROUND_CEILING):
        value = value.quantize(RATE_PLACES, rounding=ROUND_CEILING)
    return value


def bounded_text(value: str, limit: int) -> str:
    """Free text for a bounded column: cut to `limit` characters (names and labels, never ids)."""
    return value if len(value) <= limit else value[: max(limit - 1, 0)] + "…"


def check_id(value: str, field: str, limit: int = MAX_ID_LENGTH) -> str:
    """An id must fit its column exactly: a cut id would name another record, so it is refused."""
    if not value or len(value) > limit or any(ch.isspace() or not ch.isprintable() for ch in value):
        raise OutOfBounds(field, value)
    return value
