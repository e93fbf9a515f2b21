"""Fixtures: the real PanelClient against the real simulator over 127.0.0.1 HTTP."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from bot.panel import PanelClient
from sandbox.panel_simulator import PanelState, SimulatorHandle, run_panel_simulator

API_KEY = "sk-live-7f3b9c1e5a2d48f0-SECRET"


def _svc(
    service_id: int,
    service_type: str,
    rate: str,
    min_qty: int,
    max_qty: int,
    *,
    dripfeed: Any = False,
    refill: Any = False,
    cancel: Any = False,
) -> dict[str, Any]:
    return {
        "service": str(service_id),
        "name": f"{service_type} service {service_id}",
        "type": service_type,
        "category": "Test [Refill 30d]",
        "rate": rate,
        "min": str(min_qty),
        "max": str(max_qty),
        "dripfeed": dripfeed,
        "refill": refill,
        "cancel": cancel,
    }


# Service ids used throughout the tests.
DEFAULT = "1"  # drip-feed, refill and cancel allowed
PLAIN = "2"  # no drip-feed, no refill, no cancel
PACKAGE = "3"
SEO = "4"
CUSTOM_COMMENTS = "5"
CC_PACKAGE = "6"
MENTIONS = "7"
MENTIONS_HASHTAGS = "8"
MENTIONS_CUSTOM_LIST = "9"
MENTIONS_HASHTAG = "10"
MENTIONS_USER_FOLLOWERS = "11"
MENTIONS_MEDIA_LIKERS = "12"
COMMENT_LIKES = "13"
COMMENT_REPLIES = "14"
POLL = "15"
INVITES = "16"
SUBSCRIPTIONS = "17"
WEB_TRAFFIC = "18"
SMART_CUSTOM_COMMENTS = "19"  # SmartPanel spelling and 0/1 flags


def make_catalog() -> list[dict[str, Any]]:
    return [
        _svc(1, "Default", "1.0000", 10, 10_000, dripfeed=True, refill=True, cancel=True),
        _svc(2, "Default", "0.5000", 100, 1_000),
        _svc(3, "Package", "5.0000", 1, 1, refill=True),
        _svc(4, "SEO", "2.0000", 100, 10_000),
        _svc(5, "Custom Comments", "12.0000", 2, 100, cancel=True),
        _svc(6, "Custom Comments Package", "3.5000", 1, 1),
        _svc(7, "Mentions", "6.0000", 100, 10_000),
        _svc(8, "Mentions with Hashtags", "7.0000", 100, 10_000),
        _svc(9, "Mentions Custom List", "9.0000", 1, 100),
        _svc(10, "Mentions Hashtag", "6.5000", 100, 10_000),
        _svc(11, "Mentions User Followers", "6.5000", 100, 10_000),
        _svc(12, "Mentions Media Likers", "6.5000", 100, 10_000),
        _svc(13, "Comment Likes", "4.0000", 20, 10_000),
        _svc(14, "Comment Replies", "15.0000", 1, 100),
        _svc(15, "Poll", "2.5000", 100, 10_000),
        _svc(16, "Invites from Groups", "5.0000", 100, 10_000),
        _svc(17, "Subscriptions", "2.0000", 10, 1_000, cancel=True),
        _svc(18, "Web Traffic", "0.6000", 500, 100_000, dripfeed="1"),
        _svc(19, "custom_comments", "10.0000", 1, 50, dripfeed="0", refill="1", cancel="0"),
    ]


@pytest.fixture
def state() -> PanelState:
    return PanelState(
        api_key=API_KEY,
        catalog=make_catalog(),
        balance="1000",
        seed=1,
        partial_chance=0.0,
        refill_reject_chance=0.0,
        hang_seconds=1.0,
    )


@pytest.fixture
async def sim(state: PanelState) -> AsyncIterator[SimulatorHandle]:
    async with run_panel_simulator(state) as handle:
        yield handle


@pytest.fixture
async def client(sim: SimulatorHandle) -> AsyncIterator[PanelClient]:
    async with PanelClient(
        sim.url,
        API_KEY,
        timeout=2.0,
        max_requests_per_second=0,
        read_retries=2,
        retry_backoff=0.01,
    ) as panel:
        yield panel


@dataclass
class RawPanel:
    """A scripted panel answering verbatim bodies (for doc examples and quirks).

    ``routes`` maps an action (or "action:multi" when ``orders``/``refills`` is
    sent) to a list of (HTTP status, body text, content type); the last entry
    repeats once the list is exhausted.
    """

    routes: dict[str, list[tuple[int, str, str]]] = field(default_factory=dict)
    requests: list[dict[str, str]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    url: str = ""

    def reply(
        self, action: str, body: Any, *, status: int = 200, content_type: str = "application/json"
    ) -> None:
        text = body if isinstance(body, str) else json.dumps(body)
        self.routes.setdefault(action, []).append((status, text, content_type))

    def count(self, action: str) -> int:
        return sum(1 for params in self.requests if params.get("action") == action)

    async def handle(self, request: web.Request) -> web.Response:
        params = {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
        self.requests.append(params)
        self.headers.append(dict(request.headers))
        action = params.get("action", "")
        multi = "orders" in params or "refills" in params
        queue = self.routes.get(f"{action}:multi" if multi else action) or self.routes.get(action)
        if not queue:
            return web.Response(status=404, text="no route")
        status, text, content_type = queue.pop(0) if len(queue) > 1 else queue[0]
        return web.Response(status=status, body=text.encode(), content_type=content_type)


@pytest.fixture
async def raw_panel() -> AsyncIterator[RawPanel]:
    panel = RawPanel()
    app = web.Application()
    app.router.add_post("/api/v3", panel.handle)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    panel.url = f"http://127.0.0.1:{runner.addresses[0][1]}/api/v3"
    try:
        yield panel
    finally:
        await runner.cleanup()


@pytest.fixture
async def raw_client(raw_panel: RawPanel) -> AsyncIterator[PanelClient]:
    async with PanelClient(
        raw_panel.url, API_KEY, timeout=2.0, max_requests_per_second=0, read_retries=2, retry_backoff=0.01
    ) as panel:
        yield panel
