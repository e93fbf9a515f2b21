"""Top-ups: customers pay the shop themselves (Telegram Stars, Crypto Pay, manual receipts).

`TopUpService` (service.py) holds the rules and the one settle function; `install` wires the
services, the scheduler jobs and the shutdown hook into a running bot (bot/app.py on_startup).
"""

from bot.services.topups.install import install
from bot.services.topups.service import (
    Payment,
    SettleHook,
    Settlement,
    SettleOutcome,
    TopUpService,
    TopUpUnavailable,
)

__all__ = [
    "Payment",
    "SettleHook",
    "SettleOutcome",
    "Settlement",
    "TopUpService",
    "TopUpUnavailable",
    "install",
]
