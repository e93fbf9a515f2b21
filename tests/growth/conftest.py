"""Growth tests: the real bot between the fake Bot API, the panel simulator and the Crypto Pay
simulator (tests/topups' PayShop), on SQLite and PostgreSQL; every test ends with the wallets
reconciled against the ledger (tests/topups/conftest.py run_shop)."""

from __future__ import annotations

from typing import Any

from bot.services.growth.promo import PromoService, parse_spec
from sandbox.telegram_server import FakeMessage, FakeUser
from storage.models import PromoCode
from tests.topups.conftest import ADMIN_ID, PayShop, cryptopay, pay_shop, shop_servers, sim_state

__all__ = [
    "ADMIN_ID",
    "PayShop",
    "cryptopay",
    "growth",
    "make_promo",
    "pay_shop",
    "shop_servers",
    "sim_state",
    "stars_top_up",
]


def growth(shop: PayShop, name: str) -> Any:
    """A long-lived growth service of the running bot (workflow data), e.g. "promos"."""
    assert shop.app is not None
    return shop.app.dispatcher.workflow_data[name]


async def make_promo(shop: PayShop, spec: str) -> PromoCode:
    promos: PromoService = growth(shop, "promos")
    return await promos.create(ADMIN_ID, parse_spec(spec))


async def stars_top_up(user: FakeUser, amount: str) -> FakeMessage:
    """The customer tops up `amount` with Telegram Stars through the fake Bot API."""
    await user.send_text("/topup")
    await user.wait_for_message(contains="Top up your balance")
    await user.send_text(amount)
    await user.wait_for_message(contains="How would you like to pay")
    await user.press("Telegram Stars")
    invoice = await user.wait_for_message(lambda m: m.kind == "invoice")
    outcome = await user.pay(invoice)
    assert outcome.paid, outcome.error
    return await user.wait_for_message(contains="credited")
