"""The shop's guard towards its panel: what the panel supports, and whether its money is ours.

* Capabilities (docs/panel-api-family.md §8): the client learns them (bulk status refused, the
  catalog's refill/cancel/drip-feed flags, the balance currency); this service loads them at
  start-up and saves them whenever they change, per panel URL, so a restart asks the right way.
* Currency (§9): a panel whose `balance` is kept in another currency than the shop's `CURRENCY`
  would be sold at its numbers as if they were ours (a BRL panel sold as USD). Until
  `PANEL_CURRENCY_RATE` says what one unit of the panel's currency is worth, the shop refuses to
  sell: customers get a clear message, the admins one alert, `smmbot check` fails.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, replace
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.panel import PanelClient, PanelError
from bot.panel.capabilities import PanelCapabilities, panel_key, public_url
from bot.services.upstream_alerts import queue_admin_alert, subject_key
from storage.models import utcnow
from storage.repositories.panel import PanelCapabilityRepository

if TYPE_CHECKING:
    from collections.abc import Sequence

    from bot.panel import PanelService

log = logging.getLogger(__name__)

__all__ = ["CurrencyCheck", "PanelGuard", "SellingPaused", "currency_check"]


class SellingPaused(Exception):
    """The shop does not sell right now (the panel's currency is not the shop's, no rate set)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class CurrencyCheck:
    """The panel's currency against the shop's; `ok` when they match or a rate converts them."""

    panel_currency: str | None
    shop_currency: str
    rate: Decimal | None

    @property
    def same(self) -> bool:
        return not self.panel_currency or self.panel_currency.strip().upper() == self.shop_currency.upper()

    @property
    def ok(self) -> bool:
        return self.same or self.rate is not None


def currency_check(panel_currency: str | None, shop_currency: str, rate: Decimal | None) -> CurrencyCheck:
    shown = (panel_currency or "").strip()[:16] or None
    return CurrencyCheck(shown, shop_currency.strip(), rate)


class PanelGuard:
    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        panel: PanelClient,
        *,
        url: str,
        shop_currency: str,
        currency_rate: Decimal | None = None,
        admin_ids: Sequence[int] = (),
    ) -> None:
        self.session_factory = session_factory
        self.panel = panel
        self.key = panel_key(url)
        self.url = public_url(url)
        self.shop_currency = shop_currency
        self.currency_rate = currency_rate
        self.admin_ids = tuple(admin_ids)
        self._saved: PanelCapabilities | None = None
        self.currency: CurrencyCheck | None = None

    # --- selling ---------------------------------------------------------------------------------

    @property
    def selling_paused(self) -> bool:
        return self.currency is not None and not self.currency.ok

    @property
    def pause_reason(self) -> str:
        if self.currency is None or self.currency.ok:
            return ""
        return f"the panel's currency is {self.currency.panel_currency}, the shop's {self.shop_currency}"

    @property
    def rate_factor(self) -> Decimal:
        """What one unit of the panel's money is worth in the shop's currency."""
        return self.currency_rate if self.currency_rate is not None else Decimal(1)

    # --- capabilities ----------------------------------------------------------------------------

    async def load(self) -> PanelCapabilities:
        """At start-up: what this panel was seen to support before (nothing known on a first run)."""
        async with self.session_factory() as session:
            row = await PanelCapabilityRepository(session).get(self.key)
        if row is not None:
            known = PanelCapabilities(
                bulk_status=row.bulk_status,
                refill=row.refill,
                cancel=row.cancel,
                dripfeed=row.dripfeed,
                currency=row.currency,
            )
            self.panel.capabilities = known
            self._saved = known
            if row.currency:
                self.currency = currency_check(row.currency, self.shop_currency, self.currency_rate)
        return self.panel.capabilities

    async def save(self) -> bool:
        """Store the capabilities when they changed since the last load or save; True when written."""
        current = self.panel.capabilities
        if current == self._saved:
            return False
        async with self.session_factory.begin() as session:
            await PanelCapabilityRepository(session).save(self.key, self.url, asdict(current), utcnow())
        if self._saved is not None and self._saved.bulk_status is not False and current.bulk_status is False:
            log.warning("the panel does not support the bulk status form; statuses are asked one by one")
        self._saved = current
        return True

    async def note_catalog(self, services: Sequence[PanelService]) -> None:
        self.panel.capabilities = self.panel.capabilities.with_catalog(services)
        await self.save()

    # --- currency --------------------------------------------------------------------------------

    async def check_currency(self) -> CurrencyCheck | None:
        """Ask the panel's balance; pause selling on a currency mismatch without a rate (admins told once).

        A panel that cannot be asked leaves the last known verdict as it is.
        """
        try:
            balance = await self.panel.balance()
        except PanelError as error:
            log.warning("could not check the panel's currency: %s", error.message)
            return self.currency
        return await self.judge_currency(balance.currency)

    async def judge_currency(self, panel_currency: str | None) -> CurrencyCheck:
        check = currency_check(panel_currency, self.shop_currency, self.currency_rate)
        was_paused = self.selling_paused
        self.currency = check
        if check.panel_currency:
            self.panel.capabilities = replace(self.panel.capabilities, currency=check.panel_currency)
            await self.save()
        if not check.ok:
            if not was_paused:
                log.warning(
                    "selling paused: the panel's currency is %s, the shop's CURRENCY is %s; set "
                    "PANEL_CURRENCY_RATE or change CURRENCY",
                    check.panel_currency,
                    self.shop_currency,
                )
            async with self.session_factory.begin() as session:
                await queue_admin_alert(
                    session,
                    self.admin_ids,
                    "currency_mismatch",
                    subject_key(self.key, check.panel_currency, self.shop_currency),
                    {"panel_currency": check.panel_currency, "currency": self.shop_currency},
                    utcnow(),
                )
        elif was_paused:
            log.info("selling resumed: the panel's currency is %s", check.panel_currency)
        return check
