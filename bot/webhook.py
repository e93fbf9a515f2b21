"""Webhook mode: an aiohttp server with aiogram's webhook handler, for one or many instances.

Telegram (or any HTTP load balancer in front of several instances) POSTs updates to WEBHOOK_PATH.
Every request must carry the secret token in `X-Telegram-Bot-Api-Secret-Token`; a wrong or missing
one gets 401 and nothing is processed. Without WEBHOOK_SECRET the secret is derived from the bot
token with HMAC-SHA256, so every instance of one bot agrees on it without extra configuration.
An update is answered once it was processed (at most MAX_UPDATES_IN_FLIGHT at a time), so one
cut short by a crash is delivered again; each update's effects happen once across all instances
(bot/coordination.py). `GET /healthz` answers 200 `{"ok": true}` while the database
answers, 503 `{"ok": false}` otherwise, for the load balancer's health checks.

On start every instance calls setWebhook (idempotent, so all may) with the used update types and the
secret; on shutdown nothing calls deleteWebhook, because the other instances keep serving the URL.
Shutdown (SIGTERM/SIGINT): stop accepting connections, let in-flight updates finish (up to
SHUTDOWN_TIMEOUT), then the dispatcher's shutdown stops the scheduler and releases the scheduler
lease, and `BotApp.open` closes the sessions.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import signal
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.webhook.aiohttp_server import SimpleRequestHandler, setup_application
from aiohttp import web
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.app import BotApp
from bot.config import ConfigError, Settings
from bot.coordination import Delivery, current_delivery, wait_for_tasks
from bot.heartbeat import Heartbeat, beat_forever
from bot.payments.webhook import add_cryptopay_route
from bot.runtime import tune_garbage_collector
from storage.redis_fsm import current_update_id

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 (a header name)
SHUTDOWN_TIMEOUT = 25.0  # in-flight updates get this long to finish on shutdown
HEALTH_TIMEOUT = 5.0
ENGINE_KEY = web.AppKey("engine", AsyncEngine)


def webhook_secret(settings: Settings) -> str:
    """WEBHOOK_SECRET, else a stable secret derived from the bot token (same on every instance)."""
    if settings.webhook_secret is not None:
        return settings.webhook_secret.get_secret_value()
    token = settings.bot_token.get_secret_value().encode()
    return hmac.new(token, b"smm-storefront webhook secret v1", hashlib.sha256).hexdigest()


class WebhookRequestHandler(SimpleRequestHandler):
    """aiogram's handler, answering only once the update was processed, with bounded concurrency
    and a graceful close (in-flight updates finish, new ones are refused).

    Acknowledge after the effects: Telegram (or the load balancer) gets its 200 when the update's
    handlers are done and its processed mark is written (bot/coordination.py). An instance killed
    mid-update answers nothing, so Telegram delivers the update again, to a live instance.
    At most `max_in_flight` updates are processed at once; later requests wait for a slot, so a
    burst neither exhausts the database and Redis pools nor the process's memory.

    The stock `close()` closes the bot session; here `BotApp.open` owns and closes it, after the
    dispatcher's shutdown has run (which still needs the bot).
    """

    def __init__(
        self, dispatcher: Dispatcher, bot: Bot, *, secret_token: str, max_in_flight: int = 100, **data: Any
    ) -> None:
        super().__init__(dispatcher, bot, handle_in_background=False, secret_token=secret_token, **data)
        self.closing = False
        self.shutdown_timeout = SHUTDOWN_TIMEOUT
        self.slots = asyncio.Semaphore(max_in_flight)
        self.in_flight: set[asyncio.Task[Any]] = set()

    def verify_secret(self, telegram_secret_token: str, bot: Bot) -> bool:
        # Never accept a request without a secret; compare bytes, so a non-ASCII header is a plain
        # mismatch (compare_digest refuses non-ASCII str) rather than a server error.
        if not self.secret_token:
            return False
        given = telegram_secret_token.encode("utf-8", "surrogateescape")
        return hmac.compare_digest(given, self.secret_token.encode())

    async def handle(self, request: web.Request) -> web.Response:
        if self.closing:  # the load balancer / Telegram retries it on another instance
            return web.json_response({"ok": False, "error": "shutting down"}, status=503)
        if not self.verify_secret(request.headers.get(SECRET_HEADER, ""), self.bot):
            return web.Response(body="Unauthorized", status=401)
        try:
            payload = await request.json()  # aiohttp keeps the body: aiogram reads it again
        except ValueError:
            return web.json_response({"ok": False, "error": "not JSON"}, status=400)
        raw_id = payload.get("update_id") if isinstance(payload, dict) else None
        update_id = raw_id if isinstance(raw_id, int) and not isinstance(raw_id, bool) else None
        delivery = Delivery(update_id)
        task = asyncio.current_task()
        if task is not None:
            self.in_flight.add(task)
        try:
            async with self.slots:
                if self.closing:
                    return web.json_response({"ok": False, "error": "shutting down"}, status=503)
                delivery_token = current_delivery.set(delivery)
                update_token = current_update_id.set(update_id)
                try:
                    response = await super().handle(request)
                finally:
                    current_update_id.reset(update_token)
                    current_delivery.reset(delivery_token)
        finally:
            if task is not None:
                self.in_flight.discard(task)
        if delivery.busy:  # being processed elsewhere: Telegram tries again later
            return web.json_response({"ok": False, "error": "update in progress"}, status=503)
        return response

    async def close(self) -> None:
        self.closing = True
        current = asyncio.current_task()
        await wait_for_tasks([task for task in self.in_flight if task is not current], self.shutdown_timeout)


HANDLER_KEY = web.AppKey("webhook_handler", WebhookRequestHandler)


async def database_ok(engine: AsyncEngine, timeout: float = HEALTH_TIMEOUT) -> bool:
    try:
        async with asyncio.timeout(timeout), engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except Exception as error:
        log.warning("health check: database unavailable (%s)", type(error).__name__)
        return False
    return True


async def healthz(request: web.Request) -> web.Response:
    if await database_ok(request.app[ENGINE_KEY]):
        return web.json_response({"ok": True})
    return web.json_response({"ok": False}, status=503)


def create_webhook_app(bot_app: BotApp) -> web.Application:
    """The aiohttp application of one instance: webhook route, /healthz, start-up and shutdown hooks."""
    settings = bot_app.settings
    app = web.Application()
    app[ENGINE_KEY] = bot_app.engine
    handler = WebhookRequestHandler(
        bot_app.dispatcher,
        bot_app.bot,
        secret_token=webhook_secret(settings),
        max_in_flight=settings.max_updates_in_flight,
    )
    app[HANDLER_KEY] = handler
    # Registered first, so on shutdown in-flight updates finish before the dispatcher shuts down.
    handler.register(app, path=settings.webhook_path)
    app.router.add_get("/healthz", healthz)
    add_cryptopay_route(app, bot_app)  # POST CRYPTO_PAY_WEBHOOK_PATH (bot/payments/webhook.py)
    setup_application(app, bot_app.dispatcher, bot=bot_app.bot)
    return app


async def register(bot_app: BotApp) -> None:
    """setWebhook with the used update types and the secret; idempotent, every instance calls it."""
    settings = bot_app.settings
    if settings.webhook_url is None:
        raise ConfigError("Configuration error: WEBHOOK_URL is not set")
    await bot_app.bot.set_webhook(
        url=settings.webhook_url,
        secret_token=webhook_secret(settings),
        allowed_updates=bot_app.dispatcher.resolve_used_update_types(),
        drop_pending_updates=False,
    )
    log.info("webhook set; listening on %s", settings.webhook_path)


class WebhookServer:
    """One instance's HTTP server on WEBHOOK_LISTEN_HOST:WEBHOOK_PORT (port 0: any free port)."""

    def __init__(self, bot_app: BotApp, *, set_webhook: bool = True) -> None:
        self.bot_app = bot_app
        self.set_webhook = set_webhook
        self.app = create_webhook_app(bot_app)
        self.runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT)
        self.site: web.TCPSite | None = None
        self.port = 0
        self.stopped = False

    @property
    def handler(self) -> WebhookRequestHandler:
        return self.app[HANDLER_KEY]

    @property
    def url(self) -> str:
        """The local base URL (http://host:port), for tests and a reverse proxy."""
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        """Dispatcher start-up, listen, then setWebhook (so updates find a listener)."""
        settings = self.bot_app.settings
        await self.runner.setup()  # runs the on_startup hooks: the dispatcher's start-up
        self.site = web.TCPSite(self.runner, settings.webhook_listen_host, settings.webhook_port)
        await self.site.start()
        addresses = self.runner.addresses  # (host, port, ...) of each listening socket
        self.port = int(addresses[0][1]) if addresses else settings.webhook_port
        log.info(
            "webhook server listening on %s:%d%s",
            settings.webhook_listen_host,
            self.port,
            settings.webhook_path,
        )
        if self.set_webhook:
            await register(self.bot_app)

    async def stop(self) -> None:
        """Graceful: stop listening, finish in-flight updates, shut the dispatcher down (lease released)."""
        if self.stopped:
            return
        self.stopped = True
        await self.runner.cleanup()


async def run_webhook(settings: Settings) -> None:
    """`smmbot run --webhook` (or WEBHOOK_URL set): serve until SIGTERM/SIGINT, then stop gracefully."""
    if settings.webhook_url is None:
        raise ConfigError("Configuration error: WEBHOOK_URL is not set (needed for webhook mode)")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):  # Windows
            loop.add_signal_handler(signum, stop.set)
    try:
        async with BotApp.open(settings) as bot_app:
            bot_app.dispatcher.startup.register(tune_garbage_collector)  # last: after everything started
            server = WebhookServer(bot_app)
            await server.start()
            heartbeat = Heartbeat(settings.heartbeat_path())
            beating = asyncio.create_task(beat_forever(heartbeat))  # bot/heartbeat.py
            try:
                await stop.wait()
                log.info("stopping")
            finally:
                beating.cancel()
                heartbeat.clear()
                await server.stop()
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError):
                loop.remove_signal_handler(signum)


async def run(settings: Settings, *, webhook: bool = False) -> None:
    """What `smmbot run` runs: webhook mode with `--webhook` or WEBHOOK_URL set, else long polling."""
    if webhook or settings.webhook_enabled:
        await run_webhook(settings)
    else:
        from bot.app import run_polling

        await run_polling(settings)
