"""Support conversations: a customer's messages (text, photo, document) reach every admin with the
customer's card and a Reply button; an admin's reply reaches that ticket's customer.

A ticket is open while the customer wrote last, answered once an admin replied, closed by an admin
(a customer writing after that opens a new one). The first admin to reply takes the ticket (a
compare-and-set on `taken_by`); every admin's copy is then edited to show who did, and only the
taker keeps the Reply button. Telegram is called outside every database session.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest, TelegramForbiddenError
from aiogram.types import InlineKeyboardMarkup, Message
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.i18n import DEFAULT_LOCALE, PoI18n, create_i18n, pick_locale, t
from storage.models import SupportMessage, SupportTicket, TicketStatus, User, utcnow
from storage.repositories.growth import SupportRepository
from storage.repositories.users import UserRepository

log = logging.getLogger(__name__)

TEXT_LIMIT = 3500
MEDIA_KINDS = ("photo", "document")


@dataclass(frozen=True)
class Content:
    """What someone sent: text (Telegram HTML for admins, plain for customers), or a file with a caption."""

    kind: str  # text, photo, document
    text: str | None = None
    file_id: str | None = None

    @classmethod
    def of(cls, message: Message, *, html: bool) -> Content | None:
        caption = (message.html_text if html else (message.text or message.caption)) or None
        if message.photo:
            return cls("photo", caption, message.photo[-1].file_id)
        if message.document is not None:
            return cls("document", caption, message.document.file_id)
        if message.text:
            return cls("text", caption)
        return None


class ReplyOutcome(StrEnum):
    SENT = "sent"
    TAKEN = "taken"  # another admin took the ticket
    CLOSED = "closed"
    NOT_FOUND = "not_found"
    BLOCKED = "blocked"  # the customer blocked the bot
    FAILED = "failed"  # Telegram refused it


@dataclass(frozen=True)
class TakeResult:
    ok: bool
    ticket: SupportTicket | None
    taker: str | None = None  # who holds it, when not this admin


@dataclass(frozen=True)
class ReplyResult:
    outcome: ReplyOutcome
    ticket: SupportTicket | None = None
    customer: str = ""
    taker: str | None = None


CAPTION_LIMIT = 1024  # Telegram's limit on a media caption


@dataclass(frozen=True)
class SupportScreens:
    """How tickets look (bot/views/growth.py `SUPPORT_SCREENS`).

    Passed in by the composition root, so this service never imports a view.
    """

    card: Callable[..., tuple[str, InlineKeyboardMarkup | None]]
    person: Callable[[User | None, int], str]
    reply_for_customer: Callable[[int, str], str]
    history: Callable[..., tuple[str, InlineKeyboardMarkup | None]]


class SupportDesk:
    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        bot: Bot,
        *,
        admin_ids: Sequence[int],
        screens: SupportScreens,
        default_locale: str = DEFAULT_LOCALE,
        i18n: PoI18n | None = None,
        on_blocked: Any = None,
    ) -> None:
        self.session_factory = session_factory
        self.bot = bot
        self.admin_ids = sorted(set(admin_ids))
        self.default_locale = default_locale
        self.i18n = i18n or create_i18n(default_locale)
        self.on_blocked = on_blocked
        self.screens = screens

    # --- people ---------------------------------------------------------------------------------

    async def _people(self, ids: Sequence[int | None]) -> dict[int, User]:
        wanted = {user_id for user_id in ids if user_id is not None}
        async with self.session_factory() as session:
            repo = UserRepository(session)
            found = {user_id: await repo.get(user_id) for user_id in wanted}
        return {user_id: user for user_id, user in found.items() if user is not None}

    def _locale(self, user: User | None) -> str:
        return pick_locale(
            user.locale if user else None, user.language_code if user else None, self.default_locale
        )

    # --- the customer writes --------------------------------------------------------------------

    async def from_customer(self, user_id: int, content: Content) -> tuple[SupportTicket, int]:
        """Store the message on the customer's ticket (a new one if none is open) and send it to
        every admin; returns the ticket and how many admins got it."""
        now = utcnow()
        text = content.text[:TEXT_LIMIT] if content.text else None
        async with self.session_factory.begin() as session:
            repo = SupportRepository(session)
            ticket = await repo.current_for(user_id)
            if ticket is None:
                ticket = await repo.add_ticket(user_id, now)
            else:
                await repo.set_status(ticket.id, TicketStatus.OPEN, now)
            message = await repo.add_message(
                SupportMessage(
                    ticket_id=ticket.id,
                    author_id=user_id,
                    from_admin=False,
                    kind=content.kind,
                    text=text,
                    file_id=content.file_id,
                    admin_messages={},
                    created_at=now,
                )
            )
            ticket = await repo.get(ticket.id) or ticket
        copies = await self._send_to_admins(ticket, message)
        if copies:
            async with self.session_factory.begin() as session:
                await SupportRepository(session).remember_copies(message.id, copies)
        return ticket, len(copies)

    async def _card(
        self, ticket: SupportTicket, message: SupportMessage, admin_id: int, people: dict[int, User]
    ) -> tuple[str, Any]:
        taker = self.screens.person(people.get(ticket.taken_by), ticket.taken_by) if ticket.taken_by else None
        with self.i18n.context(), self.i18n.use_locale(self._locale(people.get(admin_id))):
            limit = CAPTION_LIMIT if message.kind in MEDIA_KINDS else 4096
            return self.screens.card(
                ticket, message, people.get(ticket.user_id), taker, for_admin=admin_id, limit=limit
            )

    async def _send_to_admins(self, ticket: SupportTicket, message: SupportMessage) -> dict[str, list[Any]]:
        people = await self._people([ticket.user_id, ticket.taken_by, *self.admin_ids])
        copies: dict[str, list[Any]] = {}
        for admin_id in self.admin_ids:
            text, markup = await self._card(ticket, message, admin_id, people)
            try:
                if message.kind == "photo" and message.file_id:
                    sent = await self.bot.send_photo(
                        admin_id, message.file_id, caption=text[:CAPTION_LIMIT], reply_markup=markup
                    )
                elif message.kind == "document" and message.file_id:
                    sent = await self.bot.send_document(
                        admin_id, message.file_id, caption=text[:CAPTION_LIMIT], reply_markup=markup
                    )
                else:
                    sent = await self.bot.send_message(admin_id, text, reply_markup=markup)
            except TelegramAPIError as error:
                log.warning("could not send ticket %s to admin %s: %s", ticket.id, admin_id, error.message)
                continue
            copies[str(admin_id)] = [sent.message_id, message.kind]
        return copies

    async def refresh_copies(self, ticket_id: int) -> None:
        """Show the ticket's status (and who took it) on every admin's copy of its messages."""
        async with self.session_factory() as session:
            repo = SupportRepository(session)
            ticket = await repo.get(ticket_id)
            messages = await repo.customer_copies(ticket_id) if ticket else []
        if ticket is None:
            return
        people = await self._people([ticket.user_id, ticket.taken_by, *self.admin_ids])
        for message in messages[-5:]:  # the latest few: older copies scrolled away long ago
            for admin, entry in (message.admin_messages or {}).items():
                if not admin.lstrip("-").isdecimal() or not isinstance(entry, list) or not entry:
                    continue
                if not isinstance(entry[0], int):
                    continue
                admin_id = int(admin)
                text, markup = await self._card(ticket, message, admin_id, people)
                try:
                    if message.kind in MEDIA_KINDS:
                        await self.bot.edit_message_caption(
                            chat_id=admin_id,
                            message_id=entry[0],
                            caption=text[:CAPTION_LIMIT],
                            reply_markup=markup,
                        )
                    else:
                        await self.bot.edit_message_text(
                            text, chat_id=admin_id, message_id=entry[0], reply_markup=markup
                        )
                except TelegramBadRequest as error:
                    if "not modified" not in error.message:
                        log.info(
                            "could not update admin %s's copy of ticket %s: %s",
                            admin_id,
                            ticket.id,
                            error.message,
                        )
                except TelegramAPIError as error:
                    log.info(
                        "could not update admin %s's copy of ticket %s: %s",
                        admin_id,
                        ticket.id,
                        error.message,
                    )

    # --- admins ---------------------------------------------------------------------------------

    async def take(self, ticket_id: int, admin_id: int) -> TakeResult:
        """The admin pressed Reply: they take the ticket unless another admin did first."""
        async with self.session_factory.begin() as session:
            repo = SupportRepository(session)
            won = await repo.take(ticket_id, admin_id)
            ticket = await repo.get(ticket_id)
        if ticket is None:
            return TakeResult(False, None)
        if won:
            await self.refresh_copies(ticket_id)
            return TakeResult(True, ticket)
        taker = None
        if ticket.taken_by is not None:
            people = await self._people([ticket.taken_by])
            taker = self.screens.person(people.get(ticket.taken_by), ticket.taken_by)
        return TakeResult(False, ticket, taker)

    async def reply(self, ticket_id: int, admin_id: int, content: Content) -> ReplyResult:
        """Send the admin's reply to the ticket's customer and record it (the ticket: answered)."""
        taken = await self.take(ticket_id, admin_id)
        ticket = taken.ticket
        if ticket is None:
            return ReplyResult(ReplyOutcome.NOT_FOUND)
        if ticket.status == TicketStatus.CLOSED:
            return ReplyResult(ReplyOutcome.CLOSED, ticket)
        if not taken.ok:
            return ReplyResult(ReplyOutcome.TAKEN, ticket, taker=taken.taker)
        people = await self._people([ticket.user_id])
        customer = people.get(ticket.user_id)
        with self.i18n.context(), self.i18n.use_locale(self._locale(customer)):
            html = content.text or ""
            text = self.screens.reply_for_customer(ticket.id, html[:TEXT_LIMIT])
            header = self.screens.reply_for_customer(ticket.id, "")
        try:
            if content.kind == "photo" and content.file_id:
                caption = text if len(text) <= CAPTION_LIMIT else header
                await self.bot.send_photo(ticket.user_id, content.file_id, caption=caption)
            elif content.kind == "document" and content.file_id:
                caption = text if len(text) <= CAPTION_LIMIT else header
                await self.bot.send_document(ticket.user_id, content.file_id, caption=caption)
            else:
                await self.bot.send_message(ticket.user_id, text)
        except TelegramForbiddenError:
            if self.on_blocked is not None:
                self.on_blocked(ticket.user_id)
            return ReplyResult(ReplyOutcome.BLOCKED, ticket, self.screens.person(customer, ticket.user_id))
        except TelegramAPIError as error:
            log.warning("could not send the reply to ticket %s: %s", ticket.id, error.message)
            return ReplyResult(ReplyOutcome.FAILED, ticket, self.screens.person(customer, ticket.user_id))
        now = utcnow()
        async with self.session_factory.begin() as session:
            repo = SupportRepository(session)
            await repo.add_message(
                SupportMessage(
                    ticket_id=ticket.id,
                    author_id=admin_id,
                    from_admin=True,
                    kind=content.kind,
                    text=content.text[:TEXT_LIMIT] if content.text else None,
                    file_id=content.file_id,
                    admin_messages={},
                    created_at=now,
                )
            )
            await repo.set_status(ticket.id, TicketStatus.ANSWERED, now, only_if_not=TicketStatus.CLOSED)
            ticket = await repo.get(ticket.id) or ticket
        await self.refresh_copies(ticket.id)
        return ReplyResult(ReplyOutcome.SENT, ticket, self.screens.person(customer, ticket.user_id))

    async def close(self, ticket_id: int, admin_id: int) -> SupportTicket | None:
        """Close the ticket (whoever holds it); the customer is told; None when there is no such ticket."""
        now = utcnow()
        async with self.session_factory.begin() as session:
            repo = SupportRepository(session)
            ticket = await repo.get(ticket_id)
            if ticket is None:
                return None
            closed_now = await repo.set_status(
                ticket_id, TicketStatus.CLOSED, now, only_if_not=TicketStatus.CLOSED
            )
            if closed_now and ticket.taken_by is None:
                await repo.take(ticket_id, admin_id)
            ticket = await repo.get(ticket_id) or ticket
        if closed_now:
            await self.refresh_copies(ticket_id)
            people = await self._people([ticket.user_id])
            with self.i18n.context(), self.i18n.use_locale(self._locale(people.get(ticket.user_id))):
                text = t("support.closed", id=ticket.id)
            try:
                await self.bot.send_message(ticket.user_id, text)
            except TelegramAPIError as error:
                log.info(
                    "could not tell user %s that ticket %s closed: %s",
                    ticket.user_id,
                    ticket.id,
                    error.message,
                )
        return ticket

    async def waiting(self, limit: int = 20) -> tuple[list[SupportTicket], dict[int, User]]:
        async with self.session_factory() as session:
            tickets = await SupportRepository(session).waiting(limit=limit)
        people = await self._people(
            [*(ticket.user_id for ticket in tickets), *(ticket.taken_by for ticket in tickets)]
        )
        return tickets, people

    async def history(self, ticket_id: int, admin_id: int) -> tuple[str, Any] | None:
        async with self.session_factory() as session:
            repo = SupportRepository(session)
            ticket = await repo.get(ticket_id)
            messages = await repo.messages(ticket_id) if ticket else []
        if ticket is None:
            return None
        people = await self._people([ticket.user_id, ticket.taken_by, *(m.author_id for m in messages)])
        return self.screens.history(ticket, messages, people, admin_id)
