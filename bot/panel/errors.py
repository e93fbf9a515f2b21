"""Typed panel errors and the wording-based classifier.

Panels of the Perfect Panel / SmartPanel family report every logical failure as
``{"error": "<free text>"}`` with wildly different wordings (and sometimes raw
i18n keys).  The bot needs to react by *meaning* (retry later, refund now, fix
the link, ...), so :func:`classify_error` maps the text to a typed exception by
lowercase substring matching (docs/panel-api-family.md §4).
"""

from __future__ import annotations

import re

__all__ = [
    "ERROR_CODES",
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
    "PanelRedirected",
    "QuantityOutOfRange",
    "RateLimited",
    "RefillRefused",
    "UnknownService",
    "UnusableReply",
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


class UnusableReply(PanelError):
    """The panel answered for this one record with values no order can hold (``remains: "1e30"``).

    Only that record is affected: its order is kept as it is and the admins are told once.
    """


class PanelRedirected(UpstreamUnavailable):
    """The panel URL answered with a redirect; it is never followed (the POST body would be lost).

    ``location`` is where the panel points (query and credentials removed): the URL to configure.
    """

    def __init__(self, reason: str, location: str) -> None:
        super().__init__(reason)
        self.location = location


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


_MIN, _MAX = "min", "max"

ERROR_CODES: dict[int, tuple[type[PanelError], str | None]] = {
    102: (InvalidApiKey, None),  # bad key
    103: (InvalidApiKey, None),  # inactive (suspended) account
    104: (QuantityOutOfRange, _MIN),
    105: (QuantityOutOfRange, _MAX),
    106: (BadRequest, None),  # missing required fields
    107: (UnknownService, None),
    108: (NotEnoughFunds, None),
}
"""Numeric error codes some clones send beside the words (docs/panel-api-family.md §4).

A known code decides the meaning before any word is matched; the words (or the reply's own
`min`/`max` fields) only fill in the bound. Unknown codes fall back to the words."""


def _bound(message: str, reply_bound: object) -> int | None:
    if isinstance(reply_bound, int | str) and not isinstance(reply_bound, bool):
        text = str(reply_bound).strip()
        if text.isdecimal() and len(text) <= 13:
            return int(text)
    match = _NUMBER.search(message)
    digits = re.sub(r"\D", "", match.group(1)) if match else ""
    return int(digits) if digits and len(digits) <= 13 else None


def error_code(value: object) -> int | None:
    """The numeric error code of a reply's `status`/`code` field, when it is one (100..199)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        code = value
    elif isinstance(value, str) and value.strip().isdecimal() and len(value.strip()) == 3:
        code = int(value.strip())
    else:
        return None
    return code if 100 <= code <= 199 else None


def classify_error(
    text: str, *, code: int | None = None, reply: dict[str, object] | None = None
) -> PanelError:
    """Map an upstream error (numeric code first, then its text) to the matching typed exception.

    Unknown wordings become a plain :class:`PanelError` carrying the text.
    """
    message = str(text).strip()
    known = ERROR_CODES.get(code) if code is not None else None
    if known is not None:
        error_type, side = known
        shown = message or f"error {code}"
        if error_type is QuantityOutOfRange:
            bound = _bound(message, (reply or {}).get(side or ""))
            if side == _MIN:
                return QuantityOutOfRange(shown, min_allowed=bound)
            return QuantityOutOfRange(shown, max_allowed=bound)
        return error_type(shown)
    lowered = message.lower()
    for error_type, needles in _RULES:
        if any(needle in lowered for needle in needles):
            if error_type is QuantityOutOfRange:
                return _quantity_error(message)
            return error_type(message)
    return PanelError(message)
