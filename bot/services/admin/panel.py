"""The upstream panel balance: shown on request, and the admins are warned once when it runs low.

The warning is sent directly (the outbox renders order messages only). "Warned" is remembered in
the settings table, so it is sent once per drop below the threshold, survives restarts, and is
armed again when the balance is back at or above the threshold.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from decimal import Decimal

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.i18n import DEFAULT_LOCALE, PoI18n, create_i18n, pick_locale, t
from bot.panel import Balance, PanelClient, PanelError
from bot.telegram.render import money
from storage.repositories.settings import SettingsRepository
from storage.repositories.users import UserRepository

log = logging.getLogger(__name__)

LOW_WARNED = "admin_panel_low_warned"


class PanelMonitor:
    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        panel: PanelClient,
        bot: Bot,
        *,
        admin_ids: Sequence[int],
        threshold: Decimal,
        default_locale: str = DEFAULT_LOCALE,
        i18n: PoI18n | None = None,
    ) -> None:
        self.session_factory = session_factory
        self.panel = panel
        self.bot = bot
        self.admin_ids = sorted(set(admin_ids))
        self.threshold = threshold
        self.default_locale = default_locale
        self.i18n = i18n or create_i18n(default_locale)

    async def balance(self) -> Balance:
        """The panel's balance now (raises PanelError)."""
        return await self.panel.balance()

    def is_low(self, balance: Balance) -> bool:
        return balance.amount < self.threshold

    async def check(self) -> bool:
        """Warn the admins if the balance just dropped below the threshold; True when a warning went out."""
        balance = await self.panel.balance()
        async with self.session_factory.begin() as session:
            settings = SettingsRepository(session)
            warned = await settings.get(LOW_WARNED) is not None
            if not self.is_low(balance):
                if warned:
                    await settings.set(LOW_WARNED, None)  # back up: warn again at the next drop
                return False
            if warned:
                return False
            locales = {}
            users = UserRepository(session)
            for admin_id in self.admin_ids:
                admin = await users.get(admin_id)
                locales[admin_id] = pick_locale(
                    admin.locale if admin else None,
                    admin.language_code if admin else None,
                    self.default_locale,
                )
        delivered = 0
        for admin_id, locale in locales.items():
            with self.i18n.context(), self.i18n.use_locale(locale):
                text = t(
                    "admin.panel.low_warning",
                    balance=money(balance.amount, balance.currency or "?"),
                    threshold=money(self.threshold, balance.currency or "?"),
                )
            try:
                await self.bot.send_message(admin_id, text)
                delivered += 1
            except TelegramAPIError as error:
                log.warning("could not warn admin %s about the panel balance: %s", admin_id, error.message)
        if delivered:
            async with self.session_factory.begin() as session:
                await SettingsRepository(session).set(LOW_WARNED, str(balance.amount))
        return delivered > 0


async def run_panel_check(monitor: PanelMonitor) -> None:
    """The scheduler job. Never raises."""
    try:
        await monitor.check()
    except PanelError as error:
        log.warning("panel balance check failed: %s", error.message)
    except Exception:
        log.exception("panel balance check failed")
