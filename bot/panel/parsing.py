"""Tolerant converters for panel JSON.

Panels of this family disagree on types (numbers as strings or numbers, floats
for money, null/"Unknown" counters, 0/1/"true" booleans) and even emit invalid
JSON (a trailing comma before ``}``).  Everything is normalised here so the
client and the rest of the bot see one shape.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from bot.panel.bounds import (
    MAX_COUNT,
    MAX_STATUS_LENGTH,
    MAX_TYPE_LENGTH,
    OutOfBounds,
    bounded_count,
    bounded_money,
    bounded_rate,
    bounded_text,
    check_id,
)
from bot.panel.models import OrderStatus, PanelService, RefillState, StatusGroup

__all__ = [
    "is_known_refill_status",
    "loads_tolerant",
    "normalize_refill_status",
    "normalize_service_type",
    "normalize_status",
    "parse_order_status",
    "parse_service",
    "to_bool",
    "to_decimal",
    "to_int",
    "to_str_id",
]

_TRUE = frozenset({"1", "true", "yes", "y", "on"})

_STATUS_MAP: dict[str, StatusGroup] = {
    "pending": StatusGroup.PENDING,
    "awaiting": StatusGroup.PENDING,
    "processing": StatusGroup.RUNNING,
    "inprogress": StatusGroup.RUNNING,
    "inprogess": StatusGroup.RUNNING,  # "In progess" typo seen in the wild
    "active": StatusGroup.RUNNING,
    "paused": StatusGroup.RUNNING,
    "completed": StatusGroup.COMPLETED,
    "complete": StatusGroup.COMPLETED,
    "success": StatusGroup.COMPLETED,
    "expired": StatusGroup.COMPLETED,
    "partial": StatusGroup.PARTIAL,
    "canceled": StatusGroup.CANCELED,
    "cancelled": StatusGroup.CANCELED,
    "refunded": StatusGroup.CANCELED,
    "refund": StatusGroup.CANCELED,
    "error": StatusGroup.CANCELED,
    "fail": StatusGroup.CANCELED,
    "failed": StatusGroup.CANCELED,
}

_REFILL_MAP: dict[str, RefillState] = {
    "pending": RefillState.PENDING,
    "awaiting": RefillState.PENDING,
    "processing": RefillState.RUNNING,
    "inprogress": RefillState.RUNNING,
    "inprogess": RefillState.RUNNING,
    "completed": RefillState.COMPLETED,
    "complete": RefillState.COMPLETED,
    "success": RefillState.COMPLETED,
    "rejected": RefillState.REJECTED,
    "canceled": RefillState.REJECTED,
    "cancelled": RefillState.REJECTED,
    "error": RefillState.REJECTED,
    "fail": RefillState.REJECTED,
    "failed": RefillState.REJECTED,
}

_TYPE_VARIANTS: dict[str, str] = {
    "mentions hastag": "mentions hashtag",
    "mentions users followers": "mentions user followers",
    "custom replies": "comment replies",
    "seo2": "seo",
    "subscription": "subscriptions",
}

_HUGE_DIGITS = 30
_HUGE = 10**_HUGE_DIGITS  # stands for "absurdly large" (see bot/panel/bounds.py)

_STATUS_SQUEEZE = re.compile(r"[\s_\-]+")
_SPACES = re.compile(r"\s+")


def _status_key(raw: object) -> str:
    return _STATUS_SQUEEZE.sub("", str(raw).lower()) if raw is not None else ""


def normalize_status(raw: str | None) -> StatusGroup:
    """Map any raw order status spelling to its group; unknown means still running."""
    return _STATUS_MAP.get(_status_key(raw), StatusGroup.RUNNING)


def normalize_refill_status(raw: str | None) -> RefillState:
    """Map any raw refill status spelling to its state; unknown means still running."""
    return _REFILL_MAP.get(_status_key(raw), RefillState.RUNNING)


def is_known_refill_status(raw: object) -> bool:
    """True when ``raw`` is a refill status spelling we know (vs. an error text)."""
    return _status_key(raw) in _REFILL_MAP


def normalize_service_type(raw: object) -> str:
    """Canonical lowercase type key ("custom_comments" -> "custom comments")."""
    if raw is None:
        return "default"
    key = _SPACES.sub(" ", str(raw).casefold().replace("_", " ")).strip()
    if not key:
        return "default"
    return _TYPE_VARIANTS.get(key, key)


def to_bool(value: object) -> bool:
    """true / 1 / "1" / "true" / "yes" are true; everything else is false."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value == 1
    if isinstance(value, str):
        return value.strip().lower() in _TRUE
    return False


def to_decimal(value: object) -> Decimal | None:
    """Money/rates via ``Decimal(str(x))`` so floats never leak binary noise."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, Decimal):
        return value
    text = str(value).strip()
    if not text:
        return None
    try:
        result = Decimal(text)
    except (InvalidOperation, ValueError):
        return None
    return result if result.is_finite() else None


def to_int(value: object) -> int | None:
    """Counters: ints, integral floats and numeric strings; "Unknown"/null -> None."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    number = to_decimal(value)
    if number is None:
        return None
    if number.adjusted() > _HUGE_DIGITS:
        # "1e999999999" would build a billion-digit int; any value this big is out of bounds anyway.
        return _HUGE if number > 0 else -_HUGE
    return int(number)


def to_str_id(value: object) -> str:
    """Ids are stored as strings whatever type the panel used (23501 / "23501" / 23501.0)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _strip_trailing_commas(text: str) -> str:
    """Drop commas that directly precede ``}`` or ``]`` outside of strings."""
    out: list[str] = []
    in_string = False
    escaped = False
    length = len(text)
    for index, char in enumerate(text):
        if in_string:
            out.append(char)
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
            continue
        if char == '"':
            in_string = True
        elif char == ",":
            probe = index + 1
            while probe < length and text[probe] in " \t\r\n":
                probe += 1
            if probe < length and text[probe] in "}]":
                continue
        out.append(char)
    return "".join(out)


def loads_tolerant(text: str) -> Any:
    """``json.loads`` that also accepts PHP panels' trailing commas.

    Raises ``ValueError`` for anything else that is not JSON. A leading UTF-8
    BOM is ignored as well.
    """
    stripped = text.lstrip("\ufeff").strip()
    try:
        return json.loads(stripped)
    except ValueError:
        repaired = _strip_trailing_commas(stripped)
        if repaired == stripped:
            raise
        return json.loads(repaired)


def _text(value: object) -> str:
    return "" if value is None else str(value)


def parse_service(raw: Mapping[str, Any], notes: list[str] | None = None) -> PanelService:
    """One service object, bounded (bot/panel/bounds.py).

    Raises ``ValueError`` (``OutOfBounds`` for absurd values) when the entry cannot be sold: no id
    or one longer than our column, no numeric rate or an absurd one, a type no panel uses. A
    `max` beyond any real order is clamped and said so in `notes`.
    """
    service_id = raw.get("service", raw.get("id"))
    if service_id is None or to_str_id(service_id) == "":
        raise ValueError("service without id")
    key = check_id(to_str_id(service_id), "service id")
    rate = to_decimal(raw.get("rate"))
    if rate is None:
        raise ValueError("service without a numeric rate")
    bounded = bounded_rate(rate)
    if bounded != rate and notes is not None:
        notes.append(f"rate {_text(raw.get('rate'))[:40]} rounded up to {bounded}")
    rate = bounded
    raw_type = _text(raw.get("type")) or "Default"
    if len(raw_type) > MAX_TYPE_LENGTH:
        raise OutOfBounds("type", raw_type)
    description = raw.get("description")
    if description is None:
        description = raw.get("desc")
    average = raw.get("average_time")
    average_text = bounded_text(_text(average).strip(), 64)
    low = to_int(raw.get("min")) or 0
    high = to_int(raw.get("max")) or 0
    if low < 0 or low > MAX_COUNT:
        raise OutOfBounds("min", raw.get("min"))
    if high < 0:
        raise OutOfBounds("max", raw.get("max"))
    if high > MAX_COUNT:
        if notes is not None:
            notes.append(f"max {_text(raw.get('max'))[:40]} clamped to {MAX_COUNT}")
        high = MAX_COUNT
    return PanelService(
        service_id=key,
        name=_text(raw.get("name")),
        category=_text(raw.get("category")),
        type=raw_type,
        type_key=normalize_service_type(raw_type),
        rate=rate,
        min=low,
        max=high,
        dripfeed=to_bool(raw.get("dripfeed")),
        refill=to_bool(raw.get("refill")),
        cancel=to_bool(raw.get("cancel")),
        description=_text(description),
        average_time=None if average_text in ("", "0") else average_text,
    )


def _count(raw: Mapping[str, Any], name: str) -> int | None:
    """A bounded counter of a status entry; the error quotes the panel's own text."""
    value = raw.get(name)
    try:
        return bounded_count(to_int(value), name)
    except OutOfBounds:
        raise OutOfBounds(name, value) from None


def parse_order_status(order_id: str, raw: Mapping[str, Any]) -> OrderStatus:
    """One status object (single or one entry of a multi reply).

    Raises ``OutOfBounds`` when a number no order can hold is reported (``remains: "1e30"``, a
    60-digit start count, a charge longer than the column): the caller keeps that order as it is.
    """
    status_value = raw.get("status")
    status_raw = bounded_text("" if status_value is None else str(status_value).strip(), MAX_STATUS_LENGTH)
    children = raw.get("orders")
    child_orders: tuple[str, ...] = ()
    if isinstance(children, list | tuple):
        child_orders = tuple(to_str_id(child) for child in children if child is not None)
    currency = raw.get("currency")
    expiry = raw.get("expiry")
    return OrderStatus(
        order_id=order_id,
        status=normalize_status(status_raw),
        status_raw=status_raw,
        charge=bounded_money(to_decimal(raw.get("charge")), "charge"),
        start_count=_count(raw, "start_count"),
        remains=_count(raw, "remains"),
        currency=bounded_text(str(currency), 16) if currency not in (None, "") else None,
        runs=_count(raw, "runs"),
        child_orders=child_orders,
        posts=_count(raw, "posts"),
        expiry=bounded_text(str(expiry), 64) if expiry not in (None, "") else None,
    )
