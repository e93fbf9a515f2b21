"""A Crypto Pay API simulator (aiohttp server), like the panel simulator: for tests and the demo.

It answers like https://pay.crypt.bot/api does for what the shop uses: `getMe`, `createInvoice`,
`getInvoices`, `deleteInvoice` (POST JSON or GET query, token in the `Crypto-Pay-API-Token` header,
`{"ok": true, "result": ...}` / `{"ok": false, "error": {"code": .., "name": ..}}`). Invoices expire
at their `expires_in`. A test (or the demo's terminal chat, through `POST /_sim/pay/{hash}`, the
invoice's `bot_invoice_url`) pays an invoice; the simulator then delivers a signed `invoice_paid`
webhook to `webhook_url` (when set) the way Crypto Pay does: the `crypto-pay-api-signature` header
is HMAC-SHA256 of the raw body keyed with SHA256(token), and a delivery that is not answered 2xx is
retried. Tests can deliver an update again (`redeliver`), send one with a wrong signature
(`deliver_raw`), pay an invoice after it expired (`pay(..., late=True)`) and make a method fail.

Run alone: ``python -m sandbox.cryptopay_simulator --port 8083``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import secrets
import signal
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

import aiohttp
from aiohttp import web

from bot.payments.cryptopay import (
    FIAT_CURRENCIES,
    MAX_DESCRIPTION,
    MAX_EXPIRES_IN,
    MAX_PAYLOAD,
    SIGNATURE_HEADER,
    TOKEN_HEADER,
    sign_body,
)

__all__ = [
    "DEFAULT_TOKEN",
    "CryptoPayHandle",
    "CryptoPayState",
    "Delivery",
    "SimInvoice",
    "create_cryptopay_app",
    "main",
    "run_cryptopay_simulator",
]

DEFAULT_TOKEN = "7777:AAsimulatedCryptoPayToken"  # noqa: S105 - the simulator's own token
# USD price of one coin, and the shop-currency rates of a dollar, for "paying" fiat invoices.
ASSET_USD = {"USDT": Decimal("1"), "TON": Decimal("5.2"), "BTC": Decimal("65000"), "ETH": Decimal("3100")}
FIAT_PER_USD = {"USD": Decimal("1"), "EUR": Decimal("0.92"), "RUB": Decimal("90"), "GBP": Decimal("0.79")}
FEE_RATE = Decimal("0.03")
_EIGHT_DP = Decimal("0.00000001")


@dataclass
class SimInvoice:
    invoice_id: int
    hash: str
    currency_type: str
    fiat: str | None
    asset: str | None
    amount: Decimal
    description: str
    payload: str
    created_at: datetime
    expires_at: datetime | None
    status: str = "active"
    paid_at: datetime | None = None
    paid_asset: str | None = None
    paid_amount: Decimal | None = None
    paid_fiat_rate: Decimal | None = None
    fee_amount: Decimal | None = None
    fee_in_usd: Decimal | None = None
    deleted: bool = False

    def to_api(self, base_url: str) -> dict[str, Any]:
        pay_url = f"{base_url}/_sim/pay/{self.hash}"
        data: dict[str, Any] = {
            "invoice_id": self.invoice_id,
            "hash": self.hash,
            "currency_type": self.currency_type,
            "amount": format(self.amount, "f"),
            "bot_invoice_url": pay_url,
            "mini_app_invoice_url": pay_url,
            "web_app_invoice_url": pay_url,
            "description": self.description,
            "status": self.status,
            "created_at": self.created_at.isoformat().replace("+00:00", "Z"),
            "allow_comments": False,
            "allow_anonymous": False,
            "payload": self.payload,
        }
        if self.fiat:
            data["fiat"] = self.fiat
            data["accepted_assets"] = sorted(ASSET_USD)
        if self.asset:
            data["asset"] = self.asset
        if self.expires_at is not None:
            data["expiration_date"] = self.expires_at.isoformat().replace("+00:00", "Z")
        if self.status == "paid" and self.paid_at is not None:
            data.update(
                paid_at=self.paid_at.isoformat().replace("+00:00", "Z"),
                paid_anonymously=False,
                paid_asset=self.paid_asset,
                paid_amount=format(self.paid_amount or 0, "f"),
                paid_fiat_rate=format(self.paid_fiat_rate or 0, "f"),
                paid_usd_rate=format(ASSET_USD.get(self.paid_asset or "", Decimal(1)), "f"),
                fee_asset=self.paid_asset,
                fee_amount=format(self.fee_amount or 0, "f"),
                fee_in_usd=format(self.fee_in_usd or 0, "f"),
            )
        return data


@dataclass(frozen=True)
class Delivery:
    """One webhook POST and the HTTP status it got (0: no answer)."""

    update_id: int
    attempt: int
    status: int
    signed: bool = True


class _Refusal(Exception):
    def __init__(self, name: str, code: int = 400) -> None:
        super().__init__(name)
        self.name = name
        self.code = code


@dataclass
class CryptoPayState:
    """The simulated app: its invoices, webhook target and what happened."""

    token: str = DEFAULT_TOKEN
    app_id: int = 4242
    app_name: str = "Storefront (simulated)"
    webhook_url: str | None = None
    webhook_attempts: int = 3
    webhook_retry_delay: float = 0.05
    base_url: str = "http://127.0.0.1"
    invoices: dict[int, SimInvoice] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    updates: dict[int, bytes] = field(default_factory=dict)  # update_id -> the body sent
    failures: dict[str, int] = field(default_factory=dict)  # method -> answers left to fail with 500
    _next_invoice: int = 1000
    _next_update: int = 1
    _tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    _session: aiohttp.ClientSession | None = None

    # -- test controls ---------------------------------------------------------------------------
    def fail(self, method: str, count: int = 1) -> None:
        """The next `count` calls of `method` answer HTTP 500."""
        self.failures[method] = self.failures.get(method, 0) + count

    def count(self, method: str) -> int:
        return sum(1 for name, _ in self.requests if name == method)

    def invoice(self, invoice_id: int | str) -> SimInvoice:
        return self.invoices[int(invoice_id)]

    def by_hash(self, invoice_hash: str) -> SimInvoice | None:
        return next((inv for inv in self.invoices.values() if inv.hash == invoice_hash), None)

    def expire(self, invoice_id: int | str) -> SimInvoice:
        """Let an invoice run out now."""
        invoice = self.invoice(invoice_id)
        if invoice.status == "active":
            invoice.status = "expired"
            invoice.expires_at = datetime.now(UTC)
        return invoice

    async def pay(
        self, invoice_id: int | str, *, asset: str = "USDT", late: bool = False, notify: bool = True
    ) -> SimInvoice:
        """The customer pays in `asset`; then the signed webhook goes out (when `notify` and set).

        `late=True` pays an invoice that already expired (the race a shop must survive: its own
        record closed, the money still arrives).
        """
        invoice = self.invoice(invoice_id)
        self._expire_due()
        if invoice.status == "paid":
            raise ValueError(f"invoice {invoice_id} is paid already")
        if invoice.deleted or (invoice.status == "expired" and not late):
            raise ValueError(f"invoice {invoice_id} cannot be paid ({invoice.status})")
        usd_per_coin = ASSET_USD[asset]
        if invoice.currency_type == "fiat":
            fiat = invoice.fiat or "USD"
            fiat_rate = usd_per_coin * FIAT_PER_USD.get(fiat, Decimal(1))  # fiat per coin
            coins = (invoice.amount / fiat_rate).quantize(_EIGHT_DP, rounding=ROUND_HALF_UP)
        else:
            fiat_rate = usd_per_coin
            coins = invoice.amount
        invoice.status = "paid"
        invoice.paid_at = datetime.now(UTC)
        invoice.paid_asset = asset
        invoice.paid_amount = coins
        invoice.paid_fiat_rate = fiat_rate
        invoice.fee_amount = (coins * FEE_RATE).quantize(_EIGHT_DP, rounding=ROUND_HALF_UP)
        invoice.fee_in_usd = (invoice.fee_amount * usd_per_coin).quantize(Decimal("0.01"))
        if notify and self.webhook_url:
            await self.deliver(self.paid_update(invoice))
        return invoice

    def paid_update(self, invoice: SimInvoice) -> bytes:
        """A new `invoice_paid` update's body (what a webhook POST carries)."""
        update_id = self._next_update
        self._next_update += 1
        body = json.dumps(
            {
                "update_id": update_id,
                "update_type": "invoice_paid",
                "request_date": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
                "payload": invoice.to_api(self.base_url),
            }
        ).encode()
        self.updates[update_id] = body
        return body

    async def deliver(self, body: bytes, *, signature: str | None = None) -> int:
        """POST an update to `webhook_url` until it is answered 2xx (at most `webhook_attempts`).

        `signature=None` signs it correctly; any other value is sent as the header as it is.
        Returns the last HTTP status (0: no answer).
        """
        if not self.webhook_url:
            raise RuntimeError("no webhook_url set")
        update_id = int(json.loads(body).get("update_id", 0))
        signed = signature is None
        header = sign_body(self.token, body) if signature is None else signature
        status = 0
        for attempt in range(1, self.webhook_attempts + 1):
            try:
                async with self._http().post(
                    self.webhook_url,
                    data=body,
                    headers={"Content-Type": "application/json", SIGNATURE_HEADER: header},
                    timeout=aiohttp.ClientTimeout(total=10),
                ) as response:
                    status = response.status
            except (aiohttp.ClientError, TimeoutError):
                status = 0
            self.deliveries.append(Delivery(update_id, attempt, status, signed))
            if 200 <= status < 300 or not signed:
                return status
            await asyncio.sleep(self.webhook_retry_delay * 2 ** (attempt - 1))
        return status

    async def redeliver(self, update_id: int) -> int:
        """Send an update again, unchanged (Crypto Pay retries what it thinks was not received)."""
        return await self.deliver(self.updates[update_id])

    async def deliver_raw(self, body: bytes, signature: str) -> int:
        """Send a body with the given signature header, once (forged or tampered updates)."""
        return await self.deliver(body, signature=signature)

    def summary(self) -> dict[str, Any]:
        return {
            "invoices": [inv.to_api(self.base_url) for inv in self.invoices.values()],
            "deliveries": [d.__dict__ for d in self.deliveries],
        }

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        return self._session

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None

    # -- the API -----------------------------------------------------------------------------------
    def _expire_due(self) -> None:
        now = datetime.now(UTC)
        for invoice in self.invoices.values():
            if invoice.status == "active" and invoice.expires_at is not None and invoice.expires_at <= now:
                invoice.status = "expired"

    def dispatch(self, method: str, token: str | None, params: Mapping[str, Any]) -> tuple[int, Any]:
        self.requests.append((method, dict(params)))
        if not token or token != self.token:
            return 401, {"ok": False, "error": {"code": 401, "name": "UNAUTHORIZED"}}
        handler = {
            "getMe": self._get_me,
            "createInvoice": self._create_invoice,
            "getInvoices": self._get_invoices,
            "deleteInvoice": self._delete_invoice,
        }.get(method)
        if handler is None:
            return 405, {"ok": False, "error": {"code": 405, "name": "METHOD_NOT_FOUND"}}
        self._expire_due()
        try:
            return 200, {"ok": True, "result": handler(params)}
        except _Refusal as refusal:
            return refusal.code, {"ok": False, "error": {"code": refusal.code, "name": refusal.name}}

    def _get_me(self, params: Mapping[str, Any]) -> Any:
        return {"app_id": self.app_id, "name": self.app_name, "payment_processing_bot_username": "CryptoBot"}

    def _create_invoice(self, params: Mapping[str, Any]) -> Any:
        currency_type = str(params.get("currency_type") or "crypto")
        fiat = asset = None
        if currency_type == "fiat":
            fiat = str(params.get("fiat") or "")
            if fiat not in FIAT_CURRENCIES:
                raise _Refusal("FIAT_INVALID")
        elif currency_type == "crypto":
            asset = str(params.get("asset") or "")
            if asset not in ASSET_USD:
                raise _Refusal("ASSET_INVALID")
        else:
            raise _Refusal("CURRENCY_TYPE_INVALID")
        try:
            amount = Decimal(str(params.get("amount", "")))
        except InvalidOperation:
            raise _Refusal("AMOUNT_INVALID") from None
        if not amount.is_finite() or amount <= 0 or amount > Decimal("1000000"):
            raise _Refusal("AMOUNT_INVALID")
        description = str(params.get("description") or "")
        payload = str(params.get("payload") or "")
        if len(description) > MAX_DESCRIPTION:
            raise _Refusal("DESCRIPTION_TOO_LONG")
        if len(payload.encode()) > MAX_PAYLOAD:
            raise _Refusal("PAYLOAD_TOO_LONG")
        expires_at = None
        if params.get("expires_in") is not None:
            try:
                expires_in = int(params["expires_in"])
            except (TypeError, ValueError):
                raise _Refusal("EXPIRES_IN_INVALID") from None
            if not 1 <= expires_in <= MAX_EXPIRES_IN:
                raise _Refusal("EXPIRES_IN_INVALID")
            expires_at = datetime.now(UTC) + timedelta(seconds=expires_in)
        self._next_invoice += 1
        invoice = SimInvoice(
            invoice_id=self._next_invoice,
            hash=f"IV{secrets.token_hex(6)}",
            currency_type=currency_type,
            fiat=fiat,
            asset=asset,
            amount=amount,
            description=description,
            payload=payload,
            created_at=datetime.now(UTC),
            expires_at=expires_at,
        )
        self.invoices[invoice.invoice_id] = invoice
        return invoice.to_api(self.base_url)

    def _get_invoices(self, params: Mapping[str, Any]) -> Any:
        raw_ids = params.get("invoice_ids")
        items = list(self.invoices.values())
        if raw_ids:
            wanted = {int(part) for part in str(raw_ids).split(",") if part.strip().isdigit()}
            items = [inv for inv in items if inv.invoice_id in wanted]
        status = params.get("status")
        if status:
            items = [inv for inv in items if inv.status == status]
        items = [inv for inv in items if not inv.deleted]
        offset = int(params.get("offset") or 0)
        count = max(1, min(int(params.get("count") or 100), 1000))
        return {"items": [inv.to_api(self.base_url) for inv in items[offset : offset + count]]}

    def _delete_invoice(self, params: Mapping[str, Any]) -> Any:
        try:
            invoice = self.invoices[int(params.get("invoice_id") or 0)]
        except (KeyError, TypeError, ValueError):
            raise _Refusal("INVOICE_NOT_FOUND") from None
        if invoice.deleted:
            raise _Refusal("INVOICE_NOT_FOUND")
        if invoice.status == "paid":
            raise _Refusal("INVOICE_PAID")  # a paid invoice stays, as on Crypto Pay
        invoice.deleted = True
        invoice.status = "expired"
        return True


@dataclass(frozen=True)
class CryptoPayHandle:
    """What `run_cryptopay_simulator` yields: the API URL (`CRYPTO_PAY_API_URL`) and the state."""

    url: str
    state: CryptoPayState
    port: int

    @property
    def token(self) -> str:
        return self.state.token


_STATE_KEY = web.AppKey("cryptopay_state", CryptoPayState)


async def _handle_api(request: web.Request) -> web.Response:
    state = request.app[_STATE_KEY]
    method = request.match_info["method"]
    params: dict[str, Any] = dict(request.query)
    body: Any = None
    if request.method == "POST" and request.can_read_body:
        if request.content_type == "application/json":
            try:
                body = await request.json()
            except ValueError:
                body = None
            if isinstance(body, dict):
                params.update(body)
        else:
            form = await request.post()
            params.update({k: v for k, v in form.items() if isinstance(v, str)})
            body = {}
    if state.failures.get(method, 0) > 0:
        state.failures[method] -= 1
        state.requests.append((method, params))
        return web.Response(status=500, text="<html>502 Bad Gateway</html>", content_type="text/html")
    if request.method == "POST" and request.can_read_body and not isinstance(body, dict):
        return web.json_response({"ok": False, "error": {"code": 400, "name": "JSON_INVALID"}}, status=400)
    status, payload = state.dispatch(method, request.headers.get(TOKEN_HEADER), params)
    return web.json_response(payload, status=status)


async def _handle_pay(request: web.Request) -> web.Response:
    """The invoice page: POST (or GET) pays it in USDT, as a customer in @CryptoBot would."""
    state = request.app[_STATE_KEY]
    invoice = state.by_hash(request.match_info["hash"])
    if invoice is None:
        return web.json_response({"ok": False, "error": "invoice not found"}, status=404)
    asset = request.query.get("asset", "USDT")
    if asset not in ASSET_USD:
        return web.json_response({"ok": False, "error": "unknown asset"}, status=400)
    try:
        await state.pay(invoice.invoice_id, asset=asset)
    except ValueError as error:
        return web.json_response({"ok": False, "error": str(error)}, status=409)
    return web.json_response(
        {
            "ok": True,
            "invoice_id": invoice.invoice_id,
            "paid": f"{invoice.paid_amount} {invoice.paid_asset}",
            "amount": f"{invoice.amount} {invoice.fiat or invoice.asset}",
        }
    )


async def _handle_state(request: web.Request) -> web.Response:
    return web.json_response(request.app[_STATE_KEY].summary())


def create_cryptopay_app(state: CryptoPayState) -> web.Application:
    app = web.Application()
    app[_STATE_KEY] = state
    app.router.add_route("*", "/api/{method}", _handle_api)
    app.router.add_route("*", "/_sim/pay/{hash}", _handle_pay)
    app.router.add_get("/_sim/state", _handle_state)
    return app


@contextlib.asynccontextmanager
async def run_cryptopay_simulator(
    state: CryptoPayState | None = None, host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[CryptoPayHandle]:
    """Serve the simulator on `host:port` (0 = a free port) for the duration of the block."""
    state = state if state is not None else CryptoPayState()
    runner = web.AppRunner(create_cryptopay_app(state), access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound = int(runner.addresses[0][1])
        state.base_url = f"http://{host}:{bound}"
        yield CryptoPayHandle(url=f"{state.base_url}/api", state=state, port=bound)
    finally:
        await state.close()
        await runner.cleanup()


async def _serve(args: argparse.Namespace) -> None:
    state = CryptoPayState(token=args.token, webhook_url=args.webhook_url or None)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
    async with run_cryptopay_simulator(state, args.host, args.port) as handle:
        print(f"Crypto Pay simulator: CRYPTO_PAY_API_URL={handle.url}", flush=True)
        started = time.monotonic()
        await stop.wait()
        print(f"Crypto Pay simulator stopped after {time.monotonic() - started:.0f}s", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sandbox.cryptopay_simulator", description="Run the Crypto Pay simulator."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8083)
    parser.add_argument("--token", default=DEFAULT_TOKEN, help="the token the simulator accepts")
    parser.add_argument("--webhook-url", default="", help="where paid invoices are POSTed (optional)")
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
