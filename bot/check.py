"""`smmbot check`: is this configuration able to run the shop?

Loads the settings exactly like `smmbot run`, then checks the database (connect + ``SELECT 1``),
Redis when configured, the panel (``balance``) and Telegram (``getMe``), one line per check and
one clear line per problem. Secrets never appear: the token and API key are not printed and a
password in a URL is shown as ``***``. `--offline` stops after the configuration and the database
(what the Docker HEALTHCHECK runs: cheap, and no calls to Telegram or the panel every minute).

Exit status: 0 when everything is fine, 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import SecretStr

from bot.config import ConfigError, Settings, load_settings

__all__ = ["CheckResult", "add_check_arguments", "mask_url", "run_check", "run_checks"]

CHECK_TIMEOUT = 15.0
_PASSWORD_IN_URL = re.compile(r"(?P<head>[a-z][a-z0-9+.\-]*://[^:/@\s]*:)[^@\s]*@", re.IGNORECASE)


@dataclass(frozen=True)
class CheckResult:
    name: str
    status: str  # "ok", "fail", "warn" or "skip"
    detail: str

    @property
    def ok(self) -> bool:
        return self.status != "fail"

    def line(self) -> str:
        label = {"ok": "[ OK ]", "fail": "[FAIL]", "warn": "[WARN]", "skip": "[SKIP]"}[self.status]
        return f"{label} {self.name}: {self.detail}"


def mask_url(url: str) -> str:
    """The URL with its password replaced by ``***`` (user, host and path stay readable)."""
    return _PASSWORD_IN_URL.sub(lambda m: f"{m.group('head')}***@", url)


class _Scrubber:
    """Removes every secret of the settings from a text that is about to be printed."""

    def __init__(self, settings: Settings) -> None:
        secrets = [
            value.get_secret_value()
            for value in (getattr(settings, name) for name in type(settings).model_fields)
            if isinstance(value, SecretStr)
        ]
        for url in (settings.database_url, settings.redis_url or ""):
            match = re.search(r"://[^:/@\s]*:([^@\s]+)@", url)
            if match:
                secrets.append(match.group(1))
        self.secrets = sorted({s for s in secrets if len(s) >= 3}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        text = mask_url(text)
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text


def make_scrubber(settings: Settings) -> Callable[[str], str]:
    """A function that masks every secret of these settings in a text (bot/startup.py uses it)."""
    return _Scrubber(settings)


def reason_of(error: BaseException, scrub: Callable[[str], str]) -> str:
    """`Type: message`, on one line, at most 160 characters, secrets masked."""
    return _reason(error, scrub)


def _reason(error: BaseException, scrub: Callable[[str], str]) -> str:
    message = " ".join(str(error).split())
    if len(message) > 160:
        message = message[:157] + "..."
    name = type(error).__name__
    return scrub(f"{name}: {message}" if message else name)


# -- the checks ---------------------------------------------------------------------------------------
async def check_database(settings: Settings, scrub: _Scrubber) -> CheckResult:
    from bot.startup import database_path_problem

    shown = mask_url(settings.database_url)
    path = settings.sqlite_path()
    problem = database_path_problem(settings)
    if problem is not None:
        return CheckResult("database", "fail", problem)
    if path is not None and not path.exists():
        return CheckResult("database", "ok", f"{shown} does not exist yet; it is created at start-up")
    from sqlalchemy import text

    from storage.db import create_engine

    engine = None
    try:
        engine = create_engine(settings.database_url)
        async with asyncio.timeout(CHECK_TIMEOUT):
            async with engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
    except Exception as error:
        return CheckResult("database", "fail", f"cannot connect to {shown} ({_reason(error, scrub)})")
    finally:
        if engine is not None:
            await engine.dispose()
    return CheckResult("database", "ok", f"{shown} answers")


async def check_redis(settings: Settings, scrub: _Scrubber) -> CheckResult:
    assert settings.redis_url
    shown = mask_url(settings.redis_url)
    try:
        from redis.asyncio import Redis

        client: Any = Redis.from_url(settings.redis_url, socket_connect_timeout=5, socket_timeout=5)
        try:
            async with asyncio.timeout(CHECK_TIMEOUT):
                await client.ping()
        finally:
            await client.aclose()
    except Exception as error:
        return CheckResult("redis", "fail", f"cannot reach REDIS_URL {shown} ({_reason(error, scrub)})")
    return CheckResult("redis", "ok", f"{shown} answers")


async def check_panel(settings: Settings, scrub: _Scrubber) -> CheckResult:
    from bot.panel import PanelClient
    from bot.panel.errors import InvalidApiKey, PanelError, UpstreamUnavailable

    shown = scrub(settings.panel_api_url)
    client = PanelClient(
        settings.panel_api_url,
        settings.panel_api_key,
        timeout=min(settings.panel_timeout_seconds, CHECK_TIMEOUT),
        read_retries=0,  # one answer is enough to judge; the running bot retries
    )
    try:
        balance = await client.balance()
    except InvalidApiKey as error:
        return CheckResult(
            "panel", "fail", f"the panel at {shown} refused PANEL_API_KEY ({scrub(error.message)})"
        )
    except UpstreamUnavailable as error:
        reason = scrub(error.reason)
        if reason.startswith(("connection failed", "timeout")):
            return CheckResult("panel", "fail", f"cannot reach PANEL_API_URL {shown} ({reason})")
        return CheckResult(
            "panel", "fail", f"PANEL_API_URL {shown} does not answer like a panel API ({reason})"
        )
    except PanelError as error:
        return CheckResult("panel", "fail", f"the panel at {shown} answered an error: {scrub(error.message)}")
    except Exception as error:
        return CheckResult("panel", "fail", f"cannot use PANEL_API_URL {shown} ({_reason(error, scrub)})")
    finally:
        await client.close()
    currency = balance.currency or "(no currency given)"
    detail = f"{shown} answers; balance {balance.amount} {currency}"
    if balance.amount < settings.panel_low_balance_threshold:
        return CheckResult(
            "panel",
            "warn",
            f"{detail}, below PANEL_LOW_BALANCE_THRESHOLD {settings.panel_low_balance_threshold}",
        )
    return CheckResult("panel", "ok", detail)


async def check_telegram(settings: Settings, scrub: _Scrubber) -> CheckResult:
    from aiogram.exceptions import TelegramAPIError, TelegramNetworkError, TelegramUnauthorizedError

    from bot.app import create_bot
    from bot.telegram.retry import RetryMiddleware

    shown = scrub(settings.telegram_api_url)
    bot = create_bot(settings)
    for middleware in list(bot.session.middleware):
        if isinstance(middleware, RetryMiddleware):  # one answer is enough here
            bot.session.middleware.unregister(middleware)
    try:
        async with asyncio.timeout(CHECK_TIMEOUT + 5):
            me = await bot.get_me(request_timeout=int(CHECK_TIMEOUT))
    except TelegramUnauthorizedError:
        return CheckResult(
            "Telegram", "fail", "BOT_TOKEN was rejected (401 Unauthorized); copy it again from @BotFather"
        )
    except (TelegramNetworkError, TimeoutError) as error:
        return CheckResult(
            "Telegram", "fail", f"cannot reach TELEGRAM_API_URL {shown} ({_reason(error, scrub)})"
        )
    except TelegramAPIError as error:
        return CheckResult("Telegram", "fail", f"{shown} refused getMe ({_reason(error, scrub)})")
    except Exception as error:
        return CheckResult(
            "Telegram",
            "fail",
            f"TELEGRAM_API_URL {shown} does not answer like a Bot API ({_reason(error, scrub)})",
        )
    finally:
        await bot.session.close()
    return CheckResult("Telegram", "ok", f"@{me.username} ({scrub(me.first_name)}) via {shown}")


def check_stars(settings: Settings) -> CheckResult:
    """Telegram Stars need nothing but STARS_RATE; say what TOPUP_MAX costs in Stars."""
    from bot.services.topups.amounts import STARS_PER_INVOICE_MAX, stars_price

    assert settings.stars_rate is not None
    most = stars_price(settings.topup_max, settings.stars_rate)
    detail = (
        f"1 Star = {settings.stars_rate} {settings.currency}; a top-up of {settings.topup_max} "
        f"{settings.currency} is {most} Stars (nothing else to set up)"
    )
    if most > STARS_PER_INVOICE_MAX:
        return CheckResult(
            "Telegram Stars",
            "warn",
            f"{detail}; above {STARS_PER_INVOICE_MAX} Stars an amount is offered by other methods only",
        )
    return CheckResult("Telegram Stars", "ok", detail)


async def check_cryptopay(settings: Settings, scrub: _Scrubber) -> CheckResult:
    """The token answers getMe, and the shop currency is one Crypto Pay invoices can be in."""
    from bot.payments.cryptopay import (
        FIAT_CURRENCIES,
        CryptoPayClient,
        CryptoPayRefused,
        CryptoPayUnavailable,
    )

    assert settings.crypto_pay_token is not None
    shown = scrub(settings.crypto_pay_api_url)
    client = CryptoPayClient(
        settings.crypto_pay_api_url, settings.crypto_pay_token, timeout=CHECK_TIMEOUT, read_retries=0
    )
    try:
        app = await client.get_me()
    except CryptoPayRefused as error:
        if error.unauthorized:
            return CheckResult(
                "Crypto Pay", "fail", f"CRYPTO_PAY_TOKEN was rejected by {shown} ({scrub(error.message)})"
            )
        return CheckResult("Crypto Pay", "fail", f"{shown} refused getMe ({scrub(error.message)})")
    except CryptoPayUnavailable as error:
        return CheckResult(
            "Crypto Pay", "fail", f"cannot reach CRYPTO_PAY_API_URL {shown} ({scrub(error.message)})"
        )
    finally:
        await client.close()
    if settings.currency not in FIAT_CURRENCIES:
        return CheckResult(
            "Crypto Pay",
            "fail",
            f"CURRENCY {settings.currency} is not one Crypto Pay invoices can be in "
            f"({', '.join(sorted(FIAT_CURRENCIES))})",
        )
    path = settings.crypto_pay_webhook_path
    delivery = (
        f"set the app's webhook to https://<your host>{path}"
        if settings.webhook_enabled
        else f"polling every {settings.crypto_pay_poll_seconds:g}s"
    )
    return CheckResult(
        "Crypto Pay", "ok", f"app {scrub(app.name)!r} (id {app.app_id}) via {shown}; {delivery}"
    )


async def check_manual_methods(settings: Settings, scrub: _Scrubber) -> CheckResult | None:
    """Manual methods live in the database; None when it cannot tell (no database yet)."""
    path = settings.sqlite_path()
    if path is not None and not path.exists():
        return None
    from storage.db import create_engine, create_session_factory
    from storage.repositories.topups import ManualMethodRepository

    engine = create_engine(settings.database_url)
    try:
        async with asyncio.timeout(CHECK_TIMEOUT), create_session_factory(engine)() as session:
            methods = await ManualMethodRepository(session).listed(enabled_only=True)
    except Exception:  # not migrated yet, or unreachable (the database check says why)
        return None
    finally:
        await engine.dispose()
    if not methods:
        return None
    names = ", ".join(
        scrub(str((m.names or {}).get("en") or next(iter((m.names or {}).values()), "?"))) for m in methods
    )
    return CheckResult("manual payments", "ok", f"{len(methods)} shown to customers: {names}")


async def check_payments(settings: Settings, scrub: _Scrubber, *, offline: bool) -> list[CheckResult]:
    results: list[CheckResult] = []
    if settings.stars_enabled:
        results.append(check_stars(settings))
    if settings.cryptopay_enabled:
        if offline:
            results.append(CheckResult("Crypto Pay", "skip", "not contacted (--offline)"))
        else:
            results.append(await check_cryptopay(settings, scrub))
    manual = await check_manual_methods(settings, scrub)
    if manual is not None:
        results.append(manual)
    if not results and settings.wallet_enabled:
        results.append(
            CheckResult(
                "top-ups",
                "skip",
                "no payment method configured (STARS_RATE, CRYPTO_PAY_TOKEN, or manual methods in /admin)",
            )
        )
    return results


def check_heartbeat(settings: Settings) -> CheckResult:
    """Is the bot running here still turning its loop? (bot/heartbeat.py)"""
    from bot.heartbeat import MAX_AGE, heartbeat_age

    path = settings.heartbeat_path()
    age = heartbeat_age(path)
    if age is None:
        return CheckResult("bot process", "skip", f"not running here (no heartbeat in {path})")
    if age > MAX_AGE:
        return CheckResult(
            "bot process",
            "fail",
            f"its loop has not moved for {age:.0f}s (heartbeat {path}); it is stuck or was killed: restart it",
        )
    return CheckResult("bot process", "ok", f"alive (last heartbeat {age:.0f}s ago)")


async def run_checks(settings: Settings, *, offline: bool = False) -> list[CheckResult]:
    """Every check for these settings (in parallel), in a fixed order."""
    scrub = _Scrubber(settings)
    checks = [check_database(settings, scrub)]
    if settings.redis_url:
        checks.append(check_redis(settings, scrub))
    if not offline:
        checks += [check_panel(settings, scrub), check_telegram(settings, scrub)]
    main, payments = await asyncio.gather(
        asyncio.gather(*checks), check_payments(settings, scrub, offline=offline)
    )
    results = [*main, *payments, check_heartbeat(settings)]
    if offline:
        results.append(CheckResult("panel, Telegram", "skip", "not contacted (--offline)"))
    return results


async def run_check(*, offline: bool = False, out: Callable[[str], None] = print, **overrides: Any) -> int:
    """Load the settings like `smmbot run` does, run the checks, print one line each; 0 = all OK."""
    try:
        settings = load_settings(**overrides)
    except ConfigError as error:
        for line in str(error).splitlines():
            out(f"[FAIL] {line}")
        out("Fix the configuration (.env or environment, see .env.example) and run `smmbot check` again.")
        return 1
    has_env_file = os.path.isfile(".env")  # noqa: ASYNC240 - one stat, before any I/O starts
    source = "the environment and .env" if has_env_file else "the environment (no .env here)"
    admins = len(settings.admin_ids)
    out(f"[ OK ] configuration: read from {source}; {admins} admin{'s' if admins != 1 else ''}")
    results = await run_checks(settings, offline=offline)
    for result in results:
        out(result.line())
    problems = sum(1 for result in results if not result.ok)
    if problems:
        out(f"{problems} problem{'s' if problems != 1 else ''} found.")
        return 1
    out("All checks passed." if not offline else "Configuration and storage are fine.")
    return 0


def add_check_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--offline",
        action="store_true",
        help="only the configuration and the database/Redis (no calls to the panel or Telegram)",
    )


def check_command(args: argparse.Namespace) -> int:
    try:
        return asyncio.run(run_check(offline=args.offline))
    except KeyboardInterrupt:
        return 130
