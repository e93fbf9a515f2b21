"""The API key never leaks into exceptions, reprs or logs."""

from __future__ import annotations

import logging
import traceback

import pytest
from pydantic import SecretStr

from bot.panel import AddOrder, InvalidApiKey, PanelClient, PanelError
from sandbox.panel_simulator import PanelState, SimulatorHandle

from .conftest import API_KEY, DEFAULT, RawPanel

WRONG_KEY = "sk-wrong-91c7e2f0d3b84a65-LEAKCHECK"


def _assert_clean(exc: BaseException, *secrets: str) -> None:
    texts = [str(exc), repr(exc), "".join(traceback.format_exception(exc))]
    for secret in secrets:
        for text in texts:
            assert secret not in text


async def test_wrong_key_error_does_not_contain_key(
    sim: SimulatorHandle, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with PanelClient(sim.url, WRONG_KEY, max_requests_per_second=0) as client:
        assert WRONG_KEY not in repr(client)
        with pytest.raises(InvalidApiKey) as caught:
            await client.balance()
        _assert_clean(caught.value, WRONG_KEY)
    assert caplog.records, "expected DEBUG timing logs"
    assert WRONG_KEY not in caplog.text


async def test_echoed_key_is_scrubbed(raw_panel: RawPanel, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    raw_panel.reply("add", {"error": f"Invalid API key: {API_KEY}"})
    async with PanelClient(raw_panel.url, SecretStr(API_KEY), max_requests_per_second=0) as client:
        with pytest.raises(InvalidApiKey) as caught:
            await client.add(AddOrder(service_id="1", link="https://x.test", quantity=10))
    assert "***" in caught.value.message
    _assert_clean(caught.value, API_KEY)
    assert API_KEY not in caplog.text


@pytest.mark.parametrize("mode", ["http500", "html", "empty", "hang", "http429"])
async def test_transport_errors_and_logs_are_clean(
    sim: SimulatorHandle, state: PanelState, caplog: pytest.LogCaptureFixture, mode: str
) -> None:
    caplog.set_level(logging.DEBUG)
    state.set_fault("*", mode, seconds=0.5)
    async with PanelClient(
        sim.url, API_KEY, timeout=0.2, max_requests_per_second=0, read_retries=1, retry_backoff=0.01
    ) as client:
        for call in (
            client.balance(),
            client.add(AddOrder(service_id=DEFAULT, link="https://x.test", quantity=10)),
        ):
            with pytest.raises(PanelError) as caught:
                await call
            _assert_clean(caught.value, API_KEY)
        assert API_KEY not in repr(client)
        assert API_KEY not in str(client)
    assert "panel balance" in caplog.text  # action names are logged...
    assert API_KEY not in caplog.text  # ...the key is not


async def test_simulator_request_log_drops_key(sim: SimulatorHandle, state: PanelState) -> None:
    async with PanelClient(sim.url, API_KEY, max_requests_per_second=0) as client:
        await client.balance()
    assert state.requests == [("balance", {"action": "balance"})]
