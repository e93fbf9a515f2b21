"""The admin console's services, and `install`, the one call that wires them into a running bot.

`install` runs in the dispatcher's start-up (bot/app.py on_startup): it puts the services into the
workflow data (handlers in bot/handlers/admin ask for them by name), adds the scheduler jobs
(resume orphaned broadcasts, panel balance check), resumes unfinished broadcasts, and registers
the shutdown hook that stops broadcasting cleanly.
"""

from __future__ import annotations

from typing import Any

from aiogram import Bot, Dispatcher
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.config import Settings
from bot.services.admin.audit import AuditService
from bot.services.admin.balances import BalanceService
from bot.services.admin.broadcast import BroadcastScreens, BroadcastService
from bot.services.admin.catalog import CatalogAdmin
from bot.services.admin.panel import PanelMonitor, run_panel_check
from bot.services.admin.problems import ProblemDesk
from bot.services.admin.settings import ShopAdmin
from bot.services.admin.stats import StatsService
from bot.services.admin.users import AdminUsers

PANEL_CHECK_MINUTES = 5
BROADCAST_RESUME_SECONDS = 60


async def install(
    bot: Bot, dispatcher: Dispatcher, *, broadcast_screens: BroadcastScreens, **data: Any
) -> None:
    settings: Settings = data["settings"]
    session_factory = data["session_factory"]
    scheduler: AsyncIOScheduler = data["scheduler"]
    locale = settings.default_locale
    audit = AuditService(session_factory)
    broadcasts = BroadcastService(
        session_factory,
        bot,
        rate_per_second=settings.broadcast_rate_per_second,
        screens=broadcast_screens,
        default_locale=locale,
        on_blocked=data["users"].forget,
    )
    monitor = PanelMonitor(
        session_factory,
        data["panel"],
        bot,
        admin_ids=settings.admin_ids,
        threshold=settings.panel_low_balance_threshold,
        default_locale=locale,
    )
    dispatcher.workflow_data.update(
        audit=audit,
        broadcasts=broadcasts,
        balances=BalanceService(
            session_factory,
            bot,
            currency=settings.currency,
            default_locale=locale,
            on_blocked=data["users"].forget,
        ),
        admin_users=AdminUsers(session_factory, data["users"]),
        stats=StatsService(session_factory, data["reconcile"]),
        panel_monitor=monitor,
        catalog_admin=CatalogAdmin(session_factory, data["catalog"], audit),
        shop_admin=ShopAdmin(session_factory, data["shop"]),
        problems=ProblemDesk(session_factory, data["reconcile"], audit),
    )
    common: dict[str, Any] = {"max_instances": 1, "coalesce": True, "replace_existing": True}
    scheduler.add_job(
        broadcasts.resume, "interval", seconds=BROADCAST_RESUME_SECONDS, id="broadcast_resume", **common
    )
    if settings.admin_ids:
        scheduler.add_job(
            run_panel_check,
            "interval",
            minutes=PANEL_CHECK_MINUTES,
            args=[monitor],
            id="panel_balance",
            **common,
        )
    if not any(handler.callback is shutdown for handler in dispatcher.shutdown.handlers):
        dispatcher.shutdown.register(shutdown)
    await broadcasts.resume()


async def shutdown(dispatcher: Dispatcher) -> None:
    """Dispatcher shutdown: stop broadcasting (unsent recipients wait for the next start)."""
    broadcasts = dispatcher.workflow_data.get("broadcasts")
    if isinstance(broadcasts, BroadcastService):
        await broadcasts.close()
