"""Typed panel errors and the wording-based classifier.

Panels of the Perfect Panel / SmartPanel family report every logical failure as
``{"error": "<free text>"}`` with wildly different wordings (and sometimes raw
i18n keys).  The bot needs to react by *meaning* (retry later, refund now, fix
the link, ...), so :func:`classify_error` maps the text to a typed exception by
lowercase substring matching (family doc §4).
"""

from __future__ import annotations

import re

__all__ = [
    "AddAcceptedWithError",
    "AddOutcomeUnknown",
    "BadLink",
    "BadRequest",
    "CancelRefused",
    "DripfeedUnsupported",
    "DuplicateActiveOrder",
    "InvalidApiKey",
    "NotEnoughFunds",
    "OrderNotFound",
    "PanelError",
    "QuantityOutOfRange",
    "RateLimited",
    "RefillRefused",
    "UnknownService",
    "UpstreamUnavailable",
    "classify_error",
]


class PanelError(Exception):
    """Base of every error the panel client raises.

    ``message`` is the upstream text (or our short description); it never
    contains the API key because the client scrubs it before raising.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


class InvalidApiKey(PanelError):
    """Wrong/suspended key: nothing will work until an admin fixes the config."""


class BadRequest(PanelError):
    """Incorrect request/action or missing parameters: a bug on our side."""


class UnknownService(PanelError):
    """The service id does not exist (any more) upstream."""


class BadLink(PanelError):
    """The panel refused the link; the customer has to fix it."""


class QuantityOutOfRange(PanelError):
    """Quantity outside the service's min/max; bounds parsed when the text has them."""

    def __init__(
        self, message: str, *, min_allowed: int | None = None, max_allowed: int | None = None
    ) -> None:
        super().__init__(message)
        self.min_allowed = min_allowed
        self.max_allowed = max_allowed


class NotEnoughFunds(PanelError):
    """Our reseller balance upstream is too low: retry after a top-up."""


class DuplicateActiveOrder(PanelError):
    """An unfinished order with the same link exists: retry after it finishes."""


class OrderNotFound(PanelError):
    """The panel does not know this order id."""


class RefillRefused(PanelError):
    """Refill not allowed / not completed / already in progress / not found."""


class CancelRefused(PanelError):
    """Cancel not allowed for this order or service, or already requested."""


class DripfeedUnsupported(PanelError):
    """Drip-feed parameters sent to a service that does not support them."""


class RateLimited(PanelError):
    """The panel asked us to slow down; retry later."""


class UpstreamUnavailable(PanelError):
    """Transport-level fault: timeout, connection error, HTTP 5xx/429, garbage body.

    ``reason`` is a short description; the response body is never included.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class AddOutcomeUnknown(UpstreamUnavailable):
    """``add`` got no usable answer: the order may or may not exist upstream.

    Never retry blindly (the API has no idempotency key); reconcile instead.
    """


class AddAcceptedWithError(PanelError):
    """``add`` answered an order id *and* an ``error``: the panel holds an order we cannot trust.

    Treated as placed (its status decides what happens next, refunds included) and put on the
    admins' problem list with the panel's words; never refunded as a refusal.
    """

    def __init__(self, message: str, upstream_id: str) -> None:
        super().__init__(message)
        self.upstream_id = upstream_id


# Ordered: the first matching rule wins, so the more specific meanings come
# first (e.g. "link_duplicate" before "link", "Refill is disabled for this
# service" before "service", "missing required parameters: link" before "link").
_RULES: tuple[tuple[type[PanelError], tuple[str, ...]], ...] = (
    (
        InvalidApiKey,
        (
            "api key",
            "api_key",
            "apikey",
            "api is disable",
            "user not found",
            "account has been suspended",
            "account suspended",
            "account is suspended",
        ),
    ),
    (NotEnoughFunds, ("not enough funds", "not_enough_funds", "insufficient", "low balance")),
    (
        DuplicateActiveOrder,
        ("active order with this link", "link_duplicate", "duplicate"),
    ),
    (
        DripfeedUnsupported,
        (
            "dripfeed",
            "drip-feed",
            "drip feed",
            "drip_feed",
            "runs is required",
            "interval time is required",
            "interval is required",
        ),
    ),
    (
        RefillRefused,
        ("refill", "not eligible", "not completed"),
    ),
    (CancelRefused, ("cancel",)),
    (RateLimited, ("too many requests", "rate limit", "ratelimit", "slow down", "too many attempts")),
    (
        BadRequest,
        (
            "incorrect request",
            "action is invalid",
            "incorrect action",
            "invalid action",
            "missing required",
            "missing parameter",
            "bad request",
        ),
    ),
    (
        OrderNotFound,
        (
            "incorrect order id",
            "order id not found",
            "order not found",
            "incorrect order",
            "invalid order",
            "order_id",
            "order id",
        ),
    ),
    (QuantityOutOfRange, ("quantity",)),
    (UnknownService, ("service",)),
    (BadLink, ("link",)),
)

_NUMBER = re.compile(r"(\d[\d\s,]*)")


def _quantity_error(message: str) -> QuantityOutOfRange:
    """Parse the bound out of the many quantity wordings.

    "less than ..." always names the minimum, even in the "less than maximum N"
    typo some panels ship; "more/greater than maximum" names the maximum.
    """
    lowered = message.lower()
    match = _NUMBER.search(message)
    if match is None:
        return QuantityOutOfRange(message)
    digits = re.sub(r"\D", "", match.group(1))
    if not digits:
        return QuantityOutOfRange(message)
    bound = int(digits)
    if "less than" in lowered or "minim" in lowered or "min_quantity" in lowered:
        return QuantityOutOfRange(message, min_allowed=bound)
    if "more than" in lowered or "greater than" in lowered or "maxim" in lowered or "max_quantity" in lowered:
        return QuantityOutOfRange(message, max_allowed=bound)
    return QuantityOutOfRange(message)


def classify_error(text: str) -> PanelError:
    """Map an upstream error text to the matching typed exception.

    Unknown wordings become a plain :class:`PanelError` carrying the text.
    """
    message = str(text).strip()
    lowered = message.lower()
    for error_type, needles in _RULES:
        if any(needle in lowered for needle in needles):
            if error_type is QuantityOutOfRange:
                return _quantity_error(message)
            return error_type(message)
    return PanelError(message)
