"""Growth settings the owner changes in /admin: the referral percent and which owner alerts go out.

Values live in the settings table (app_settings). The referral percent defaults to REFERRAL_PERCENT:
`start_growth` (startup.py) writes that default under its own key at start-up, so code that only
has a database session (the order hooks in bot/services/tracking.py and bot/services/refunds.py)
finds it too.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from bot.services.settings import ShopSettings
from storage.repositories.settings import SettingsRepository

REFERRAL_PERCENT = "growth.referral_percent"  # the owner's choice
REFERRAL_PERCENT_DEFAULT = "growth.referral_percent_default"  # REFERRAL_PERCENT, written at start-up
ALERT_ORDER_AMOUNT = "growth.alert_order_amount"
ALERT_ORDER_AMOUNT_DEFAULT = "growth.alert_order_amount_default"
ON, OFF = "on", "off"
PERCENT_MAX = Decimal("100")


class Alert(StrEnum):
    """The owner alerts; each is on unless switched off in the console."""

    BIG_ORDER = "big_order"  # a new order of at least the alert amount
    TOPUP = "topup"  # a customer's top-up was credited
    REFUSED = "refused"  # the panel refused an order
    PANEL_LOW = "panel_low"  # the panel balance fell below PANEL_LOW_BALANCE_THRESHOLD


def alert_key(alert: Alert) -> str:
    return f"growth.alert.{alert.value}"


def parse_decimal(value: str | None) -> Decimal | None:
    if value is None:
        return None
    try:
        number = Decimal(value.strip())
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


async def referral_percent_in(session: AsyncSession) -> Decimal:
    """The referral percent in force, read in the caller's transaction (0 = referrals pay nothing)."""
    settings = SettingsRepository(session)
    for key in (REFERRAL_PERCENT, REFERRAL_PERCENT_DEFAULT):
        value = parse_decimal(await settings.get(key))
        if value is not None and Decimal(0) <= value <= PERCENT_MAX:
            return value
    return Decimal("0")


async def alert_on_in(session: AsyncSession, alert: Alert) -> bool:
    return await SettingsRepository(session).get(alert_key(alert)) != OFF


async def order_amount_in(session: AsyncSession) -> Decimal | None:
    settings = SettingsRepository(session)
    for key in (ALERT_ORDER_AMOUNT, ALERT_ORDER_AMOUNT_DEFAULT):
        value = parse_decimal(await settings.get(key))
        if value is not None and value >= 0:
            return value
    return None


class GrowthSettings:
    """The same values through the shop's short-lived settings memory (for screens)."""

    def __init__(self, shop: ShopSettings) -> None:
        self.shop = shop

    async def write_defaults(self, referral_percent: Decimal, order_amount: Decimal) -> None:
        for key, value in (
            (REFERRAL_PERCENT_DEFAULT, referral_percent),
            (ALERT_ORDER_AMOUNT_DEFAULT, order_amount),
        ):
            if await self.shop.get(key) != format(value, "f"):
                await self.shop.set(key, format(value, "f"))

    async def referral_percent(self) -> Decimal:
        for key in (REFERRAL_PERCENT, REFERRAL_PERCENT_DEFAULT):
            value = parse_decimal(await self.shop.get(key))
            if value is not None and Decimal(0) <= value <= PERCENT_MAX:
                return value
        return Decimal("0")

    async def set_referral_percent(self, value: Decimal | None) -> None:
        await self.shop.set(REFERRAL_PERCENT, None if value is None else format(value, "f"))

    async def order_amount(self) -> Decimal:
        for key in (ALERT_ORDER_AMOUNT, ALERT_ORDER_AMOUNT_DEFAULT):
            value = parse_decimal(await self.shop.get(key))
            if value is not None and value >= 0:
                return value
        return Decimal("0")

    async def set_order_amount(self, value: Decimal) -> None:
        await self.shop.set(ALERT_ORDER_AMOUNT, format(value, "f"))

    async def alerts(self) -> dict[Alert, bool]:
        return {alert: await self.shop.get(alert_key(alert)) != OFF for alert in Alert}

    async def set_alert(self, alert: Alert, on: bool) -> None:
        await self.shop.set(alert_key(alert), ON if on else OFF)
