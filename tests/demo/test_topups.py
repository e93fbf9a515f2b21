"""`smmbot demo` offers every top-up method, and the terminal chat pays them through the local
servers: a Stars invoice's Pay button, a Crypto Pay invoice's page, a manual receipt."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from sandbox.demo.chat import ChatSession
from sandbox.demo.environment import DemoEnvironment, demo_environment
from storage.repositories.ledger import LedgerRepository


@pytest.fixture
async def env() -> AsyncIterator[DemoEnvironment]:
    async with demo_environment(tick_seconds=None, balance="0", as_admin=True) as env:
        yield env
    env.telegram.assert_no_violations()


async def press(chat: ChatSession, label: str) -> None:
    await chat.handle_input(f"#{chat.button_number(label)}")


async def balance(env: DemoEnvironment) -> Decimal:
    async with env.app.session_factory() as session:
        return await LedgerRepository(session).balance(env.user.id)


async def test_every_method_is_paid_in_the_terminal_chat(env: DemoEnvironment) -> None:
    shown: list[str] = []
    async with ChatSession(env.telegram.base_url, env.user.id, output=shown.append) as chat:
        await chat.handle_input("/topup")
        await chat.wait_for("Top up your balance")
        await chat.handle_input("5")
        methods = await chat.wait_for("How would you like to pay")
        for label in ("Telegram Stars (250 ⭐)", "Crypto (CryptoBot)", "Bank card (demo)"):
            assert label in methods.text

        await press(chat, "Telegram Stars")
        invoice = await chat.wait_for("250 ⭐ (press the Pay button")
        assert "[invoice]" in invoice.text and "[1] Pay" in invoice.text
        await chat.handle_input("#1")
        await chat.wait_for("Paid 250 ⭐")
        await chat.wait_for("Your balance: 5.00 USD")

        await chat.handle_input("/topup")
        await chat.wait_for("Top up your balance")
        await chat.handle_input("10")
        await chat.wait_for("How would you like to pay")
        await press(chat, "Crypto (CryptoBot)")
        await chat.wait_for("Pay in @CryptoBot")
        await press(chat, "Pay in CryptoBot")
        await chat.wait_for("in the Crypto Pay simulator")
        await chat.wait_for("Your balance: 15.00 USD", timeout=15)

        await chat.handle_input("/topup")
        await chat.wait_for("Top up your balance")
        await chat.handle_input("20")
        await chat.wait_for("How would you like to pay")
        await press(chat, "Bank card (demo)")
        await chat.wait_for("4242 4242 4242 4242")
        await chat.handle_input("paid from my card")
        request = await chat.wait_for("Top-up request #")  # the demo user is the admin too
        assert "paid from my card" in request.text
        await press(chat, "Approve")
        await chat.wait_for("Your balance: 35.00 USD")
    assert await balance(env) == Decimal("35.0000")
