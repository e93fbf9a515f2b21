"""Crypto Pay (@CryptoBot) API: a small client over aiohttp, the invoice parser, the webhook signature.

Why our own client: the Python libraries for this API were judged for the job (see README,
"Crypto Pay"): aiocryptopay compares webhook signatures with `==` (not in constant time), parses the
request body before checking its signature, holds money as float, pins an old `certifi`, and
validates a whole `getInvoices` page with one pydantic model (one odd invoice fails the page);
aiocpa is not on the package index this project installs from. What the shop needs is four methods,
a signature check and a defensive parser, so it lives here.

Every request is a POST of JSON to `{CRYPTO_PAY_API_URL}/{method}` with the token in the
`Crypto-Pay-API-Token` header; answers are `{"ok": true, "result": ...}` or
`{"ok": false, "error": {"code": 400, "name": "..."}}`. The token never appears in an exception text
or a log line. Nothing the API returns is trusted: each invoice is parsed and bounded on its own
(`parse_invoice`), so one bad record is skipped and reported, never a whole page.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import aiohttp
import orjson
from pydantic import SecretStr

log = logging.getLogger(__name__)

__all__ = [
    "FIAT_CURRENCIES",
    "MAINNET_URL",
    "SIGNATURE_HEADER",
    "TESTNET_URL",
    "CryptoInvoice",
    "CryptoPayApp",
    "CryptoPayClient",
    "CryptoPayError",
    "CryptoPayRefused",
    "CryptoPayUnavailable",
    "parse_invoice",
    "sign_body",
    "signature_matches",
]

MAINNET_URL = "https://pay.crypt.bot/api"
TESTNET_URL = "https://testnet-pay.crypt.bot/api"
TOKEN_HEADER = "Crypto-Pay-API-Token"  # noqa: S105 (a header name)
SIGNATURE_HEADER = "crypto-pay-api-signature"
# Fiat currencies Crypto Pay accepts for `currency_type=fiat` invoices (its docs, "Currencies").
FIAT_CURRENCIES = frozenset(
    [
        "USD",
        "EUR",
        "RUB",
        "BYN",
        "UAH",
        "GBP",
        "CNY",
        "KZT",
        "UZS",
        "GEL",
        "TRY",
        "AMD",
        "THB",
        "INR",
        "BRL",
        "IDR",
        "AZN",
        "AED",
        "PLN",
        "ILS",
    ]
)
INVOICE_STATUSES = frozenset({"active", "paid", "expired"})
MAX_PAYLOAD = 4096
MAX_DESCRIPTION = 1024
MAX_EXPIRES_IN = 2_678_400
GET_INVOICES_LIMIT = 1000
_MAX_AMOUNT = Decimal("1e15")
_ASSET = re.compile(r"[A-Z0-9]{2,16}")
_FIAT = re.compile(r"[A-Z]{3,8}")


class CryptoPayError(Exception):
    """Any failure of a Crypto Pay call; `message` is safe to show to an admin (no token in it)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class CryptoPayUnavailable(CryptoPayError):
    """No usable answer: connection failed, timed out, a 5xx, or not the API's JSON."""


class CryptoPayRefused(CryptoPayError):
    """The API answered `ok: false` (e.g. UNAUTHORIZED, INVOICE_NOT_FOUND)."""

    def __init__(self, name: str, code: int | None = None) -> None:
        super().__init__(f"{name} ({code})" if code else name)
        self.name = name
        self.code = code

    @property
    def unauthorized(self) -> bool:
        return self.code == 401 or "UNAUTHORIZED" in self.name.upper() or "TOKEN" in self.name.upper()


@dataclass(frozen=True)
class CryptoPayApp:
    app_id: int
    name: str
    bot_username: str


@dataclass(frozen=True)
class CryptoInvoice:
    """An invoice as far as the shop needs it, every field checked."""

    invoice_id: str
    status: str  # active, paid, expired
    currency_type: str  # crypto, fiat
    fiat: str | None
    asset: str | None
    amount: Decimal
    payload: str
    pay_url: str | None
    paid_asset: str | None = None
    paid_amount: Decimal | None = None
    paid_fiat_rate: Decimal | None = None
    fee_asset: str | None = None
    fee_amount: Decimal | None = None
    fee_in_usd: Decimal | None = None
    paid_at: datetime | None = None

    @property
    def paid(self) -> bool:
        return self.status == "paid"

    def fee_in(self, currency: str) -> Decimal | None:
        """The provider's fee in the invoice's fiat currency, when the invoice says enough to know it."""
        if self.fee_amount is None:
            return None
        if currency == "USD" and self.fee_in_usd is not None:
            return self.fee_in_usd
        if (
            self.fee_asset is not None
            and self.fee_asset == self.paid_asset
            and self.paid_fiat_rate is not None
        ):
            return self.fee_amount * self.paid_fiat_rate
        return None


# -- parsing ------------------------------------------------------------------------------------------


def _decimal(value: Any, name: str, *, required: bool = False) -> Decimal | None:
    if value is None or value == "":
        if required:
            raise ValueError(f"{name} is missing")
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"{name} is not a number")
    text = str(value).strip()
    if len(text) > 40:
        raise ValueError(f"{name} is too long")
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"{name} is not a number") from None
    if not number.is_finite() or number < 0 or number > _MAX_AMOUNT:
        raise ValueError(f"{name} is out of range")
    return number


def _code(value: Any, pattern: re.Pattern[str], name: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not pattern.fullmatch(value.strip().upper()):
        raise ValueError(f"{name} is not a currency code")
    return value.strip().upper()


def _text(value: Any, name: str, limit: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise ValueError(f"{name} is not a text of at most {limit} characters")
    return value


def _url(value: Any) -> str | None:
    if not isinstance(value, str) or len(value) > 2048 or not value.startswith(("https://", "http://")):
        return None
    return value


def _when(value: Any) -> datetime | None:
    if not isinstance(value, str) or len(value) > 40:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse_invoice(raw: Any) -> CryptoInvoice:
    """One Invoice object of the API, checked field by field; ValueError names the first bad field."""
    if not isinstance(raw, Mapping):
        raise ValueError("invoice is not an object")
    invoice_id = raw.get("invoice_id")
    if isinstance(invoice_id, bool) or not isinstance(invoice_id, int | str):
        raise ValueError("invoice_id is missing")
    invoice_id = str(invoice_id).strip()
    if not invoice_id.isdecimal() or len(invoice_id) > 20 or int(invoice_id) <= 0:
        raise ValueError("invoice_id is not a positive integer")
    status = raw.get("status")
    if status not in INVOICE_STATUSES:
        raise ValueError("status is unknown")
    currency_type = raw.get("currency_type", "crypto")
    if currency_type not in ("crypto", "fiat"):
        raise ValueError("currency_type is unknown")
    amount = _decimal(raw.get("amount"), "amount", required=True)
    assert amount is not None
    if amount <= 0:
        raise ValueError("amount is not positive")
    paid_at = _when(raw.get("paid_at"))
    return CryptoInvoice(
        invoice_id=invoice_id,
        status=str(status),
        currency_type=str(currency_type),
        fiat=_code(raw.get("fiat"), _FIAT, "fiat"),
        asset=_code(raw.get("asset"), _ASSET, "asset"),
        amount=amount,
        payload=_text(raw.get("payload"), "payload", MAX_PAYLOAD) or "",
        pay_url=_url(raw.get("bot_invoice_url")) or _url(raw.get("pay_url")),
        paid_asset=_code(raw.get("paid_asset"), _ASSET, "paid_asset"),
        paid_amount=_decimal(raw.get("paid_amount"), "paid_amount"),
        paid_fiat_rate=_decimal(raw.get("paid_fiat_rate"), "paid_fiat_rate"),
        fee_asset=_code(raw.get("fee_asset"), _ASSET, "fee_asset"),
        fee_amount=_decimal(raw.get("fee_amount"), "fee_amount"),
        fee_in_usd=_decimal(raw.get("fee_in_usd"), "fee_in_usd"),
        paid_at=paid_at,
    )


def parse_app(raw: Any) -> CryptoPayApp:
    if not isinstance(raw, Mapping):
        raise ValueError("getMe result is not an object")
    app_id = raw.get("app_id")
    if isinstance(app_id, bool) or not isinstance(app_id, int):
        raise ValueError("app_id is missing")
    name = raw.get("name")
    bot_username = raw.get("payment_processing_bot_username")
    return CryptoPayApp(
        app_id,
        name[:128] if isinstance(name, str) else "",
        bot_username[:64] if isinstance(bot_username, str) else "",
    )


# -- webhook signatures ------------------------------------------------------------------------------


def sign_body(token: str, body: bytes) -> str:
    """HMAC-SHA256 of the raw body keyed with SHA256(token), hex: Crypto Pay's webhook signature."""
    secret = hashlib.sha256(token.encode()).digest()
    return hmac.new(secret, body, hashlib.sha256).hexdigest()


def signature_matches(token: str, body: bytes, signature: str | None) -> bool:
    """Constant-time check of the `crypto-pay-api-signature` header against the raw body."""
    if not signature:
        return False
    given = signature.strip().lower().encode("utf-8", "surrogateescape")
    return hmac.compare_digest(given, sign_body(token, body).encode())


# -- the client --------------------------------------------------------------------------------------


class CryptoPayClient:
    """getMe, createInvoice, getInvoices, deleteInvoice; see the module docstring."""

    def __init__(
        self,
        api_url: str,
        token: SecretStr | str,
        *,
        timeout: float = 15.0,
        read_retries: int = 2,
        retry_backoff: float = 0.5,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self._token = token if isinstance(token, SecretStr) else SecretStr(token)
        self.timeout = timeout
        self.read_retries = read_retries
        self.retry_backoff = retry_backoff
        self._session: aiohttp.ClientSession | None = None

    @property
    def token(self) -> str:
        return self._token.get_secret_value()

    @property
    def network(self) -> str:
        if self.api_url == MAINNET_URL:
            return "mainnet"
        if self.api_url == TESTNET_URL:
            return "testnet"
        return "custom"

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
        return self._session

    def _scrub(self, text: str) -> str:
        return text.replace(self.token, "***") if self.token else text

    async def _call_once(self, method: str, params: Mapping[str, Any]) -> Any:
        try:
            async with self._http().post(
                f"{self.api_url}/{method}", json=dict(params), headers={TOKEN_HEADER: self.token}
            ) as response:
                status = response.status
                raw = await response.read()
        except (aiohttp.ClientError, TimeoutError) as error:
            raise CryptoPayUnavailable(self._scrub(f"connection failed: {type(error).__name__}")) from None
        if status >= 500:
            raise CryptoPayUnavailable(f"HTTP {status}")
        try:
            data = orjson.loads(raw)
        except ValueError:
            raise CryptoPayUnavailable(f"not JSON (HTTP {status})") from None
        if not isinstance(data, dict) or "ok" not in data:
            raise CryptoPayUnavailable(f"not a Crypto Pay answer (HTTP {status})")
        if data.get("ok") is True:
            return data.get("result")
        problem = data.get("error")
        name, code = "UNKNOWN_ERROR", status
        if isinstance(problem, dict):
            name = str(problem.get("name") or name)[:64]
            if isinstance(problem.get("code"), int) and not isinstance(problem.get("code"), bool):
                code = problem["code"]
        elif isinstance(problem, str):
            name = problem[:64]
        raise CryptoPayRefused(self._scrub(name), code)

    async def _call(self, method: str, params: Mapping[str, Any], *, read: bool) -> Any:
        attempts = 1 + (self.read_retries if read else 0)
        for attempt in range(attempts):
            try:
                return await self._call_once(method, params)
            except CryptoPayUnavailable as error:
                if attempt + 1 >= attempts:
                    raise
                log.info("Crypto Pay %s failed (%s); retrying", method, error.message)
                await asyncio.sleep(self.retry_backoff * 2**attempt)
        raise AssertionError("unreachable")

    async def get_me(self) -> CryptoPayApp:
        result = await self._call("getMe", {}, read=True)
        try:
            return parse_app(result)
        except ValueError as error:
            raise CryptoPayUnavailable(f"getMe: {error}") from None

    async def create_invoice(
        self,
        *,
        amount: Decimal,
        fiat: str,
        description: str,
        payload: str,
        expires_in: int,
    ) -> CryptoInvoice:
        """A fiat invoice (`currency_type=fiat`): the customer picks the coin, no rate is guessed here.

        Never retried: a lost answer leaves an invoice we do not know yet, and its payload still names
        our top-up, so a later payment of it is matched all the same.
        """
        params = {
            "currency_type": "fiat",
            "fiat": fiat,
            "amount": format(amount, "f"),
            "description": description[:MAX_DESCRIPTION],
            "payload": payload[:MAX_PAYLOAD],
            "expires_in": max(1, min(int(expires_in), MAX_EXPIRES_IN)),
            "allow_comments": False,
            "allow_anonymous": False,
        }
        result = await self._call("createInvoice", params, read=False)
        try:
            return parse_invoice(result)
        except ValueError as error:
            raise CryptoPayUnavailable(f"createInvoice: {error}") from None

    async def get_invoices(self, invoice_ids: Sequence[str]) -> tuple[list[CryptoInvoice], list[str]]:
        """These invoices (any status); returns (parsed, problems): a bad record is one problem line."""
        invoices: list[CryptoInvoice] = []
        problems: list[str] = []
        ids = [i for i in dict.fromkeys(invoice_ids) if i.isdecimal()]
        for start in range(0, len(ids), 100):
            chunk = ids[start : start + 100]
            result = await self._call(
                "getInvoices", {"invoice_ids": ",".join(chunk), "count": len(chunk)}, read=True
            )
            items = result.get("items") if isinstance(result, dict) else result
            if not isinstance(items, list):
                raise CryptoPayUnavailable("getInvoices: no list of items")
            for item in items[:GET_INVOICES_LIMIT]:
                try:
                    invoices.append(parse_invoice(item))
                except ValueError as error:
                    shown = item.get("invoice_id") if isinstance(item, dict) else None
                    problems.append(f"invoice {str(shown)[:24]!r}: {error}")
        return invoices, problems

    async def delete_invoice(self, invoice_id: str) -> bool:
        result = await self._call("deleteInvoice", {"invoice_id": int(invoice_id)}, read=False)
        return result is True
