"""Telegram Stars transactions (getStarTransactions), read defensively.

Only what reconciliation needs: incoming invoice payments from users (a charge the bot may not have
credited) and outgoing refunds to users (a charge that must not be credited any more). Anything else
(withdrawals, ads, gifts, a shape this code does not know) is skipped, one transaction at a time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MAX_STARS = 1_000_000
MAX_CHARGE_ID = 255


@dataclass(frozen=True)
class StarCharge:
    """One invoice payment (incoming) or its refund (outgoing), identified by the charge id."""

    charge_id: str
    user_id: int
    stars: int
    payload: str
    date: int
    incoming: bool


def valid_charge_id(value: Any) -> bool:
    return (
        isinstance(value, str)
        and 1 <= len(value) <= MAX_CHARGE_ID
        and value.isascii()
        and value.isprintable()
        and not any(c.isspace() for c in value)
    )


def _field(obj: Any, name: str) -> Any:
    if isinstance(obj, dict):
        return obj.get(name)
    return getattr(obj, name, None)


def parse_star_transaction(raw: Any) -> StarCharge | None:
    """A StarTransaction (aiogram model or dict) as a charge, or None when it is not one we track."""
    charge_id = _field(raw, "id")
    amount = _field(raw, "amount")
    date = _field(raw, "date")
    if not valid_charge_id(charge_id) or isinstance(amount, bool) or not isinstance(amount, int):
        return None
    if not 0 < amount <= MAX_STARS:
        return None
    if hasattr(date, "timestamp"):
        date = int(date.timestamp())
    if isinstance(date, bool) or not isinstance(date, int):
        return None
    source, receiver = _field(raw, "source"), _field(raw, "receiver")
    partner, incoming = (source, True) if source is not None else (receiver, False)
    if partner is None or _field(partner, "type") != "user":
        return None
    if _field(partner, "transaction_type") not in (None, "invoice_payment"):
        return None
    user = _field(partner, "user")
    user_id = _field(user, "id")
    payload = _field(partner, "invoice_payload")
    if isinstance(user_id, bool) or not isinstance(user_id, int) or user_id <= 0:
        return None
    if not isinstance(payload, str) or not 1 <= len(payload) <= 128:
        return None
    return StarCharge(str(charge_id), user_id, amount, payload, date, incoming)
