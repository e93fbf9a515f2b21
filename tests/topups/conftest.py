"""Top-up tests: the real bot between the fake Bot API, the panel simulator and the Crypto Pay
simulator, on SQLite and on PostgreSQL; every test ends with the wallets reconciled to the ledger.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest

from bot.sandbox.cryptopay_simulator import CryptoPayHandle, CryptoPayState, run_cryptopay_simulator
from bot.sandbox.panel_simulator import SimulatorHandle
from bot.sandbox.telegram_server import FakeTelegramServer, FakeUser
from bot.services.topups import TopUpService
from storage.models import ManualPaymentMethod
from storage.repositories.topups import ManualMethodRepository, WalletReconciliation, wallet_reconciliation
from tests.e2e.conftest import ADMIN_ID, Shop, shop_servers, shop_settings, sim_state

__all__ = [
    "ADMIN_ID",
    "STARS_RATE",
    "PayShop",
    "add_manual_method",
    "cryptopay",
    "pay_shop",
    "shop_servers",
    "sim_state",
]

STARS_RATE = Decimal("0.013")  # 1 Star buys 0.013 USD: 10 USD is ceil(769.23) = 770 Stars


class PayShop(Shop):
    """A Shop that takes top-ups, with the Crypto Pay simulator beside it."""

    def __init__(
        self, tg: FakeTelegramServer, sim: SimulatorHandle, settings: Any, cryptopay: CryptoPayHandle
    ) -> None:
        super().__init__(tg, sim, settings)
        self.cryptopay = cryptopay

    @property
    def topups(self) -> TopUpService:
        assert self.app is not None
        service: TopUpService = self.app.dispatcher.workflow_data["topups"]
        return service

    async def reconciliation(self) -> WalletReconciliation:
        assert self.app is not None
        async with self.app.session_factory() as session:
            return await wallet_reconciliation(session)

    async def customer(self, user_id: int = 1001, name: str = "Ann", **kw: Any) -> FakeUser:
        """A customer who has opened the bot (registered)."""
        user = self.user(user_id, name, **kw)
        await user.send_text("/start")
        await user.wait_for_message(contains=f"Hello, {name}")
        return user


async def add_manual_method(
    shop: Shop, name: str = "Bank card", text: str = "Card 4242 4242 4242 4242"
) -> int:
    assert shop.app is not None
    async with shop.app.session_factory.begin() as session:
        method = await ManualMethodRepository(session).add(
            ManualPaymentMethod(
                names={"en": name, "ru": "Карта"},
                instructions={"en": text, "ru": f"Карта: {text}"},
                enabled=True,
                deleted=False,
                position=1,
            )
        )
        return method.id


@pytest.fixture
async def cryptopay() -> AsyncIterator[CryptoPayHandle]:
    async with run_cryptopay_simulator(CryptoPayState(webhook_retry_delay=0.01)) as handle:
        yield handle


@pytest.fixture
async def pay_shop(
    database_url: str,
    shop_servers: tuple[FakeTelegramServer, SimulatorHandle],
    cryptopay: CryptoPayHandle,
) -> AsyncIterator[PayShop]:
    """The shop with Stars (STARS_RATE), Crypto Pay (the simulator) and top-ups of 1..500 USD."""
    tg, sim = shop_servers
    settings = shop_settings(tg, sim, database_url).model_copy(
        update={
            "stars_rate": STARS_RATE,
            "crypto_pay_token": cryptopay.state.token,
            "crypto_pay_api_url": cryptopay.url,
            "crypto_pay_poll_seconds": 3600.0,  # tests poll by hand (shop.topups.poll_cryptopay)
            "topup_min": Decimal("1"),
            "topup_max": Decimal("500"),
            "topup_presets": [Decimal("5"), Decimal("10"), Decimal("50")],
        }
    )
    from pydantic import SecretStr

    settings = settings.model_copy(update={"crypto_pay_token": SecretStr(cryptopay.state.token)})
    shop = PayShop(tg, sim, settings, cryptopay)
    await shop.start()
    try:
        yield shop
        if shop.app is not None:
            reconciliation = await shop.reconciliation()
            assert reconciliation.ok, f"wallets and ledger differ: {reconciliation}"
    finally:
        await shop.stop()
    tg.assert_no_violations()
    tg.assert_all_callbacks_answered()
