"""Reading an amount of money someone typed, and saying exactly what is wrong with it.

One parser for every typed amount (admin credits and debits, customers' top-ups, the owner's
settings) and one for percentages built on it, so each screen can name the real problem
("negative", "too large (max …)") instead of "not an amount".
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
# One separator and exactly three digits after it ("1,000", "12.500"): a thousands separator to
# some, decimals to others. A leading zero ("0,500") cannot start a group of thousands.
_AMBIGUOUS = re.compile(r"[1-9][0-9]{0,2}[,.][0-9]{3}")


class AmountProblem(StrEnum):
    NOT_A_NUMBER = "not_a_number"
    NOT_FINITE = "not_finite"  # NaN, Infinity
    NEGATIVE = "negative"
    ZERO = "zero"
    TOO_SMALL = "too_small"
    TOO_LARGE = "too_large"
    TOO_PRECISE = "too_precise"  # more than 2 decimal places
    AMBIGUOUS = "ambiguous"  # "1,000": one thousand or one? `whole` is the thousands reading


class AmountError(ValueError):
    """The typed text is not a usable amount; `problem` says why, `limit` the bound it broke,
    `whole` the digits of an ambiguous amount read without its separator (to suggest it)."""

    def __init__(self, problem: AmountProblem, limit: Decimal | None = None, whole: str = "") -> None:
        super().__init__(problem.value)
        self.problem = problem
        self.limit = limit
        self.whole = whole


def _unseparated(body: str) -> str:
    """`body` with its thousands separators gone and its decimal separator a point.

    Grouping is accepted only where it cannot be misread: both separators ("1,000.50",
    "1.000,50": the last one is the decimal one) or one separator repeated ("1,000,000"). A single
    separator with exactly three digits after it ("1,000") is refused as AMBIGUOUS: silently
    reading it as 1.00 charged or credited a thousandth of what was meant."""
    commas, points = body.count(","), body.count(".")
    if commas and points:
        decimal = "," if body.rfind(",") > body.rfind(".") else "."
        group = "." if decimal == "," else ","
        whole, _, fraction = body.rpartition(decimal)
        if group in fraction or not _grouped(whole, group):
            raise AmountError(AmountProblem.NOT_A_NUMBER)
        return whole.replace(group, "") + "." + fraction
    separator = "," if commas else "." if points else ""
    if not separator or body.count(separator) == 1:
        if _AMBIGUOUS.fullmatch(body):
            raise AmountError(AmountProblem.AMBIGUOUS, whole=body.replace(separator, ""))
        return body.replace(",", ".")
    if not _grouped(body, separator):
        raise AmountError(AmountProblem.NOT_A_NUMBER)
    return body.replace(separator, "")


def _grouped(whole: str, separator: str) -> bool:
    """`1,000` / `12,345,678`: 1–3 digits, then groups of exactly three."""
    head, *groups = whole.split(separator)
    return (
        bool(groups)
        and 1 <= len(head) <= 3
        and head.isdecimal()
        and head[0] != "0"
        and all(len(group) == 3 and group.isdecimal() for group in groups)
    )


def parse_money(text: str, *, maximum: Decimal, minimum: Decimal = CENT, allow_zero: bool = False) -> Decimal:
    """`10`, `12.5`, `12,50`, `$10`, `10 USD`, `1,000.50` -> Decimal with 2 places, within
    minimum..maximum.

    Raises AmountError naming the first problem: not a number, NaN/Infinity, ambiguous ("1,000"),
    negative, zero, above `maximum`, too many decimal places, below `minimum`. `allow_zero`: 0 is
    an answer (a refund of nothing), not a mistake."""
    raw = text.strip().replace(" ", "").replace("\u00a0", "").replace("\u202f", "")
    if _NOT_FINITE.fullmatch(raw):
        raise AmountError(AmountProblem.NOT_FINITE)
    if not raw or len(raw) > _TEXT_LIMIT:
        raise AmountError(AmountProblem.NOT_A_NUMBER)
    sign = raw[:1] if raw[:1] in "+-" else ""
    raw = sign + _unseparated(_CURRENCY_SUFFIX.sub("", raw.removeprefix(sign).lstrip(_SYMBOLS)))
    if not raw or not _NUMBER.fullmatch(raw):
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


def parse_percent(text: str, *, maximum: Decimal) -> Decimal:
    """`5`, `12.5`, `7,5`, `5%` -> Decimal with 2 places, 0..maximum (0 is an answer: it turns a
    reward off).

    Read like an amount, so the problems have the same names (AmountError), and `1,000` is refused
    as AMBIGUOUS the same way; a currency sign or code is NOT_A_NUMBER here."""
    raw = text.strip().removesuffix("%")
    money_sign = _CURRENCY_SUFFIX.search(raw) or any(symbol in raw for symbol in _SYMBOLS)
    if money_sign and not _NOT_FINITE.fullmatch(raw):
        raise AmountError(AmountProblem.NOT_A_NUMBER)
    return parse_money(raw, maximum=maximum, minimum=Decimal(0), allow_zero=True)
