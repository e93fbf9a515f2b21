"""Growth at start-up (bot/app.py on_startup); its services, settle hooks and the `owner_alerts`
job are built in the composition root, bot/app.py create_dispatcher.

REFERRAL_PERCENT and ALERT_ORDER_AMOUNT are written as the defaults the owner may override (the
order hooks read them with only a database session), and the owner-alert cursor is set on the very
first start, so no alert is sent about orders older than the feature.
"""

from __future__ import annotations

import logging

from sqlalchemy.exc import SQLAlchemyError

from bot.config import Settings
from bot.services.growth.alerts import OwnerAlerts
from bot.services.growth.settings import GrowthSettings

log = logging.getLogger(__name__)


async def start_growth(settings: Settings, growth_settings: GrowthSettings, alerts: OwnerAlerts) -> None:
    try:
        await growth_settings.write_defaults(settings.referral_percent, settings.alert_order_amount)
    except SQLAlchemyError as error:  # instances starting together write the same values
        log.info("growth defaults written by another instance (%s)", type(error).__name__)
    if not settings.admin_ids:
        return
    try:
        await alerts.scan_orders()  # sets the cursor on the very first start
    except SQLAlchemyError as error:  # another instance set it at the same moment
        log.info("owner alert cursor set by another instance (%s)", type(error).__name__)
