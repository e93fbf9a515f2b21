"""Prices customers pay: rate per 1000 × units × (1 + markup), rounded up to the cent."""

from __future__ import annotations

from decimal import ROUND_CEILING, Decimal

import pytest

from bot.services.pricing import effective_markup, is_flat, price_per_thousand, quote


@pytest.mark.parametrize(
    ("type_key", "rate", "quantity", "runs", "lines", "markup", "price", "cost"),
    [
        ("default", "0.72", 1000, None, None, "50", "1.08", "0.7200"),
        ("default", "0.72", 1001, None, None, "0", "0.73", "0.7208"),  # 0.72072 rounds UP
        ("default", "1.20", 100, 5, None, "10", "0.66", "0.6000"),  # drip-feed: × runs
        ("package", "3.50", None, None, None, "20", "4.20", "3.5000"),  # flat per order
        ("custom comments", "10", None, None, 7, "0", "0.07", "0.0700"),  # line count
        ("custom comments package", "9.99", None, None, 40, "0", "9.99", "9.9900"),
        ("default", "0.0001", 10, None, None, "0", "0.01", "0.0001"),  # never free
    ],
)
def test_quote(
    type_key: str,
    rate: str,
    quantity: int | None,
    runs: int | None,
    lines: int | None,
    markup: str,
    price: str,
    cost: str,
) -> None:
    result = quote(
        rate=Decimal(rate),
        type_key=type_key,
        markup_percent=Decimal(markup),
        quantity=quantity,
        runs=runs,
        lines=lines,
    )
    assert result.price == Decimal(price)
    assert result.cost == Decimal(cost)


def test_floats_are_refused() -> None:
    with pytest.raises(TypeError):
        quote(rate=0.5, type_key="default", markup_percent=Decimal(0), quantity=10)  # type: ignore[arg-type]


def test_most_specific_markup_wins() -> None:
    assert effective_markup(service=None, category=None, global_markup=Decimal(30)) == Decimal(30)
    assert effective_markup(service=None, category=Decimal(10), global_markup=Decimal(30)) == Decimal(10)
    assert effective_markup(service=Decimal(0), category=Decimal(10), global_markup=Decimal(30)) == Decimal(0)


def test_price_per_thousand_rounds_up() -> None:
    assert price_per_thousand(Decimal("0.8000"), Decimal("25")) == Decimal("1.00")
    assert price_per_thousand(Decimal("0.801"), Decimal("0")) == Decimal("0.81")


@pytest.mark.parametrize(
    ("rate", "markup", "quantity", "per_thousand", "price"),
    [
        ("0.364", "0", 5000, "0.37", "1.85"),  # the example: the raw rate gave 1.82
        ("0.3661", "25", 5000, "0.46", "2.30"),  # 0.457625 shown as 0.46; the raw rate gave 2.29
        ("0.3661", "25", 1, "0.46", "0.01"),
        ("0.3661", "25", 333, "0.46", "0.16"),  # 0.15318 rounds up
    ],
)
def test_the_charge_is_the_shown_per_thousand_price_times_the_quantity(
    rate: str, markup: str, quantity: int, per_thousand: str, price: str
) -> None:
    shown = price_per_thousand(Decimal(rate), Decimal(markup))
    charged = quote(rate=Decimal(rate), type_key="default", markup_percent=Decimal(markup), quantity=quantity)
    assert shown == Decimal(per_thousand)
    assert charged.price == Decimal(price)


def test_a_package_costs_its_shown_package_price() -> None:
    shown = price_per_thousand(Decimal("10.824"), Decimal("20"))
    charged = quote(rate=Decimal("10.824"), type_key="package", markup_percent=Decimal("20"), quantity=None)
    assert shown == charged.price == Decimal("12.99")


def test_the_charge_never_goes_below_cost_with_markup() -> None:
    """The margin guard's premise: price ≥ upstream cost × (1 + markup) for every rate and quantity."""
    for rate in ("0.0001", "0.0037", "0.3661", "0.364", "1.2345", "17.9999"):
        for markup in ("0", "7.5", "25", "100"):
            for quantity in (1, 9, 10, 333, 999, 1000, 1001, 5000, 123457):
                result = quote(
                    rate=Decimal(rate), type_key="default", markup_percent=Decimal(markup), quantity=quantity
                )
                floor = Decimal(rate) * quantity / 1000 * (100 + Decimal(markup)) / 100
                assert result.price >= floor
                assert result.price >= result.cost
                shown = price_per_thousand(Decimal(rate), Decimal(markup))
                assert result.price == (shown * quantity / 1000).quantize(
                    Decimal("0.01"), rounding=ROUND_CEILING
                )


def test_a_package_is_never_free_whatever_the_flat_rate_setting() -> None:
    """PANEL_FLAT_RATE_TYPES without `package`: a package has no quantity, per unit it cost 0.00."""
    charged = quote(
        rate=Decimal("9.99"),
        type_key="package",
        markup_percent=Decimal("50"),
        quantity=None,
        flat_types=frozenset(),
    )
    assert charged.price == Decimal("14.99") and charged.units == 1
    assert is_flat("package", frozenset()) and not is_flat("custom comments package", frozenset({"package"}))
