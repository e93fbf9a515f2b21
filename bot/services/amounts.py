"""Reading an amount of money someone typed, and saying exactly what is wrong with it.

One parser for every typed amount (admin credits and debits, customers' top-ups), so each screen
can name the real problem ("negative", "too large (max …)") instead of "not an amount".
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from enum import StrEnum

CENT = Decimal("0.01")
PLACES = 2
_TEXT_LIMIT = 40  # longer than any amount anyone means; also keeps Decimal() away from huge inputs
_SYMBOLS = "$€₽£"
_CURRENCY_SUFFIX = re.compile(r"[A-Za-z]{3}$")
_NUMBER = re.compile(r"[+-]?[0-9]+(?:\.[0-9]*)?|[+-]?\.[0-9]+")
_NOT_FINITE = re.compile(r"[+-]?(?:nan|snan|inf|infinity)", re.IGNORECASE)


class AmountProblem(StrEnum):
    NOT_A_NUMBER = "not_a_number"
    NOT_FINITE = "not_finite"  # NaN, Infinity
    NEGATIVE = "negative"
    ZERO = "zero"
    TOO_SMALL = "too_small"
    TOO_LARGE = "too_large"
    TOO_PRECISE = "too_precise"  # more than 2 decimal places


class AmountError(ValueError):
    """The typed text is not a usable amount; `problem` says why, `limit` the bound it broke."""

    def __init__(self, problem: AmountProblem, limit: Decimal | None = None) -> None:
        super().__init__(problem.value)
        self.problem = problem
        self.limit = limit


def parse_money(text: str, *, maximum: Decimal, minimum: Decimal = CENT, allow_zero: bool = False) -> Decimal:
    """`10`, `12.5`, `12,50`, `$10`, `10 USD` -> Decimal with 2 places, within minimum..maximum.

    Raises AmountError naming the first problem: not a number, NaN/Infinity, negative, zero, above
    `maximum`, too many decimal places, below `minimum`. `allow_zero`: 0 is an answer (a refund
    of nothing), not a mistake."""
    raw = text.strip().replace(" ", "").replace("\u00a0", "").replace(",", ".")
    if _NOT_FINITE.fullmatch(raw):
        raise AmountError(AmountProblem.NOT_FINITE)
    sign = raw[:1] if raw[:1] in "+-" else ""
    raw = sign + _CURRENCY_SUFFIX.sub("", raw.removeprefix(sign).lstrip(_SYMBOLS))
    if not raw or len(raw) > _TEXT_LIMIT or not _NUMBER.fullmatch(raw):
        raise AmountError(AmountProblem.NOT_A_NUMBER)
    try:
        value = Decimal(raw)
    except InvalidOperation:  # pragma: no cover - the pattern admits only plain numbers
        raise AmountError(AmountProblem.NOT_A_NUMBER) from None
    if value < 0:
        raise AmountError(AmountProblem.NEGATIVE)
    if value == 0 and not allow_zero:
        raise AmountError(AmountProblem.ZERO)
    if value > maximum:  # before quantize(), which cannot hold 40 digits
        raise AmountError(AmountProblem.TOO_LARGE, maximum)
    if value != value.quantize(CENT):
        raise AmountError(AmountProblem.TOO_PRECISE)
    if value < minimum and not (value == 0 and allow_zero):
        raise AmountError(AmountProblem.TOO_SMALL, minimum)
    return value.quantize(CENT)
