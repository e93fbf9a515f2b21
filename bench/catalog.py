"""Catalog size: sync time and memory, and per-click browsing latency, 5,000 services vs 50.

Two catalogs from sandbox.catalogs.generate_catalog (default: 50 services in 20 categories and
5,000 in 100); for each, on a fresh SQLite database and the panel simulator:

* sync: first sync (everything added), timed; the same again under tracemalloc for the peak of
  Python allocations; a re-sync with nothing changed, timed;
* browsing through CatalogService directly, uncached (every click queries the database):
  categories page, a category's first and last page, a service card, search (a common word, a
  rare word, a service id); p50/p99 over --clicks calls;
* browsing through the bot (`python -m bot` as a subprocess, one user pressing buttons, one click
  at a time): /start, Services, next categories page, a category, a service card, a search.

Growth large/small is the figure: it should be close to 1 for browsing (flat), linear for sync.

    .venv/bin/python -m bench.catalog
    .venv/bin/python -m bench.catalog --large 20000 --large-categories 400 --hostile
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import tempfile
import time
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from bench.common import fmt, percentile, print_machine, ratio, table, write_json
from bench.harness import (
    BenchTelegram,
    BotProcess,
    Step,
    StepTimes,
    bot_process,
    clean_env,
    real_bot_argv,
    run_users,
)
from bot.panel import PanelClient
from bot.services.catalog import CatalogService
from bot.views.catalog import CATEGORIES_PER_PAGE, SERVICES_PER_PAGE
from sandbox.catalogs import generate_catalog
from sandbox.panel_simulator import PanelState, run_panel_simulator
from sandbox.telegram_state import FakeUser
from storage.db import database

PANEL_KEY = "bench-catalog-key-3b7d"
Click = Callable[[], Awaitable[Any]]


async def timed(call: Click, times: int) -> list[float]:
    out = []
    for _ in range(times):
        started = time.perf_counter()
        await call()
        out.append(time.perf_counter() - started)
    return out


async def sync_figures(url_for: Callable[[str], str], sim_url: str) -> dict[str, float]:
    figures: dict[str, float] = {}
    async with (
        database(url_for("sync-timed")) as (_, factory),
        PanelClient(sim_url, PANEL_KEY, max_requests_per_second=1000) as panel,
    ):
        catalog = CatalogService(factory, panel, default_markup=Decimal("0"))
        started = time.perf_counter()
        report = await catalog.refresh()
        figures["first sync s"] = time.perf_counter() - started
        started = time.perf_counter()
        await catalog.refresh()
        figures["unchanged re-sync s"] = time.perf_counter() - started
        figures["services"] = report.total
    async with (
        database(url_for("sync-traced")) as (_, factory),
        PanelClient(sim_url, PANEL_KEY, max_requests_per_second=1000) as panel,
    ):
        catalog = CatalogService(factory, panel, default_markup=Decimal("0"))
        tracemalloc.start()
        await catalog.refresh()
        figures["first sync peak MiB"] = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.reset_peak()
        await catalog.refresh()
        figures["re-sync peak MiB"] = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    return figures


@contextlib.asynccontextmanager
async def browse_cases(url: str, sim_url: str) -> AsyncIterator[dict[str, Click]]:
    """The clicks to time on one synced catalog (the first category, its last page, ...)."""
    async with (
        database(url) as (_, factory),
        PanelClient(sim_url, PANEL_KEY, max_requests_per_second=1000) as panel,
    ):
        # views_ttl=0: every click goes to the database (the growth question is about the
        # queries); through the bot below, pages and cards are served from the 5-second memory
        # after the first click, as customers meet them.
        catalog = CatalogService(factory, panel, default_markup=Decimal("0"), views_ttl=0)
        await catalog.refresh()
        first = await catalog.categories(0, CATEGORIES_PER_PAGE)
        category_id = first.items[0].category_id
        found = await catalog.services(category_id, 0, SERVICES_PER_PAGE)
        assert found is not None
        last_page = found[1].pages - 1
        service_id = found[1].items[0].service_id
        yield {
            "categories page": lambda: catalog.categories(0, CATEGORIES_PER_PAGE),
            "category, first page": lambda: catalog.services(category_id, 0, SERVICES_PER_PAGE),
            "category, last page": lambda: catalog.services(category_id, last_page, SERVICES_PER_PAGE),
            "service card": lambda: catalog.service(service_id),
            "search common word": lambda: catalog.search("default", 0, SERVICES_PER_PAGE),
            "search rare word": lambda: catalog.search("zzzunknown", 0, SERVICES_PER_PAGE),
            "search service id": lambda: catalog.search(service_id, 0, SERVICES_PER_PAGE),
        }


def bot_flow(user: FakeUser, round_no: int) -> list[Step]:
    return [
        Step("/start", text="/start", expect="Hello,"),
        Step("press Services", press="Services", expect="Categories"),
        Step("next categories page", press="▶️", expect="page 2/"),
        Step("press a category", press=(0, 0), expect="services — page"),
        Step("press a service", press=(0, 0), expect="Service #"),
        Step("search (free text)", text="default", expect="Results for"),
    ]


@contextlib.asynccontextmanager
async def browsing_bot(url: str, sim_url: str, workdir: Path, name: str) -> AsyncIterator[Browser]:
    """Our bot on one catalog, with one user ready to browse it."""
    env = clean_env(PANEL_API_URL=sim_url, PANEL_API_KEY=PANEL_KEY, DATABASE_URL=url)
    async with BenchTelegram() as tg:
        env.update(BOT_TOKEN=tg.token, TELEGRAM_API_URL=tg.base_url)
        async with bot_process(tg, real_bot_argv(), env, workdir, name=f"catalog-{name}") as proc:
            browser = Browser(tg, tg.add_user(424242, "Browser"), proc)
            await browser.round(StepTimes())  # warm
            yield browser


@dataclass
class Browser:
    tg: BenchTelegram
    user: FakeUser
    proc: BotProcess

    async def round(self, times: StepTimes) -> None:
        await run_users(self.tg, [self.user], bot_flow, rounds=1, timeout=30, times=times)
        if times.failures:
            raise RuntimeError(f"browsing failed: {times.failures[0]}\n{self.proc.log_tail()}")


async def main_async(args: argparse.Namespace) -> None:
    print_machine()
    sizes = {"small": (args.small, args.small_categories), "large": (args.large, args.large_categories)}
    sync: dict[str, dict[str, float]] = {}
    direct: dict[str, dict[str, list[float]]] = {"small": {}, "large": {}}
    bot: dict[str, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-catalog-") as tmp:
        workdir = Path(tmp)
        async with contextlib.AsyncExitStack() as stack:
            sims = {}
            for name, (services, categories) in sizes.items():
                catalog = generate_catalog(services, categories, hostile=args.hostile)
                sims[name] = await stack.enter_async_context(
                    run_panel_simulator(PanelState(api_key=PANEL_KEY, catalog=catalog))
                )

            def url_for(tag: str, name: str) -> str:
                return f"sqlite+aiosqlite:///{workdir / f'{name}-{tag}.sqlite3'}"

            for name, (services, categories) in sizes.items():
                print(f"{name}: {services} services in {categories} categories: sync")
                sync[name] = await sync_figures(functools.partial(url_for, name=name), sims[name].url)
            # Browsing: small and large alternate click by click, so machine noise hits both alike.
            print("browsing through CatalogService, small and large alternating")
            small_cases = await stack.enter_async_context(
                browse_cases(url_for("browse", "small"), sims["small"].url)
            )
            large_cases = await stack.enter_async_context(
                browse_cases(url_for("browse", "large"), sims["large"].url)
            )
            for click in small_cases:
                for call in (small_cases[click], large_cases[click]):
                    await timed(call, 3)  # warm
                direct["small"][click], direct["large"][click] = [], []
                for _ in range(args.clicks):
                    direct["small"][click] += await timed(small_cases[click], 1)
                    direct["large"][click] += await timed(large_cases[click], 1)
            if not args.skip_bot:
                print("browsing through the bot (two bot processes), small and large alternating")
                browsers = {
                    name: await stack.enter_async_context(
                        browsing_bot(url_for("bot", name), sims[name].url, workdir, name)
                    )
                    for name in sizes
                }
                times = {name: StepTimes() for name in sizes}
                for _ in range(args.bot_rounds):
                    for name, browser in browsers.items():
                        await browser.round(times[name])
                for name, browser in browsers.items():
                    bot[name] = dict(times[name].latencies)
                    print(
                        f"  bot RSS after browsing the {name} catalog: {browser.proc.stat().rss_kib / 1024:.1f} MiB"
                    )
    small, large = sync["small"], sync["large"]
    print()
    print(
        table(
            ["sync", f"{args.small} services", f"{args.large} services", "large/small"],
            [
                [key, fmt(small[key], 3), fmt(large[key], 3), fmt(ratio(large[key], small[key]))]
                for key in ("first sync s", "unchanged re-sync s", "first sync peak MiB", "re-sync peak MiB")
            ],
        )
    )
    for title, data in (("CatalogService directly", direct), ("through the bot", bot)):
        if not data:
            continue
        rows = []
        for click in data["small"]:
            s_lat, l_lat = data["small"][click], data["large"][click]
            rows.append(
                [
                    click,
                    fmt(percentile(s_lat, 50) * 1000, 2),
                    fmt(percentile(s_lat, 99) * 1000, 2),
                    fmt(percentile(l_lat, 50) * 1000, 2),
                    fmt(percentile(l_lat, 99) * 1000, 2),
                    fmt(ratio(percentile(l_lat, 50), percentile(s_lat, 50))),
                ]
            )
        print(f"\nper click, {title} (ms)")
        print(
            table(
                ["click", "small p50", "small p99", "large p50", "large p99", "p50 large/small"],
                rows,
            )
        )
    write_json(
        args.json,
        {
            "sync": sync,
            "direct_p50": {n: {k: percentile(v, 50) for k, v in d.items()} for n, d in direct.items()},
            "bot_p50": {n: {k: percentile(v, 50) for k, v in d.items()} for n, d in bot.items()},
        },
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--small", type=int, default=50)
    parser.add_argument("--small-categories", type=int, default=20)
    parser.add_argument("--large", type=int, default=5000)
    parser.add_argument("--large-categories", type=int, default=100)
    parser.add_argument("--hostile", action="store_true", help="names with HTML, emoji, RTL, 300+ chars")
    parser.add_argument(
        "--clicks", type=int, default=200, help="calls per click kind, directly (default 200)"
    )
    parser.add_argument(
        "--bot-rounds", type=int, default=30, help="rounds of the browsing flow through the bot"
    )
    parser.add_argument("--skip-bot", action="store_true", help="only CatalogService directly")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    asyncio.run(main_async(parse_args(argv)))


if __name__ == "__main__":
    main()
