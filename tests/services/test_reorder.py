"""Order again: an order's stored answers come back as the same form answers, or the first one that
no longer passes is asked again."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from bot.services.forms import ServiceRules, build_request
from bot.services.reorder import prefill_from_order
from storage.models import Order

TODAY = date(2026, 12, 6)


def rules(
    type_key: str = "default", *, low: int = 10, high: int = 10_000, dripfeed: bool = False
) -> ServiceRules:
    return ServiceRules(
        service_id="7", type_key=type_key, min_quantity=low, max_quantity=high, dripfeed=dripfeed
    )


def placed(service: ServiceRules, values: dict[str, Any]) -> Order:
    """The order row OrderService.place writes for these answers."""
    request = build_request(service, values)
    return Order(link=request.link, quantity=request.total_quantity, params=dict(request.params))


@pytest.mark.parametrize(
    ("service", "values"),
    [
        (rules(), {"link": "https://instagram.com/ann", "quantity": 300}),
        (
            rules(dripfeed=True),
            {
                "link": "https://instagram.com/ann",
                "dripfeed": "yes",
                "quantity": 100,
                "runs": 5,
                "interval": 30,
            },
        ),
        (rules(dripfeed=True), {"link": "https://instagram.com/ann", "dripfeed": "no", "quantity": 300}),
        (
            rules("mentions with hashtags"),
            {
                "link": "https://instagram.com/p/1",
                "quantity": 50,
                "usernames": ["ann", "bob"],
                "hashtags": ["#one", "#two"],
            },
        ),
        (
            rules("subscriptions"),
            {"username": "ann", "min": 100, "max": 200, "posts": 5, "delay": "30", "expiry": "31/12/2026"},
        ),
        (
            rules("subscriptions"),
            {"username": "ann", "min": 100, "max": 200, "posts": 5, "delay": "0", "expiry": None},
        ),
        (
            rules("custom comments", low=1, high=100),
            {"link": "https://t.me/c/1", "comments": ["Nice", "Wow"]},
        ),
    ],
)
def test_the_same_answers_come_back(service: ServiceRules, values: dict[str, Any]) -> None:
    prefill = prefill_from_order(placed(service, values), service, today=TODAY)
    assert prefill.failed is None
    assert prefill.values == values


def test_a_quantity_out_of_the_new_range_is_asked_again_and_the_rest_kept() -> None:
    order = placed(rules(), {"link": "https://instagram.com/ann", "quantity": 300})
    prefill = prefill_from_order(order, rules(low=500), today=TODAY)
    assert prefill.failed is not None and prefill.failed.key == "form.error.quantity_range"
    assert prefill.failed.values == {"min": 500, "max": 10_000}
    assert prefill.values == {"link": "https://instagram.com/ann"}


def test_an_expiry_now_past_is_asked_again() -> None:
    service = rules("subscriptions")
    values = {"username": "ann", "min": 100, "max": 200, "posts": 5, "delay": "30", "expiry": "10/12/2026"}
    prefill = prefill_from_order(placed(service, values), service, today=date(2026, 12, 20))
    assert prefill.failed is not None and prefill.failed.key == "form.error.date_past"
    assert "expiry" not in prefill.values and prefill.values["posts"] == 5


def test_drip_feed_the_service_no_longer_offers_is_dropped() -> None:
    values = {
        "link": "https://instagram.com/ann",
        "dripfeed": "yes",
        "quantity": 100,
        "runs": 5,
        "interval": 30,
    }
    order = placed(rules(dripfeed=True), values)
    prefill = prefill_from_order(order, rules(dripfeed=False), today=TODAY)
    assert prefill.failed is None
    assert prefill.values == {"link": "https://instagram.com/ann", "quantity": 100}
