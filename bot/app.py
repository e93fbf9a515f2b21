"""Factories for the bot: one code path for production, tests and the demo; only URLs differ.

Nothing here runs at import time. `BotApp.open(settings)` builds the database, panel client and bot,
then `create_dispatcher`, the composition root, wires every service, middleware, router and
scheduled job; `run_polling(settings)` is what `smmbot run` calls.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.fsm.storage.base import BaseEventIsolation, BaseStorage
from aiogram.fsm.storage.memory import SimpleEventIsolation
from aiogram.types import BotCommand
from aiogram.utils.callback_answer import CallbackAnswerMiddleware
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.coordination import (
    LEASE_JOB_ID,
    PRUNE_JOB_ID,
    LeaderLease,
    UpdateDedupMiddleware,
    migrate_exclusively,
    prune_processed_updates,
)
from bot.handlers.kept import FormKeptMiddleware
from bot.heartbeat import Heartbeat, PollingHeartbeat
from bot.i18n import LANGUAGES, PoI18n, create_i18n, t_in
from bot.middlewares import ApologyAnswerMiddleware, UserI18nMiddleware, UserMiddleware
from bot.panel import PanelClient, PanelError
from bot.routers import feature_routers
from bot.runtime import tune_garbage_collector
from bot.services.admin import BROADCAST_RESUME_SECONDS, PANEL_CHECK_MINUTES
from bot.services.admin.audit import AuditService
from bot.services.admin.balances import BalanceService
from bot.services.admin.broadcast import BroadcastService
from bot.services.admin.catalog import CatalogAdmin
from bot.services.admin.panel import PanelMonitor, run_panel_check
from bot.services.admin.problems import ProblemDesk
from bot.services.admin.settings import ShopAdmin
from bot.services.admin.stats import StatsService
from bot.services.admin.users import AdminUsers
from bot.services.catalog import CatalogService
from bot.services.growth.alerts import ALERT_SCAN_SECONDS, OwnerAlerts, run_owner_alerts
from bot.services.growth.notices import NoticeSettings
from bot.services.growth.promo import PromoService
from bot.services.growth.referrals import ReferralService
from bot.services.growth.settings import GrowthSettings
from bot.services.growth.startup import start_growth
from bot.services.growth.support import SupportDesk
from bot.services.notifier import Notifier, run_notifier
from bot.services.ordering import OrderService
from bot.services.panel_guard import PanelGuard
from bot.services.reconcile import ReconcileService, run_admin_alerts, run_order_safety
from bot.services.settings import ShopSettings
from bot.services.topups.desk import ManualDesk
from bot.services.topups.jobs import (
    EXPIRE_SECONDS,
    WEBHOOK_POLL_FACTOR,
    create_cryptopay,
    run_cryptopay_poll,
    run_expire,
    run_stars_reconcile,
)
from bot.services.topups.methods import ManualMethods
from bot.services.topups.report import PaymentsReports
from bot.services.topups.service import TopUpService
from bot.services.tracking import StatusPoller, run_refill_cycle, run_tracking_cycle
from bot.services.users import UserService
from bot.telegram.conversation import ConversationMiddleware
from bot.telegram.retry import RetryMiddleware
from bot.telegram.session import create_session
from bot.views.admin import BROADCAST_SCREENS, alert_keyboard
from bot.views.growth import SUPPORT_SCREENS
from bot.views.payments import DESK_SCREENS
from storage.db import create_engine, create_session_factory
from storage.fsm import SQLAlchemyStorage
from storage.models import utcnow
from storage.redis_fsm import RedisConversations, create_redis

log = logging.getLogger(__name__)

REDIS_POOL_WAIT_SECONDS = 20.0  # a burst waits this long for a free Redis connection, then fails

COMMANDS = (
    "start",
    "services",
    "order",
    "orders",
    "status",
    "balance",
    "topup",
    "promo",
    "referrals",
    "support",
    "settings",
    "help",
    "cancel",
)


def create_bot(settings: Settings) -> Bot:
    """A Bot on aiogram's real HTTP session, pointed at `TELEGRAM_API_URL`, with the retry policy."""
    session = create_session(TelegramAPIServer.from_base(settings.telegram_api_url))
    session.middleware(RetryMiddleware())
    return Bot(
        token=settings.bot_token.get_secret_value(),
        session=session,
        default=DefaultBotProperties(parse_mode=ParseMode.HTML, link_preview_is_disabled=True),
    )


def create_panel(settings: Settings) -> PanelClient:
    return PanelClient(
        settings.panel_api_url,
        settings.panel_api_key,
        timeout=settings.panel_timeout_seconds,
        max_requests_per_second=settings.panel_requests_per_second,
    )


def create_fsm(
    settings: Settings, session_factory: async_sessionmaker[AsyncSession]
) -> tuple[BaseStorage, BaseEventIsolation]:
    """Conversation state on our database, or on Redis when `REDIS_URL` is set."""
    if settings.redis_url:
        redis = create_redis(
            settings.redis_url,
            max_connections=settings.redis_max_connections,
            timeout=REDIS_POOL_WAIT_SECONDS,
        )
        conversations = RedisConversations(redis, lock_seconds=settings.chat_lock_seconds)
        return conversations, conversations  # one object: lock and state read in one command
    return SQLAlchemyStorage(
        session_factory, cache_between_updates=process_owns_database(settings)
    ), SimpleEventIsolation()


def process_owns_database(settings: Settings) -> bool:
    """SQLite: one bot process owns the database, so per-process memory cannot go stale."""
    return make_url(settings.database_url).get_backend_name() == "sqlite"


# Every scheduled job: one run at a time, a slow cycle delays the next one instead of overlapping it,
# and a run that is late (a busy event loop, a long start-up) still runs, once.
JOB_DEFAULTS: dict[str, Any] = {"max_instances": 1, "coalesce": True, "misfire_grace_time": None}


def create_dispatcher(
    settings: Settings,
    *,
    bot: Bot,
    session_factory: async_sessionmaker[AsyncSession],
    panel: PanelClient,
) -> Dispatcher:
    """The composition root: every service, middleware, router and scheduled job of the bot.

    Services go into the workflow data (handlers ask for them by name). Scheduled jobs run on the
    lease holder only (`leader.only`, bot/coordination.py), except the lease tick itself. The
    start-up and shutdown hooks below only start and stop what is built here.
    """
    # Conversation state: read and written for each update by one component (its docstring).
    storage, isolation = create_fsm(settings, session_factory)
    dp = Dispatcher(storage=storage, events_isolation=isolation, disable_fsm=True)
    conversation = ConversationMiddleware(storage, isolation)
    bot.session.middleware(conversation.save_before_request)  # stored before the user sees a reply
    locale = settings.default_locale
    i18n = create_i18n(locale)

    # Services.
    users = UserService(session_factory)
    guard = PanelGuard(
        session_factory,
        panel,
        url=settings.panel_api_url,
        shop_currency=settings.currency,
        currency_rate=settings.panel_currency_rate,
        admin_ids=settings.admin_ids,
    )
    catalog = CatalogService(
        session_factory,
        panel,
        default_markup=settings.markup_percent,
        admin_ids=settings.admin_ids,
        rate_factor=guard.rate_factor,
        guard=guard,
        flat_types=settings.panel_flat_rate_types,
    )
    orders = OrderService(
        session_factory,
        panel,
        wallet_enabled=settings.wallet_enabled,
        currency=settings.currency,
        guard=guard,
        placing_grace=timedelta(seconds=settings.placing_grace_seconds),
    )
    shop = ShopSettings(session_factory)
    poller = StatusPoller(
        session_factory,
        panel,
        admin_ids=settings.admin_ids,
        charge_factor=guard.rate_factor,
        guard=guard,
        idless_refill_checks=settings.refill_unconfirmed_checks,
        refill_error_limit=settings.refill_error_limit,
        refill_max_open=timedelta(days=settings.refill_max_open_days),
    )
    reconcile = ReconcileService(
        session_factory, panel, stuck_after=timedelta(hours=settings.stuck_order_hours)
    )
    leader = LeaderLease(session_factory, holder=settings.instance_id, seconds=settings.lease_seconds)
    notifier = Notifier(
        session_factory, bot, default_locale=locale, on_blocked=users.forget, alert_keyboard=alert_keyboard
    )
    audit = AuditService(session_factory)
    broadcasts = BroadcastService(
        session_factory,
        bot,
        rate_per_second=settings.broadcast_rate_per_second,
        screens=BROADCAST_SCREENS,
        default_locale=locale,
        on_blocked=users.forget,
    )
    monitor = PanelMonitor(
        session_factory,
        panel,
        bot,
        admin_ids=settings.admin_ids,
        threshold=settings.panel_low_balance_threshold,
        default_locale=locale,
    )
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
        default_locale=locale,
        on_blocked=users.forget,
    )
    topup_methods = ManualMethods(session_factory)
    promos = PromoService(session_factory)
    owner_alerts = OwnerAlerts(session_factory, admin_ids=settings.admin_ids)
    # In the settle transaction of every top-up: a waiting promo bonus, the owner's alert.
    topups.add_settle_hook(promos.apply_bonus)
    topups.add_settle_hook(owner_alerts.topup_hook)
    dp.workflow_data.update(
        settings=settings,
        session_factory=session_factory,
        panel=panel,
        i18n=i18n,  # the error handler needs it outside the middleware's context
        users=users,
        catalog=catalog,
        orders=orders,
        shop=shop,
        poller=poller,
        panel_guard=guard,
        reconcile=reconcile,
        leader=leader,
        notifier=notifier,
        # Admin console (bot/handlers/admin).
        audit=audit,
        broadcasts=broadcasts,
        balances=BalanceService(
            session_factory,
            bot,
            currency=settings.currency,
            default_locale=locale,
            on_blocked=users.forget,
            confirm_credit_above=settings.confirm_credit_above,
        ),
        admin_users=AdminUsers(session_factory, users),
        stats=StatsService(session_factory, reconcile),
        panel_monitor=monitor,
        catalog_admin=CatalogAdmin(session_factory, catalog, audit),
        shop_admin=ShopAdmin(session_factory, shop),
        problems=ProblemDesk(session_factory, reconcile, audit),
        # Top-ups (bot/handlers/topup.py, bot/handlers/admin/payments.py).
        topups=topups,
        topup_methods=topup_methods,
        topup_desk=ManualDesk(
            session_factory,
            topups,
            topup_methods,
            bot,
            admin_ids=settings.admin_ids,
            screens=DESK_SCREENS,
            default_locale=locale,
        ),
        payments_reports=PaymentsReports(session_factory),
        # Growth (bot/handlers/growth.py, bot/handlers/admin/growth.py).
        growth_settings=GrowthSettings(shop),
        promos=promos,
        referrals=ReferralService(session_factory),
        support_desk=SupportDesk(
            session_factory,
            bot,
            admin_ids=settings.admin_ids,
            screens=SUPPORT_SCREENS,
            default_locale=locale,
            on_blocked=users.forget,
        ),
        owner_alerts=owner_alerts,
        notice_settings=NoticeSettings(session_factory),
    )

    # Update middlewares, in the order an update meets them; then the routers.
    dp.update.outer_middleware(conversation)  # first: the user's state, under the isolation lock
    if settings.webhook_enabled:
        # First of our middlewares: an update Telegram delivers again (the webhook answers after
        # processing, so a crash means a redelivery; or a load balancer retried it) has its effects
        # once (bot/coordination.py). Long polling confirms updates by offset: no marks there.
        dp.update.outer_middleware(
            UpdateDedupMiddleware(session_factory, in_memory=process_owns_database(settings))
        )
    dp.update.outer_middleware(
        UserMiddleware(users, admin_ids=settings.admin_ids, allowed_ids=settings.allowed_user_ids, i18n=i18n)
    )
    dp.update.outer_middleware(UserI18nMiddleware(i18n))
    # Every button press is answered after its handler (with the text a handler sets on
    # `callback_answer`), unless the handler failed: then the error handler apologises.
    dp.callback_query.middleware(CallbackAnswerMiddleware())
    dp.callback_query.middleware(ApologyAnswerMiddleware())
    dp.message.middleware(FormKeptMiddleware())  # a command inside a form says what became of it
    dp.callback_query.middleware(FormKeptMiddleware())  # ... and forgets having said so
    dp.include_routers(*feature_routers())

    # Scheduled jobs: on the lease holder only (on_leader); the lease tick and the currency check everywhere.
    scheduler = AsyncIOScheduler(timezone="UTC", job_defaults=JOB_DEFAULTS)
    dp.workflow_data["scheduler"] = scheduler
    every = settings.poll_interval_seconds
    scheduler.add_job(
        leader.tick,
        "interval",
        seconds=leader.renew_interval,
        id=LEASE_JOB_ID,
        next_run_time=utcnow(),  # at once too: start-up may have outlasted the first grant
    )

    def on_leader(job: Callable[..., Awaitable[Any]], job_id: str, *args: Any, **trigger: Any) -> None:
        """An interval job that does its work only on the lease holder."""
        scheduler.add_job(leader.only(job), "interval", args=list(args), id=job_id, **trigger)

    on_leader(prune_processed_updates, PRUNE_JOB_ID, session_factory, hours=1)
    on_leader(refresh_catalog, "catalog", catalog, minutes=settings.catalog_refresh_minutes)
    scheduler.add_job(
        check_panel_currency,  # every instance: each one sells, so each one must know
        "interval",
        minutes=settings.catalog_refresh_minutes,
        args=[guard, settings.panel_timeout_seconds],
        id="panel_currency",
    )
    on_leader(run_tracking_cycle, "order_tracking", poller, notifier, seconds=every)
    on_leader(
        run_refill_cycle,
        "refill_tracking",
        poller,
        notifier,
        seconds=max(every, settings.refill_poll_seconds),
    )
    on_leader(run_notifier, "notifier", notifier, seconds=min(every, 15.0))
    on_leader(broadcasts.resume, "broadcast_resume", seconds=BROADCAST_RESUME_SECONDS)
    # Orders whose placer died: UNKNOWN after the grace, admins told at once (bot/services/reconcile.py).
    on_leader(
        run_order_safety,
        "order_safety",
        orders,
        reconcile,
        settings.admin_ids,
        # No slower than tracking either: an order it sends to review is alerted on the next run.
        seconds=max(1.0, min(settings.placing_grace_seconds / 4, 30.0, every)),
        next_run_time=utcnow(),
    )
    if settings.admin_ids:
        on_leader(run_admin_alerts, "admin_alerts", reconcile, settings.admin_ids, minutes=10)
        on_leader(run_panel_check, "panel_balance", monitor, minutes=PANEL_CHECK_MINUTES)
        on_leader(
            run_owner_alerts, "owner_alerts", owner_alerts, notifier, seconds=min(every, ALERT_SCAN_SECONDS)
        )
    on_leader(run_expire, "topup_expire", topups, seconds=EXPIRE_SECONDS)
    if topups.cryptopay is not None:
        factor = WEBHOOK_POLL_FACTOR if settings.webhook_enabled else 1
        on_leader(
            run_cryptopay_poll, "cryptopay_poll", topups, seconds=settings.crypto_pay_poll_seconds * factor
        )
    if topups.stars_enabled:
        on_leader(
            run_stars_reconcile,
            "stars_reconcile",
            topups,
            minutes=settings.stars_reconcile_minutes,
            next_run_time=utcnow(),  # at start-up too
        )

    dp.startup.register(on_startup)
    dp.shutdown.register(on_shutdown)
    return dp


async def refresh_catalog(catalog: CatalogService) -> None:
    """Sync the catalog; never raises: a bad catalog must not keep the bot from starting."""
    try:
        await catalog.refresh()
    except PanelError as error:
        log.warning("catalog refresh failed: %s", error.message)
    except IntegrityError:
        # Two instances syncing at once (a lease that changed hands during a slow start-up): the
        # other one's rows stand; the next refresh catches up. Never a reason to stop starting.
        log.warning("catalog refresh collided with another instance's; the next one catches up")
    except Exception as error:  # a database refusing a value, or anything else: one line, go on
        log.warning("catalog refresh failed: %s", type(error).__name__)


async def check_panel_currency(guard: PanelGuard, timeout: float) -> None:
    """The panel's currency against CURRENCY (selling pauses on a mismatch); never raises."""
    try:
        await asyncio.wait_for(guard.check_currency(), timeout)
    except Exception as error:
        log.warning("could not check the panel's currency: %s", type(error).__name__)


async def set_commands(bot: Bot, i18n: PoI18n) -> None:
    for code in LANGUAGES:
        with i18n.context():
            commands = [
                BotCommand(command=name, description=t_in(code, f"command.{name}")) for name in COMMANDS
            ]
        await bot.set_my_commands(commands, language_code=None if code == "en" else code)


async def on_startup(
    bot: Bot,
    settings: Settings,
    i18n: PoI18n,
    leader: LeaderLease,
    orders: OrderService,
    catalog: CatalogService,
    broadcasts: BroadcastService,
    scheduler: AsyncIOScheduler,
    panel_guard: PanelGuard,
    growth_settings: GrowthSettings,
    owner_alerts: OwnerAlerts,
) -> None:
    """Start what `create_dispatcher` built: lease, interrupted orders, menu, catalog, jobs."""
    # SQLite: this process owns the database, so a lease still held and an order still PLACING are
    # what a crashed predecessor left. Otherwise a lone instance is the leader at once; others wait.
    owner = process_owns_database(settings)
    await (leader.take_over() if owner else leader.tick())
    await orders.recover_interrupted(only_process=owner)
    try:
        await panel_guard.load()  # what this panel supports, as learnt before (bulk status, currency)
    except Exception as error:
        log.warning("could not read the panel's capabilities: %s", type(error).__name__)
    await check_panel_currency(panel_guard, settings.panel_timeout_seconds)
    try:
        await set_commands(bot, i18n)
    except Exception as error:  # a menu is nice to have; never a reason not to start
        log.warning("could not set the command menu: %s", type(error).__name__)
    # Ticked again: start-up (migrations, the menu) may have outlasted the first grant's validity.
    if await leader.tick() and await catalog.is_empty():  # one instance syncs; the others share it
        await refresh_catalog(catalog)
    await broadcasts.resume()  # unfinished broadcasts go on (the outbox claims rows: safe everywhere)
    await start_growth(settings, growth_settings, owner_alerts)  # defaults, the alert cursor
    if not scheduler.running:
        scheduler.start()
    log.info("bot started")


async def on_shutdown(
    scheduler: AsyncIOScheduler, broadcasts: BroadcastService, topups: TopUpService, leader: LeaderLease
) -> None:
    """Stop jobs and broadcasting (unsent recipients wait for the next start), then let the lease go."""
    if scheduler.running:
        scheduler.shutdown(wait=False)
    await broadcasts.close()
    if topups.cryptopay is not None:
        await topups.cryptopay.close()
    await leader.release()  # after the scheduler stopped: a successor takes over at its next tick
    log.info("bot stopped")


@dataclass
class BotApp:
    """Everything one running bot owns; closed in reverse order."""

    settings: Settings
    engine: AsyncEngine
    session_factory: async_sessionmaker[AsyncSession]
    panel: PanelClient
    bot: Bot
    dispatcher: Dispatcher

    @classmethod
    @asynccontextmanager
    async def open(cls, settings: Settings, *, migrate: bool = True) -> AsyncIterator[BotApp]:
        engine = create_engine(settings.database_url, fast_paths=settings.fast_paths)
        panel = create_panel(settings)
        bot = create_bot(settings)
        storage: BaseStorage | None = None
        try:
            if migrate:
                await migrate_exclusively(engine)  # apply_migrations, one instance at a time on PG
            session_factory = create_session_factory(engine)
            dispatcher = create_dispatcher(settings, bot=bot, session_factory=session_factory, panel=panel)
            storage = dispatcher.fsm.storage
            yield cls(settings, engine, session_factory, panel, bot, dispatcher)
        finally:
            await bot.session.close()
            await panel.close()
            if storage is not None:
                await storage.close()
            await asyncio.shield(engine.dispose())

    async def poll(self, *, handle_signals: bool = True) -> None:
        """Long polling until stopped (signal or `dispatcher.stop_polling()`)."""
        await self.dispatcher.start_polling(
            self.bot,
            handle_signals=handle_signals,
            allowed_updates=self.dispatcher.resolve_used_update_types(),
            polling_timeout=25,
            tasks_concurrency_limit=self.settings.max_updates_in_flight,
        )


async def run_polling(settings: Settings) -> None:
    heartbeat = Heartbeat(settings.heartbeat_path())
    async with BotApp.open(settings) as app:
        app.dispatcher.startup.register(tune_garbage_collector)  # last: after everything started
        # Liveness for `smmbot check --offline`: every turn of the polling loop (bot/heartbeat.py).
        app.bot.session.middleware(PollingHeartbeat(heartbeat))
        await app.bot.delete_webhook(drop_pending_updates=False)
        heartbeat.beat(force=True)
        try:
            await app.poll()
        finally:
            heartbeat.clear()
