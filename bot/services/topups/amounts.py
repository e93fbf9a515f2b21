"""Amounts, Stars prices and invoice payloads: small pure rules, tested on their own."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import Decimal

from bot.services.amounts import AmountError as MoneyError
from bot.services.amounts import AmountProblem, parse_money

CENT = Decimal("0.01")
STARS_PER_INVOICE_MAX = 10_000  # the most one Stars invoice asks for (Telegram caps XTR invoices)
_PAYLOAD = re.compile(r"topup:([0-9]{1,12}):([0-9a-f]{8,32})")
_OUT_OF_RANGE = frozenset(
    {AmountProblem.NEGATIVE, AmountProblem.ZERO, AmountProblem.TOO_SMALL, AmountProblem.TOO_LARGE}
)


class AmountError(ValueError):
    """Not a usable amount; `key` is the locale key of the message to show, `values` its fields."""

    def __init__(self, key: str, **values: object) -> None:
        super().__init__(key)
        self.key = key
        self.values = values


def parse_amount(text: str, *, minimum: Decimal, maximum: Decimal) -> Decimal:
    """`10`, `12.5`, `12,50`, `$10`, `10 USD` -> Decimal; AmountError with a reason otherwise
    (the shared parser's problems told as the top-up screen's two messages)."""
    try:
        return parse_money(text, minimum=minimum, maximum=maximum)
    except MoneyError as error:
        if error.problem in _OUT_OF_RANGE:
            raise AmountError("topup.error.amount_range") from None
        if error.problem == AmountProblem.AMBIGUOUS:
            raise AmountError("topup.error.amount_ambiguous", whole=error.whole) from None
        raise AmountError("topup.error.amount_format") from None


def stars_price(amount: Decimal, rate: Decimal) -> int:
    """Stars for `amount` of the shop currency at `rate` (currency per Star), rounded up: never less."""
    return max(1, math.ceil(amount / rate))


def make_payload(topup_id: int, token: str) -> str:
    return f"topup:{topup_id}:{token}"


@dataclass(frozen=True)
class PayloadRef:
    topup_id: int
    token: str


def parse_payload(payload: object) -> PayloadRef | None:
    """The top-up an invoice payload names, or None when it is not one of ours."""
    if not isinstance(payload, str) or len(payload) > 128:
        return None
    match = _PAYLOAD.fullmatch(payload)
    if match is None:
        return None
    return PayloadRef(int(match.group(1)), match.group(2))
