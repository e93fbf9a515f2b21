"""Wiring top-ups into a running bot: services in the workflow data, scheduler jobs, shutdown.

Jobs (leader-only, like every scheduled job: bot/coordination.py guards them):
* `topup_expire` every minute: close unpaid Stars / Crypto Pay top-ups past TOPUP_EXPIRE_MINUTES;
* `cryptopay_poll` every CRYPTO_PAY_POLL_SECONDS (ten times slower in webhook mode, where it is only
  the safety net behind the webhook): settle paid invoices, including late payments of closed ones;
* `stars_reconcile` at start-up and every STARS_RECONCILE_MINUTES: credit Stars charges that
  Telegram has and the bot never credited.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from aiogram import Bot, Dispatcher
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.config import Settings
from bot.payments.cryptopay import CryptoPayClient, CryptoPayError
from bot.services.topups.desk import DeskScreens, ManualDesk
from bot.services.topups.methods import ManualMethods
from bot.services.topups.report import PaymentsReports
from bot.services.topups.service import TopUpService
from storage.models import utcnow

log = logging.getLogger(__name__)

EXPIRE_SECONDS = 60
WEBHOOK_POLL_FACTOR = 10


async def run_expire(topups: TopUpService) -> None:
    try:
        closed = await topups.expire_due()
        if closed:
            log.info("closed %d unpaid top-ups", closed)
    except Exception:
        log.exception("closing expired top-ups failed")


async def run_cryptopay_poll(topups: TopUpService) -> None:
    try:
        report = await topups.poll_cryptopay()
        if report.settled:
            log.info("Crypto Pay polling credited %d top-ups", report.settled)
    except CryptoPayError as error:
        log.warning("Crypto Pay polling failed: %s", error.message)
    except Exception:
        log.exception("Crypto Pay polling failed")


async def run_stars_reconcile(topups: TopUpService) -> None:
    try:
        await topups.reconcile_stars()
    except Exception as error:
        log.warning("Stars reconciliation failed: %s", type(error).__name__)


def create_cryptopay(settings: Settings) -> CryptoPayClient | None:
    if settings.crypto_pay_token is None:
        return None
    return CryptoPayClient(settings.crypto_pay_api_url, settings.crypto_pay_token)


async def install(bot: Bot, dispatcher: Dispatcher, *, desk_screens: DeskScreens, **data: Any) -> None:
    settings: Settings = data["settings"]
    session_factory = data["session_factory"]
    scheduler: AsyncIOScheduler = data["scheduler"]
    previous = dispatcher.workflow_data.get("topups")
    if isinstance(previous, TopUpService) and previous.cryptopay is not None:
        await previous.cryptopay.close()
    topups = TopUpService(
        session_factory,
        bot,
        currency=settings.currency,
        minimum=settings.topup_min,
        maximum=settings.topup_max,
        presets=settings.topup_presets,
        stars_rate=settings.stars_rate,
        cryptopay=create_cryptopay(settings),
        expire_after=timedelta(minutes=settings.topup_expire_minutes),
        admin_ids=settings.admin_ids,
        default_locale=settings.default_locale,
        on_blocked=data["users"].forget,
    )
    methods = ManualMethods(session_factory)
    dispatcher.workflow_data.update(
        topups=topups,
        topup_methods=methods,
        topup_desk=ManualDesk(
            session_factory,
            topups,
            methods,
            bot,
            admin_ids=settings.admin_ids,
            screens=desk_screens,
            default_locale=settings.default_locale,
        ),
        payments_reports=PaymentsReports(session_factory),
    )
    common: dict[str, Any] = {"max_instances": 1, "coalesce": True, "replace_existing": True}
    scheduler.add_job(
        run_expire, "interval", seconds=EXPIRE_SECONDS, args=[topups], id="topup_expire", **common
    )
    if topups.cryptopay is not None:
        factor = WEBHOOK_POLL_FACTOR if settings.webhook_enabled else 1
        scheduler.add_job(
            run_cryptopay_poll,
            "interval",
            seconds=settings.crypto_pay_poll_seconds * factor,
            args=[topups],
            id="cryptopay_poll",
            **common,
        )
    if topups.stars_enabled:
        scheduler.add_job(
            run_stars_reconcile,
            "interval",
            minutes=settings.stars_reconcile_minutes,
            next_run_time=utcnow(),  # at start-up too
            args=[topups],
            id="stars_reconcile",
            **common,
        )
    if not any(handler.callback is shutdown for handler in dispatcher.shutdown.handlers):
        dispatcher.shutdown.register(shutdown)


async def shutdown(dispatcher: Dispatcher) -> None:
    topups = dispatcher.workflow_data.get("topups")
    if isinstance(topups, TopUpService) and topups.cryptopay is not None:
        await topups.cryptopay.close()
