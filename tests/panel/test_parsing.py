"""Tolerant converters and status/type normalisation (docs/panel-api-family.md §1-§3)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bot.panel import (
    AddOrder,
    RefillState,
    StatusGroup,
    loads_tolerant,
    normalize_refill_status,
    normalize_service_type,
    normalize_status,
    to_bool,
    to_decimal,
    to_int,
)
from bot.panel.parsing import parse_order_status, parse_service


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Pending", StatusGroup.PENDING),
        ("pending", StatusGroup.PENDING),
        ("Processing", StatusGroup.RUNNING),
        ("In progress", StatusGroup.RUNNING),
        ("In Progress", StatusGroup.RUNNING),
        ("inprogress", StatusGroup.RUNNING),
        ("in_progress", StatusGroup.RUNNING),
        ("In progess", StatusGroup.RUNNING),
        ("Active", StatusGroup.RUNNING),
        ("Paused", StatusGroup.RUNNING),
        ("Completed", StatusGroup.COMPLETED),
        ("complete", StatusGroup.COMPLETED),
        ("Success", StatusGroup.COMPLETED),
        ("Expired", StatusGroup.COMPLETED),
        ("Partial", StatusGroup.PARTIAL),
        ("PARTIAL", StatusGroup.PARTIAL),
        ("Canceled", StatusGroup.CANCELED),
        ("Cancelled", StatusGroup.CANCELED),
        ("Refunded", StatusGroup.CANCELED),
        ("refund", StatusGroup.CANCELED),
        ("Error", StatusGroup.CANCELED),
        ("Fail", StatusGroup.CANCELED),
        ("Failed", StatusGroup.CANCELED),
        ("  Completed ", StatusGroup.COMPLETED),
        ("Something new", StatusGroup.RUNNING),
        ("", StatusGroup.RUNNING),
        (None, StatusGroup.RUNNING),
    ],
)
def test_normalize_status(raw: str | None, expected: StatusGroup) -> None:
    assert normalize_status(raw) is expected


def test_is_final() -> None:
    finals = {group for group in StatusGroup if group.is_final}
    assert finals == {StatusGroup.COMPLETED, StatusGroup.PARTIAL, StatusGroup.CANCELED}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Pending", RefillState.PENDING),
        ("Awaiting", RefillState.PENDING),
        ("In progress", RefillState.RUNNING),
        ("Processing", RefillState.RUNNING),
        ("Completed", RefillState.COMPLETED),
        ("completed", RefillState.COMPLETED),
        ("Rejected", RefillState.REJECTED),
        ("Canceled", RefillState.REJECTED),
        ("Cancelled", RefillState.REJECTED),
        ("Error", RefillState.REJECTED),
        ("Failed", RefillState.REJECTED),
        ("???", RefillState.RUNNING),
        (None, RefillState.RUNNING),
    ],
)
def test_normalize_refill_status(raw: str | None, expected: RefillState) -> None:
    assert normalize_refill_status(raw) is expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Default", "default"),
        ("default", "default"),
        ("", "default"),
        (None, "default"),
        ("custom_comments", "custom comments"),
        ("Custom  Comments", "custom comments"),
        ("Custom Comments Package", "custom comments package"),
        ("subscriptions", "subscriptions"),
        ("Mentions Users Followers", "mentions user followers"),
        ("Mentions User Followers", "mentions user followers"),
        ("Invites From Groups", "invites from groups"),
        ("mentions hastag", "mentions hashtag"),
        ("Custom Replies", "comment replies"),
        ("SEO2", "seo"),
        ("Web Traffic", "web traffic"),
    ],
)
def test_normalize_service_type(raw: str | None, expected: str) -> None:
    assert normalize_service_type(raw) == expected


@pytest.mark.parametrize("value", [True, 1, "1", "true", "True", "TRUE", "yes", " yes ", 1.0])
def test_to_bool_true(value: object) -> None:
    assert to_bool(value) is True


@pytest.mark.parametrize("value", [False, 0, "0", "false", "no", "", None, "2", 2, [], {}])
def test_to_bool_false(value: object) -> None:
    assert to_bool(value) is False


def test_to_decimal_never_goes_through_binary_float() -> None:
    assert to_decimal(0.27819) == Decimal("0.27819")
    assert to_decimal(0.1) == Decimal("0.1")  # Decimal(0.1) would be 0.1000000000000000055...
    assert to_decimal("0.0360") == Decimal("0.0360")
    assert to_decimal(5) == Decimal(5)
    assert to_decimal(" 1.5 ") == Decimal("1.5")
    for bad in (None, "", "abc", True, "NaN", "inf"):
        assert to_decimal(bad) is None


def test_to_int() -> None:
    assert to_int("3572") == 3572
    assert to_int(3572) == 3572
    assert to_int(10.0) == 10
    assert to_int("-12") == -12
    assert to_int(" 7 ") == 7
    for bad in (None, "Unknown", "", True):
        assert to_int(bad) is None


def test_loads_tolerant_trailing_commas() -> None:
    assert loads_tolerant('{"status": "Completed",}') == {"status": "Completed"}
    assert loads_tolerant("[1, 2, ]") == [1, 2]
    assert loads_tolerant('{"a": [1,\n ],\n}') == {"a": [1]}
    # commas inside strings are data, not syntax
    assert loads_tolerant('{"s": ",}", "t": ", ]",}') == {"s": ",}", "t": ", ]"}
    assert loads_tolerant('{"s": "quote \\" ,}",}') == {"s": 'quote " ,}'}
    assert loads_tolerant('\ufeff{"ok": 1}') == {"ok": 1}
    for garbage in ("<html>", '{"order":', "", "Just a moment..."):
        with pytest.raises(ValueError):
            loads_tolerant(garbage)


def test_add_order_to_form_only_set_fields() -> None:
    order = AddOrder(service_id="7", link="https://x.test/p", quantity=100, runs=5, interval=30)
    assert order.to_form() == {
        "service": "7",
        "link": "https://x.test/p",
        "quantity": "100",
        "runs": "5",
        "interval": "30",
    }
    sub = AddOrder(
        service_id="17",
        username="someone",
        min=10,
        max=20,
        delay=0,
        extra={"country": "US", "key": "evil", "action": "balance"},
    )
    form = sub.to_form()
    assert form == {
        "service": "17",
        "username": "someone",
        "min": "10",
        "max": "20",
        "delay": "0",
        "country": "US",
    }
    hash(sub)  # frozen and hashable even with extra


def test_parse_service_tolerates_types() -> None:
    service = parse_service(
        {
            "service": 30,
            "name": "N",
            "category": "C",
            "type": "custom_comments",
            "rate": 0.8,
            "min": "100",
            "max": 2000000,
            "dripfeed": "1",
            "refill": True,
            "cancel": "yes",
            "desc": "via desc",
            "average_time": "0",
        }
    )
    assert service.service_id == "30"
    assert service.type == "custom_comments"
    assert service.type_key == "custom comments"
    assert service.rate == Decimal("0.8")
    assert (service.min, service.max) == (100, 2_000_000)
    assert (service.dripfeed, service.refill, service.cancel) == (True, True, True)
    assert service.description == "via desc"
    assert service.average_time is None
    other = parse_service({"service": "2", "rate": "1", "average_time": "3 hours"})
    assert other.description == ""
    assert other.average_time == "3 hours"
    assert other.type_key == "default"
    with pytest.raises(ValueError):
        parse_service({"service": "3", "rate": "abc"})
    with pytest.raises(ValueError):
        parse_service({"rate": "1"})


def test_parse_order_status_drift() -> None:
    status = parse_order_status(
        "5", {"charge": 0.27819, "start_count": None, "status": "Partial", "remains": "Unknown"}
    )
    assert status.charge == Decimal("0.27819")
    assert status.start_count is None
    assert status.remains is None
    assert status.status is StatusGroup.PARTIAL
    assert status.currency is None
    over = parse_order_status("6", {"status": "Completed", "remains": "-25", "start_count": 3572})
    assert over.remains == -25
    assert over.start_count == 3572
