"""Works against every panel of the family: no bulk status, numeric error codes, redirects, currency.

Each test failed on the old code: the poller only asked in bulk (a panel without the bulk form
never tracked an order), numeric codes were ignored (a terse "Error" was not "not enough funds"),
aiohttp followed a redirect silently, and a BRL panel passed `smmbot check` and sold as USD.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest
from aiohttp import web
from sqlalchemy import select

from bot.check import CheckResult, _Scrubber, check_panel
from bot.config import load_settings
from bot.panel import (
    AddOrder,
    AddOutcomeUnknown,
    InvalidApiKey,
    NotEnoughFunds,
    OrderNotFound,
    OrderStatus,
    PanelClient,
    QuantityOutOfRange,
    UnknownService,
    classify_error,
)
from bot.panel.errors import PanelRedirected
from bot.services.catalog import CatalogService, ServiceView
from bot.services.ordering import OrderService
from bot.services.panel_guard import PanelGuard, SellingPaused
from bot.services.tracking import StatusPoller
from sandbox.panel_simulator import PanelState, SimulatorHandle, run_panel_simulator
from storage.models import Notification, OrderState
from tests.tracking.conftest import API_KEY, PLAIN, make_catalog
from tests.tracking.helpers import Factory, get_order, insert_active, later, make_user

ADMINS = (900,)


def state_of(profile: str, **kw: object) -> PanelState:
    return PanelState(
        api_key=API_KEY,
        catalog=make_catalog(),
        balance=kw.pop("balance", "100000"),  # type: ignore[arg-type]
        partial_chance=0.0,
        profile=profile,
        **kw,  # type: ignore[arg-type]
    )


@pytest.fixture
async def no_bulk() -> AsyncIterator[SimulatorHandle]:
    async with run_panel_simulator(state_of("no_bulk")) as handle:
        yield handle


def client(url: str) -> PanelClient:
    return PanelClient(url, API_KEY, max_requests_per_second=1000, read_retries=0, retry_backoff=0)


def bulk_calls(state: PanelState) -> int:
    return sum(1 for action, params in state.requests if action == "status" and "orders" in params)


async def test_a_panel_without_bulk_status_is_asked_one_id_at_a_time(no_bulk: SimulatorHandle) -> None:
    state = no_bulk.state
    ids = [
        str(
            state.dispatch(
                {
                    "key": API_KEY,
                    "action": "add",
                    "service": PLAIN,
                    "link": f"https://x.example/{n}",
                    "quantity": "100",
                }
            )[1]["order"]
        )
        for n in range(3)
    ]
    async with client(no_bulk.url) as panel:
        first = await panel.statuses([*ids, "999999"])
        assert panel.capabilities.bulk_status is False
        assert all(isinstance(first[i], OrderStatus) for i in ids)
        assert isinstance(first["999999"], OrderNotFound)  # recorded for that id only
        before = bulk_calls(state)
        again = await panel.statuses(ids)
        assert bulk_calls(state) == before  # learnt: no second bulk attempt
        assert all(isinstance(again[i], OrderStatus) for i in ids)


async def test_refill_statuses_and_over_long_order_ids_on_odd_panels(no_bulk: SimulatorHandle) -> None:
    state = no_bulk.state
    reply = state.dispatch(
        {"key": API_KEY, "action": "add", "service": "1", "link": "https://x.example/r", "quantity": "100"}
    )[1]
    state.complete(reply["order"])
    async with client(no_bulk.url) as panel:
        await panel.refill(str(reply["order"]))
        (refill_id,) = list(state.refills)
        answers = await panel.refill_statuses([refill_id, "777"])
        assert answers[refill_id].status_raw == "Pending"
        assert isinstance(answers["777"], Exception)
    async with (
        run_panel_simulator(state_of("standard", next_order_id=10**70)) as sim,
        client(sim.url) as panel,
    ):
        with pytest.raises(AddOutcomeUnknown):  # the panel has it; our column could not hold its id
            await panel.add(AddOrder(PLAIN, link="https://x.example/l", quantity=100))
        assert sim.state.count("add") == 1


async def test_the_poller_tracks_orders_on_a_panel_without_bulk_status_and_remembers_it(
    session_factory: Factory, no_bulk: SimulatorHandle
) -> None:
    state = no_bulk.state
    await make_user(session_factory)
    ids = await insert_active(session_factory, state, 3)
    for sim_order in state.orders.values():
        sim_order.status, sim_order.remains = "Completed", 0
    async with client(no_bulk.url) as panel:
        guard = PanelGuard(session_factory, panel, url=no_bulk.url, shop_currency="USD")
        await guard.load()
        report = await StatusPoller(session_factory, panel, guard=guard).poll_once(now=later())
        assert (report.asked, report.finalised, report.errors, report.unavailable) == (3, 3, 0, None)
    for order_id in ids:
        assert (await get_order(session_factory, order_id)).state == OrderState.COMPLETED
    async with client(no_bulk.url) as fresh:  # a restart: known from the database
        await PanelGuard(session_factory, fresh, url=no_bulk.url, shop_currency="USD").load()
        assert fresh.capabilities.bulk_status is False


async def test_numeric_error_codes_decide_before_words_and_carry_the_bounds() -> None:
    assert isinstance(classify_error("Error", code=108), NotEnoughFunds)
    assert isinstance(classify_error("Incorrect service ID", code=None), UnknownService)
    low = classify_error("Incorrect quantity", code=104, reply={"min": "100"})
    assert isinstance(low, QuantityOutOfRange) and low.min_allowed == 100
    high = classify_error("Quantity more than maximum 5000", code=105)
    assert isinstance(high, QuantityOutOfRange) and high.max_allowed == 5000
    assert type(classify_error("Something odd", code=199)) is not NotEnoughFunds  # unknown: words
    async with run_panel_simulator(state_of("codes", balance="0.5")) as sim, client(sim.url) as panel:
        with pytest.raises(QuantityOutOfRange) as below:
            await panel.add(AddOrder(PLAIN, link="https://x.example/a", quantity=1))
        assert below.value.min_allowed == 10
        with pytest.raises(QuantityOutOfRange) as above:
            await panel.add(AddOrder(PLAIN, link="https://x.example/a", quantity=10**7))
        assert above.value.max_allowed == 100000
        with pytest.raises(NotEnoughFunds):  # the words only say "Error"
            await panel.add(AddOrder(PLAIN, link="https://x.example/a", quantity=90000))
        with pytest.raises(UnknownService):
            await panel.add(AddOrder("424242", link="https://x.example/a", quantity=100))
    async with run_panel_simulator(state_of("codes")) as sim, PanelClient(sim.url, "wrong") as bad:
        with pytest.raises(InvalidApiKey):
            await bad.balance()


async def redirecting_app(target: str) -> web.Application:
    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPMovedPermanently(location=target)

    app = web.Application()
    app.router.add_route("*", "/api/v2", redirect)
    return app


async def test_a_redirect_is_never_followed_and_check_names_the_url_to_use(tmp_path: Path) -> None:
    async with run_panel_simulator(state_of("standard")) as sim:
        runner = web.AppRunner(await redirecting_app(sim.url + "?key=leak"))
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        url = f"http://127.0.0.1:{port}/api/v2"
        try:
            async with client(url) as panel:
                with pytest.raises(PanelRedirected) as redirected:
                    await panel.balance()
            assert redirected.value.location == sim.url  # query (and any key in it) removed
            assert not sim.state.requests  # nothing reached the panel as a GET without its form
            settings = load_settings(
                _env_file=None,
                bot_token="1:x",
                panel_api_url=url,
                panel_api_key=API_KEY,
                database_url=f"sqlite+aiosqlite:///{tmp_path / 'x.sqlite3'}",
            )
            result: CheckResult = await check_panel(settings, _Scrubber(settings))
        finally:
            await runner.cleanup()
    assert result.status == "fail"
    assert f"PANEL_API_URL={sim.url}" in result.detail and "redirect" in result.detail
    assert API_KEY not in result.detail


async def test_another_currency_pauses_selling_until_a_rate_is_set(
    session_factory: Factory, tmp_path: Path
) -> None:
    async with run_panel_simulator(state_of("other_currency")) as sim, client(sim.url) as panel:
        settings = load_settings(
            _env_file=None,
            bot_token="1:x",
            panel_api_url=sim.url,
            panel_api_key=API_KEY,
            database_url=f"sqlite+aiosqlite:///{tmp_path / 'x.sqlite3'}",
        )
        result = await check_panel(settings, _Scrubber(settings))
        assert result.status == "fail" and "BRL" in result.detail and "PANEL_CURRENCY_RATE" in result.detail
        converted = settings.model_copy(update={"panel_currency_rate": Decimal("0.2")})
        assert (await check_panel(converted, _Scrubber(converted))).status == "ok"

        guard = PanelGuard(session_factory, panel, url=sim.url, shop_currency="USD", admin_ids=ADMINS)
        await guard.check_currency()
        await guard.check_currency()  # told once
        assert guard.selling_paused
        catalog = CatalogService(session_factory, panel, default_markup=Decimal("0"))
        await catalog.refresh()
        view = await catalog.service(PLAIN)
        assert view is not None
        await make_user(session_factory)
        orders = OrderService(session_factory, panel, guard=guard)
        with pytest.raises(SellingPaused):
            await orders.place(
                user_id=1001,
                draft_key="d1",
                view=view,
                values={"link": "https://x.example/1", "quantity": 100},
            )
        async with session_factory() as session:
            alerts = list((await session.execute(select(Notification))).scalars())
        assert [(a.user_id, a.payload["alert"], a.payload["panel_currency"]) for a in alerts] == [
            (900, "currency_mismatch", "BRL")
        ]

        rated = PanelGuard(
            session_factory, panel, url=sim.url, shop_currency="USD", currency_rate=Decimal("0.2")
        )
        await rated.check_currency()
        assert not rated.selling_paused
        converted_catalog = CatalogService(
            session_factory, panel, default_markup=Decimal("0"), rate_factor=rated.rate_factor
        )
        converted_view = await converted_catalog.service(PLAIN)
        assert converted_view is not None and converted_view.rate == Decimal("0.2")  # 1.0 BRL per 1000


async def test_a_charge_above_the_customers_price_alerts_the_admins_at_once(
    session_factory: Factory,
) -> None:
    async with run_panel_simulator(state_of("standard")) as sim, client(sim.url) as panel:
        await make_user(session_factory)
        ids = await insert_active(session_factory, sim.state, 2, price="0.05")  # the panel charges 0.10
        poller = StatusPoller(session_factory, panel, admin_ids=ADMINS)
        await poller.poll_once(now=later())
        await poller.poll_once(now=later(60))
    async with session_factory() as session:
        alerts = list((await session.execute(select(Notification))).scalars())
    assert sorted((a.order_id, a.payload["alert"]) for a in alerts) == [(i, "overcharge") for i in ids]
    assert alerts[0].payload["charge"] == "0.1" and alerts[0].payload["price"] == "0.05"


def comments_package(rate: str, *, flat_rate: bool = True) -> ServiceView:
    return ServiceView(
        service_id="14",
        name="Comments Package",
        category_id=1,
        category="Comments",
        type_key="custom comments package",
        rate=Decimal(rate),
        markup_percent=Decimal("0"),
        price_per_1000=Decimal(rate),
        min_quantity=1,
        max_quantity=1,
        dripfeed=False,
        refill=False,
        cancel=False,
        description="",
        average_time=None,
        flat_rate=flat_rate,
    )


def test_billing_per_type_is_a_setting() -> None:
    """Custom Comments Package was quoted 30.00 where a per-line panel bills 0.09 (issue #13)."""
    settings = load_settings(
        _env_file=None,
        bot_token="1:x",
        panel_api_url="https://panel.example/api/v2",
        panel_api_key="k",
        panel_flat_rate_types="Package; ",
    )
    assert settings.panel_flat_rate_types == ["package"]
    assert load_settings(
        _env_file=None, bot_token="1:x", panel_api_url="https://p.example/api", panel_api_key="k"
    ).panel_flat_rate_types == ["package", "custom comments package"]
    values = {"link": "https://x.example/p", "comments": ["great", "nice", "wow"]}
    orders = OrderService(None, None)  # type: ignore[arg-type]
    per_line = "custom comments package" not in settings.panel_flat_rate_types
    assert orders.prepare(comments_package("30"), values)[1].price == Decimal("30.00")
    assert orders.prepare(comments_package("30", flat_rate=not per_line), values)[1].price == Decimal("0.09")
