"""The upstream panel balance: shown on request, and the admins are warned once when it runs low.

The warning is an owner alert queued in the outbox (bot/services/growth/alerts.py), switchable in
/admin → Alerts. "Warned" is remembered in the settings table, so it is sent once per drop below
the threshold, survives restarts, and is armed again when the balance is back at or above it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from decimal import Decimal

from aiogram import Bot
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.i18n import DEFAULT_LOCALE, PoI18n, create_i18n
from bot.panel import Balance, PanelClient, PanelError
from bot.services.growth.alerts import queue_owner_alert
from bot.services.growth.settings import Alert
from storage.models import utcnow
from storage.repositories.settings import SettingsRepository

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
        """Queue the owner alert if the balance just dropped below the threshold; True when queued.

        The alert goes through the outbox (bot/services/growth/alerts.py) like every owner alert,
        so the notifier delivers it paced and retried; it is switchable in /admin → Alerts.
        """
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
            now = utcnow()
            queued = await queue_owner_alert(
                session,
                self.admin_ids,
                Alert.PANEL_LOW,
                now.isoformat(),  # each drop is its own alert; LOW_WARNED keeps it to one per drop
                {
                    "balance": str(balance.amount),
                    "threshold": str(self.threshold),
                    "currency": balance.currency or "",
                },
                now,
            )
            if queued:
                await settings.set(LOW_WARNED, str(balance.amount))
        return queued > 0


async def run_panel_check(monitor: PanelMonitor) -> None:
    """The scheduler job. Never raises."""
    try:
        await monitor.check()
    except PanelError as error:
        log.warning("panel balance check failed: %s", error.message)
    except Exception:
        log.exception("panel balance check failed")
