"""Delivering the outbox: each queued notification is sent once, in the recipient's language.

Rows are written by the trackers in the same transaction as the change they report, so a crash
before sending loses nothing: the row is still unsent and the next run sends it. Before sending, a
row is claimed with a conditional UPDATE (a lease), so two concurrent senders never send the same
row; right after Telegram accepts the message the row is marked sent in its own short transaction.
The one window left is a crash between Telegram's answer and that mark: the row is sent again once
its lease runs out (Telegram has no idempotency key, so nothing can close it completely).

Failures: a user who blocked the bot is flagged (users.blocked_bot) and their rows are dropped,
and flagged users are skipped without calling Telegram; a flood limit that outlived the session's
own retries postpones the row by `retry_after` and ends the run; a Bad Request is retried a few
times, then dropped; network and server errors are retried later without a limit.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from aiogram import Bot
from aiogram.enums import ParseMode
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.types import InlineKeyboardMarkup, LinkPreviewOptions
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.i18n import DEFAULT_LOCALE, PoI18n, create_i18n, pick_locale, t_in
from bot.services.growth.alerts import render_owner_alert
from bot.telegram.render import clip, money
from storage.models import Notification, NotificationKind, Order, utcnow
from storage.repositories.outbox import OutboxRepository, Recipient
from storage.repositories.users import UserRepository

log = logging.getLogger(__name__)

HEADLINE_KEYS: Mapping[str, str] = {
    NotificationKind.ORDER_STARTED: "notify.order_started",
    NotificationKind.ORDER_COMPLETED: "notify.order_completed",
    NotificationKind.ORDER_PARTIAL: "notify.order_partial",
    NotificationKind.ORDER_CANCELED: "notify.order_canceled",
    NotificationKind.ORDER_NOT_PLACED: "notify.order_not_placed",
    NotificationKind.REFILL_COMPLETED: "notify.refill_completed",
    NotificationKind.REFILL_REJECTED: "notify.refill_rejected",
    NotificationKind.REFILL_UNCONFIRMED: "notify.refill_unconfirmed",
}

NO_PREVIEW = LinkPreviewOptions(is_disabled=True)


@dataclass
class SendReport:
    sent: int = 0
    blocked: int = 0  # rows dropped because the recipient blocked the bot
    dropped: int = 0  # rows given up after too many failed attempts
    failed: int = 0  # attempts that failed and will be retried
    deferred: int = 0  # rows postponed by a flood limit
    skipped: int = 0  # rows another sender claimed first


def _decimal(value: Any) -> Decimal:
    try:
        return Decimal(str(value)) if value is not None else Decimal("0")
    except (InvalidOperation, ValueError):
        return Decimal("0")


class Notifier:
    """Sends unsent outbox rows with an aiogram Bot; see the module docstring."""

    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        bot: Bot,
        *,
        i18n: PoI18n | None = None,
        default_locale: str = DEFAULT_LOCALE,
        lease: timedelta = timedelta(minutes=10),
        max_attempts: int = 5,
        retry_delay: timedelta = timedelta(seconds=30),
        max_retry_delay: timedelta = timedelta(hours=1),
        clock: Callable[[], datetime] = utcnow,
        on_blocked: Callable[[int], None] = lambda _user_id: None,
        alert_keyboard: Callable[[str, Order | None], InlineKeyboardMarkup | None] = lambda _alert, _order: (
            None
        ),
    ) -> None:
        self.alert_keyboard = alert_keyboard  # bot/views/admin.py's, given by the composition root
        self.session_factory = session_factory
        self.bot = bot
        self.on_blocked = on_blocked  # UserService.forget: its cached profile must see the flag
        self.i18n = i18n or create_i18n(default_locale)
        self.default_locale = default_locale
        self.lease = lease
        self.max_attempts = max(1, max_attempts)
        self.retry_delay = retry_delay
        self.max_retry_delay = max_retry_delay
        self.clock = clock

    # --- sending ---------------------------------------------------------------------------------

    async def send_pending(self, limit: int = 50) -> SendReport:
        """Send up to `limit` due rows, oldest first; safe to run in several tasks or processes."""
        report = SendReport()
        async with self.session_factory() as session:
            due = await OutboxRepository(session).due(self.clock(), limit=limit)
        blocked: set[int] = set()
        for note, recipient in due:
            if recipient.blocked or note.user_id in blocked:
                if await self._drop_blocked(note):
                    report.blocked += 1
                continue
            if not await self._claim(note):
                report.skipped += 1
                continue
            outcome = await self._send_one(note, recipient, report)
            if outcome == "blocked":
                blocked.add(note.user_id)
            elif outcome == "stop":
                break
        if report.sent or report.blocked or report.failed or report.dropped or report.deferred:
            log.info("notifications: %s", report)
        return report

    async def _claim(self, note: Notification) -> bool:
        now = self.clock()
        async with self.session_factory.begin() as session:
            return await OutboxRepository(session).claim(note.id, now, now + self.lease)

    async def _drop_blocked(self, note: Notification) -> bool:
        if not await self._claim(note):
            return False
        async with self.session_factory.begin() as session:
            await OutboxRepository(session).mark_dropped(note.id, self.clock(), "blocked by the user")
        return True

    async def _send_one(self, note: Notification, recipient: Recipient, report: SendReport) -> str:
        """Send one claimed row; returns "sent", "blocked", "retry" or "stop" (end this run)."""
        try:
            text = self.render(note, recipient)
        except Exception:  # a bad payload must not block the queue behind it
            log.exception("notification %s could not be rendered", note.id)
            await self._give_up(note, "could not render")
            report.dropped += 1
            return "retry"
        try:
            markup = await self._markup(note, recipient)
            await self.bot.send_message(
                chat_id=note.user_id,
                text=text,
                parse_mode=ParseMode.HTML,
                link_preview_options=NO_PREVIEW,
                reply_markup=markup,
            )
        except TelegramForbiddenError as error:
            now = self.clock()
            async with self.session_factory.begin() as session:
                await UserRepository(session).mark_blocked(note.user_id)
                outbox = OutboxRepository(session)
                await outbox.mark_dropped(note.id, now, f"forbidden: {error.message}")
                await outbox.drop_for_user(note.user_id, now, "blocked by the user")
            self.on_blocked(note.user_id)
            report.blocked += 1
            log.info("user %s blocked the bot; their notifications are dropped", note.user_id)
            return "blocked"
        except TelegramRetryAfter as error:
            await self._postpone(note, timedelta(seconds=error.retry_after), error.message, count=False)
            report.deferred += 1
            return "stop"
        except (TelegramBadRequest, TelegramNotFound) as error:
            if note.attempts + 1 >= self.max_attempts:
                await self._give_up(note, error.message)
                report.dropped += 1
                log.warning(
                    "notification %s dropped after %d attempts: %s", note.id, note.attempts + 1, error
                )
            else:
                await self._postpone(note, self._backoff(note.attempts), error.message)
                report.failed += 1
            return "retry"
        except (TelegramNetworkError, TelegramServerError, TelegramUnauthorizedError) as error:
            # Telegram itself is unreachable or refuses us: no use trying the next rows now.
            await self._postpone(
                note, self._backoff(note.attempts), f"{type(error).__name__}: {error.message}"
            )
            report.failed += 1
            return "stop"
        except TelegramAPIError as error:
            await self._postpone(
                note, self._backoff(note.attempts), f"{type(error).__name__}: {error.message}"
            )
            report.failed += 1
            return "retry"
        async with self.session_factory.begin() as session:
            await OutboxRepository(session).mark_sent(note.id, self.clock())
        report.sent += 1
        return "sent"

    def _backoff(self, attempts: int) -> timedelta:
        return min(self.retry_delay * (2 ** min(attempts, 16)), self.max_retry_delay)

    async def _postpone(
        self, note: Notification, delay: timedelta, error: str, *, count: bool = True
    ) -> None:
        async with self.session_factory.begin() as session:
            await OutboxRepository(session).postpone(
                note.id, until=self.clock() + delay, error=error[:500], count_attempt=count
            )

    async def _give_up(self, note: Notification, error: str) -> None:
        async with self.session_factory.begin() as session:
            await OutboxRepository(session).mark_dropped(note.id, self.clock(), error)

    # --- rendering -------------------------------------------------------------------------------

    def locale_for(self, recipient: Recipient) -> str:
        return pick_locale(recipient.locale, recipient.language_code, self.default_locale)

    def render(self, note: Notification, recipient: Recipient | None = None) -> str:
        """The message text in the recipient's language (values escaped for HTML)."""
        locale = self.locale_for(recipient) if recipient is not None else self.default_locale
        payload: dict[str, Any] = dict(note.payload or {})
        with self.i18n.context():
            if note.kind == NotificationKind.ADMIN_ALERT:
                return self._admin_alert(locale, payload)
            if note.kind == NotificationKind.OWNER_ALERT:
                return render_owner_alert(locale, payload)
            return self._order_message(locale, note.kind, payload)

    async def _markup(self, note: Notification, recipient: Recipient) -> InlineKeyboardMarkup | None:
        """An admin alert about an order carries the settle-by-hand actions (bot/views/admin.py)."""
        if note.kind != NotificationKind.ADMIN_ALERT or note.order_id is None:
            return None
        async with self.session_factory() as session:
            order = await session.get(Order, note.order_id)
        with self.i18n.context(), self.i18n.use_locale(self.locale_for(recipient)):
            return self.alert_keyboard(str((note.payload or {}).get("alert") or ""), order)

    def _text(self, locale: str, key: str, **values: Any) -> str:
        return t_in(locale, key, **values)

    def _order_message(self, locale: str, kind: str, payload: dict[str, Any]) -> str:
        order_id = payload.get("order_id", "?")
        currency = str(payload.get("currency") or "")
        lines = [self._text(locale, HEADLINE_KEYS.get(kind, f"notify.{kind}"), id=order_id)]
        service = payload.get("service")
        if service:
            lines.append(
                self._text(
                    locale, "order.service", name=clip(str(service), 200), id=payload.get("service_id", "")
                )
            )
        link = payload.get("link")
        if link:
            lines.append(self._text(locale, "order.link", link=clip(str(link), 300)))
        quantity = payload.get("quantity")
        start_count = payload.get("start_count")
        remains = payload.get("remains")
        if kind in (NotificationKind.ORDER_COMPLETED, NotificationKind.ORDER_PARTIAL) and quantity:
            lines.append(self._text(locale, "order.quantity", quantity=quantity))
        if kind in (NotificationKind.ORDER_STARTED, NotificationKind.ORDER_COMPLETED) and start_count:
            lines.append(self._text(locale, "order.start_count", count=start_count))
        if kind == NotificationKind.ORDER_PARTIAL and remains is not None:
            lines.append(self._text(locale, "order.remains", count=remains))
        refund = _decimal(payload.get("refund"))
        if refund > 0 and kind in (
            NotificationKind.ORDER_PARTIAL,
            NotificationKind.ORDER_CANCELED,
            NotificationKind.ORDER_NOT_PLACED,
        ):
            lines.append(self._text(locale, "notify.refund", amount=money(refund, currency)))
        reason = payload.get("refill_reason")
        if kind == NotificationKind.REFILL_REJECTED and reason:
            lines.append(self._text(locale, "notify.refill_reason", reason=clip(str(reason), 300)))
        return "\n".join(lines)

    def _admin_alert(self, locale: str, payload: dict[str, Any]) -> str:
        alert = str(payload.get("alert") or "unknown_order")
        if alert == "order_problem":
            what = self._text(
                locale,
                f"admin.problem.{payload.get('kind') or 'late_answer'}",
                id=payload.get("order_id", "?"),
                state=self._text(locale, f"state.{payload.get('state') or 'unknown'}"),
                upstream=clip(str(payload.get("upstream_id") or "—"), 64),
                detail=clip(str(payload.get("detail") or "—"), 300),
            )
            return self._text(
                locale,
                "notify.admin.order_problem",
                id=payload.get("order_id", "?"),
                user=payload.get("user_id", "?"),
                service=clip(str(payload.get("service") or ""), 200),
                what=what,
            )
        return self._text(
            locale,
            f"notify.admin.{alert}",
            id=payload.get("order_id", "?"),
            user=payload.get("user_id", "?"),
            service=clip(str(payload.get("service") or ""), 200),
            since=payload.get("since", ""),
            status=payload.get("status") or "—",
            detail=clip(str(payload.get("detail") or ""), 500),
            charge=payload.get("charge", ""),
            price=payload.get("price", ""),
            count=payload.get("count", ""),
            panel_currency=payload.get("panel_currency", ""),
            currency=payload.get("currency", ""),
        )


async def run_notifier(notifier: Notifier, limit: int = 50) -> None:
    """The scheduler job: deliver what is due. Never raises."""
    try:
        await notifier.send_pending(limit)
    except Exception:
        log.exception("sending notifications failed")
