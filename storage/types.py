"""Column types that keep money exact on every backend."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from sqlalchemy import BigInteger, DateTime, String
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

MONEY_SCALE = 4
_FACTOR = Decimal(10) ** MONEY_SCALE
_QUANT = Decimal(1).scaleb(-MONEY_SCALE)


class Money(TypeDecorator[Decimal]):
    """A Decimal stored as an integer count of 1/10000 units.

    SQLite has no exact decimal type (NUMERIC is stored as a float), so money is kept as
    integers: sums, comparisons and conditional debits in SQL stay exact everywhere.
    """

    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> int | None:
        if value is None:
            return None
        if isinstance(value, float):
            raise TypeError("money must be Decimal, never float")
        amount = Decimal(value)
        scaled = (amount * _FACTOR).to_integral_value(rounding=ROUND_HALF_EVEN)
        if scaled != amount * _FACTOR:
            raise ValueError(f"money has more than {MONEY_SCALE} decimal places: {amount}")
        return int(scaled)

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return (Decimal(int(value)) / _FACTOR).quantize(_QUANT)


def to_money(value: Decimal | int | str) -> Decimal:
    """Normalise an amount to the stored scale (raises on more precision than we keep)."""
    if isinstance(value, float):
        raise TypeError("money must be Decimal, never float")
    amount = Decimal(value)
    if amount != amount.quantize(_QUANT):
        raise ValueError(f"money has more than {MONEY_SCALE} decimal places: {amount}")
    return amount.quantize(_QUANT)


class DecimalText(TypeDecorator[Decimal]):
    """A Decimal kept as its exact text, for values that are shown and multiplied but never summed in SQL
    (upstream rates can carry more places than money does)."""

    impl = String(40)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        if isinstance(value, float):
            raise TypeError("decimal values must be Decimal, never float")
        return format(Decimal(value), "f")

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        return None if value is None else Decimal(value)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite drops the zone; we put it back)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime; use aware UTC datetimes")
        converted: datetime = value.astimezone(UTC)
        return converted.replace(tzinfo=None) if dialect.name == "sqlite" else converted

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        result: datetime = value
        return result.replace(tzinfo=UTC) if result.tzinfo is None else result.astimezone(UTC)
