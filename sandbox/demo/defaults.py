"""Constants of the offline demo and sandbox (kept import-light for the command line)."""

from __future__ import annotations

from decimal import Decimal

DEMO_TOKEN = "123456:TEST-TOKEN"  # noqa: S105 - the fake Bot API server's default token
DEMO_PANEL_KEY = "demo-panel-key"  # the key of the local simulator, not a secret
DEMO_USER_ID = 1001
DEMO_TICK_SECONDS = 5.0
DEMO_POLL_SECONDS = 3.0
DEMO_PROGRESS_STEPS = 2
DEMO_BALANCE = Decimal("100")
DEMO_MARKUP = Decimal("30")
SANDBOX_PANEL_PORT = 8081
SANDBOX_TELEGRAM_PORT = 8082
SANDBOX_CRYPTOPAY_PORT = 8083
DEMO_STARS_RATE = Decimal("0.02")  # 1 Star buys 0.02 USD in the demo
DEMO_CRYPTO_POLL_SECONDS = 2.0  # the demo has no web server: Crypto Pay payments are polled
DEMO_MANUAL_METHOD = (
    {"en": "Bank card (demo)", "ru": "Банковская карта (демо)"},
    {
        "en": "Transfer the amount to card <code>4242 4242 4242 4242</code> (a demo: no money moves).",
        "ru": "Переведите сумму на карту <code>4242 4242 4242 4242</code> (это демо: деньги не списываются).",
    },
)
