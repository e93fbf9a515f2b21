"""A faithful SmartPanel / Perfect Panel v2 simulator (aiohttp server).

Used by tests (in-process, driven through :class:`PanelState`) and as a demo
process (``python -m sandbox.panel_simulator --port 8081``).  It mirrors
the behaviour described in panel-api-v3.txt and panel-api-family.md:

* ``flavor="smart"`` (default) answers with our seed panel's SmartPanel shapes
  (``{"status":"success","order":N}``, bare-string per-id errors, refill
  ``{"success": "..."}``); ``flavor="pp"`` answers with Perfect Panel shapes
  (``{"order":N}``, ``{"error":..}`` objects, refill ``{"refill":"id"}``).
  Multi forms (``orders=``/``refills=``) work in both flavors.
* ``add`` validates in the order real panels do: key, action, service, fields
  required by the type, link, min/max, balance, duplicate active link.
* Links must be ``http(s)://host...``; an ``@username`` is also accepted for
  every type except Web Traffic and SEO, which need a real URL.
* Charges are debited at ``add`` (rate × quantity / 1000, 4 dp; Package and
  Custom Comments Package are flat; drip-feed × runs); subscriptions are
  charged per child order.
* Faults can be injected per action (one-shot or persistent), see
  :meth:`PanelState.inject_fault`.
* Load behaviour of a real panel, off by default: ``latency`` (seconds each
  answer takes), ``max_concurrent`` (requests served at once; above it a 429
  without Retry-After, like nginx's ``limit_conn``, or a wait for a free worker
  with ``overload="queue"``, like a PHP-FPM pool) and ``rate_limit`` (more than
  that many requests accepted in the trailing second: a 429 with Retry-After,
  like Laravel's throttle). ``throttled`` counts those 429s per action and
  ``timeline`` records (time, action, HTTP status) of every answer.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import random
import re
import signal
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from enum import Enum
from typing import Any, Final
from urllib.parse import urlsplit

from aiohttp import web

from bot.panel.parsing import normalize_service_type, to_bool
from sandbox.catalogs import doc_example_catalog, generate_catalog, realistic_catalog

__all__ = [
    "FAULT_MODES",
    "Fault",
    "PanelState",
    "SimOrder",
    "SimRefill",
    "SimulatorHandle",
    "create_panel_app",
    "main",
    "run_panel_simulator",
]

_TRANSPORT_FAULTS: Final = frozenset({"http500", "http429", "html", "empty", "invalid_json", "hang"})
_FORMAT_FAULTS: Final = frozenset(
    {"list_instead_of_object", "lowercase_statuses", "numbers_as_numbers", "trailing_comma"}
)
FAULT_MODES: Final = frozenset(
    _TRANSPORT_FAULTS | _FORMAT_FAULTS | {f"{mode}_after_commit" for mode in _TRANSPORT_FAULTS}
)
"""Transport faults answer without processing; ``*_after_commit`` process the
request (e.g. create the order) and then lose the reply; format faults reshape
a normal reply."""

_FINAL_STATUSES: Final = frozenset(
    {"completed", "partial", "canceled", "cancelled", "refunded", "expired", "error", "fail", "failed"}
)
_ACTIVE_REFILL: Final = frozenset({"pending", "in progress", "processing"})
_FOUR_DP: Final = Decimal("0.0001")
_MULTI_LIMIT: Final = 100

_REQUIRED: Final[dict[str, tuple[str, ...]]] = {
    "default": ("link", "quantity"),
    "package": ("link",),
    "seo": ("link", "quantity", "keywords"),
    "custom comments": ("link", "comments"),
    "custom comments package": ("link", "comments"),
    "mentions": ("link", "quantity", "usernames"),
    "mentions with hashtags": ("link", "quantity", "usernames", "hashtags"),
    "mentions custom list": ("link", "usernames"),
    "mentions hashtag": ("link", "quantity", "hashtag"),
    "mentions user followers": ("link", "quantity", "username"),
    "mentions media likers": ("link", "quantity", "media"),
    "comment likes": ("link", "quantity", "username"),
    "comment replies": ("link", "username", "comments"),
    "poll": ("link", "quantity", "answer_number"),
    "invites from groups": ("link", "quantity", "groups"),
    "subscriptions": ("username", "min", "max", "delay"),
    "web traffic": ("link", "quantity", "country", "device", "type_of_traffic"),
}
_FLAT_TYPES: Final = frozenset({"package", "custom comments package"})
_URL_ONLY_TYPES: Final = frozenset({"web traffic", "seo"})
_USERNAME_LINK = re.compile(r"^@[A-Za-z0-9_.]{2,64}$")

_CLOUDFLARE_HTML: Final = """<!DOCTYPE html>
<html lang="en-US"><head><title>Just a moment...</title>
<meta http-equiv="Content-Type" content="text/html; charset=UTF-8"></head>
<body><div class="main-wrapper"><h1>Checking if the site connection is secure</h1>
<p>panel.example needs to review the security of your connection before proceeding.</p>
<div class="footer">Ray ID: <code>7d1f2c3b4a5e6f70</code> &bull; Performance &amp; security by Cloudflare</div>
</div></body></html>"""


class _Unset(Enum):
    UNSET = "UNSET"


UNSET: Final = _Unset.UNSET


class _SimError(Exception):
    """A logical error answered as ``{"error": text}``."""


@dataclass
class Fault:
    """One injected fault; ``remaining=None`` means persistent until cleared."""

    mode: str
    remaining: int | None = 1
    seconds: float | None = None


@dataclass
class SimOrder:
    """One order as the panel stores it (status is the raw string it reports)."""

    order_id: str
    service: str
    type_key: str
    link: str | None
    quantity: int
    charge: Decimal
    status: str = "Pending"
    start_count: int | str | None = 0
    remains: int | str | None = 0
    params: dict[str, str] = field(default_factory=dict)
    billed: bool = True
    refunded: Decimal = Decimal("0")
    cancel_requested: bool = False
    parent_id: str | None = None
    # drip-feed
    runs: int | None = None
    interval: int | None = None
    per_run: int | None = None
    runs_done: int = 0
    children: list[str] = field(default_factory=list)
    # subscriptions
    username: str | None = None
    sub_min: int | None = None
    sub_max: int | None = None
    posts: int | None = None
    posts_done: int = 0
    old_posts: int = 0
    delay: int | None = None
    expiry: str | None = None

    @property
    def is_final(self) -> bool:
        return self.status.strip().lower() in _FINAL_STATUSES

    @property
    def is_dripfeed(self) -> bool:
        return self.runs is not None

    @property
    def is_subscription(self) -> bool:
        return self.type_key == "subscriptions"


@dataclass
class SimRefill:
    """One refill request."""

    refill_id: str
    order_id: str
    status: str = "Pending"


@dataclass(frozen=True)
class SimulatorHandle:
    """What :func:`run_panel_simulator` yields."""

    url: str
    state: PanelState
    port: int


def _money(value: Decimal) -> str:
    return f"{value.quantize(_FOUR_DP, rounding=ROUND_HALF_UP):.4f}"


def _parse_int(value: object) -> int | None:
    """Integers as PHP's ``is_numeric`` + intval would accept them."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    if not number.is_finite() or number != number.to_integral_value():
        return None
    return int(number)


def _lines(text: str | None) -> list[str]:
    if not text:
        return []
    return [line for line in re.split(r"\r\n|\n|\r", text) if line.strip()]


def _split_ids(raw: str) -> list[str]:
    return [part.strip() for part in raw.split(",") if part.strip()]


def _multi_ids(raw: str, error: str = "Incorrect request") -> list[str]:
    """The ids of a multi form (`orders=1,2,3`): at least one, at most 100, else the panel refuses."""
    ids = _split_ids(raw)
    if not ids or len(ids) > _MULTI_LIMIT:
        raise _SimError(error)
    return ids


def _per_order(raw: str, field: str, act: Callable[[str], Any]) -> list[dict[str, Any]]:
    """PP's array reply to a multi write: `{"order": id, field: result}`, or an error object per id."""
    items: list[dict[str, Any]] = []
    for order_id in _multi_ids(raw):
        try:
            value = act(order_id)
        except _SimError as exc:
            value = {"error": str(exc)}
        items.append({"order": _id_value(order_id), field: value})
    return items


def _id_value(order_id: str) -> int | str:
    return int(order_id) if order_id.isdigit() else order_id


class PanelState:
    """All simulator data plus test controls; plain Python, no I/O.

    Tests create one, drive it directly (``tick``, ``complete``, faults) and
    inspect ``orders``, ``balance`` and ``requests``.
    """

    def __init__(
        self,
        *,
        api_key: str = "test-key",
        balance: Decimal | int | str = Decimal("1000"),
        currency: str = "USD",
        catalog: list[dict[str, Any]] | None = None,
        flavor: str = "smart",
        seed: int = 0,
        partial_chance: float = 0.05,
        refill_reject_chance: float = 0.1,
        refill_allows_partial: bool = True,
        progress_steps: int = 2,
        hang_seconds: float = 5.0,
        error_http_status: int = 200,
        allowed_delays: Iterable[int] = (0, 5, 10, 15, 30, 60, 90),
        next_order_id: int = 1000,
        next_refill_id: int = 1,
        latency: float = 0.0,
        max_concurrent: int | None = None,
        overload: str = "429",
        rate_limit: float | None = None,
    ) -> None:
        if flavor not in ("smart", "pp"):
            raise ValueError("flavor must be 'smart' or 'pp'")
        if overload not in ("429", "queue"):
            raise ValueError("overload must be '429' or 'queue'")
        self.api_key = api_key
        self.balance = Decimal(str(balance))
        self.currency = currency
        self.catalog: list[dict[str, Any]] = catalog if catalog is not None else realistic_catalog()
        self.flavor = flavor
        self.rng = random.Random(seed)
        self.partial_chance = partial_chance
        self.refill_reject_chance = refill_reject_chance
        self.refill_allows_partial = refill_allows_partial
        self.progress_steps = max(1, progress_steps)
        self.hang_seconds = hang_seconds
        self.error_http_status = error_http_status
        self.allowed_delays = frozenset(allowed_delays)
        self.orders: dict[str, SimOrder] = {}
        self.refills: dict[str, SimRefill] = {}
        self.next_order_id = next_order_id
        self.next_refill_id = next_refill_id
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.faults: dict[str, list[Fault]] = {}
        self.today: date | None = None
        self.ticks = 0
        self._clock: asyncio.Task[None] | None = None
        # load behaviour (see the module docstring)
        self.latency = latency
        self.max_concurrent = max_concurrent
        self.overload = overload
        self.rate_limit = rate_limit
        self.in_flight = 0
        self.peak_in_flight = 0
        self.throttled: dict[str, int] = {}
        self.timeline: deque[tuple[float, str, int]] = deque(maxlen=100_000)
        self._accepted: deque[float] = deque()
        self._workers: asyncio.Semaphore | None = None

    # -- fault injection ---------------------------------------------------

    def inject_fault(
        self, action: str, mode: str, *, times: int | None = 1, seconds: float | None = None
    ) -> None:
        """Queue ``mode`` for the next ``times`` calls of ``action`` ("*" = any action).

        ``times=None`` keeps the fault until :meth:`clear_faults`. ``seconds``
        overrides :attr:`hang_seconds` for hang faults.
        """
        if mode not in FAULT_MODES:
            raise ValueError(f"unknown fault mode {mode!r}")
        self.faults.setdefault(action, []).append(Fault(mode=mode, remaining=times, seconds=seconds))

    def set_fault(self, action: str, mode: str, *, seconds: float | None = None) -> None:
        """Persistent fault (shorthand for ``inject_fault(..., times=None)``)."""
        self.inject_fault(action, mode, times=None, seconds=seconds)

    def clear_faults(self, action: str | None = None) -> None:
        if action is None:
            self.faults.clear()
        else:
            self.faults.pop(action, None)

    def take_faults(self, action: str) -> tuple[Fault | None, set[str]]:
        """Consume the faults for one call: the first transport fault, all format faults."""
        transport: Fault | None = None
        formats: set[str] = set()
        for bucket in (action, "*"):
            queue = self.faults.get(bucket, [])
            for fault in list(queue):
                is_format = fault.mode in _FORMAT_FAULTS
                if not is_format and transport is not None:
                    continue
                if is_format:
                    formats.add(fault.mode)
                else:
                    transport = fault
                if fault.remaining is not None:
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        queue.remove(fault)
            if not queue:
                self.faults.pop(bucket, None)
        return transport, formats

    def count(self, action: str) -> int:
        """How many requests of ``action`` arrived (faulted ones included)."""
        return sum(1 for logged, _ in self.requests if logged == action)

    # -- load limits ---------------------------------------------------------

    def over_limit(self, action: str, now: float) -> int | None:
        """None if the request may be served now, else the Retry-After seconds (0 = no header).

        Counts the request as accepted for the rate limit when it passes.
        """
        busy = self.max_concurrent is not None and self.in_flight >= self.max_concurrent
        if busy and self.overload == "429":
            self.throttled[action] = self.throttled.get(action, 0) + 1
            return 0
        if self.rate_limit is not None:
            while self._accepted and self._accepted[0] <= now - 1.0:
                self._accepted.popleft()
            if len(self._accepted) >= self.rate_limit:
                self.throttled[action] = self.throttled.get(action, 0) + 1
                return max(1, math.ceil(self._accepted[0] + 1.0 - now))
            self._accepted.append(now)
        return None

    async def serve_slot(self) -> None:
        """Wait for a free worker (``overload="queue"``), then count the request in flight."""
        if self.max_concurrent is not None and self.overload == "queue":
            if self._workers is None:
                self._workers = asyncio.Semaphore(self.max_concurrent)
            await self._workers.acquire()
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)

    def free_slot(self) -> None:
        self.in_flight -= 1
        if self._workers is not None and self.overload == "queue":
            self._workers.release()

    # -- catalog -----------------------------------------------------------

    def service(self, service_id: object) -> dict[str, Any] | None:
        wanted = str(service_id).strip()
        for entry in self.catalog:
            if str(entry.get("service", "")).strip() == wanted:
                return entry
        return None

    @staticmethod
    def _rate(service: Mapping[str, Any]) -> Decimal:
        return Decimal(str(service.get("rate", "0")).strip())

    @staticmethod
    def _limits(service: Mapping[str, Any]) -> tuple[int, int]:
        return _parse_int(service.get("min")) or 0, _parse_int(service.get("max")) or 0

    # -- order helpers -----------------------------------------------------

    def order(self, order_id: object) -> SimOrder:
        return self.orders[str(order_id)]

    def _new_order_id(self) -> str:
        order_id = str(self.next_order_id)
        self.next_order_id += 1
        return order_id

    def _refund(self, order: SimOrder, amount: Decimal) -> None:
        amount = min(amount.quantize(_FOUR_DP, rounding=ROUND_HALF_UP), order.charge - order.refunded)
        if order.billed and amount > 0:
            order.refunded += amount
            self.balance += amount

    def _today(self) -> date:
        return self.today or date.today()

    def refills_of(self, order_id: object) -> list[SimRefill]:
        return [refill for refill in self.refills.values() if refill.order_id == str(order_id)]

    # -- lifecycle controls for tests ----------------------------------------

    def advance(
        self,
        order_id: object,
        *,
        status: str | None = None,
        remains: int | str | _Unset | None = UNSET,
        start_count: int | str | _Unset | None = UNSET,
    ) -> SimOrder:
        """Set raw fields as-is (any status spelling, "Unknown" remains, null start_count)."""
        order = self.order(order_id)
        if status is not None:
            order.status = status
        if not isinstance(remains, _Unset):
            order.remains = remains
        if not isinstance(start_count, _Unset):
            order.start_count = start_count
        return order

    def complete(self, order_id: object) -> SimOrder:
        order = self.order(order_id)
        order.status = "Completed"
        order.remains = 0
        if order.start_count in (0, None):
            order.start_count = self.rng.randint(0, 50_000)
        return order

    def make_partial(self, order_id: object, remains: int) -> SimOrder:
        """Partial with a pro-rata refund of ``charge × remains / quantity``."""
        order = self.order(order_id)
        order.status = "Partial"
        order.remains = remains
        if order.quantity > 0:
            self._refund(
                order, order.charge * Decimal(min(remains, order.quantity)) / Decimal(order.quantity)
            )
        return order

    def cancel_now(self, order_id: object) -> SimOrder:
        """Canceled with ``remains = quantity`` and a full refund.

        Unfinished child orders (drip-feed runs, subscription posts) are
        canceled too; a subscription refunds only its undelivered children.
        """
        order = self.order(order_id)
        order.status = "Canceled"
        order.cancel_requested = False
        undelivered = Decimal("0")
        for child_id in order.children:
            child = self.orders[child_id]
            if not child.is_final:
                child.status = "Canceled"
                child.remains = child.quantity
                undelivered += child.charge
        if order.is_subscription:
            self._refund(order, undelivered)
        else:
            order.remains = order.quantity
            self._refund(order, order.charge - order.refunded)
        return order

    def advance_refill(self, refill_id: object, status: str) -> SimRefill:
        refill = self.refills[str(refill_id)]
        refill.status = status
        return refill

    def tick(self) -> None:
        """Advance every unfinished order and refill one step."""
        self.ticks += 1
        for order in list(self.orders.values()):
            if order.is_final:
                continue
            if order.cancel_requested:
                self.cancel_now(order.order_id)
            elif order.is_subscription:
                self._step_subscription(order)
            elif order.is_dripfeed:
                self._step_dripfeed(order)
            else:
                self._step_regular(order)
        for refill in list(self.refills.values()):
            self._step_refill(refill)

    def _step_regular(self, order: SimOrder) -> None:
        status = order.status.strip().lower()
        if status == "pending":
            order.status = "Processing"
        elif status == "processing":
            order.status = "In progress"
            order.start_count = self.rng.randint(0, 50_000)
            order.remains = order.quantity
        else:
            remains = _parse_int(order.remains)
            remains = order.quantity if remains is None else remains
            remains -= max(1, math.ceil(order.quantity / self.progress_steps))
            if remains > 0:
                order.status = "In progress"
                order.remains = remains
            else:
                self._finish(order)

    def _finish(self, order: SimOrder) -> None:
        if order.quantity > 1 and self.rng.random() < self.partial_chance:
            self.make_partial(order.order_id, self.rng.randint(1, order.quantity - 1))
        else:
            order.status = "Completed"
            order.remains = 0

    def _spawn_child(self, parent: SimOrder, quantity: int, charge: Decimal, *, billed: bool) -> SimOrder:
        child = SimOrder(
            order_id=self._new_order_id(),
            service=parent.service,
            type_key="default",
            link=parent.link or parent.username,
            quantity=quantity,
            charge=charge,
            remains=quantity,
            billed=billed,
            parent_id=parent.order_id,
        )
        self.orders[child.order_id] = child
        parent.children.append(child.order_id)
        return child

    def _children_remains(self, parent: SimOrder) -> tuple[int, bool]:
        total = 0
        all_final = True
        for child_id in parent.children:
            child = self.orders[child_id]
            all_final = all_final and child.is_final
            remains = _parse_int(child.remains)
            total += max(0, child.quantity if remains is None else remains)
        return total, all_final

    def _step_dripfeed(self, order: SimOrder) -> None:
        if order.status.strip().lower() == "pending":
            order.status = "In progress"
            order.start_count = self.rng.randint(0, 50_000)
        runs = order.runs or 0
        service = self.service(order.service) or {}
        if order.runs_done < runs:
            per_run = order.per_run or 0
            charge = (self._rate(service) * per_run / 1000).quantize(_FOUR_DP, rounding=ROUND_HALF_UP)
            self._spawn_child(order, per_run, charge, billed=False)
            order.runs_done += 1
        child_remains, all_final = self._children_remains(order)
        undelivered_runs = (runs - order.runs_done) * (order.per_run or 0)
        order.remains = child_remains + undelivered_runs
        if order.runs_done >= runs and all_final:
            if child_remains > 0:
                self.make_partial(order.order_id, child_remains)
            else:
                order.status = "Completed"
                order.remains = 0

    def _expired(self, order: SimOrder) -> bool:
        if not order.expiry:
            return False
        try:
            expiry = datetime.strptime(order.expiry, "%d/%m/%Y").date()
        except ValueError:
            return False
        return self._today() > expiry

    def _step_subscription(self, order: SimOrder) -> None:
        status = order.status.strip().lower()
        if self._expired(order):
            order.status = "Expired"
            return
        service = self.service(order.service) or {}
        rate = self._rate(service)
        wanted = 1
        if status == "pending":
            wanted += order.old_posts
        if order.posts is not None:
            wanted = min(wanted, order.posts - order.posts_done)
        for _ in range(max(0, wanted)):
            quantity = self.rng.randint(order.sub_min or 1, order.sub_max or order.sub_min or 1)
            charge = (rate * quantity / 1000).quantize(_FOUR_DP, rounding=ROUND_HALF_UP)
            if charge > self.balance:
                order.status = "Paused"
                return
            self.balance -= charge
            order.charge += charge
            self._spawn_child(order, quantity, charge, billed=False)
            order.posts_done += 1
        order.status = "Active"
        if order.posts is not None and order.posts_done >= order.posts:
            _, all_final = self._children_remains(order)
            if all_final:
                order.status = "Completed"

    def _step_refill(self, refill: SimRefill) -> None:
        status = refill.status.strip().lower()
        if status == "pending":
            refill.status = "In progress"
        elif status in ("in progress", "processing"):
            refill.status = "Rejected" if self.rng.random() < self.refill_reject_chance else "Completed"

    # -- clock ---------------------------------------------------------------

    def start_clock(self, step_seconds: float) -> None:
        """Tick automatically every ``step_seconds`` (needs a running loop; for demos)."""
        if self._clock is not None and not self._clock.done():
            return
        self._clock = asyncio.get_running_loop().create_task(self._run_clock(step_seconds))

    async def stop_clock(self) -> None:
        if self._clock is None:
            return
        self._clock.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._clock
        self._clock = None

    async def _run_clock(self, step_seconds: float) -> None:
        while True:
            await asyncio.sleep(step_seconds)
            self.tick()

    def summary(self) -> dict[str, Any]:
        """JSON-able overview for ``GET /_sim/state``."""
        by_status: dict[str, int] = {}
        for order in self.orders.values():
            by_status[order.status] = by_status.get(order.status, 0) + 1
        return {
            "flavor": self.flavor,
            "balance": _money(self.balance),
            "currency": self.currency,
            "services": len(self.catalog),
            "orders": len(self.orders),
            "orders_by_status": by_status,
            "refills": {refill_id: refill.status for refill_id, refill in self.refills.items()},
            "requests": len(self.requests),
            "ticks": self.ticks,
        }

    # -- API -----------------------------------------------------------------

    def _wording(self, smart: str, pp: str) -> str:
        return smart if self.flavor == "smart" else pp

    def dispatch(self, params: Mapping[str, str]) -> tuple[int, Any]:
        """Answer one API request: (HTTP status, JSON-able payload)."""
        try:
            if params.get("key", "") != self.api_key or not self.api_key:
                raise _SimError(
                    self._wording(
                        "API is Disable for this user or User Not Found! Contact the Support",
                        "Invalid API key",
                    )
                )
            action = params.get("action", "").strip()
            handler = {
                "services": self._api_services,
                "balance": self._api_balance,
                "add": self._api_add,
                "status": self._api_status,
                "refill": self._api_refill,
                "refill_status": self._api_refill_status,
                "cancel": self._api_cancel,
            }.get(action)
            if handler is None:
                raise _SimError(self._wording("This action is Invalid", "Incorrect request"))
            return 200, handler(params)
        except _SimError as exc:
            return self.error_http_status, {"error": str(exc)}

    def _api_services(self, params: Mapping[str, str]) -> Any:
        return json.loads(json.dumps(self.catalog))

    def _api_balance(self, params: Mapping[str, str]) -> Any:
        reply: dict[str, Any] = {"balance": _money(self.balance), "currency": self.currency}
        return {"status": "success", **reply} if self.flavor == "smart" else reply

    # add ------------------------------------------------------------------

    def _api_add(self, params: Mapping[str, str]) -> Any:
        service = self.service(params.get("service", ""))
        if not params.get("service", "").strip() or service is None:
            raise _SimError("Incorrect service ID")
        type_key = normalize_service_type(service.get("type"))
        required = _REQUIRED.get(type_key, _REQUIRED["default"])
        # 4. fields required by the type
        for name in required:
            if not params.get(name, "").strip():
                raise _SimError(f"There are missing required parameters: {name}")
        runs_raw = params.get("runs", "").strip()
        interval_raw = params.get("interval", "").strip()
        runs: int | None = None
        interval: int | None = None
        if runs_raw or interval_raw:
            if not to_bool(service.get("dripfeed")):
                raise _SimError("This services does not support Dripfeed feature!")
            if not runs_raw:
                raise _SimError("Runs is required")
            if not interval_raw:
                raise _SimError("Interval time is required")
            runs = _parse_int(runs_raw)
            interval = _parse_int(interval_raw)
            if runs is None or runs < 1:
                raise _SimError("Runs is required")
            if interval is None or interval < 1:
                raise _SimError("Interval time is required")
        self._check_type_fields(type_key, params)
        # 5. link
        if "link" in required:
            self._check_link(type_key, params["link"].strip())
        # 6. min/max
        quantity, per_run = self._quantity(type_key, service, params, runs)
        # 7. balance
        rate = self._rate(service)
        if type_key in _FLAT_TYPES:
            charge = rate
        elif type_key == "subscriptions":
            charge = Decimal("0")
            first_child = rate * Decimal(_parse_int(params["max"]) or 0) / 1000
            if first_child > self.balance:
                raise _SimError("Not enough funds on balance")
        else:
            charge = rate * Decimal(quantity) / 1000
        charge = charge.quantize(_FOUR_DP, rounding=ROUND_HALF_UP)
        if charge > self.balance:
            raise _SimError("Not enough funds on balance")
        # 8. duplicate active link
        target = params["username"].strip() if type_key == "subscriptions" else params["link"].strip()
        for existing in self.orders.values():
            if existing.parent_id is not None or existing.is_final:
                continue
            existing_target = existing.username if existing.is_subscription else existing.link
            if existing.service == str(service.get("service")).strip() and existing_target == target:
                raise _SimError(
                    "You have active order with this link. Please wait until order being completed."
                )
        self.balance -= charge
        order = SimOrder(
            order_id=self._new_order_id(),
            service=str(service.get("service")).strip(),
            type_key=type_key,
            link=params.get("link", "").strip() or None,
            quantity=quantity,
            charge=charge,
            remains=quantity,
            params={k: v for k, v in params.items() if k not in ("key", "action")},
            runs=runs,
            interval=interval,
            per_run=per_run,
        )
        if type_key == "subscriptions":
            order.username = params["username"].strip()
            order.sub_min = _parse_int(params["min"])
            order.sub_max = _parse_int(params["max"])
            order.posts = _parse_int(params.get("posts", "")) if params.get("posts", "").strip() else None
            order.old_posts = _parse_int(params.get("old_posts", "")) or 0
            order.delay = _parse_int(params["delay"])
            order.expiry = params.get("expiry", "").strip() or None
            order.remains = 0
        self.orders[order.order_id] = order
        order_value: int | str = int(order.order_id)
        return (
            {"status": "success", "order": order_value} if self.flavor == "smart" else {"order": order_value}
        )

    def _check_type_fields(self, type_key: str, params: Mapping[str, str]) -> None:
        if type_key == "poll":
            answer = _parse_int(params.get("answer_number"))
            if answer is None or answer < 1:
                raise _SimError("Incorrect answer number")
        if type_key == "web traffic":
            device = _parse_int(params.get("device"))
            if device is None or not 1 <= device <= 5:
                raise _SimError("Incorrect device")
            traffic = _parse_int(params.get("type_of_traffic"))
            if traffic is None or not 1 <= traffic <= 3:
                raise _SimError("Incorrect type of traffic")
            if traffic == 1 and not params.get("google_keyword", "").strip():
                raise _SimError("There are missing required parameters: google_keyword")
            if traffic == 2 and not params.get("referring_url", "").strip():
                raise _SimError("There are missing required parameters: referring_url")
        if type_key == "subscriptions":
            delay = _parse_int(params.get("delay"))
            if delay is None or delay not in self.allowed_delays:
                raise _SimError("Incorrect delay")
            expiry = params.get("expiry", "").strip()
            if expiry:
                try:
                    datetime.strptime(expiry, "%d/%m/%Y")
                except ValueError:
                    raise _SimError("Incorrect expiry date") from None
            for name in ("posts", "old_posts"):
                raw = params.get(name, "").strip()
                if raw and (_parse_int(raw) is None or (_parse_int(raw) or 0) < 0):
                    raise _SimError(f"Incorrect {name}")

    @staticmethod
    def _check_link(type_key: str, link: str) -> None:
        if link.startswith("@") and type_key not in _URL_ONLY_TYPES and _USERNAME_LINK.match(link):
            return
        parts = urlsplit(link)
        if parts.scheme.lower() in ("http", "https") and parts.hostname and not re.search(r"\s", link):
            return
        raise _SimError("Incorrect link")

    def _quantity(
        self, type_key: str, service: Mapping[str, Any], params: Mapping[str, str], runs: int | None
    ) -> tuple[int, int | None]:
        """Validate min/max; returns (total quantity, per-run quantity for drip-feed)."""
        low, high = self._limits(service)
        if type_key in _FLAT_TYPES:
            return (len(_lines(params.get("comments"))) or 1), None
        if type_key == "subscriptions":
            sub_min = _parse_int(params.get("min"))
            sub_max = _parse_int(params.get("max"))
            if sub_min is None or sub_max is None or sub_min > sub_max:
                raise _SimError("Incorrect quantity")
            self._range(sub_min, low, high)
            self._range(sub_max, low, high)
            return 0, None
        if type_key in ("custom comments", "comment replies"):
            quantity: int | None = len(_lines(params.get("comments")))
        elif type_key == "mentions custom list":
            quantity = len(_lines(params.get("usernames")))
        else:
            quantity = _parse_int(params.get("quantity"))
        if quantity is None or quantity <= 0:
            raise _SimError("Incorrect quantity")
        total = quantity * (runs or 1)
        self._range(total, low, high)
        return total, (quantity if runs is not None else None)

    @staticmethod
    def _range(quantity: int, low: int, high: int) -> None:
        if quantity < low:
            raise _SimError(f"Quantity less than minimal {low}")
        if high and quantity > high:
            raise _SimError(f"Quantity more than maximum {high}")

    # status -----------------------------------------------------------------

    def _order_reply(self, order: SimOrder, *, multi: bool) -> dict[str, Any]:
        reply: dict[str, Any] = {}
        if self.flavor == "smart":
            reply["order"] = order.order_id
        if order.is_subscription:
            reply.update(
                {
                    "status": order.status,
                    "charge": _money(order.charge),
                    "posts": str(order.posts_done),
                    "orders": [_id_value(child) for child in order.children],
                    "currency": self.currency,
                }
            )
            if order.expiry:
                reply["expiry"] = order.expiry
            return reply
        reply["charge"] = _money(order.charge)
        reply["start_count"] = None if order.start_count is None else str(order.start_count)
        reply["status"] = order.status
        reply["remains"] = None if order.remains is None else str(order.remains)
        if not multi or self.flavor == "pp":
            reply["currency"] = self.currency
        if order.is_dripfeed:
            reply["runs"] = str(order.runs_done)
            reply["orders"] = [_id_value(child) for child in order.children]
        return reply

    def _missing_order_error(self) -> str:
        return self._wording("Order ID not Found", "Incorrect order ID")

    def _api_status(self, params: Mapping[str, str]) -> Any:
        if "orders" in params:
            ids = _multi_ids(params["orders"], self._wording("This action is Invalid", "Incorrect request"))
            keyed: dict[str, Any] = {}
            for order_id in ids:
                order = self.orders.get(order_id)
                if order is not None:
                    keyed[order_id] = self._order_reply(order, multi=True)
                elif self.flavor == "smart":
                    keyed[order_id] = "Incorrect order ID"
                else:
                    keyed[order_id] = {"error": "Incorrect order ID"}
            return keyed
        order = self.orders.get(params.get("order", "").strip())
        if order is None:
            raise _SimError("Incorrect order ID")
        return self._order_reply(order, multi=False)

    # refill -----------------------------------------------------------------

    def _create_refill(self, order_id: str) -> SimRefill:
        order = self.orders.get(order_id)
        if order is None:
            raise _SimError(self._missing_order_error())
        service = self.service(order.service) or {}
        if not to_bool(service.get("refill")):
            raise _SimError(self._wording("Refill is disabled for this service", "Refill not allowed"))
        allowed = {"completed", "partial"} if self.refill_allows_partial else {"completed"}
        if order.status.strip().lower() not in allowed:
            raise _SimError("The order is not completed")
        if any(r.status.strip().lower() in _ACTIVE_REFILL for r in self.refills_of(order_id)):
            raise _SimError("Refill already in progress")
        refill = SimRefill(refill_id=str(self.next_refill_id), order_id=order_id)
        self.next_refill_id += 1
        self.refills[refill.refill_id] = refill
        return refill

    def _api_refill(self, params: Mapping[str, str]) -> Any:
        if "orders" in params:
            return _per_order(params["orders"], "refill", lambda oid: int(self._create_refill(oid).refill_id))
        refill = self._create_refill(params.get("order", "").strip())
        if self.flavor == "smart":
            return {"success": "Your order will be refill asap. Thank you for patience."}
        return {"refill": refill.refill_id}

    def _api_refill_status(self, params: Mapping[str, str]) -> Any:
        if "refills" in params:
            items: list[dict[str, Any]] = []
            for refill_id in _multi_ids(params["refills"]):
                refill = self.refills.get(refill_id)
                status: Any = refill.status if refill else {"error": "Refill not found"}
                items.append({"refill": _id_value(refill_id), "status": status})
            return items
        refill = self.refills.get(params.get("refill", "").strip())
        if refill is None:
            raise _SimError("Refill not found")
        return {"status": refill.status}

    # cancel -----------------------------------------------------------------

    def _request_cancel(self, order_id: str) -> int:
        order = self.orders.get(order_id)
        if order is None:
            raise _SimError(self._missing_order_error())
        service = self.service(order.service) or {}
        if not to_bool(service.get("cancel")):
            raise _SimError("Cancel is disabled for this service")
        if order.is_final:
            raise _SimError("Order cannot be canceled in its current status")
        if order.cancel_requested:
            raise _SimError("Cancel request already in progress please wait")
        order.cancel_requested = True
        return 1  # PP's word for "accepted"

    def _api_cancel(self, params: Mapping[str, str]) -> Any:
        if "orders" in params:
            return _per_order(params["orders"], "cancel", self._request_cancel)
        self._request_cancel(params.get("order", "").strip())
        if self.flavor == "smart":
            return {"success": "Your order will be cancel asap. Thank you for patience."}
        return {"cancel": 1}


# -- reply reshaping (format faults) ------------------------------------------

_FLOAT_KEYS: Final = frozenset({"charge", "balance", "rate"})
_INT_KEYS: Final = frozenset(
    {"order", "start_count", "remains", "service", "min", "max", "refill", "runs", "posts"}
)


def _numbers_as_numbers(payload: Any, key: str | None = None) -> Any:
    if isinstance(payload, dict):
        return {k: _numbers_as_numbers(v, k) for k, v in payload.items()}
    if isinstance(payload, list):
        return [_numbers_as_numbers(item, key) for item in payload]
    if isinstance(payload, str) and key is not None:
        text = payload.strip()
        if key in _FLOAT_KEYS:
            with contextlib.suppress(ValueError):
                return float(text)
        if (key in _INT_KEYS or key == "orders") and re.fullmatch(r"-?\d+", text):
            return int(text)
    return payload


def _lowercase_statuses(payload: Any) -> Any:
    if isinstance(payload, dict):
        return {
            k: v.lower() if k == "status" and isinstance(v, str) else _lowercase_statuses(v)
            for k, v in payload.items()
        }
    if isinstance(payload, list):
        return [_lowercase_statuses(item) for item in payload]
    return payload


def _as_list(payload: Any) -> Any:
    """Multi-status keyed object -> list of entries carrying their "order" id."""
    if not isinstance(payload, dict) or "error" in payload or "status" in payload:
        return payload
    items: list[Any] = []
    for order_id, entry in payload.items():
        if isinstance(entry, dict):
            items.append({"order": _id_value(order_id), **{k: v for k, v in entry.items() if k != "order"}})
        else:
            items.append({"order": _id_value(order_id), "error": entry})
    return items


def _reshape(payload: Any, formats: set[str], action: str, params: Mapping[str, str]) -> Any:
    if "list_instead_of_object" in formats and action == "status" and "orders" in params:
        payload = _as_list(payload)
    if "lowercase_statuses" in formats:
        payload = _lowercase_statuses(payload)
    if "numbers_as_numbers" in formats:
        payload = _numbers_as_numbers(payload)
    return payload


# -- HTTP layer ------------------------------------------------------------

_STATE_KEY: Final = web.AppKey("panel_state", PanelState)
_WAKE_KEY: Final = web.AppKey("panel_wake", asyncio.Event)


async def _fault_response(
    app: web.Application, fault: Fault, mode: str, normal: web.Response
) -> web.Response:
    state = app[_STATE_KEY]
    if mode == "hang":
        seconds = fault.seconds if fault.seconds is not None else state.hang_seconds
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(app[_WAKE_KEY].wait(), timeout=seconds)
        return normal
    if mode == "http500":
        return web.Response(
            status=500,
            text="<html><body><h1>500 Internal Server Error</h1></body></html>",
            content_type="text/html",
        )
    if mode == "http429":
        return web.Response(
            status=429,
            text=json.dumps({"message": "Too Many Attempts."}),
            content_type="application/json",
            headers={"Retry-After": "1", "X-RateLimit-Limit": "100", "X-RateLimit-Remaining": "0"},
        )
    if mode == "html":
        return web.Response(status=200, text=_CLOUDFLARE_HTML, content_type="text/html")
    if mode == "empty":
        return web.Response(status=200, body=b"", content_type="text/html")
    # invalid_json: a reply cut in the middle, served as JSON
    return web.Response(status=200, text='{"status":"success","order":', content_type="application/json")


async def _handle_api(request: web.Request) -> web.Response:
    """The single API endpoint: $_REQUEST semantics (query string + form body)."""
    app = request.app
    state = app[_STATE_KEY]
    params: dict[str, str] = {k: v for k, v in request.query.items()}
    if request.method == "POST" and request.can_read_body:
        form = await request.post()
        for name, value in form.items():
            if isinstance(value, str):
                params[name] = value
    action = params.get("action", "")
    state.requests.append((action, {k: v for k, v in params.items() if k != "key"}))
    loop = asyncio.get_running_loop()
    retry_after = state.over_limit(action, loop.time())
    if retry_after is not None:
        state.timeline.append((loop.time(), action, 429))
        return web.Response(
            status=429,
            text=json.dumps({"message": "Too Many Attempts."}),
            content_type="application/json",
            headers={"Retry-After": str(retry_after)} if retry_after else None,
        )
    await state.serve_slot()
    try:
        if state.latency > 0:
            await asyncio.sleep(state.latency)
        response = await _serve_api(app, state, action, params)
    finally:
        state.free_slot()
    state.timeline.append((loop.time(), action, response.status))
    return response


async def _serve_api(
    app: web.Application, state: PanelState, action: str, params: Mapping[str, str]
) -> web.Response:
    transport, formats = state.take_faults(action)
    error_reply = web.Response(
        status=500, text="<html><body>upstream gave up</body></html>", content_type="text/html"
    )
    if transport is not None and not transport.mode.endswith("_after_commit"):
        return await _fault_response(app, transport, transport.mode, error_reply)
    http_status, payload = state.dispatch(params)
    payload = _reshape(payload, formats, action, params)
    text = json.dumps(payload, ensure_ascii=False)
    if "trailing_comma" in formats and text.endswith("}") and text != "{}":
        text = text[:-1] + ",}"
    normal = web.Response(status=http_status, text=text, content_type="application/json")
    if transport is not None:
        return await _fault_response(app, transport, transport.mode.removesuffix("_after_commit"), normal)
    return normal


async def _handle_tick(request: web.Request) -> web.Response:
    state = request.app[_STATE_KEY]
    state.tick()
    return web.json_response(state.summary())


async def _handle_state(request: web.Request) -> web.Response:
    return web.json_response(request.app[_STATE_KEY].summary())


async def _wake_hangs(app: web.Application) -> None:
    app[_WAKE_KEY].set()


def create_panel_app(state: PanelState, path: str = "/api/v3") -> web.Application:
    """The aiohttp application: API on ``path`` (GET and POST) plus ``/_sim/*`` controls."""
    app = web.Application()
    app[_STATE_KEY] = state
    app[_WAKE_KEY] = asyncio.Event()
    app.router.add_route("POST", path, _handle_api)
    app.router.add_route("GET", path, _handle_api)
    app.router.add_post("/_sim/tick", _handle_tick)
    app.router.add_get("/_sim/state", _handle_state)
    app.on_shutdown.append(_wake_hangs)
    return app


@contextlib.asynccontextmanager
async def run_panel_simulator(
    state: PanelState | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    path: str = "/api/v3",
) -> AsyncIterator[SimulatorHandle]:
    """Serve a simulator on ``host:port`` (0 = a free port) for the duration of the block."""
    state = state if state is not None else PanelState()
    runner = web.AppRunner(create_panel_app(state, path), access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound_port = int(runner.addresses[0][1])
        yield SimulatorHandle(url=f"http://{host}:{bound_port}{path}", state=state, port=bound_port)
    finally:
        await state.stop_clock()
        await runner.cleanup()


# -- command line -----------------------------------------------------------


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m sandbox.panel_simulator", description="Run the SMM panel simulator."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--path", default="/api/v3")
    parser.add_argument("--key", default="demo-key", help="API key the simulator accepts")
    parser.add_argument("--catalog", choices=("realistic", "doc", "generated"), default="realistic")
    parser.add_argument("--services", type=int, default=2000, help="size of the generated catalog")
    parser.add_argument("--tick-seconds", type=float, default=0.0, help="auto-advance orders (0 = off)")
    parser.add_argument("--balance", default="1000")
    parser.add_argument("--flavor", choices=("smart", "pp"), default="smart")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds each answer takes")
    parser.add_argument("--max-concurrent", type=int, help="requests served at once (default: no limit)")
    parser.add_argument(
        "--overload", choices=("429", "queue"), default="429", help="above --max-concurrent: 429 or wait"
    )
    parser.add_argument("--rate-limit", type=float, help="429 above this many requests per second")
    return parser


def _catalog(name: str, services: int, seed: int) -> list[dict[str, Any]]:
    if name == "doc":
        return doc_example_catalog()
    if name == "generated":
        return generate_catalog(services, max(1, services // 20), seed=seed)
    return realistic_catalog()


async def _serve(args: argparse.Namespace) -> None:
    state = PanelState(
        api_key=args.key,
        balance=Decimal(args.balance),
        catalog=_catalog(args.catalog, args.services, args.seed),
        flavor=args.flavor,
        seed=args.seed,
        latency=args.latency,
        max_concurrent=args.max_concurrent,
        overload=args.overload,
        rate_limit=args.rate_limit,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
    async with run_panel_simulator(state, args.host, args.port, path=args.path) as handle:
        if args.tick_seconds > 0:
            state.start_clock(args.tick_seconds)
        print(f"Panel simulator listening on {handle.url} ({len(state.catalog)} services)", flush=True)
        await stop.wait()
    print("Panel simulator stopped", flush=True)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m sandbox.panel_simulator``."""
    args = _build_parser().parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
