"""Wiring growth into a running bot (bot/app.py on_startup, after top-ups).

* services into the workflow data: `promos`, `referrals`, `support_desk`, `owner_alerts`,
  `notice_settings`, `growth_settings`;
* TopUpService settle hooks: a waiting promo bonus and the "new top-up" owner alert, both in the
  settle transaction;
* REFERRAL_PERCENT and ALERT_ORDER_AMOUNT written as the defaults the owner may override;
* the `owner_alerts` job (leader-only like every job): order alerts after a cursor.
"""

from __future__ import annotations

import logging
from typing import Any

from aiogram import Bot, Dispatcher
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy.exc import SQLAlchemyError

from bot.config import Settings
from bot.services.growth.alerts import OwnerAlerts, run_owner_alerts
from bot.services.growth.notices import NoticeSettings
from bot.services.growth.promo import PromoService
from bot.services.growth.referrals import ReferralService
from bot.services.growth.settings import GrowthSettings
from bot.services.growth.support import SupportDesk
from bot.services.topups import TopUpService

log = logging.getLogger(__name__)

ALERT_SCAN_SECONDS = 15.0


async def install(bot: Bot, dispatcher: Dispatcher, **data: Any) -> None:
    settings: Settings = data["settings"]
    session_factory = data["session_factory"]
    scheduler: AsyncIOScheduler = data["scheduler"]
    growth_settings = GrowthSettings(data["shop"])
    try:
        await growth_settings.write_defaults(settings.referral_percent, settings.alert_order_amount)
    except SQLAlchemyError as error:  # instances starting together write the same values
        log.info("growth defaults written by another instance (%s)", type(error).__name__)
    promos = PromoService(session_factory)
    alerts = OwnerAlerts(session_factory, admin_ids=settings.admin_ids)
    dispatcher.workflow_data.update(
        growth_settings=growth_settings,
        promos=promos,
        referrals=ReferralService(session_factory),
        support_desk=SupportDesk(
            session_factory,
            bot,
            admin_ids=settings.admin_ids,
            default_locale=settings.default_locale,
            on_blocked=data["users"].forget,
        ),
        owner_alerts=alerts,
        notice_settings=NoticeSettings(session_factory),
    )
    topups = dispatcher.workflow_data.get("topups")
    if isinstance(topups, TopUpService):
        topups.add_settle_hook(promos.apply_bonus)
        topups.add_settle_hook(alerts.topup_hook)
    if settings.admin_ids:
        scheduler.add_job(
            run_owner_alerts,
            "interval",
            seconds=min(settings.poll_interval_seconds, ALERT_SCAN_SECONDS),
            args=[alerts, dispatcher.workflow_data.get("notifier")],
            id="owner_alerts",
            max_instances=1,
            coalesce=True,
            replace_existing=True,
        )
        try:
            await alerts.scan_orders()  # sets the cursor on the very first start
        except SQLAlchemyError as error:  # another instance set it at the same moment
            log.info("owner alert cursor set by another instance (%s)", type(error).__name__)
