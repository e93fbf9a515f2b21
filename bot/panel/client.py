"""Async client for Perfect Panel v2 / SmartPanel-style reseller APIs.

Design notes (see /work/shared/panel-api-family.md):

* Every call is a form-encoded POST carrying ``key`` and ``action``; PHP panels
  ignore JSON bodies.
* Reads (services, status(es), balance, refill status(es)) are retried on
  transient faults with exponential backoff. Writes (add, refill, cancel) are
  never retried: the API has no idempotency key, so a lost ``add`` reply is
  reported as :class:`AddOutcomeUnknown` for the caller to reconcile. The one
  exception is an HTTP 429, a refusal before the panel read the request.
* Every request passes an adaptive limiter (``bot/panel/limiter.py``): how many
  at once and how fast is learned from 429s, 5xx and latency; ``add`` goes first.
* Multi-id actions are chunked at 100 ids and sent one chunk after another.
  A chunk-level failure of a *read* raises; for *writes* it is recorded per id
  (earlier chunks may already have been accepted upstream) and later chunks
  are not sent.
* The API key is a ``SecretStr``; it is scrubbed from upstream error texts and
  never logged. Logs are DEBUG-level action names and timings only.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any, Self, TypeVar

import aiohttp
from pydantic import SecretStr

from bot.panel.errors import (
    AddAcceptedWithError,
    AddOutcomeUnknown,
    CancelRefused,
    OrderNotFound,
    PanelError,
    RateLimited,
    RefillRefused,
    UpstreamUnavailable,
    classify_error,
)
from bot.panel.limiter import AdaptiveLimiter, Priority, QueueTimeout, Slot
from bot.panel.models import AddOrder, Balance, OrderStatus, PanelService, RefillStatus
from bot.panel.parsing import (
    is_known_refill_status,
    loads_tolerant,
    normalize_refill_status,
    parse_order_status,
    parse_service,
    to_bool,
    to_decimal,
    to_str_id,
)

__all__ = ["MULTI_LIMIT", "PanelClient"]

logger = logging.getLogger(__name__)

MULTI_LIMIT = 100
"""Most panels accept at most 100 ids per multi call (family doc §5)."""

_PRIORITY = {"add": Priority.ORDER, "refill": Priority.CUSTOMER, "cancel": Priority.CUSTOMER}
"""What a customer waits for goes ahead of background reads (bot/panel/limiter.py)."""

_T = TypeVar("_T")


class _Transient(Exception):
    """Internal: a fault worth retrying for reads (never leaves this module).

    ``sent`` is False when the request certainly never reached the panel
    (connection refused), so even ``add`` knows no order was created.
    """

    def __init__(self, reason: str, *, sent: bool = True, http_status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.sent = sent
        self.http_status = http_status


def _chunks(items: Sequence[str], size: int = MULTI_LIMIT) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def _unique_ids(ids: Iterable[object]) -> list[str]:
    seen: dict[str, None] = {}
    for raw in ids:
        key = to_str_id(raw)
        if key:
            seen.setdefault(key, None)
    return list(seen)


def _index_multi(data: Any, id_field: str) -> dict[str, Any] | None:
    """Keyed object or PP-style list of objects -> {id string: entry}."""
    if isinstance(data, dict):
        return {to_str_id(key): value for key, value in data.items()}
    if isinstance(data, list):
        indexed: dict[str, Any] = {}
        for item in data:
            if isinstance(item, dict) and item.get(id_field) is not None:
                indexed[to_str_id(item[id_field])] = item
        return indexed
    return None


def _looks_like_id(text: str) -> bool:
    stripped = text.strip()
    return bool(stripped) and " " not in stripped and len(stripped) <= 64


class PanelClient:
    """One upstream panel account. Share one instance; it owns one HTTP session."""

    def __init__(
        self,
        api_url: str,
        api_key: str | SecretStr,
        *,
        timeout: float = 30.0,
        max_requests_per_second: float = 100.0,
        user_agent: str = "SMM-Storefront/0.1 (+aiohttp)",
        read_retries: int = 3,
        retry_backoff: float = 0.5,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self._api_url = api_url
        self._api_key = api_key if isinstance(api_key, SecretStr) else SecretStr(api_key)
        self._timeout_seconds = timeout
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._user_agent = user_agent
        self._read_retries = max(0, read_retries)
        self._retry_backoff = max(0.0, retry_backoff)
        self._limiter = AdaptiveLimiter(max_per_second=max_requests_per_second)
        self._session = session
        self._owns_session = session is None

    # -- lifecycle -------------------------------------------------------

    def __repr__(self) -> str:
        return f"PanelClient(api_url={self._scrub(self._api_url)!r}, api_key=SecretStr('**********'))"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the session if we created it (an injected session stays open)."""
        if self._owns_session and self._session is not None and not self._session.closed:
            await self._session.close()
        if self._owns_session:
            self._session = None

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or (self._owns_session and self._session.closed):
            self._session = aiohttp.ClientSession(
                timeout=self._timeout, headers={"User-Agent": self._user_agent}
            )
            self._owns_session = True
        return self._session

    # -- transport -------------------------------------------------------

    def _scrub(self, text: str) -> str:
        """Remove the key should a panel echo it back in an error text."""
        secret = self._api_key.get_secret_value()
        return text.replace(secret, "***") if secret else text

    def _error(self, text: object) -> PanelError:
        return classify_error(self._scrub(str(text)))

    @property
    def limiter(self) -> AdaptiveLimiter:
        """The adaptive limit towards the panel (its `stats()` are for logs and benchmarks)."""
        return self._limiter

    async def _call(self, action: str, params: Mapping[str, str], *, since: float | None = None) -> Any:
        """One POST within the limiter; returns parsed JSON or raises a typed error / ``_Transient``."""
        try:
            slot = await self._limiter.slot(_PRIORITY.get(action, Priority.BACKGROUND), since=since)
        except QueueTimeout as exc:
            raise _Transient(str(exc), sent=False, http_status=429) from None
        async with slot:
            http_status, content_type, body = await self._post(action, params, slot)
        return self._interpret(http_status, content_type, body)

    async def _post(self, action: str, params: Mapping[str, str], slot: Slot) -> tuple[int, str, bytes]:
        form = dict(params)
        form["key"] = self._api_key.get_secret_value()
        form["action"] = action
        session = self._get_session()
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            async with session.post(
                self._api_url,
                data=form,
                headers={"User-Agent": self._user_agent},
                timeout=self._timeout,
            ) as response:
                body = await response.read()
                http_status = response.status
                content_type = response.content_type
                slot.answered(http_status, response.headers.get("Retry-After"))
        except TimeoutError:
            slot.timeout()
            logger.debug("panel %s timed out after %.3fs", action, loop.time() - started)
            raise _Transient(f"timeout after {self._timeout_seconds:g}s") from None
        except aiohttp.ClientConnectorError:
            logger.debug("panel %s could not connect (%.3fs)", action, loop.time() - started)
            raise _Transient("connection failed", sent=False) from None
        except aiohttp.ClientError as exc:
            logger.debug("panel %s transport error after %.3fs", action, loop.time() - started)
            raise _Transient(f"transport error: {type(exc).__name__}") from None
        logger.debug("panel %s -> HTTP %s in %.3fs", action, http_status, loop.time() - started)
        return http_status, content_type, body

    def _interpret(self, http_status: int, content_type: str, body: bytes) -> Any:
        if http_status == 429:
            raise _Transient("HTTP 429", http_status=429)
        if http_status >= 500:
            raise _Transient(f"HTTP {http_status}", http_status=http_status)
        text = body.decode("utf-8", errors="replace")
        if not text.strip():
            raise _Transient(f"empty body (HTTP {http_status})", http_status=http_status)
        try:
            data = loads_tolerant(text)
        except ValueError:
            kind = content_type or "no content type"
            raise _Transient(
                f"non-JSON body (HTTP {http_status}, {kind}, {len(body)} bytes)", http_status=http_status
            ) from None
        if isinstance(data, dict):
            error = data.get("error")
            if isinstance(error, str | int | float) and not isinstance(error, bool) and str(error):
                order = data.get("order")  # an `add` reply with an id too: the panel may run it
                if isinstance(order, str | int) and not isinstance(order, bool) and to_str_id(order):
                    raise AddAcceptedWithError(self._scrub(str(error)), to_str_id(order))
                raise self._error(error)
            if http_status >= 400:
                message = data.get("message")
                if isinstance(message, str) and message:
                    raise self._error(message)
        if http_status >= 400:
            raise _Transient(f"HTTP {http_status}", http_status=http_status)
        return data

    async def _read(self, action: str, params: Mapping[str, str]) -> Any:
        """Idempotent call: retry transient faults with exponential backoff."""
        attempt = 0
        while True:
            try:
                return await self._call(action, params)
            except _Transient as exc:
                if attempt >= self._read_retries:
                    raise UpstreamUnavailable(exc.reason) from None
                delay = self._retry_backoff * (2**attempt)
                attempt += 1
                logger.debug("panel %s retry %d in %.3fs", action, attempt, delay)
                await asyncio.sleep(delay)

    async def _write(self, action: str, params: Mapping[str, str], *, outcome_unknown: bool) -> Any:
        """Non-idempotent call: one attempt, sent again only after a 429.

        A 429 is the panel's rate limiter refusing the request before reading it, so nothing was
        done; it goes back to the head of its queue (after the limiter slowed down) for up to the
        request timeout, then gives up as RateLimited.
        """
        loop = asyncio.get_running_loop()
        arrived = loop.time()
        give_up_at: float | None = None
        while True:
            try:
                return await self._call(action, params, since=arrived)
            except _Transient as exc:
                if exc.http_status == 429:
                    now = loop.time()
                    if give_up_at is None:
                        give_up_at = now + self._timeout_seconds
                    if exc.sent and now + self._limiter.pause_left() < give_up_at:
                        logger.debug("panel %s: 429, sending again", action)
                        continue
                    raise RateLimited(exc.reason) from None
                if outcome_unknown and exc.sent:
                    raise AddOutcomeUnknown(exc.reason) from None
                raise UpstreamUnavailable(exc.reason) from None

    # -- reads -----------------------------------------------------------

    async def services(self) -> list[PanelService]:
        """The whole catalog; malformed entries are skipped rather than failing the list."""
        data = await self._read("services", {})
        entries: Iterable[Any]
        if isinstance(data, list):
            entries = data
        elif isinstance(data, dict):
            entries = data.values()
        else:
            raise UpstreamUnavailable("unexpected services reply")
        services: list[PanelService] = []
        skipped = 0
        for entry in entries:
            if not isinstance(entry, dict):
                skipped += 1
                continue
            try:
                services.append(parse_service(entry))
            except ValueError:
                skipped += 1
        if skipped:
            logger.debug("panel services: skipped %d malformed entries", skipped)
        return services

    async def balance(self) -> Balance:
        data = await self._read("balance", {})
        amount = to_decimal(data.get("balance")) if isinstance(data, dict) else None
        if amount is None:
            raise UpstreamUnavailable("unexpected balance reply")
        currency = data.get("currency")
        return Balance(amount=amount, currency="" if currency is None else str(currency))

    async def status(self, order_id: str) -> OrderStatus:
        key = to_str_id(order_id)
        data = await self._read("status", {"order": key})
        if isinstance(data, dict) and "status" not in data and isinstance(data.get(key), dict | str):
            data = data[key]  # a panel answering the single form in keyed shape
        entry = self._status_entry(key, data)
        if isinstance(entry, PanelError):
            raise entry
        return entry

    def _status_entry(self, order_id: str, entry: Any) -> OrderStatus | PanelError:
        if isinstance(entry, str):
            return self._error(entry)
        if not isinstance(entry, dict):
            return UpstreamUnavailable("unexpected status reply")
        if entry.get("error") is not None:
            return self._error(entry["error"])
        status = entry.get("status")
        if isinstance(status, dict):
            return self._error(status.get("error", "unexpected status entry"))
        if status is None:
            return UpstreamUnavailable("status reply without a status")
        return parse_order_status(order_id, entry)

    async def statuses(self, order_ids: Sequence[str]) -> dict[str, OrderStatus | PanelError]:
        """Bulk status: ``orders=1,2,3`` in chunks of 100; per-id errors are returned, not raised."""
        ids = _unique_ids(order_ids)
        result: dict[str, OrderStatus | PanelError] = {}
        for chunk in _chunks(ids):
            data = await self._read("status", {"orders": ",".join(chunk)})
            if (
                len(chunk) == 1
                and isinstance(data, dict)
                and "status" in data
                and chunk[0] not in {to_str_id(k) for k in data}
            ):
                data = {chunk[0]: data}  # single-shaped reply to a one-id multi call
            indexed = _index_multi(data, "order")
            if indexed is None:
                raise UpstreamUnavailable("unexpected multi-status reply")
            for order_id in chunk:
                if order_id in indexed:
                    result[order_id] = self._status_entry(order_id, indexed[order_id])
                else:
                    result[order_id] = OrderNotFound("Order id missing from the reply")
        return result

    async def refill_status(self, refill_id: str) -> RefillStatus:
        key = to_str_id(refill_id)
        data = await self._read("refill_status", {"refill": key})
        entry = self._refill_status_entry(key, data)
        if isinstance(entry, PanelError):
            raise entry
        return entry

    def _refill_status_entry(self, refill_id: str, entry: Any) -> RefillStatus | PanelError:
        if isinstance(entry, str):
            if is_known_refill_status(entry):
                return RefillStatus(refill_id, normalize_refill_status(entry), entry)
            return self._error(entry)
        if not isinstance(entry, dict):
            return UpstreamUnavailable("unexpected refill status reply")
        if entry.get("error") is not None:
            return self._error(entry["error"])
        status = entry.get("status")
        if isinstance(status, dict):
            return self._error(status.get("error", "unexpected refill status entry"))
        if status is None:
            return UpstreamUnavailable("unexpected refill status reply")
        raw = str(status)
        return RefillStatus(refill_id=refill_id, state=normalize_refill_status(raw), status_raw=raw)

    async def refill_statuses(self, refill_ids: Sequence[str]) -> dict[str, RefillStatus | PanelError]:
        """Bulk refill status: ``refills=1,2`` in chunks of 100."""
        ids = _unique_ids(refill_ids)
        result: dict[str, RefillStatus | PanelError] = {}
        for chunk in _chunks(ids):
            data = await self._read("refill_status", {"refills": ",".join(chunk)})
            indexed = _index_multi(data, "refill")
            if indexed is None:
                raise UpstreamUnavailable("unexpected multi refill status reply")
            for refill_id in chunk:
                if refill_id in indexed:
                    result[refill_id] = self._refill_status_entry(refill_id, indexed[refill_id])
                else:
                    result[refill_id] = RefillRefused("Refill not found")
        return result

    # -- writes ----------------------------------------------------------

    async def add(self, order: AddOrder) -> str:
        """Place an order; returns the upstream order id. Sent exactly once."""
        data = await self._write("add", order.to_form(), outcome_unknown=True)
        if isinstance(data, dict):
            value = data.get("order")
            if isinstance(value, dict) and value.get("error") is not None:
                raise self._error(value["error"])
            if value is not None and not isinstance(value, bool | dict | list) and to_str_id(value):
                return to_str_id(value)
        raise AddOutcomeUnknown("reply without an order id")

    async def refill(self, order_id: str) -> str:
        """Request a refill; returns the refill id.

        SmartPanel-style panels (our seed) answer ``{"success": "..."}`` without
        an id: then ``""`` is returned and the refill cannot be polled by id.
        """
        data = await self._write("refill", {"order": to_str_id(order_id)}, outcome_unknown=False)
        if isinstance(data, dict):
            if "refill" in data:
                entry = self._refill_entry(data["refill"])
                if isinstance(entry, PanelError):
                    raise entry
                return entry
            if data.get("success") is not None or str(data.get("status", "")).lower() == "success":
                return ""
        raise UpstreamUnavailable("unexpected refill reply")

    def _refill_entry(self, value: Any) -> str | PanelError:
        if isinstance(value, dict):
            if value.get("error") is not None:
                return self._error(value["error"])
            if "refill" in value:
                return self._refill_entry(value["refill"])
            if value.get("success") is not None:
                return ""
            return UpstreamUnavailable("unexpected refill entry")
        if isinstance(value, bool):
            return "" if value else RefillRefused("Refill refused")
        if isinstance(value, int | float):
            return to_str_id(value)
        if isinstance(value, str):
            return value.strip() if _looks_like_id(value) else self._error(value)
        return UpstreamUnavailable("unexpected refill entry")

    async def refills(self, order_ids: Sequence[str]) -> dict[str, str | PanelError]:
        """Bulk refill (``orders=``); value is the refill id ("" if none given) or the error."""
        return await self._multi_write("refill", order_ids, self._refill_entry)

    def _cancel_entry(self, value: Any) -> PanelError | None:
        """One cancel answer: 1/true/"success" = accepted, 0/false = refused, text = error."""
        if isinstance(value, dict):
            if value.get("error") is not None:
                return self._error(value["error"])
            if "cancel" in value:
                return self._cancel_entry(value["cancel"])
            if value.get("success") is not None:
                return None
            return UpstreamUnavailable("unexpected cancel entry")
        if isinstance(value, str):
            token = value.strip().lower()
            if token in ("1", "true", "yes", "success", "ok"):
                return None
            if token in ("0", "false", "no", ""):
                return CancelRefused("Cancel refused")
            return self._error(value)
        if isinstance(value, bool | int | float):
            return None if to_bool(value) else CancelRefused("Cancel refused")
        return UpstreamUnavailable("unexpected cancel entry")

    async def cancel(self, order_ids: Sequence[str]) -> dict[str, PanelError | None]:
        """Bulk cancel (``orders=``). None means the request was *accepted*, not done yet."""
        return await self._multi_write("cancel", order_ids, self._cancel_entry)

    async def cancel_one(self, order_id: str) -> None:
        """Single-form cancel (``order=``, as our seed documents); raises on refusal."""
        data = await self._write("cancel", {"order": to_str_id(order_id)}, outcome_unknown=False)
        if isinstance(data, dict) and (
            "cancel" in data or data.get("success") is not None or "status" in data
        ):
            if "cancel" in data:
                error = self._cancel_entry(data["cancel"])
            elif data.get("success") is not None:
                error = None
            else:
                error = self._cancel_entry(data.get("status"))
            if error is not None:
                raise error
            return
        raise UpstreamUnavailable("unexpected cancel reply")

    async def _multi_write(
        self,
        action: str,
        order_ids: Sequence[str],
        parse_entry: Callable[[Any], _T | PanelError],
    ) -> dict[str, _T | PanelError]:
        ids = _unique_ids(order_ids)
        result: dict[str, _T | PanelError] = {}
        failure: PanelError | None = None
        for chunk in _chunks(ids):
            if failure is not None:
                for order_id in chunk:
                    result[order_id] = UpstreamUnavailable("not sent: an earlier batch failed")
                continue
            try:
                data = await self._write(action, {"orders": ",".join(chunk)}, outcome_unknown=False)
            except PanelError as exc:
                failure = exc
                for order_id in chunk:
                    result[order_id] = exc
                continue
            indexed = _index_multi(data, "order")
            if indexed is None:
                failure = UpstreamUnavailable(f"unexpected multi {action} reply")
                for order_id in chunk:
                    result[order_id] = failure
                continue
            for order_id in chunk:
                if order_id in indexed:
                    result[order_id] = parse_entry(indexed[order_id])
                else:
                    result[order_id] = OrderNotFound("Order id missing from the reply")
        return result
