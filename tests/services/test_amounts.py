"""The shared amount parser names each problem; a pending balance change survives its round trip
through conversation data and expires."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bot.services.admin.balances import PENDING_SECONDS, PendingAdjustment
from bot.services.admin.catalog import parse_markup
from bot.services.amounts import AmountError, AmountProblem, parse_money, parse_percent

MAX = Decimal("1000")


@pytest.mark.parametrize(
    ("text", "amount"),
    [
        ("10", "10.00"),
        ("2.5", "2.50"),
        ("2,50", "2.50"),
        ("$7", "7.00"),
        ("25 USD", "25.00"),
        ("1000", "1000.00"),
        ("0,500", "0.50"),  # a leading zero starts no group of thousands
        ("1 000", "1000.00"),
    ],
)
def test_amounts_people_type(text: str, amount: str) -> None:
    assert parse_money(text, maximum=MAX) == Decimal(amount)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("ten", AmountProblem.NOT_A_NUMBER),
        ("", AmountProblem.NOT_A_NUMBER),
        ("1e3", AmountProblem.NOT_A_NUMBER),
        ("1.2.3", AmountProblem.NOT_A_NUMBER),
        ("NaN", AmountProblem.NOT_FINITE),
        ("-Infinity", AmountProblem.NOT_FINITE),
        ("inf", AmountProblem.NOT_FINITE),
        ("-5", AmountProblem.NEGATIVE),
        ("-0.01", AmountProblem.NEGATIVE),
        ("0", AmountProblem.ZERO),
        ("0.00", AmountProblem.ZERO),
        ("1.9999", AmountProblem.TOO_PRECISE),
        ("1,2,3", AmountProblem.NOT_A_NUMBER),
        ("1,00,000", AmountProblem.NOT_A_NUMBER),  # not groups of three
        ("1.000.50", AmountProblem.NOT_A_NUMBER),
        ("1,000.000,5", AmountProblem.NOT_A_NUMBER),
        ("0.001", AmountProblem.TOO_PRECISE),
        ("1000.01", AmountProblem.TOO_LARGE),
        ("9" * 40, AmountProblem.TOO_LARGE),
    ],
)
def test_each_problem_is_named(text: str, problem: AmountProblem) -> None:
    with pytest.raises(AmountError) as caught:
        parse_money(text, maximum=MAX)
    assert caught.value.problem == problem
    if problem == AmountProblem.TOO_LARGE:
        assert caught.value.limit == MAX


@pytest.mark.parametrize(
    ("text", "whole"), [("1,000", "1000"), ("12,500", "12500"), ("$1.000", "1000"), ("-1,000", "1000")]
)
def test_a_lone_separator_before_three_digits_is_ambiguous(text: str, whole: str) -> None:
    """ "1,000" was read as 1.00: a thousandth of what a customer or an admin meant. It is refused
    and the error carries the thousands reading, for the message to suggest."""
    with pytest.raises(AmountError) as caught:
        parse_money(text, maximum=Decimal("100000"))
    assert (caught.value.problem, caught.value.whole) == (AmountProblem.AMBIGUOUS, whole)


def test_repeated_or_mixed_separators_group_thousands() -> None:
    big = Decimal("10000000")
    assert parse_money("1,000.50", maximum=big) == Decimal("1000.50")  # the last one is the decimal point
    assert parse_money("1.000,5", maximum=big) == Decimal("1000.50")
    assert parse_money("1,000,000", maximum=big) == Decimal("1000000.00")
    assert parse_money("1.000.000", maximum=big) == Decimal("1000000.00")
    assert parse_money("1,234,567.89 USD", maximum=big) == Decimal("1234567.89")
    assert parse_money("€1.234.567,89", maximum=big) == Decimal("1234567.89")


def test_below_the_minimum_names_it() -> None:
    with pytest.raises(AmountError) as caught:
        parse_money("0.50", maximum=MAX, minimum=Decimal("1"))
    assert (caught.value.problem, caught.value.limit) == (AmountProblem.TOO_SMALL, Decimal("1"))


@pytest.mark.parametrize(
    ("text", "value"), [("5", "5.00"), ("12.5%", "12.50"), ("7,5", "7.50"), ("0", "0.00")]
)
def test_percents_people_type(text: str, value: str) -> None:
    assert parse_percent(text, maximum=Decimal("100")) == Decimal(value)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("five", AmountProblem.NOT_A_NUMBER),
        ("$5", AmountProblem.NOT_A_NUMBER),  # a percent is not money
        ("5 USD", AmountProblem.NOT_A_NUMBER),
        ("NaN", AmountProblem.NOT_FINITE),
        ("-5%", AmountProblem.NEGATIVE),
        ("101", AmountProblem.TOO_LARGE),
        ("0.125", AmountProblem.TOO_PRECISE),
        ("1,000", AmountProblem.AMBIGUOUS),
    ],
)
def test_each_percent_problem_is_named_like_an_amounts(text: str, problem: AmountProblem) -> None:
    with pytest.raises(AmountError) as caught:
        parse_percent(text, maximum=Decimal("100"))
    assert caught.value.problem == problem


def test_pending_adjustment_round_trip_and_expiry() -> None:
    pending = PendingAdjustment.new(1001, Decimal("5.00"), False, "why", "900:17", now=1000.0)
    back = PendingAdjustment.from_data(pending.to_data())
    assert back == pending
    assert not back.expired(now=1000.0 + PENDING_SECONDS)
    assert back.expired(now=1000.0 + PENDING_SECONDS + 1)
    assert PendingAdjustment.from_data({"token": "x", "amount": "NaN"}) is None
    assert PendingAdjustment.from_data("forged") is None


def test_zero_may_be_an_answer() -> None:
    assert parse_money("0", maximum=MAX, allow_zero=True) == Decimal("0.00")
    with pytest.raises(AmountError) as caught:
        parse_money("-0.5", maximum=MAX, allow_zero=True)
    assert caught.value.problem == AmountProblem.NEGATIVE


def test_a_markup_is_read_by_the_percent_parser() -> None:
    assert parse_markup("30%") == Decimal("30")
    assert str(parse_markup("12,50")) == "12.5"  # shown as typed, without the trailing zero
    assert parse_markup("10000") == Decimal("10000")
    assert [parse_markup(text) for text in ("10000.01", "1,000", "-5", "1e3", "$5")] == [None] * 5
