"""Order again: the answers of an earlier order, checked again against the service as it is now.

An order keeps what the panel's `add` was given (`Order.params`: field name → value, lists joined
by newlines, drip-feed implied by `runs`). Turning that back into form answers goes through the
form's own validators, so a quantity the service no longer allows, an expiry date now past or a
field the service type no longer has is never carried over: the first answer that fails is left
out and the form asks for it with the reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from bot.services.forms import FieldError, ServiceRules, applicable_fields, validate
from storage.models import Order


@dataclass(frozen=True)
class Prefill:
    """Answers for a new form; `failed` is why the first stored answer that no longer passes was dropped."""

    values: dict[str, Any]
    failed: FieldError | None = None


def _as_text(value: Any) -> str:
    if isinstance(value, list):
        return "\n".join(str(item) for item in value)
    return str(value)


def stored_answers(order: Order) -> dict[str, Any]:
    """What the order was placed with, by form field name (drip-feed as its yes/no choice)."""
    params: Mapping[str, Any] = order.params or {}
    answers = {name: value for name, value in params.items() if value is not None and value != ""}
    answers["dripfeed"] = "yes" if "runs" in answers else "no"
    if "link" not in answers and order.link:
        answers["link"] = order.link
    return answers


def prefill_from_order(order: Order, rules: ServiceRules, *, today: date) -> Prefill:
    """The order's answers re-validated field by field, in the order the form asks them.

    Optional fields the order left empty stay empty (skipped); a required field the order has no
    answer for (the service's type changed) is left unanswered, so the form simply asks it.
    """
    stored = stored_answers(order)
    values: dict[str, Any] = {}
    failed: FieldError | None = None
    seen: set[str] = set()
    # A choice (drip-feed, traffic type) adds or removes later questions: look again after each answer.
    while (
        item := next((f for f in applicable_fields(rules, values) if f.name not in seen), None)
    ) is not None:
        seen.add(item.name)
        if item.name not in stored:
            if item.optional:
                values[item.name] = None
            continue
        try:
            values[item.name] = validate(rules, item, _as_text(stored[item.name]), values, today=today)
        except FieldError as error:
            if failed is None:
                failed = error
    return Prefill(values, failed)
