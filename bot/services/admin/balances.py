"""Admin credits and debits: one ledger entry per command, and the customer is told in their language."""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramForbiddenError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.i18n import DEFAULT_LOCALE, PoI18n, create_i18n, pick_locale, t
from bot.services.admin.audit import write_audit
from bot.services.amounts import parse_money
from bot.telegram.render import money
from storage.models import LedgerKind
from storage.repositories.ledger import InsufficientFunds, LedgerRepository
from storage.repositories.users import UserRepository

log = logging.getLogger(__name__)

MAX_AMOUNT = Decimal("1000000")
PENDING_SECONDS = 15 * 60  # how long a balance change waits for its Yes


class AdjustOutcome(StrEnum):
    DONE = "done"
    ALREADY = "already"  # this command was applied before (a redelivered update)
    NO_USER = "no_user"
    INSUFFICIENT = "insufficient"  # a debit larger than the balance


@dataclass(frozen=True)
class Adjustment:
    outcome: AdjustOutcome
    user_id: int
    amount: Decimal  # positive: what was added or taken
    balance: Decimal = Decimal("0")  # after the change, or the current balance when refused
    notified: bool = False
    credit: bool = True


def parse_amount(text: str) -> Decimal:
    """A positive amount with at most 2 decimals (`12`, `12.5`, `12,50`), at most MAX_AMOUNT;
    AmountError naming the problem otherwise."""
    return parse_money(text, maximum=MAX_AMOUNT)


@dataclass(frozen=True)
class PendingAdjustment:
    """A credit or debit an admin asked for and must confirm: the Yes button carries `token`, and
    only the adjustment stored under that token is applied, under the ledger key of the admin's
    message (so it applies once, however often Yes arrives)."""

    token: str
    user_id: int
    amount: Decimal
    credit: bool
    reason: str
    key: str
    created: float = 0.0  # Unix time it was asked; a Yes much later would act on an old preview

    @classmethod
    def new(
        cls, user_id: int, amount: Decimal, credit: bool, reason: str, key: str, *, now: float | None = None
    ) -> PendingAdjustment:
        created = time.time() if now is None else now
        return cls(secrets.token_hex(6), user_id, amount, credit, reason, key, created)

    def expired(self, now: float | None = None) -> bool:
        return (time.time() if now is None else now) - self.created > PENDING_SECONDS

    def to_data(self) -> dict[str, object]:
        return {
            "token": self.token,
            "user_id": self.user_id,
            "amount": str(self.amount),
            "credit": self.credit,
            "reason": self.reason,
            "key": self.key,
            "created": self.created,
        }

    @classmethod
    def from_data(cls, data: object) -> PendingAdjustment | None:
        """None for anything that is not a pending adjustment this code wrote."""
        if not isinstance(data, dict):
            return None
        try:
            return cls(
                token=str(data["token"]),
                user_id=int(data["user_id"]),
                amount=parse_amount(str(data["amount"])),
                credit=bool(data["credit"]),
                reason=str(data.get("reason") or ""),
                key=str(data["key"]),
                created=float(data.get("created") or 0),
            )
        except (KeyError, TypeError, ValueError):
            return None


@dataclass(frozen=True)
class Preview:
    """What a pending adjustment would do now: the balance before and after (None: no such user)."""

    balance: Decimal | None
    after: Decimal | None = None
    name: str = ""

    @property
    def found(self) -> bool:
        return self.balance is not None

    @property
    def enough(self) -> bool:
        return self.after is not None and self.after >= 0


class BalanceService:
    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        bot: Bot,
        *,
        currency: str,
        default_locale: str = DEFAULT_LOCALE,
        i18n: PoI18n | None = None,
        on_blocked: Callable[[int], None] = lambda _user_id: None,
        confirm_credit_above: Decimal = Decimal("100"),
    ) -> None:
        self.session_factory = session_factory
        self.bot = bot
        self.currency = currency
        self.on_blocked = on_blocked  # UserService.forget: its cached profile must see the flag
        self.default_locale = default_locale
        self.i18n = i18n or create_i18n(default_locale)
        self.confirm_credit_above = confirm_credit_above

    def needs_confirmation(self, amount: Decimal, *, credit: bool) -> bool:
        """Taking money always asks first; giving only above CONFIRM_CREDIT_ABOVE (a typo of a
        zero or two there costs the shop real money)."""
        return not credit or amount > self.confirm_credit_above

    async def preview(self, user_id: int, amount: Decimal, *, credit: bool) -> Preview:
        async with self.session_factory() as session:
            found = await UserRepository(session).get(user_id)
            if found is None:
                return Preview(None)
            name = found.first_name or (f"@{found.username}" if found.username else "")
            balance = await LedgerRepository(session).balance(user_id)
        return Preview(balance, balance + amount if credit else balance - amount, name)

    async def applied_before(self, key: str) -> Adjustment | None:
        """The adjustment made under `key` already (a second Yes), with the user's balance now."""
        async with self.session_factory() as session:
            ledger = LedgerRepository(session)
            entry = await ledger.by_key(f"admin:{key}")
            if entry is None:
                return None
            balance = await ledger.balance(entry.user_id)
        return Adjustment(
            AdjustOutcome.ALREADY, entry.user_id, abs(entry.amount), balance, credit=entry.amount > 0
        )

    async def credit(self, admin_id: int, user_id: int, amount: Decimal, reason: str, key: str) -> Adjustment:
        return await self._adjust(admin_id, user_id, amount, reason, key)

    async def debit(self, admin_id: int, user_id: int, amount: Decimal, reason: str, key: str) -> Adjustment:
        return await self._adjust(admin_id, user_id, -amount, reason, key)

    async def _adjust(
        self, admin_id: int, user_id: int, amount: Decimal, reason: str, key: str
    ) -> Adjustment:
        kind = LedgerKind.ADMIN_CREDIT if amount > 0 else LedgerKind.ADMIN_DEBIT
        action = "balance.credit" if amount > 0 else "balance.debit"
        async with self.session_factory.begin() as session:
            user = await UserRepository(session).get(user_id)
            if user is None:
                await write_audit(
                    session, admin_id, action, user_id=user_id, amount=amount, outcome="no_user"
                )
                return Adjustment(AdjustOutcome.NO_USER, user_id, abs(amount), credit=amount > 0)
            locale = pick_locale(user.locale, user.language_code, self.default_locale)
            try:
                result = await LedgerRepository(session).apply(
                    user_id=user_id,
                    amount=amount,
                    kind=kind,
                    key=f"admin:{key}",
                    note=reason or None,
                    actor_id=admin_id,
                )
            except InsufficientFunds as short:
                await write_audit(
                    session, admin_id, action, user_id=user_id, amount=amount, outcome="insufficient"
                )
                return Adjustment(
                    AdjustOutcome.INSUFFICIENT, user_id, abs(amount), short.balance, credit=amount > 0
                )
            if not result.applied:
                return Adjustment(
                    AdjustOutcome.ALREADY, user_id, abs(amount), result.entry.balance_after, credit=amount > 0
                )
            await write_audit(
                session,
                admin_id,
                action,
                user_id=user_id,
                amount=amount,
                reason=reason,
                entry_id=result.entry.id,
                balance_after=result.entry.balance_after,
            )
            balance = result.entry.balance_after
        log.info("admin %s changed the balance of %s by %s", admin_id, user_id, amount)
        notified = await self._tell_user(user_id, locale, amount, balance, reason)
        return Adjustment(AdjustOutcome.DONE, user_id, abs(amount), balance, notified, credit=amount > 0)

    async def _tell_user(
        self, user_id: int, locale: str, amount: Decimal, balance: Decimal, reason: str
    ) -> bool:
        with self.i18n.context(), self.i18n.use_locale(locale):
            values = {
                "amount": money(abs(amount), self.currency),
                "balance": money(balance, self.currency),
            }
            if amount > 0:
                text = t("admin.balance.user_credited", **values)
            else:
                text = t("admin.balance.user_debited", **values)
            if reason:
                text += "\n" + t("admin.balance.user_reason", reason=reason)
        try:
            await self.bot.send_message(user_id, text)
        except TelegramForbiddenError:
            async with self.session_factory.begin() as session:
                await UserRepository(session).mark_blocked(user_id)
            self.on_blocked(user_id)
            return False
        except TelegramAPIError as error:
            log.info("could not tell user %s about a balance change: %s", user_id, error.message)
            return False
        return True
