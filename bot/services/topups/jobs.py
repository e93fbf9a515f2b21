"""The top-up scheduler jobs; bot/app.py `create_dispatcher` adds them (leader-only, like every job).

Jobs:
* `topup_expire` every minute: close unpaid Stars / Crypto Pay top-ups past TOPUP_EXPIRE_MINUTES;
* `cryptopay_poll` every CRYPTO_PAY_POLL_SECONDS (ten times slower in webhook mode, where it is only
  the safety net behind the webhook): settle paid invoices, including late payments of closed ones;
* `stars_reconcile` at start-up and every STARS_RECONCILE_MINUTES: credit Stars charges that
  Telegram has and the bot never credited.
"""

from __future__ import annotations

import logging

from bot.config import Settings
from bot.payments.cryptopay import CryptoPayClient, CryptoPayError
from bot.services.topups.service import TopUpService

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
