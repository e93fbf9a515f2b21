"""Manual top-ups at the admins' desk: every admin gets the request with its receipt and Approve /
Reject buttons; whoever decides first wins (TopUpService.approve / reject are compare-and-sets), the
customer is told either way, and every admin's copy is edited to show who decided."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest
from aiogram.types import InlineKeyboardMarkup
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.i18n import DEFAULT_LOCALE, PoI18n, create_i18n, pick_locale
from bot.services.topups.methods import ManualMethods, localized
from bot.services.topups.service import Decision, TopUpService
from bot.telegram.render import CAPTION_LIMIT
from storage.models import TopUp, User
from storage.repositories.users import UserRepository

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeskScreens:
    """How an admin's copy of a request looks (bot/views/payments.py `DESK_SCREENS`).

    Passed in by the composition root, so this service never imports a view.
    """

    card: Callable[[TopUp, User | None, str, str | None], tuple[str, InlineKeyboardMarkup | None]]
    person: Callable[[User | None, int], str]


class ManualDesk:
    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        topups: TopUpService,
        methods: ManualMethods,
        bot: Bot,
        *,
        admin_ids: Sequence[int],
        screens: DeskScreens,
        default_locale: str = DEFAULT_LOCALE,
        i18n: PoI18n | None = None,
    ) -> None:
        self.session_factory = session_factory
        self.topups = topups
        self.methods = methods
        self.bot = bot
        self.admin_ids = sorted(set(admin_ids))
        self.screens = screens
        self.default_locale = default_locale
        self.i18n = i18n or create_i18n(default_locale)

    async def _users(self, ids: Sequence[int]) -> dict[int, User]:
        async with self.session_factory() as session:
            repo = UserRepository(session)
            found = {user_id: await repo.get(user_id) for user_id in set(ids)}
        return {user_id: user for user_id, user in found.items() if user is not None}

    def _locale(self, user: User | None) -> str:
        return pick_locale(
            user.locale if user else None, user.language_code if user else None, self.default_locale
        )

    async def _card(self, topup: TopUp, admin: User | None, people: dict[int, User]) -> tuple[str, Any]:
        method = await self.methods.get(topup.manual_method_id or 0, include_deleted=True)
        locale = self._locale(admin)
        decider = None
        if topup.decided_by is not None:
            decider = self.screens.person(people.get(topup.decided_by), topup.decided_by)
        with self.i18n.context(), self.i18n.use_locale(locale):
            return self.screens.card(
                topup, people.get(topup.user_id), localized(method.names if method else {}, locale), decider
            )

    async def send_to_admins(self, topup: TopUp) -> int:
        """Every admin's copy of a new request; returns how many went out."""
        people = await self._users([topup.user_id, *self.admin_ids])
        copies: dict[str, list[Any]] = {}
        for admin_id in self.admin_ids:
            text, markup = await self._card(topup, people.get(admin_id), people)
            try:
                if topup.receipt_kind == "photo" and topup.receipt_file_id:
                    sent = await self.bot.send_photo(
                        admin_id, topup.receipt_file_id, caption=text[:CAPTION_LIMIT], reply_markup=markup
                    )
                elif topup.receipt_kind == "document" and topup.receipt_file_id:
                    sent = await self.bot.send_document(
                        admin_id, topup.receipt_file_id, caption=text[:CAPTION_LIMIT], reply_markup=markup
                    )
                else:
                    sent = await self.bot.send_message(admin_id, text, reply_markup=markup)
            except TelegramAPIError as error:
                log.warning(
                    "could not send top-up request %s to admin %s: %s", topup.id, admin_id, error.message
                )
                continue
            copies[str(admin_id)] = [sent.message_id, topup.receipt_kind or "text"]
        if copies:
            await self.topups.remember_admin_copies(topup.id, copies)
        return len(copies)

    async def decide(self, topup_id: int, admin_id: int, *, approve: bool) -> Decision:
        decision = await (self.topups.approve if approve else self.topups.reject)(topup_id, admin_id)
        if decision.topup is not None:
            await self.refresh_copies(decision.topup)
        return decision

    async def refresh_copies(self, topup: TopUp) -> None:
        """Show the decision on every admin's copy (buttons gone)."""
        fresh = await self.topups.get(topup.id) or topup
        copies = dict(fresh.admin_messages or {})
        ids = [int(admin) for admin in copies if admin.lstrip("-").isdecimal()]
        people = await self._users([fresh.user_id, *ids, *([fresh.decided_by] if fresh.decided_by else [])])
        for admin_id in ids:
            entry = copies.get(str(admin_id))
            if not isinstance(entry, list) or not entry or not isinstance(entry[0], int):
                continue
            message_id, kind = entry[0], entry[1] if len(entry) > 1 else "text"
            text, markup = await self._card(fresh, people.get(admin_id), people)
            try:
                if kind in ("photo", "document"):
                    await self.bot.edit_message_caption(
                        chat_id=admin_id,
                        message_id=message_id,
                        caption=text[:CAPTION_LIMIT],
                        reply_markup=markup,
                    )
                else:
                    await self.bot.edit_message_text(
                        text, chat_id=admin_id, message_id=message_id, reply_markup=markup
                    )
            except TelegramBadRequest as error:
                if "not modified" not in error.message:
                    log.info(
                        "could not update admin %s's copy of top-up %s: %s", admin_id, fresh.id, error.message
                    )
            except TelegramAPIError as error:
                log.info(
                    "could not update admin %s's copy of top-up %s: %s", admin_id, fresh.id, error.message
                )
