"""Typed, immutable results of panel calls.

The rest of the bot codes against these instead of raw JSON, so upstream typing
drift (numbers as strings, floats, nulls) is absorbed in one place (parsing.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from decimal import Decimal
from enum import StrEnum

__all__ = [
    "AddOrder",
    "Balance",
    "Catalog",
    "OrderStatus",
    "PanelService",
    "RefillState",
    "RefillStatus",
    "RejectedService",
    "StatusGroup",
]


class StatusGroup(StrEnum):
    """The five meanings every raw order status collapses to (docs/panel-api-family.md §3)."""

    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    PARTIAL = "partial"
    CANCELED = "canceled"

    @property
    def is_final(self) -> bool:
        """True once the panel will not change the order any more."""
        return self in (StatusGroup.COMPLETED, StatusGroup.PARTIAL, StatusGroup.CANCELED)


class RefillState(StrEnum):
    """Meaning of a refill status."""

    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    REJECTED = "rejected"

    @property
    def is_final(self) -> bool:
        """True once the refill is done one way or the other."""
        return self in (RefillState.COMPLETED, RefillState.REJECTED)


@dataclass(frozen=True)
class PanelService:
    """One entry of the ``services`` list, typed."""

    service_id: str
    name: str
    category: str
    type: str
    type_key: str
    rate: Decimal
    min: int
    max: int
    dripfeed: bool
    refill: bool
    cancel: bool
    description: str = ""
    average_time: str | None = None


@dataclass(frozen=True)
class RejectedService:
    """A ``services`` entry that was skipped (or clamped): its id as the panel gave it, and why."""

    service_id: str
    reason: str
    skipped: bool = True


@dataclass(frozen=True)
class Catalog:
    """The ``services`` list: what can be sold, and each entry that could not be taken as it was."""

    services: list[PanelService]
    rejected: list[RejectedService] = field(default_factory=list)


@dataclass(frozen=True)
class OrderStatus:
    """Status of one order; ``remains`` is None when the panel says "Unknown"/null."""

    order_id: str
    status: StatusGroup
    status_raw: str
    charge: Decimal | None = None
    start_count: int | None = None
    remains: int | None = None
    currency: str | None = None
    runs: int | None = None
    child_orders: tuple[str, ...] = ()
    posts: int | None = None
    expiry: str | None = None


@dataclass(frozen=True)
class RefillStatus:
    """Status of one refill request."""

    refill_id: str
    state: RefillState
    status_raw: str


@dataclass(frozen=True)
class Balance:
    """Our reseller balance upstream; ``currency`` is "" when the panel omits it."""

    amount: Decimal
    currency: str


@dataclass(frozen=True)
class AddOrder:
    """Parameters of an ``add`` call; only the fields that are set are sent.

    Which fields a service needs depends on its type (docs/panel-api-family.md §2). Web
    Traffic fields are first-class too; anything else goes through ``extra``.
    """

    service_id: str
    link: str | None = None
    quantity: int | None = None
    runs: int | None = None
    interval: int | None = None
    comments: str | None = None
    usernames: str | None = None
    hashtags: str | None = None
    hashtag: str | None = None
    username: str | None = None
    media: str | None = None
    answer_number: int | None = None
    groups: str | None = None
    keywords: str | None = None
    min: int | None = None
    max: int | None = None
    posts: int | None = None
    old_posts: int | None = None
    delay: int | None = None
    expiry: str | None = None
    country: str | None = None
    device: int | None = None
    type_of_traffic: int | None = None
    google_keyword: str | None = None
    referring_url: str | None = None
    extra: Mapping[str, str] = field(default_factory=dict, hash=False)

    def to_form(self) -> dict[str, str]:
        """Form fields for the request body (``key``/``action`` are added by the client)."""
        form: dict[str, str] = {"service": str(self.service_id)}
        for f in fields(self):
            if f.name in ("service_id", "extra"):
                continue
            value = getattr(self, f.name)
            if value is None:
                continue
            form[f.name] = str(value)
        for name, value in self.extra.items():
            if name in ("key", "action"):
                continue
            form[str(name)] = str(value)
        return form
