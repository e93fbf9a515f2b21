"""Top-ups: customers pay the shop themselves, and every payment is credited exactly once.

One rule for every method: a top-up row is created pending *before* the customer can pay (its id and
a random token make the invoice payload), and a payment is credited by `settle`, the one settle
function: in a single transaction it compare-and-sets the row's status (pending, or expired for a
late payment, -> paid) and writes the ledger credit under a key the payment itself names, so a
replay cannot apply twice:

* Telegram Stars: `topup:stars:<telegram_payment_charge_id>` (an invoice can be paid twice, so the
  payload is not the key; a second charge of one invoice becomes a second row, `parent_id` set);
* Crypto Pay: `topup:cryptopay:<invoice id>` (webhook and polling settle through the same call);
* manual receipts: `topup:manual:<top-up id>` (two admins pressing Approve at once: one wins).

The amount credited is always the one the customer asked for, in the shop currency (never Stars ×
rate, so no rounding drift). What a provider reports is checked against the row (amount, currency,
payload, the payer) before anything is credited; a payment that does not match is not credited and
the admins are told. Refunds (Stars only: `refund_stars`) debit the wallet first, conditionally,
so only an unspent amount goes back. `add_settle_hook` lets later features (promo bonuses) add
entries in the settle transaction.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest, TelegramForbiddenError
from aiogram.types import InlineKeyboardMarkup
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.i18n import DEFAULT_LOCALE, PoI18n, create_i18n, pick_locale, t
from bot.payments.cryptopay import CryptoInvoice, CryptoPayClient, CryptoPayError, CryptoPayRefused
from bot.payments.stars import StarCharge, parse_star_transaction, valid_charge_id
from bot.services.admin.audit import write_audit
from bot.services.topups.amounts import (
    STARS_PER_INVOICE_MAX,
    make_payload,
    parse_payload,
    stars_price,
)
from bot.telegram.render import money
from storage.models import LedgerKind, ManualPaymentMethod, TopUp, TopUpMethod, TopUpStatus, utcnow
from storage.repositories.ledger import InsufficientFunds, LedgerRepository
from storage.repositories.settings import SettingsRepository
from storage.repositories.topups import ManualMethodRepository, TopUpRepository
from storage.repositories.users import UserRepository

log = logging.getLogger(__name__)

LATE_WINDOW = timedelta(days=3)  # how long a closed Crypto Pay invoice is still watched for money
STARS_CURSOR = "topups_stars_reconcile_offset"  # app_settings: transactions already scanned
STARS_RESCAN = 100  # transactions scanned again each time (a refund lands after its payment)
STARS_PAGES_PER_RUN = 50
RECEIPT_TEXT_LIMIT = 1000

# A callback run inside the settle transaction, after the credit (e.g. a promo bonus entry keyed by
# the top-up). It must only use `session`; raising rolls the whole settlement back.
SettleHook = Callable[[AsyncSession, TopUp], Awaitable[None]]


class TopUpUnavailable(Exception):
    """The method cannot take this top-up now; `key` is the locale key of what to tell the customer."""

    def __init__(self, key: str, **values: object) -> None:
        super().__init__(key)
        self.key = key
        self.values = values


class SettleOutcome(StrEnum):
    CREDITED = "credited"
    ALREADY = "already"  # this payment was credited before (a replay)
    NOT_PENDING = "not_pending"  # manual: decided already (rejected), nothing credited
    UNKNOWN = "unknown"  # no top-up of ours matches
    MISMATCH = "mismatch"  # ours, but the amount, currency or payer differ: not credited


@dataclass(frozen=True)
class Payment:
    """What a provider (or an admin) says was paid, reduced to what settling needs."""

    method: TopUpMethod
    key: str  # the ledger key of the credit
    topup_id: int | None = None
    token: str | None = None  # from the payload; None when the caller found the row another way
    user_id: int | None = None  # the payer as the provider saw them (Stars)
    stars: int | None = None
    charge_id: str | None = None
    provider_charge_id: str | None = None
    invoice: CryptoInvoice | None = None
    actor_id: int | None = None  # the admin who approved a manual top-up


@dataclass(frozen=True)
class Settlement:
    outcome: SettleOutcome
    topup: TopUp | None = None
    balance: Decimal | None = None
    reason: str = ""


class DecideOutcome(StrEnum):
    DONE = "done"
    ALREADY = "already"  # someone decided first
    NOT_FOUND = "not_found"


@dataclass(frozen=True)
class Decision:
    outcome: DecideOutcome
    topup: TopUp | None = None
    approved: bool = False
    balance: Decimal | None = None


class RefundOutcome(StrEnum):
    DONE = "done"
    ALREADY = "already"  # refunded before
    NOT_FOUND = "not_found"
    NOT_REFUNDABLE = "not_refundable"  # not a paid Stars top-up
    SPENT = "spent"  # the wallet no longer holds the amount
    FAILED = "failed"  # Telegram refused; the wallet was credited back
    PENDING = "pending"  # Telegram did not answer; the debit stands, try again


@dataclass(frozen=True)
class Refund:
    outcome: RefundOutcome
    topup: TopUp | None = None
    balance: Decimal | None = None
    reason: str = ""


@dataclass
class CycleReport:
    settled: int = 0
    expired: int = 0
    problems: list[str] = field(default_factory=list)


def stars_key(charge_id: str) -> str:
    return f"topup:stars:{charge_id}"[:128]


def cryptopay_key(invoice_id: str) -> str:
    return f"topup:cryptopay:{invoice_id}"


def manual_key(topup_id: int) -> str:
    return f"topup:manual:{topup_id}"


class TopUpService:
    """See the module docstring. Long-lived: one per dispatcher (bot/app.py create_dispatcher)."""

    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        bot: Bot,
        *,
        currency: str,
        minimum: Decimal,
        maximum: Decimal,
        presets: Sequence[Decimal] = (),
        stars_rate: Decimal | None = None,
        cryptopay: CryptoPayClient | None = None,
        expire_after: timedelta = timedelta(hours=1),
        admin_ids: Sequence[int] = (),
        default_locale: str = DEFAULT_LOCALE,
        i18n: PoI18n | None = None,
        on_blocked: Callable[[int], None] = lambda _user_id: None,
    ) -> None:
        self.session_factory = session_factory
        self.bot = bot
        self.currency = currency
        self.minimum = minimum
        self.maximum = maximum
        self.presets = [p for p in presets if minimum <= p <= maximum]
        self.stars_rate = stars_rate
        self.cryptopay = cryptopay
        self.expire_after = expire_after
        self.admin_ids = sorted(set(admin_ids))
        self.default_locale = default_locale
        self.i18n = i18n or create_i18n(default_locale)
        self.on_blocked = on_blocked
        self.hooks: list[SettleHook] = []

    def add_settle_hook(self, hook: SettleHook) -> None:
        """Run `hook(session, topup)` in every settle transaction, right after the credit."""
        self.hooks.append(hook)

    # --- what a customer can use ------------------------------------------------------------------

    @property
    def stars_enabled(self) -> bool:
        return self.stars_rate is not None

    @property
    def cryptopay_enabled(self) -> bool:
        return self.cryptopay is not None

    async def manual_methods(self) -> list[ManualPaymentMethod]:
        async with self.session_factory() as session:
            return await ManualMethodRepository(session).listed(enabled_only=True)

    async def available(self) -> bool:
        """Can a customer top up at all (some method configured)?"""
        return self.stars_enabled or self.cryptopay_enabled or bool(await self.manual_methods())

    def stars_for(self, amount: Decimal) -> int | None:
        """The Stars price of `amount`, or None when Stars are off or it is too big for one invoice."""
        if self.stars_rate is None:
            return None
        stars = stars_price(amount, self.stars_rate)
        return stars if stars <= STARS_PER_INVOICE_MAX else None

    async def _new_row(self, user_id: int, method: TopUpMethod, amount: Decimal, **values: Any) -> TopUp:
        async with self.session_factory.begin() as session:
            if await UserRepository(session).get(user_id) is None:
                raise TopUpUnavailable("topup.error.unknown_user")
            return await TopUpRepository(session).add(
                TopUp(
                    user_id=user_id,
                    method=method,
                    amount=amount,
                    currency=self.currency,
                    token=secrets.token_hex(8),
                    status=TopUpStatus.PENDING,
                    admin_messages={},
                    refund_attempt=0,
                    **values,
                )
            )

    async def start_stars(self, user_id: int, amount: Decimal) -> TopUp:
        """A pending Stars top-up; the caller sends its invoice (`stars` Stars, payload `payload_of`)."""
        if self.stars_rate is None:
            raise TopUpUnavailable("topup.error.method_off")
        stars = self.stars_for(amount)
        if stars is None:
            raise TopUpUnavailable("topup.error.stars_too_big", most=STARS_PER_INVOICE_MAX)
        return await self._new_row(
            user_id, TopUpMethod.STARS, amount, stars=stars, expires_at=utcnow() + self.expire_after
        )

    async def start_cryptopay(self, user_id: int, amount: Decimal, description: str) -> TopUp:
        """A pending Crypto Pay top-up with its invoice created (fiat, the shop currency)."""
        if self.cryptopay is None:
            raise TopUpUnavailable("topup.error.method_off")
        expires_at = utcnow() + self.expire_after
        topup = await self._new_row(user_id, TopUpMethod.CRYPTOPAY, amount, expires_at=expires_at)
        try:
            invoice = await self.cryptopay.create_invoice(
                amount=amount,
                fiat=self.currency,
                description=description,
                payload=make_payload(topup.id, topup.token),
                expires_in=int(self.expire_after.total_seconds()),
            )
        except CryptoPayError as error:
            log.warning("Crypto Pay refused an invoice for top-up %s: %s", topup.id, error.message)
            async with self.session_factory.begin() as session:
                await TopUpRepository(session).move(topup.id, [TopUpStatus.PENDING], TopUpStatus.CANCELLED)
            raise TopUpUnavailable("topup.error.provider_down") from None
        async with self.session_factory.begin() as session:
            repo = TopUpRepository(session)
            await repo.set_fields(topup.id, invoice_id=invoice.invoice_id, pay_url=invoice.pay_url)
            fresh = await repo.fresh(topup.id)
        assert fresh is not None
        return fresh

    async def start_manual(
        self,
        user_id: int,
        amount: Decimal,
        method_id: int,
        *,
        receipt_kind: str,
        receipt_text: str | None,
        receipt_file_id: str | None,
    ) -> TopUp:
        """A manual top-up request with the customer's receipt, waiting for an admin."""
        async with self.session_factory() as session:
            method = await ManualMethodRepository(session).get(method_id)
        if method is None or not method.enabled:
            raise TopUpUnavailable("topup.error.method_off")
        text = (receipt_text or "").strip()[:RECEIPT_TEXT_LIMIT] or None
        return await self._new_row(
            user_id,
            TopUpMethod.MANUAL,
            amount,
            manual_method_id=method_id,
            receipt_kind=receipt_kind,
            receipt_text=text,
            receipt_file_id=receipt_file_id,
        )

    async def get(self, topup_id: int) -> TopUp | None:
        async with self.session_factory() as session:
            return await TopUpRepository(session).get(topup_id)

    async def history(self, user_id: int, *, limit: int = 5) -> list[TopUp]:
        async with self.session_factory() as session:
            return await TopUpRepository(session).for_user(user_id, limit=limit)

    @staticmethod
    def payload_of(topup: TopUp) -> str:
        return make_payload(topup.id, topup.token)

    # --- Stars: the pre-checkout question, the payment ----------------------------------------------

    async def check_pre_checkout(
        self, *, user_id: int, payload: str, currency: str, total_amount: int
    ) -> str | None:
        """None when this payment may go ahead, else the locale key of why not."""
        ref = parse_payload(payload)
        if ref is None:
            return "topup.precheckout.unknown"
        async with self.session_factory() as session:
            topup = await TopUpRepository(session).get(ref.topup_id)
        if topup is None or topup.token != ref.token or topup.method != TopUpMethod.STARS:
            return "topup.precheckout.unknown"
        if topup.user_id != user_id:
            return "topup.precheckout.unknown"
        if topup.status == TopUpStatus.PAID:
            return "topup.precheckout.paid"
        if topup.status != TopUpStatus.PENDING or (
            topup.expires_at is not None and topup.expires_at <= utcnow()
        ):
            return "topup.precheckout.expired"
        if currency != "XTR" or total_amount != topup.stars:
            return "topup.precheckout.amount"
        return None

    async def settle_stars(
        self,
        *,
        user_id: int,
        payload: str,
        currency: str,
        total_amount: int,
        charge_id: str,
        provider_charge_id: str | None = None,
        notify: bool = True,
    ) -> Settlement:
        """A successful_payment message (or a charge reconciliation found)."""
        if not valid_charge_id(charge_id):
            return Settlement(SettleOutcome.MISMATCH, reason="invalid charge id")
        ref = parse_payload(payload)
        if currency != "XTR":
            return await self._unmatched(f"Stars payment {charge_id[:40]} in {currency[:8]!r}", user_id)
        payment = Payment(
            TopUpMethod.STARS,
            stars_key(charge_id),
            topup_id=ref.topup_id if ref else None,
            token=ref.token if ref else None,
            user_id=user_id,
            stars=total_amount,
            charge_id=charge_id,
            provider_charge_id=(provider_charge_id or "")[:255] or None,
        )
        return await self.settle(payment, notify=notify)

    # --- the one settle function --------------------------------------------------------------------

    async def settle(self, payment: Payment, *, notify: bool = True) -> Settlement:
        """Credit `payment` once: status compare-and-set and ledger credit in one transaction."""
        try:
            settlement = await self._settle_once(payment)
        except IntegrityError:
            # A concurrent settler of the same payment committed first (unique charge id or key).
            log.info("top-up payment %s settled concurrently", payment.key)
            async with self.session_factory() as session:
                entry = await LedgerRepository(session).by_key(payment.key)
            if entry is None:
                raise
            settlement = Settlement(SettleOutcome.ALREADY, balance=entry.balance_after)
        if settlement.outcome in (SettleOutcome.UNKNOWN, SettleOutcome.MISMATCH) and (
            payment.method != TopUpMethod.MANUAL
        ):
            await self._unmatched(f"{payment.method} payment {payment.key[:80]}: {settlement.reason}", None)
        elif settlement.outcome == SettleOutcome.CREDITED and notify and settlement.topup is not None:
            await self.tell_credited(settlement.topup, settlement.balance)
        return settlement

    async def _settle_once(self, payment: Payment) -> Settlement:
        async with self.session_factory.begin() as session:
            repo = TopUpRepository(session)
            ledger = LedgerRepository(session)
            existing = await ledger.by_key(payment.key)
            if existing is not None:
                return Settlement(
                    SettleOutcome.ALREADY, await self._row_of(repo, payment), existing.balance_after
                )
            topup = await self._row_of(repo, payment)
            if topup is None:
                return Settlement(SettleOutcome.UNKNOWN, reason="no top-up of ours")
            problem = self._mismatch(topup, payment)
            if problem:
                return Settlement(SettleOutcome.MISMATCH, topup, reason=problem)
            now = utcnow()
            values = self._paid_values(payment, now)
            settleable = (
                [TopUpStatus.PENDING]
                if payment.method == TopUpMethod.MANUAL
                else [
                    TopUpStatus.PENDING,
                    TopUpStatus.EXPIRED,
                    TopUpStatus.CANCELLED,
                ]
            )
            if not await repo.move(topup.id, settleable, TopUpStatus.PAID, **values):
                current = await repo.fresh(topup.id)
                assert current is not None
                if payment.method != TopUpMethod.STARS or current.charge_id == payment.charge_id:
                    outcome = (
                        SettleOutcome.NOT_PENDING
                        if payment.method == TopUpMethod.MANUAL
                        else (SettleOutcome.ALREADY)
                    )
                    return Settlement(outcome, current)
                # The same invoice paid a second time: the money is real, so it is a top-up of its own.
                async with session.begin_nested():
                    topup = await repo.add(
                        TopUp(
                            user_id=current.user_id,
                            method=current.method,
                            amount=current.amount,
                            currency=current.currency,
                            token=current.token,
                            stars=current.stars,
                            parent_id=current.id,
                            status=TopUpStatus.PAID,
                            admin_messages={},
                            refund_attempt=0,
                            created_at=now,
                            **values,
                        )
                    )
            topup = await repo.fresh(topup.id)
            assert topup is not None
            # The note is shown in the customer's history beside the localized kind: ids and names only.
            method = {"stars": " Telegram Stars", "cryptopay": " Crypto Pay"}.get(topup.method, "")
            result = await ledger.apply(
                user_id=topup.user_id,
                amount=topup.amount,
                kind=LedgerKind.TOPUP,
                key=payment.key,
                note=f"#{topup.id}{method}",
                actor_id=payment.actor_id,
            )
            if not result.applied:  # cannot happen after a won compare-and-set; never credit twice
                raise IntegrityError("top-up credit", {}, Exception(payment.key))
            if payment.actor_id is not None:
                await write_audit(
                    session, payment.actor_id, "topup.approve", topup_id=topup.id, amount=topup.amount
                )
            for hook in self.hooks:
                await hook(session, topup)
            balance = await ledger.balance(topup.user_id)
        log.info("top-up %s credited %s %s to user %s", topup.id, topup.amount, topup.currency, topup.user_id)
        return Settlement(SettleOutcome.CREDITED, topup, balance)

    @staticmethod
    async def _row_of(repo: TopUpRepository, payment: Payment) -> TopUp | None:
        if payment.charge_id:
            found = await repo.by_charge(payment.charge_id)
            if found is not None:
                return found
        if payment.topup_id is not None:
            return await repo.get(payment.topup_id)
        if payment.invoice is not None:
            return await repo.by_invoice(payment.invoice.invoice_id)
        return None

    @staticmethod
    def _mismatch(topup: TopUp, payment: Payment) -> str:
        """Why this payment is not the one the top-up waits for ("" when it is)."""
        if topup.method != payment.method:
            return f"top-up #{topup.id} is a {topup.method} top-up"
        if payment.token is not None and payment.token != topup.token:
            return f"payload token differs from top-up #{topup.id}"
        if payment.user_id is not None and payment.user_id != topup.user_id:
            return f"paid by user {payment.user_id}, top-up #{topup.id} belongs to {topup.user_id}"
        if payment.method == TopUpMethod.STARS and payment.stars != topup.stars:
            return f"{payment.stars} Stars paid, top-up #{topup.id} asks {topup.stars}"
        invoice = payment.invoice
        if invoice is not None:
            if topup.invoice_id is not None and topup.invoice_id != invoice.invoice_id:
                return f"invoice {invoice.invoice_id} is not top-up #{topup.id}'s ({topup.invoice_id})"
            if invoice.currency_type != "fiat" or invoice.fiat != topup.currency:
                return f"invoice {invoice.invoice_id} is in {invoice.fiat or invoice.asset}, not {topup.currency}"
            if invoice.amount != topup.amount:
                return f"invoice {invoice.invoice_id} is for {invoice.amount}, top-up #{topup.id} for {topup.amount}"
            if not invoice.paid:
                return f"invoice {invoice.invoice_id} is {invoice.status}"
        return ""

    def _paid_values(self, payment: Payment, now: datetime) -> dict[str, Any]:
        values: dict[str, Any] = {"paid_at": now}
        if payment.charge_id:
            values["charge_id"] = payment.charge_id
            values["provider_charge_id"] = payment.provider_charge_id
            values["paid_note"] = f"{payment.stars} XTR"
        invoice = payment.invoice
        if invoice is not None:
            values["invoice_id"] = invoice.invoice_id
            if invoice.paid_amount is not None and invoice.paid_asset:
                values["paid_note"] = f"{invoice.paid_amount.normalize():f} {invoice.paid_asset}"[:64]
            fee = invoice.fee_in(self.currency)
            if fee is not None:
                values["fee"] = fee.quantize(Decimal("0.0001"))
            if invoice.fee_amount is not None and invoice.fee_asset:
                values["fee_note"] = f"{invoice.fee_amount.normalize():f} {invoice.fee_asset}"[:64]
        if payment.actor_id is not None:
            values["decided_by"] = payment.actor_id
            values["decided_at"] = now
        return values

    # --- Crypto Pay: webhook and polling settle the same way -----------------------------------------

    async def settle_invoice(self, invoice: CryptoInvoice, *, notify: bool = True) -> Settlement:
        """A Crypto Pay invoice the provider says is paid (webhook update or getInvoices)."""
        ref = parse_payload(invoice.payload)
        payment = Payment(
            TopUpMethod.CRYPTOPAY,
            cryptopay_key(invoice.invoice_id),
            topup_id=ref.topup_id if ref else None,
            token=ref.token if ref else None,
            invoice=invoice,
        )
        if not invoice.paid:
            return Settlement(SettleOutcome.MISMATCH, reason=f"invoice is {invoice.status}")
        return await self.settle(payment, notify=notify)

    async def poll_cryptopay(self, only: Sequence[str] | None = None) -> CycleReport:
        """Ask Crypto Pay about open invoices (pending, or closed within LATE_WINDOW); settle the paid."""
        report = CycleReport()
        if self.cryptopay is None:
            return report
        async with self.session_factory() as session:
            rows = await TopUpRepository(session).open_invoices(late_since=utcnow() - LATE_WINDOW)
        ids = [row.invoice_id for row in rows if row.invoice_id and (only is None or row.invoice_id in only)]
        if not ids:
            return report
        invoices, problems = await self.cryptopay.get_invoices(ids)
        for problem in problems:
            log.warning("Crypto Pay sent an invoice we cannot read: %s", problem)
        report.problems.extend(problems)
        for invoice in invoices:
            if not invoice.paid:
                continue
            try:
                settlement = await self.settle_invoice(invoice)
            except Exception:  # one bad record must not stop the others
                log.exception("settling Crypto Pay invoice %s failed", invoice.invoice_id)
                continue
            if settlement.outcome == SettleOutcome.CREDITED:
                report.settled += 1
        return report

    async def check_invoice(self, topup_id: int, user_id: int) -> Settlement | None:
        """The customer says they paid: ask Crypto Pay about this one invoice now."""
        topup = await self.get(topup_id)
        if topup is None or topup.user_id != user_id or topup.method != TopUpMethod.CRYPTOPAY:
            return None
        if topup.status == TopUpStatus.PAID:
            return Settlement(SettleOutcome.ALREADY, topup)
        if topup.status != TopUpStatus.PENDING or not topup.invoice_id or self.cryptopay is None:
            return Settlement(SettleOutcome.NOT_PENDING, topup)
        invoices, _ = await self.cryptopay.get_invoices([topup.invoice_id])
        for invoice in invoices:
            if invoice.invoice_id == topup.invoice_id and invoice.paid:
                return await self.settle_invoice(invoice, notify=False)
        return Settlement(SettleOutcome.NOT_PENDING, topup)

    async def expire_due(self) -> int:
        """Close unpaid Stars and Crypto Pay top-ups past their time (a late payment still settles)."""
        async with self.session_factory() as session:
            due = await TopUpRepository(session).due_to_expire(utcnow())
        closed = 0
        for topup in due:
            if topup.method == TopUpMethod.CRYPTOPAY and topup.invoice_id and self.cryptopay is not None:
                try:
                    await self.cryptopay.delete_invoice(topup.invoice_id)
                except CryptoPayRefused as error:
                    log.info("Crypto Pay kept invoice %s open: %s", topup.invoice_id, error.name)
                except CryptoPayError as error:
                    log.info("could not close Crypto Pay invoice %s: %s", topup.invoice_id, error.message)
                    continue  # try again next time; until then it stays pending
            async with self.session_factory.begin() as session:
                if await TopUpRepository(session).move(topup.id, [TopUpStatus.PENDING], TopUpStatus.EXPIRED):
                    closed += 1
        return closed

    # --- Stars reconciliation --------------------------------------------------------------------------

    async def reconcile_stars(self) -> CycleReport:
        """Credit Stars charges Telegram has and we never credited (a crash before our commit).

        getStarTransactions lists the bot's transactions oldest first; the scan resumes a little
        before where the last one ended (STARS_RESCAN), so a refund listed after its payment is seen.
        A charge is credited only when it is an incoming invoice payment whose payload names one of
        our Stars top-ups of that user for that many Stars, and it was not refunded.
        """
        report = CycleReport()
        async with self.session_factory() as session:
            saved = await SettingsRepository(session).get(STARS_CURSOR)
        cursor = int(saved) if saved and saved.isdecimal() else 0
        offset = max(0, cursor - STARS_RESCAN)
        charges: dict[str, StarCharge] = {}
        refunded: set[str] = set()
        for _ in range(STARS_PAGES_PER_RUN):
            page = await self.bot.get_star_transactions(offset=offset, limit=100)
            items = list(page.transactions or [])
            for item in items:
                charge = parse_star_transaction(item)
                if charge is None:
                    continue
                if charge.incoming:
                    charges.setdefault(charge.charge_id, charge)
                else:
                    refunded.add(charge.charge_id)
            offset += len(items)
            if len(items) < 100:
                break
        async with self.session_factory() as session:
            known = await TopUpRepository(session).charges(list(charges))
        for charge in charges.values():
            if charge.charge_id in known or charge.charge_id in refunded:
                continue
            if parse_payload(charge.payload) is None:
                continue  # not one of our invoices
            try:
                settlement = await self.settle_stars(
                    user_id=charge.user_id,
                    payload=charge.payload,
                    currency="XTR",
                    total_amount=charge.stars,
                    charge_id=charge.charge_id,
                )
            except Exception:
                log.exception("crediting Stars charge %s failed", charge.charge_id[:40])
                continue
            if settlement.outcome == SettleOutcome.CREDITED:
                report.settled += 1
                log.warning(
                    "reconciliation credited Stars charge %s (top-up %s)",
                    charge.charge_id[:40],
                    settlement.topup.id if settlement.topup else "?",
                )
        async with self.session_factory.begin() as session:
            await SettingsRepository(session).set(STARS_CURSOR, str(offset))
        return report

    # --- manual: an admin decides ---------------------------------------------------------------------

    async def approve(self, topup_id: int, admin_id: int) -> Decision:
        settlement = await self.settle(
            Payment(TopUpMethod.MANUAL, manual_key(topup_id), topup_id=topup_id, actor_id=admin_id)
        )
        if settlement.outcome == SettleOutcome.CREDITED:
            return Decision(DecideOutcome.DONE, settlement.topup, approved=True, balance=settlement.balance)
        if settlement.outcome == SettleOutcome.UNKNOWN or settlement.topup is None:
            return Decision(DecideOutcome.NOT_FOUND)
        return Decision(
            DecideOutcome.ALREADY, settlement.topup, approved=settlement.topup.status == TopUpStatus.PAID
        )

    async def reject(self, topup_id: int, admin_id: int) -> Decision:
        async with self.session_factory.begin() as session:
            repo = TopUpRepository(session)
            topup = await repo.get(topup_id)
            if topup is None or topup.method != TopUpMethod.MANUAL:
                return Decision(DecideOutcome.NOT_FOUND)
            now = utcnow()
            won = await repo.move(
                topup_id, [TopUpStatus.PENDING], TopUpStatus.REJECTED, decided_by=admin_id, decided_at=now
            )
            current = await repo.fresh(topup_id)
            if won:
                await write_audit(session, admin_id, "topup.reject", topup_id=topup_id, amount=topup.amount)
        assert current is not None
        if not won:
            return Decision(DecideOutcome.ALREADY, current, approved=current.status == TopUpStatus.PAID)
        await self.tell_customer(
            current.user_id,
            "topup.manual.rejected",
            id=current.id,
            amount=money(current.amount, current.currency),
        )
        return Decision(DecideOutcome.DONE, current)

    async def pending_manual(self, limit: int = 20) -> list[TopUp]:
        async with self.session_factory() as session:
            return await TopUpRepository(session).pending_manual(limit=limit)

    async def remember_admin_copies(self, topup_id: int, copies: dict[str, list[Any]]) -> None:
        async with self.session_factory.begin() as session:
            repo = TopUpRepository(session)
            topup = await repo.fresh(topup_id)
            if topup is not None:
                await repo.set_fields(topup_id, admin_messages={**(topup.admin_messages or {}), **copies})

    # --- Stars refund -------------------------------------------------------------------------------------

    async def refund_stars(self, topup_id: int, admin_id: int) -> Refund:
        """Give a Stars top-up back: debit the wallet (only an unspent amount), then refundStarPayment.

        CHARGE_ALREADY_REFUNDED counts as done. A definite refusal credits the wallet back; no answer
        leaves the top-up `refunding` with the debit in place, and running this again retries.
        """
        try:
            async with self.session_factory.begin() as session:
                repo = TopUpRepository(session)
                topup = await repo.get(topup_id)
                if topup is None:
                    return Refund(RefundOutcome.NOT_FOUND)
                if topup.status == TopUpStatus.REFUNDED:
                    return Refund(RefundOutcome.ALREADY, topup)
                if (
                    topup.method != TopUpMethod.STARS
                    or not topup.charge_id
                    or topup.status not in (TopUpStatus.PAID, TopUpStatus.REFUNDING)
                ):
                    return Refund(RefundOutcome.NOT_REFUNDABLE, topup)
                attempt = topup.refund_attempt
                if topup.status == TopUpStatus.PAID:
                    attempt += 1
                    moved = await repo.move(
                        topup_id, [TopUpStatus.PAID], TopUpStatus.REFUNDING, refund_attempt=attempt
                    )
                    if not moved:
                        return Refund(RefundOutcome.ALREADY, await repo.fresh(topup_id))
                    # Raises InsufficientFunds when the amount was spent: all of this rolls back.
                    await LedgerRepository(session).apply(
                        user_id=topup.user_id,
                        amount=-topup.amount,
                        kind=LedgerKind.TOPUP_REFUND,
                        key=f"topup:{topup_id}:refund:{attempt}",
                        note=f"#{topup_id} Telegram Stars",
                        actor_id=admin_id,
                    )
                    await write_audit(
                        session, admin_id, "topup.refund", topup_id=topup_id, amount=topup.amount
                    )
        except InsufficientFunds as short:
            return Refund(RefundOutcome.SPENT, topup, short.balance)
        assert topup.charge_id is not None
        try:
            await self.bot.refund_star_payment(
                user_id=topup.user_id, telegram_payment_charge_id=topup.charge_id
            )
        except TelegramBadRequest as error:
            if "CHARGE_ALREADY_REFUNDED" not in error.message:
                return await self._refund_refused(topup, attempt, admin_id, error.message)
        except TelegramAPIError as error:
            log.warning("refund of top-up %s not confirmed: %s", topup_id, error.message)
            return Refund(RefundOutcome.PENDING, topup, reason=error.message)
        async with self.session_factory.begin() as session:
            repo = TopUpRepository(session)
            await repo.move(topup_id, [TopUpStatus.REFUNDING], TopUpStatus.REFUNDED, refunded_at=utcnow())
            topup = await repo.fresh(topup_id) or topup
            balance = await LedgerRepository(session).balance(topup.user_id)
        await self.tell_customer(
            topup.user_id,
            "topup.refunded",
            id=topup.id,
            amount=money(topup.amount, topup.currency),
            balance=money(balance, topup.currency),
        )
        return Refund(RefundOutcome.DONE, topup, balance)

    async def _refund_refused(self, topup: TopUp, attempt: int, admin_id: int, reason: str) -> Refund:
        log.warning("Telegram refused to refund top-up %s: %s", topup.id, reason)
        async with self.session_factory.begin() as session:
            repo = TopUpRepository(session)
            if await repo.move(topup.id, [TopUpStatus.REFUNDING], TopUpStatus.PAID):
                await LedgerRepository(session).apply(
                    user_id=topup.user_id,
                    amount=topup.amount,
                    kind=LedgerKind.TOPUP,
                    key=f"topup:{topup.id}:refund:{attempt}:undone",
                    note=f"#{topup.id} Telegram Stars",
                    actor_id=admin_id,
                )
            balance = await LedgerRepository(session).balance(topup.user_id)
        return Refund(RefundOutcome.FAILED, topup, balance, reason=reason)

    async def refunded_by_telegram(self, charge_id: str) -> None:
        """A refunded_payment message: ours (already recorded) or Telegram's own, which admins must see."""
        async with self.session_factory() as session:
            topup = (
                await TopUpRepository(session).by_charge(charge_id) if valid_charge_id(charge_id) else None
            )
        if topup is None or topup.status in (TopUpStatus.REFUNDING, TopUpStatus.REFUNDED):
            return
        await self._unmatched(
            f"#{topup.id} ({money(topup.amount, topup.currency)})",
            topup.user_id,
            key="admin.topup.refunded_outside",
        )

    # --- telling people ---------------------------------------------------------------------------------

    async def _locale_of(self, user_id: int) -> str:
        async with self.session_factory() as session:
            user = await UserRepository(session).get(user_id)
        return pick_locale(
            user.locale if user else None, user.language_code if user else None, self.default_locale
        )

    async def tell_customer(
        self, user_id: int, key: str, markup: InlineKeyboardMarkup | None = None, **values: Any
    ) -> bool:
        locale = await self._locale_of(user_id)
        with self.i18n.context(), self.i18n.use_locale(locale):
            text = t(key, **values)
        try:
            await self.bot.send_message(user_id, text, reply_markup=markup)
        except TelegramForbiddenError:
            async with self.session_factory.begin() as session:
                await UserRepository(session).mark_blocked(user_id)
            self.on_blocked(user_id)
            return False
        except TelegramAPIError as error:
            log.info("could not tell user %s about a top-up: %s", user_id, error.message)
            return False
        return True

    async def tell_credited(self, topup: TopUp, balance: Decimal | None) -> bool:
        return await self.tell_customer(
            topup.user_id,
            "topup.credited",
            id=topup.id,
            amount=money(topup.amount, topup.currency),
            balance=money(balance if balance is not None else Decimal(0), topup.currency),
        )

    async def _unmatched(
        self, what: str, user_id: int | None, *, key: str = "admin.topup.unmatched"
    ) -> Settlement:
        """Money we could not match: log it and tell the admins (never the payer's secrets)."""
        log.warning("top-up payment needs an admin (%s): %s", key, what)
        for admin_id in self.admin_ids:
            locale = await self._locale_of(admin_id)
            with self.i18n.context(), self.i18n.use_locale(locale):
                alert = (
                    "admin.topup.refunded_outside"
                    if key == "admin.topup.refunded_outside"
                    else "admin.topup.unmatched"
                )
                text = t(alert, what=what[:300], user=user_id or "?")
            try:
                await self.bot.send_message(admin_id, text)
            except TelegramAPIError as error:
                log.info("could not alert admin %s: %s", admin_id, error.message)
        return Settlement(SettleOutcome.MISMATCH, reason=what)
