"""Telegram Stars payments in the fake Bot API server (a mixin of `FakeTelegramServer`).

What a bot sees of a Stars payment, validated like the rest of the fake: `sendInvoice` (currency
XTR, an empty provider token, exactly one price), the `pre_checkout_query` update that must be
answered with `answerPreCheckoutQuery` within 10 seconds, then the `successful_payment` message
carrying a `telegram_payment_charge_id`; `refundStarPayment` (a second refund of one charge is
`CHARGE_ALREADY_REFUNDED`, and the refund arrives as a `refunded_payment` message) and
`getStarTransactions` (the bot's Star transactions, oldest first, in the spec's StarTransaction
shape).

Tests (and the demo's terminal chat, through `POST /_fake/users/{id}/pay`) pay an invoice as the
user: `await user.pay(invoice_message)`. `deliver=False` pays without delivering the
`successful_payment` update (Telegram got the money, the bot never heard: what a crash between the
update and the bot's commit looks like), and `replay_successful_payment` delivers the same payment
message again as a new update.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web

from sandbox.telegram_limits import check_reply_markup

if TYPE_CHECKING:
    from sandbox.telegram_server import FakeTelegramServer, _CallContext
    from sandbox.telegram_state import FakeMessage, FakeUser

__all__ = ["STARS_PER_INVOICE_MAX", "PaymentOutcome", "PreCheckoutRecord", "StarPayment", "StarsPayments"]

STARS_PER_INVOICE_MAX = 10_000
PRE_CHECKOUT_TIMEOUT = 10.0


@dataclass
class PreCheckoutRecord:
    """A pre-checkout query and the bot's answer to it."""

    id: str
    user_id: int
    payload: str
    currency: str
    total_amount: int
    created_at: float = field(default_factory=time.monotonic)
    answered: bool = False
    expired: bool = False
    ok: bool | None = None
    error_message: str | None = None


@dataclass
class StarPayment:
    """A successful Stars payment: what Telegram holds, and the message the bot was (or not) sent."""

    charge_id: str
    user_id: int
    payload: str
    amount: int
    date: int
    message: dict[str, Any]
    refunded: bool = False


@dataclass(frozen=True)
class PaymentOutcome:
    """How paying an invoice went: `paid`, or refused (`error`) by the bot or by its silence."""

    query: PreCheckoutRecord
    payment: StarPayment | None

    @property
    def paid(self) -> bool:
        return self.payment is not None

    @property
    def error(self) -> str | None:
        if self.query.expired:
            return "the bot did not answer the pre-checkout query within 10 seconds"
        return self.query.error_message


def _payment_error(description: str) -> Exception:
    from sandbox.telegram_server import TelegramError

    return TelegramError(400, f"Bad Request: {description}")


class StarsPayments:
    """The server's payments part (`server.payments`): sendInvoice, answerPreCheckoutQuery,
    refundStarPayment, getStarTransactions, getMyStarBalance, and paying as a user."""

    def __init__(self, server: FakeTelegramServer) -> None:
        self.server = server
        self.pre_checkout_queries: dict[str, PreCheckoutRecord] = {}
        self.star_payments: dict[str, StarPayment] = {}
        self.star_transactions: list[dict[str, Any]] = []
        self.invoices: dict[tuple[int, int], dict[str, Any]] = {}

    def handlers(self) -> dict[str, Any]:
        return {
            "sendInvoice": self._send_invoice,
            "answerPreCheckoutQuery": self._answer_pre_checkout_query,
            "refundStarPayment": self._refund_star_payment,
            "getStarTransactions": self._get_star_transactions,
            "getMyStarBalance": self._get_my_star_balance,
        }

    # -- Bot API methods --------------------------------------------------------------------------
    async def _send_invoice(self, values: dict[str, Any], ctx: _CallContext) -> Any:
        chat = self.server._target_chat(values["chat_id"])
        currency = str(values["currency"])
        if currency != "XTR":
            # Only Stars are modelled: a fiat invoice needs a payment provider's token.
            raise _payment_error("PAYMENT_PROVIDER_INVALID")
        if values.get("provider_token"):
            raise _payment_error("PAYMENT_PROVIDER_INVALID: pass an empty provider_token for Telegram Stars")
        prices = values["prices"]
        if len(prices) != 1:
            raise _payment_error("STARS_INVOICE_INVALID: exactly one price is allowed in Telegram Stars")
        amount = int(prices[0]["amount"])
        if not 1 <= amount <= STARS_PER_INVOICE_MAX:
            raise _payment_error("CURRENCY_TOTAL_AMOUNT_INVALID")
        if values.get("max_tip_amount") or values.get("suggested_tip_amounts"):
            raise _payment_error("tips are not supported for payments in Telegram Stars")
        title, description = str(values["title"]), str(values["description"])
        if not 1 <= len(title) <= 32:
            raise _payment_error("INVOICE_TITLE_INVALID")
        if not 1 <= len(description) <= 255:
            raise _payment_error("INVOICE_DESCRIPTION_INVALID")
        payload = str(values["payload"])
        if not 1 <= len(payload.encode()) <= 128:
            raise _payment_error("INVOICE_PAYLOAD_INVALID")
        markup = values.get("reply_markup")
        if markup:
            check_reply_markup(markup)
            rows = markup.get("inline_keyboard") or []
            if not rows or not rows[0] or not rows[0][0].get("pay"):
                raise _payment_error("the first button of an invoice's keyboard must be a Pay button")
        else:
            markup = {"inline_keyboard": [[{"text": f"Pay ⭐️{amount}", "pay": True}]]}
        start_parameter = str(values.get("start_parameter") or "")
        invoice = {
            "title": title,
            "description": description,
            "start_parameter": start_parameter,
            "currency": currency,
            "total_amount": amount,
        }
        msg = self.server._store_message(
            chat, reply_markup=markup, sent_with="sendInvoice", extra={"invoice": invoice}
        )
        self.invoices[(chat.id, msg.message_id)] = {**invoice, "payload": payload}
        return self.server._message_json(msg)

    async def _answer_pre_checkout_query(self, values: dict[str, Any], ctx: _CallContext) -> Any:
        query = self.pre_checkout_queries.get(str(values["pre_checkout_query_id"]))
        if query is None or query.answered or query.expired:
            raise _payment_error("query is too old and response timeout expired or query ID is invalid")
        ok = bool(values["ok"])
        error_message = values.get("error_message")
        if not ok and not (isinstance(error_message, str) and error_message.strip()):
            raise _payment_error("error_message is required when ok is False")
        if isinstance(error_message, str) and len(error_message) > 255:
            raise _payment_error("ERROR_MESSAGE_TOO_LONG")
        query.answered = True
        query.ok = ok
        query.error_message = error_message if not ok else None
        self.server._notifier.notify()
        return True

    async def _refund_star_payment(self, values: dict[str, Any], ctx: _CallContext) -> Any:
        from sandbox.telegram_server import TelegramError

        payment = self.star_payments.get(str(values["telegram_payment_charge_id"]))
        if payment is None or payment.user_id != int(values["user_id"]):
            raise _payment_error("CHARGE_NOT_FOUND")
        if payment.refunded:
            # A condition a careful bot meets (a retried refund), not a misuse: only counted.
            raise TelegramError(400, "Bad Request: CHARGE_ALREADY_REFUNDED", kind="condition")
        payment.refunded = True
        user = self.server.users[payment.user_id]
        self.star_transactions.append(
            {
                "id": payment.charge_id,
                "amount": payment.amount,
                "date": int(time.time()),
                "receiver": self._partner(user, payment.payload),
            }
        )
        chat = self.server.chats[user.id]
        refund = {
            "currency": "XTR",
            "total_amount": payment.amount,
            "invoice_payload": payment.payload,
            "telegram_payment_charge_id": payment.charge_id,
        }
        msg = self.server._store_message(
            chat, from_bot=False, sender=user.to_api(), extra={"refunded_payment": refund}
        )
        self.server._push("message", msg.to_api())
        return True

    async def _get_star_transactions(self, values: dict[str, Any], ctx: _CallContext) -> Any:
        offset = int(values.get("offset", 0))
        limit = int(values.get("limit", 100))
        if offset < 0:
            raise _payment_error("offset must be non-negative")
        if not 1 <= limit <= 100:
            raise _payment_error("limit must be between 1 and 100")
        return {"transactions": self.star_transactions[offset : offset + limit]}

    async def _get_my_star_balance(self, values: dict[str, Any], ctx: _CallContext) -> Any:
        incoming = sum(t["amount"] for t in self.star_transactions if "source" in t)
        outgoing = sum(t["amount"] for t in self.star_transactions if "receiver" in t)
        return {"amount": incoming - outgoing}

    # -- the user pays ------------------------------------------------------------------------------
    @staticmethod
    def _partner(user: FakeUser, payload: str) -> dict[str, Any]:
        return {
            "type": "user",
            "transaction_type": "invoice_payment",
            "user": user.to_api(),
            "invoice_payload": payload,
        }

    async def ask_pre_checkout(
        self,
        user: FakeUser,
        *,
        payload: str,
        currency: str,
        total_amount: int,
        answer_timeout: float = PRE_CHECKOUT_TIMEOUT,
    ) -> PreCheckoutRecord:
        """Send a pre_checkout_query and wait for the bot's answer (at most `answer_timeout` s).

        `user_pays` asks exactly what the invoice says; a test may ask anything (a tampered client).
        """
        query = PreCheckoutRecord(
            id=str(secrets.randbits(63)),
            user_id=user.id,
            payload=payload,
            currency=currency,
            total_amount=total_amount,
        )
        self.pre_checkout_queries[query.id] = query
        self.server._push(
            "pre_checkout_query",
            {
                "id": query.id,
                "from": user.to_api(),
                "currency": currency,
                "total_amount": total_amount,
                "invoice_payload": payload,
            },
        )
        deadline = time.monotonic() + answer_timeout
        while not query.answered:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.server._notifier.closed:
                query.expired = True
                break
            await self.server._notifier.wait(remaining)
        return query

    async def user_pays(
        self,
        user: FakeUser,
        message: FakeMessage,
        *,
        deliver: bool = True,
        answer_timeout: float = PRE_CHECKOUT_TIMEOUT,
    ) -> PaymentOutcome:
        """Pay the invoice `message`: pre-checkout query, the bot's answer, the successful payment."""
        invoice = self.invoices.get((message.chat_id, message.message_id))
        if invoice is None:
            raise LookupError(f"message {message.message_id} is not an invoice")
        query = await self.ask_pre_checkout(
            user,
            payload=invoice["payload"],
            currency=invoice["currency"],
            total_amount=invoice["total_amount"],
            answer_timeout=answer_timeout,
        )
        if query.expired:
            return PaymentOutcome(query, None)
        if not query.ok:
            return PaymentOutcome(query, None)
        return PaymentOutcome(query, self._charge(user, invoice, deliver=deliver))

    def _charge(self, user: FakeUser, invoice: dict[str, Any], *, deliver: bool) -> StarPayment:
        charge_id = f"stxFAKE{secrets.token_hex(16)}"
        now = int(time.time())
        self.star_transactions.append(
            {
                "id": charge_id,
                "amount": invoice["total_amount"],
                "date": now,
                "source": self._partner(user, invoice["payload"]),
            }
        )
        success = {
            "currency": invoice["currency"],
            "total_amount": invoice["total_amount"],
            "invoice_payload": invoice["payload"],
            "telegram_payment_charge_id": charge_id,
            "provider_payment_charge_id": "",
        }
        chat = self.server.chats[user.id]
        msg = self.server._store_message(
            chat, from_bot=False, sender=user.to_api(), extra={"successful_payment": success}
        )
        payment = StarPayment(
            charge_id=charge_id,
            user_id=user.id,
            payload=invoice["payload"],
            amount=invoice["total_amount"],
            date=now,
            message=msg.to_api(),
        )
        self.star_payments[charge_id] = payment
        if deliver:
            self.server._push("message", payment.message)
        return payment

    def replay_successful_payment(self, payment: StarPayment) -> int:
        """Deliver the payment's message again, as a new update (returns its update_id)."""
        update_id = self.server._push("message", payment.message)
        if update_id is None:
            raise ValueError("message updates are excluded by allowed_updates")
        return update_id

    async def control_pay(self, request: web.Request) -> web.Response:
        """POST /_fake/users/{id}/pay {"message_id": N}: the user pays that invoice (the demo's chat)."""
        body = await self.server._json_body(request)
        user = self.server._control_user(request, body)
        msg = user.chat.messages.get(int(body.get("message_id", 0)))
        if msg is None:
            raise web.HTTPNotFound(text="message not found")
        try:
            outcome = await asyncio.shield(self.user_pays(user, msg))
        except LookupError as error:
            raise web.HTTPBadRequest(text=str(error)) from None
        return web.json_response(
            {
                "ok": True,
                "paid": outcome.paid,
                "error": outcome.error,
                "charge_id": outcome.payment.charge_id if outcome.payment else None,
                "version": self.server.version,
            }
        )
