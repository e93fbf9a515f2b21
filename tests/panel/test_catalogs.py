"""Catalogs: the realistic one covers every type; hostile ones parse and order fine."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from typing import Any

from bot.panel import AddOrder, PanelClient, PanelService, normalize_service_type
from sandbox.catalogs import ALL_SERVICE_TYPES, doc_example_catalog, generate_catalog, realistic_catalog
from sandbox.panel_simulator import PanelState, run_panel_simulator

from .conftest import API_KEY

PLATFORMS = (
    "Instagram",
    "TikTok",
    "YouTube",
    "Telegram",
    "Twitter",
    "Facebook",
    "Spotify",
    "Website Traffic",
)


async def _parsed(catalog: list[dict[str, Any]]) -> list[PanelService]:
    async with (
        run_panel_simulator(PanelState(api_key=API_KEY, catalog=catalog)) as sim,
        PanelClient(sim.url, API_KEY, max_requests_per_second=0) as client,
    ):
        return await client.services()


def test_doc_example_catalog_is_verbatim() -> None:
    first, second = doc_example_catalog()
    assert first["service"] == "30" and first["category"] == "First Cateogry" and first["average_time"] == "0"
    assert second["rate"] == "0.8400" and second["max"] == "100000000"


async def test_realistic_catalog_covers_every_type() -> None:
    catalog = realistic_catalog()
    assert 200 <= len(catalog) <= 500
    assert catalog == realistic_catalog()  # deterministic
    services = await _parsed(catalog)
    assert len(services) == len(catalog)
    assert len({s.service_id for s in services}) == len(services)
    type_keys = {s.type_key for s in services}
    assert type_keys == {normalize_service_type(t) for t in ALL_SERVICE_TYPES}
    assert any(s.type_key == "default" and s.dripfeed for s in services)
    assert any(s.type_key == "web traffic" and s.dripfeed for s in services)
    assert any(s.refill for s in services) and any(not s.refill for s in services)
    assert any(s.cancel for s in services) and any(not s.cancel for s in services)
    assert any(s.description for s in services) and any(not s.description for s in services)
    assert any(s.average_time for s in services) and any(s.average_time is None for s in services)
    assert any("[Refill 30d]" in s.category for s in services)
    for platform in PLATFORMS:
        assert any(s.category.startswith(platform) for s in services), platform
    for s in services:
        assert s.rate > 0 and 0 < s.min <= s.max
        if s.type_key in ("package", "custom comments package"):
            assert s.min == s.max == 1


async def test_generated_hostile_catalog_parses_completely() -> None:
    catalog = generate_catalog(3000, 120, seed=7)
    assert catalog == generate_catalog(3000, 120, seed=7)
    assert catalog != generate_catalog(3000, 120, seed=8)
    services = await _parsed(catalog)
    assert len(services) == 3000
    assert len({s.category for s in services}) == 120
    names = " ".join(s.name for s in services)
    for fragment in ('<Fast> & "Cheap"', "</b><script>", "🔥", "متابعين"):
        assert fragment in names
    assert max(len(s.name) for s in services) > 300
    raw_types = Counter(type(entry["service"]) for entry in catalog)
    assert raw_types[int] > 0 and raw_types[str] > 0  # ids as numbers and as strings
    assert {s.type_key for s in services} == {normalize_service_type(t) for t in ALL_SERVICE_TYPES}
    assert any(s.type != s.type.title() for s in services)  # variant spellings present
    assert all(isinstance(s.rate, Decimal) and s.rate > 0 for s in services)
    assert all(0 < s.min <= s.max for s in services)
    assert any(s.dripfeed for s in services) and any(s.refill for s in services)


async def test_orders_work_on_hostile_catalog() -> None:
    catalog = generate_catalog(40, 5, seed=3)
    state = PanelState(api_key=API_KEY, catalog=catalog, balance="100000")
    async with (
        run_panel_simulator(state) as sim,
        PanelClient(sim.url, API_KEY, max_requests_per_second=0) as client,
    ):
        services = await client.services()
        default = next(s for s in services if s.type_key == "default")
        order_id = await client.add(
            AddOrder(service_id=default.service_id, link="https://x.test", quantity=default.min)
        )
        status = await client.status(order_id)
    assert status.charge == (default.rate * default.min / 1000).quantize(Decimal("0.0001"))


def test_generated_plain_catalog_is_tame() -> None:
    catalog = generate_catalog(50, 5, hostile=False)
    assert all(isinstance(entry["service"], str) for entry in catalog)
    assert all(entry["type"] in ALL_SERVICE_TYPES for entry in catalog)
    assert not any("<" in entry["name"] for entry in catalog)
