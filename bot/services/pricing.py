"""Prices: the one place that turns an upstream rate into what a customer pays."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal

CENT = Decimal("0.01")
COST_PLACES = Decimal("0.0001")
HUNDRED = Decimal(100)

# Types the panel charges as a flat price per order rather than per 1000 units: the default of
# PANEL_FLAT_RATE_TYPES (SmartPanel's rule; other panels bill Custom Comments Package per line,
# docs/panel-api-family.md §9).
FLAT_RATE_TYPES = frozenset({"package", "custom comments package"})
# Package orders have nothing to count (no quantity, no lines): per unit they would cost nothing, so
# they are per order whatever PANEL_FLAT_RATE_TYPES says.
ALWAYS_FLAT_TYPES = frozenset({"package"})


def is_flat(type_key: str, flat_types: frozenset[str] = FLAT_RATE_TYPES) -> bool:
    """Priced per order (a package), not per 1000 units: the configured set, packages always."""
    return type_key in flat_types or type_key in ALWAYS_FLAT_TYPES


@dataclass(frozen=True)
class Quote:
    """What an order costs us upstream and what the customer pays for it."""

    units: int  # the units the rate applies to (quantity × runs, or line count); 1 for flat types
    cost: Decimal  # upstream's expected charge, at 4 places like the panels report it
    price: Decimal  # customer price, rounded up to the cent


def effective_markup(*, service: Decimal | None, category: Decimal | None, global_markup: Decimal) -> Decimal:
    """The most specific markup wins: service, then category, then the shop-wide one."""
    for value in (service, category):
        if value is not None:
            return value
    return global_markup


def billable_units(
    type_key: str,
    *,
    quantity: int | None,
    runs: int | None = None,
    lines: int | None = None,
    flat_types: frozenset[str] = FLAT_RATE_TYPES,
    flat: bool | None = None,
) -> int:
    """How many units the rate is applied to for this service type (`flat` given: it decides, not
    `flat_types`)."""
    if is_flat(type_key, flat_types) if flat is None else flat:
        return 1
    if type_key in ("custom comments", "custom comments package") or (quantity is None and lines is not None):
        return max(lines or 0, 0)
    units = max(quantity or 0, 0)
    if runs:
        units *= runs
    return units


def quote(
    *,
    rate: Decimal,
    type_key: str,
    markup_percent: Decimal,
    quantity: int | None,
    runs: int | None = None,
    lines: int | None = None,
    flat_types: frozenset[str] = FLAT_RATE_TYPES,
    flat: bool | None = None,
) -> Quote:
    """The shown unit price (`price_per_thousand`) × units / 1000, rounded up to the cent; for the
    `flat_types` (or when `flat` says so: the service's own flag) the shown package price itself.

    Charging from the shown price, not from the raw rate, keeps the catalog honest: a rate of 0.364
    shows 0.37 per 1000, and 5000 then cost 1.85 on the summary and on the ledger (the raw rate
    gave 1.82). The shown price is never below rate × (1 + markup), so neither is the charge.
    """
    if isinstance(rate, float) or isinstance(markup_percent, float):
        raise TypeError("prices are Decimal, never float")
    if flat is None:
        flat = is_flat(type_key, flat_types)
    units = billable_units(type_key, quantity=quantity, runs=runs, lines=lines, flat=flat)
    base = rate if flat else rate * units / 1000
    cost = base.quantize(COST_PLACES, rounding=ROUND_CEILING)
    shown = price_per_thousand(rate, markup_percent)
    price = shown if flat else (shown * units / 1000).quantize(CENT, rounding=ROUND_CEILING)
    return Quote(units=units, cost=cost, price=price)


def price_per_thousand(rate: Decimal, markup_percent: Decimal) -> Decimal:
    """The catalog's "price per 1000" (or per package) with markup, rounded up to the cent: the one
    number a customer sees and `quote` charges from."""
    return (rate * (HUNDRED + markup_percent) / HUNDRED).quantize(CENT, rounding=ROUND_CEILING)
