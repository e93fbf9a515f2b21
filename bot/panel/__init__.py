"""Upstream SMM panel client (Perfect Panel v2 / SmartPanel family).

Knows nothing of Telegram or our database; see ``client.PanelClient``.
"""

from bot.panel.client import MULTI_LIMIT, PanelClient
from bot.panel.errors import (
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
from bot.panel.models import (
    AddOrder,
    Balance,
    OrderStatus,
    PanelService,
    RefillState,
    RefillStatus,
    StatusGroup,
)
from bot.panel.parsing import (
    loads_tolerant,
    normalize_refill_status,
    normalize_service_type,
    normalize_status,
    to_bool,
    to_decimal,
    to_int,
)

__all__ = [
    "MULTI_LIMIT",
    "AddOrder",
    "AddOutcomeUnknown",
    "BadLink",
    "BadRequest",
    "Balance",
    "CancelRefused",
    "DripfeedUnsupported",
    "DuplicateActiveOrder",
    "InvalidApiKey",
    "NotEnoughFunds",
    "OrderNotFound",
    "OrderStatus",
    "PanelClient",
    "PanelError",
    "PanelService",
    "QuantityOutOfRange",
    "RateLimited",
    "RefillRefused",
    "RefillState",
    "RefillStatus",
    "StatusGroup",
    "UnknownService",
    "UpstreamUnavailable",
    "classify_error",
    "loads_tolerant",
    "normalize_refill_status",
    "normalize_service_type",
    "normalize_status",
    "to_bool",
    "to_decimal",
    "to_int",
]
