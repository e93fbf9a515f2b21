"""Top-up tests: the real bot between the fake Bot API, the panel simulator and the Crypto Pay
simulator, on SQLite and on PostgreSQL; every test ends with the wallets reconciled to the ledger.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from pydantic import SecretStr

from bot.app import BotApp
from bot.config import Settings
from bot.services.topups import TopUpService
from bot.webhook import WebhookServer, register
from sandbox.cryptopay_simulator import CryptoPayHandle, CryptoPayState, run_cryptopay_simulator
from sandbox.panel_simulator import SimulatorHandle
from sandbox.telegram_server import FakeTelegramServer, FakeUser
from storage.models import ManualPaymentMethod
from storage.repositories.topups import ManualMethodRepository, WalletReconciliation, wallet_reconciliation
from tests.e2e.conftest import ADMIN_ID, Shop, shop_servers, shop_settings, sim_state

__all__ = [
    "ADMIN_ID",
    "STARS_RATE",
    "PayShop",
    "WebhookPayShop",
    "add_manual_method",
    "cryptopay",
    "pay_shop",
    "shop_servers",
    "sim_state",
    "webhook_shop",
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
        await user.wait_for_message(contains=name)
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


class WebhookPayShop(PayShop):
    """The same shop in webhook mode: its web server takes Telegram's updates and Crypto Pay's
    webhooks (CRYPTO_PAY_WEBHOOK_PATH), which the simulator delivers to it."""

    server: WebhookServer | None = None

    async def start(self, **overrides: Any) -> BotApp:
        if overrides:
            self.settings = self.settings.model_copy(update=overrides)
        stack = contextlib.AsyncExitStack()
        app = await stack.enter_async_context(BotApp.open(self.settings))
        server = WebhookServer(app, set_webhook=False)
        await server.start()
        stack.push_async_callback(server.stop)
        app.settings = self.settings.model_copy(update={"webhook_url": f"{server.url}/telegram/webhook"})
        await register(app)
        self.cryptopay.state.webhook_url = f"{server.url}{self.settings.crypto_pay_webhook_path}"
        self.app, self._stack, self.server = app, stack, server
        return app


def topup_settings(
    tg: FakeTelegramServer, sim: SimulatorHandle, database_url: str, cryptopay: CryptoPayHandle
) -> Settings:
    """Stars (STARS_RATE), Crypto Pay (the simulator) and top-ups of 1..500 USD."""
    return shop_settings(tg, sim, database_url).model_copy(
        update={
            "stars_rate": STARS_RATE,
            "crypto_pay_token": SecretStr(cryptopay.state.token),
            "crypto_pay_api_url": cryptopay.url,
            "crypto_pay_poll_seconds": 3600.0,  # tests poll by hand (shop.topups.poll_cryptopay)
            "topup_min": Decimal("1"),
            "topup_max": Decimal("500"),
            "topup_presets": [Decimal("5"), Decimal("10"), Decimal("50")],
        }
    )


async def run_shop(shop: PayShop) -> AsyncIterator[PayShop]:
    await shop.start()
    try:
        yield shop
        if shop.app is not None:
            reconciliation = await shop.reconciliation()
            assert reconciliation.ok, f"wallets and ledger differ: {reconciliation}"
    finally:
        await shop.stop()
    shop.tg.assert_no_violations()
    shop.tg.assert_all_callbacks_answered()


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
    """The shop in polling mode, taking top-ups."""
    tg, sim = shop_servers
    async for shop in run_shop(PayShop(tg, sim, topup_settings(tg, sim, database_url, cryptopay), cryptopay)):
        yield shop


@pytest.fixture
async def webhook_shop(
    database_url: str,
    shop_servers: tuple[FakeTelegramServer, SimulatorHandle],
    cryptopay: CryptoPayHandle,
) -> AsyncIterator[WebhookPayShop]:
    """The shop in webhook mode, taking top-ups (Crypto Pay's webhook on its web server)."""
    tg, sim = shop_servers
    settings = topup_settings(tg, sim, database_url, cryptopay).model_copy(
        update={
            "webhook_url": "http://127.0.0.1:9/telegram/webhook",
            "webhook_listen_host": "127.0.0.1",
            "webhook_port": 0,
        }
    )
    async for shop in run_shop(WebhookPayShop(tg, sim, settings, cryptopay)):
        assert isinstance(shop, WebhookPayShop)
        yield shop
