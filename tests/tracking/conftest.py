"""Fixtures: the real PanelClient against the real panel simulator, and a real aiogram Bot against
the fake Telegram Bot API server, both over HTTP on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.enums import ParseMode

from bot.panel import PanelClient
from sandbox.panel_simulator import PanelState, SimulatorHandle, run_panel_simulator
from sandbox.telegram_server import FakeTelegramServer, run_fake_telegram

API_KEY = "tracking-test-key"

REFILLABLE = "1"  # refill and cancel allowed
PLAIN = "2"  # neither
SUBSCRIPTION = "3"


def _svc(service_id: str, service_type: str, rate: str, *, refill: bool, cancel: bool) -> dict[str, Any]:
    return {
        "service": service_id,
        "name": f"Followers <{service_id}> & more",  # HTML-special on purpose
        "type": service_type,
        "category": "Tracking tests",
        "rate": rate,
        "min": "10",
        "max": "100000",
        "dripfeed": False,
        "refill": refill,
        "cancel": cancel,
    }


def make_catalog() -> list[dict[str, Any]]:
    return [
        _svc(REFILLABLE, "Default", "3.3333", refill=True, cancel=True),
        _svc(PLAIN, "Default", "1.0000", refill=False, cancel=False),
        _svc(SUBSCRIPTION, "Subscriptions", "2.0000", refill=False, cancel=True),
    ]


def make_state(flavor: str = "smart") -> PanelState:
    return PanelState(
        api_key=API_KEY,
        catalog=make_catalog(),
        balance="100000",
        flavor=flavor,
        seed=7,
        partial_chance=0.0,
        refill_reject_chance=0.0,
        hang_seconds=0.5,
    )


@pytest.fixture
def state(request: pytest.FixtureRequest) -> PanelState:
    """The simulator's data; parametrize indirectly with "pp" for Perfect Panel shapes."""
    return make_state(getattr(request, "param", "smart"))


@pytest.fixture
async def sim(state: PanelState) -> AsyncIterator[SimulatorHandle]:
    async with run_panel_simulator(state) as handle:
        yield handle


@pytest.fixture
async def panel(sim: SimulatorHandle) -> AsyncIterator[PanelClient]:
    async with PanelClient(
        sim.url, API_KEY, timeout=2.0, max_requests_per_second=0, read_retries=1, retry_backoff=0.01
    ) as client:
        yield client


@pytest.fixture
async def tg() -> AsyncIterator[FakeTelegramServer]:
    async with run_fake_telegram() as server:
        yield server


@pytest.fixture
async def bot(tg: FakeTelegramServer) -> AsyncIterator[Bot]:
    instance = tg.create_bot(default=DefaultBotProperties(parse_mode=ParseMode.HTML))
    try:
        yield instance
    finally:
        await instance.session.close()
