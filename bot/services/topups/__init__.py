"""Top-ups: customers pay the shop themselves (Telegram Stars, Crypto Pay, manual receipts).

`TopUpService` (service.py) holds the rules and the one settle function; jobs.py has the scheduler
jobs. bot/app.py `create_dispatcher` wires both into the bot.
"""

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
]
