"""The terminal chat engine (the ChatSession `smmbot demo` uses) driven in-process through an order."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest

from sandbox.demo.chat import ChatSession
from sandbox.demo.environment import DEMO_PANEL_KEY, DemoEnvironment, demo_environment, isolated_settings
from sandbox.demo.render import ansi_theme
from sandbox.panel_simulator import PanelState
from storage.repositories.ledger import LedgerRepository


@pytest.fixture
async def env() -> AsyncIterator[DemoEnvironment]:
    # Clock stopped until the test starts it; fast status polling so notifications come quickly.
    state = PanelState(api_key=DEMO_PANEL_KEY, partial_chance=0.0, progress_steps=2)
    async with demo_environment(tick_seconds=None, poll_interval_seconds=0.3, state=state) as env:
        yield env
    env.telegram.assert_no_violations()


async def press(chat: ChatSession, label: str) -> None:
    """Type `#N` for the button labelled `label`, as a person reading the screen would."""
    await chat.handle_input(f"#{chat.button_number(label)}")


async def test_order_through_the_terminal_chat_until_completed(env: DemoEnvironment) -> None:
    shown: list[str] = []
    async with ChatSession(
        env.telegram.base_url, env.user.id, output=shown.append, theme=ansi_theme()
    ) as chat:
        await chat.handle_input("/start")
        welcome = await chat.wait_for("Hello, Demo")
        assert welcome.kind == "message"
        assert "[1] 🛍 Services" in welcome.text

        await press(chat, "Services")
        platforms = await chat.wait_for("Choose a platform")
        assert platforms.kind == "edit" and platforms.text.startswith("bot (edited): ")
        assert "\x1b[1mCatalog\x1b[0m" in shown[-1]  # <b> is bold on the terminal
        await press(chat, "Instagram (")
        await chat.wait_for("Choose a category")
        await press(chat, "Instagram Followers (")
        await chat.wait_for("services — page 1/1")
        await chat.handle_input("#1")  # the first (cheapest) service
        await chat.wait_for("Service #1")
        await press(chat, "Order")
        await chat.wait_for("Send the link")
        await chat.handle_input("https://instagram.com/demo")
        await chat.wait_for("How many")
        await chat.handle_input("1000")  # a plain number answers the question, it presses nothing
        summary = await chat.wait_for("Check your order")
        assert "Quantity: 1000" in summary.text
        await press(chat, "Confirm")
        placed = await chat.wait_for("is placed")
        assert "Order #1" in placed.text

        env.panel.state.start_clock(0.1)  # orders move on fast in the test
        done = await chat.wait_for("is completed", timeout=20)
        assert "https://instagram.com/demo" in done.text
        assert done.kind == "message"  # pushed by the bot, not an answer to a button

    async with env.app.session_factory() as session:
        balance = await LedgerRepository(session).balance(env.user.id)
    assert balance == Decimal("99.06")  # 1000 at 0.94 per 1000 (0.72 + 30 % markup, rounded)


async def test_input_rules(env: DemoEnvironment) -> None:
    shown: list[str] = []
    async with ChatSession(env.telegram.base_url, env.user.id, output=shown.append) as chat:
        await chat.handle_input("#1")
        assert (await chat.wait_for("no buttons")).kind == "notice"

        await chat.handle_input("/start")
        await chat.wait_for("Hello")
        await chat.handle_input("#99")
        assert "There is no button 99 here; pick 1–9." in (await chat.wait_for("no button")).text
        await chat.handle_input("#")  # lists the buttons again
        assert "[6] ❓ Help" in (await chat.wait_for("[1]")).text

        await chat.handle_input("\\#1")  # escaped: sent as text, so the bot searches for it
        reply = await chat.wait_for("")
        assert reply.kind == "message"
        typed = [m.text for m in env.telegram.user(env.user.id).history if not m.from_bot]
        assert typed[-1] == "#1"

        assert not chat.quit_requested
        await chat.handle_input("/quit")
        assert chat.quit_requested


async def test_admin_demo_user() -> None:
    async with (
        demo_environment(as_admin=True, tick_seconds=None) as env,
        ChatSession(env.telegram.base_url, env.user.id, output=lambda _: None) as chat,
    ):
        assert env.is_admin and env.settings.admin_ids == [env.user.id]
        await chat.handle_input("/admin")
        await chat.wait_for("Admin console")


async def test_demo_user_is_not_an_admin_by_default(env: DemoEnvironment) -> None:
    assert not env.is_admin and env.settings.admin_ids == []


def test_demo_settings_ignore_env_file_and_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("BOT_TOKEN=777:REAL-TOKEN\nREDIS_URL=redis://prod:6379/0\n")
    monkeypatch.setenv("ALLOWED_USER_IDS", "42")
    monkeypatch.setenv("WALLET_ENABLED", "false")
    monkeypatch.setenv("PANEL_API_URL", "https://real-panel.example/api/v2")
    settings = isolated_settings(
        bot_token="1:FAKE", panel_api_url="http://127.0.0.1:9/api", panel_api_key="k"
    )
    assert settings.bot_token.get_secret_value() == "1:FAKE"
    assert settings.panel_api_url == "http://127.0.0.1:9/api"
    assert settings.redis_url is None
    assert settings.allowed_user_ids == []
    assert settings.wallet_enabled is True
