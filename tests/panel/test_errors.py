"""Every error wording of docs/panel-api-family.md §4 maps to its typed exception."""

from __future__ import annotations

import pytest

from bot.panel import (
    AddOutcomeUnknown,
    BadLink,
    BadRequest,
    CancelRefused,
    DripfeedUnsupported,
    DuplicateActiveOrder,
    InvalidApiKey,
    NotEnoughFunds,
    OrderNotFound,
    PanelError,
    QuantityOutOfRange,
    RateLimited,
    RefillRefused,
    UnknownService,
    UpstreamUnavailable,
    classify_error,
)

WORDINGS: list[tuple[str, type[PanelError]]] = [
    ("Invalid API key", InvalidApiKey),
    ("Incorrect API key", InvalidApiKey),
    ("API is Disable for this user or User Not Found! Contact the Support", InvalidApiKey),
    ("Your account has been suspended.", InvalidApiKey),
    ("Incorrect request", BadRequest),
    ("This action is Invalid", BadRequest),
    ("Incorrect action", BadRequest),
    ("There are missing required parameters", BadRequest),
    ("There are missing required parameters: link", BadRequest),
    ("Incorrect service ID", UnknownService),
    ("Service ID does not exists", UnknownService),
    ("error.incorrect_service_id", UnknownService),
    ("Incorrect link", BadLink),
    ("Bad link", BadLink),
    ("Bad Link", BadLink),
    ("Invalid Link", BadLink),
    ("neworder.error.link", BadLink),
    ("Quantity less than minimal 100", QuantityOutOfRange),
    ("Quantity more than maximum 5000", QuantityOutOfRange),
    ("Incorrect quantity", QuantityOutOfRange),
    ("Quantity less than maximum 100", QuantityOutOfRange),
    ("Quantity must to be greater than or equal to minimum amount 100", QuantityOutOfRange),
    ("neworder.error.min_quantity", QuantityOutOfRange),
    ("neworder.error.max_quantity", QuantityOutOfRange),
    ("Not enough funds on balance", NotEnoughFunds),
    ("neworder.error.not_enough_funds", NotEnoughFunds),
    ("You have active order with this link. Please wait until order being completed.", DuplicateActiveOrder),
    ("neworder.error.link_duplicate", DuplicateActiveOrder),
    ("Incorrect order ID", OrderNotFound),
    ("Incorrect Order Id", OrderNotFound),
    ("Order ID not Found", OrderNotFound),
    ("Refill not found", RefillRefused),
    ("Refill not allowed", RefillRefused),
    ("Refill is disabled for this service", RefillRefused),
    ("The order is not completed", RefillRefused),
    ("Order not eligible for refill.", RefillRefused),
    ("Refill already in progress", RefillRefused),
    ("Cancel request already in progress please wait", CancelRefused),
    ("Cancel is disabled for this service", CancelRefused),
    ("This services does not support Dripfeed feature!", DripfeedUnsupported),
    ("Runs is required", DripfeedUnsupported),
    ("Interval time is required", DripfeedUnsupported),
    ("Too many requests", RateLimited),
]


@pytest.mark.parametrize(("text", "expected"), WORDINGS)
def test_classify_every_wording(text: str, expected: type[PanelError]) -> None:
    error = classify_error(text)
    assert type(error) is expected
    assert error.message == text
    assert str(error) == text


def test_unknown_text_is_plain_panel_error() -> None:
    error = classify_error("Something odd happened")
    assert type(error) is PanelError
    assert error.message == "Something odd happened"


@pytest.mark.parametrize(
    ("text", "min_allowed", "max_allowed"),
    [
        ("Quantity less than minimal 100", 100, None),
        ("Quantity more than maximum 5000", None, 5000),
        ("Quantity less than maximum 250", 250, None),  # the (sic) wording names the minimum
        ("Quantity must to be greater than or equal to minimum amount 10", 10, None),
        ("Quantity more than maximum 1 000 000", None, 1_000_000),
        ("Incorrect quantity", None, None),
        ("neworder.error.max_quantity", None, None),
    ],
)
def test_quantity_bounds(text: str, min_allowed: int | None, max_allowed: int | None) -> None:
    error = classify_error(text)
    assert isinstance(error, QuantityOutOfRange)
    assert error.min_allowed == min_allowed
    assert error.max_allowed == max_allowed


def test_add_outcome_unknown_is_upstream_unavailable() -> None:
    error = AddOutcomeUnknown("timeout after 30s")
    assert isinstance(error, UpstreamUnavailable)
    assert isinstance(error, PanelError)
    assert error.reason == "timeout after 30s"
    assert repr(error) == "AddOutcomeUnknown('timeout after 30s')"
