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
