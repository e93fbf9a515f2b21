"""A rush of confirms: N customers press Confirm within a second (after a promo broadcast, say).

The bot runs as its own process (`python -m bot run`) at its SHIPPED defaults (no panel setting is
given), against the fake Bot API server and a panel simulator with a real panel's load limits,
both in this process. Each customer first fills an order form up to its summary (not measured);
then all of them press Confirm, spread over `--spread` seconds, and the figure is the time from the
press to the "Order #N is placed" message (the order id). Two panels:

* `concurrency`: answers in 100 ms, serves 20 requests at once, 429 above that (nginx limit_conn);
* `rate`: answers in 100 ms, 429 (with Retry-After) above 5 requests accepted in any second.

Afterwards every order is checked: placed upstream exactly once (one panel order per customer's
link), none lost (each customer got "is placed"), and in the shop's database each customer has one
ACTIVE order and one charge. For the rate panel the per-second timeline shows the limiter settling.

    .venv/bin/python -m bench.rush                       # both panels, 200 customers, ~2 min
    .venv/bin/python -m bench.rush --compare-tree DIR    # the same rush on another copy of bot/
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import random
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from bench.common import fmt, percentile, print_machine, table, write_json
from bench.conversation import order_flow, prepare_database
from bench.harness import BenchTelegram, Step, act, bot_process, clean_env, real_bot_argv
from sandbox.catalogs import realistic_catalog
from sandbox.panel_simulator import PanelState, run_panel_simulator
from sandbox.telegram_state import FakeUser
from storage.db import database
from storage.models import LedgerEntry, LedgerKind, Order

PANEL_KEY = "bench-rush-key-81c4"
BASE_ID = 700_000

PANELS: dict[str, dict[str, Any]] = {
    "free": {},
    "concurrency": {"latency": 0.1, "max_concurrent": 20},
    "rate": {"latency": 0.1, "rate_limit": 5},
}
DESCRIPTION = {
    "free": "answers at once, no limits (the bot's own cost)",
    "concurrency": "answers in 100 ms, 20 requests at once (429 above)",
    "rate": "answers in 100 ms, 429 above 5 requests/s (Retry-After)",
}


@dataclass
class Rush:
    panel: str
    tree: str
    users: int
    confirm: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    upstream_orders: int = 0
    duplicate_links: int = 0
    throttled: int = 0
    peak_in_flight: int = 0
    db_states: dict[str, int] = field(default_factory=dict)
    charges: int = 0
    timeline: list[tuple[int, int, int]] = field(default_factory=list)  # second, accepted, 429
    wall: float = 0.0
    bot_cpu: float = 0.0
    load: float = 0.0


async def run_rush(panel: str, tree: str | None, workdir: Path, args: argparse.Namespace) -> Rush:
    state = PanelState(
        api_key=PANEL_KEY,
        balance=Decimal("1000000"),
        catalog=realistic_catalog(),
        partial_chance=0.0,
        **PANELS[panel],
    )
    name = f"{panel}-{'other' if tree else 'this'}"
    url = f"sqlite+aiosqlite:///{workdir / f'shop-{name}.sqlite3'}"
    ids = [BASE_ID + i for i in range(args.users)]
    await prepare_database(url, ids)
    result = Rush(panel, tree or "this tree", args.users)
    async with run_panel_simulator(state) as sim, BenchTelegram() as tg:
        env = clean_env(
            PANEL_API_URL=sim.url,
            PANEL_API_KEY=PANEL_KEY,
            DATABASE_URL=url,
            LOG_LEVEL=args.log_level,
            BOT_TOKEN=tg.token,
            TELEGRAM_API_URL=tg.base_url,
        )
        if tree:
            env["PYTHONPATH"] = f"{tree}:{env['PYTHONPATH']}"
        async with bot_process(tg, real_bot_argv(), env, workdir, name=f"rush {name}") as proc:
            await asyncio.sleep(args.settle)
            users = [tg.add_user(user_id, f"U{user_id}") for user_id in ids]
            # Fill every form up to its summary, a few customers at a time (not measured).
            gate = asyncio.Semaphore(args.fill_concurrency)

            async def fill(user: FakeUser) -> bool:
                async with gate:
                    try:
                        for step in order_flow(user, 0)[:-1]:
                            await act(tg, user, step, args.timeout)
                    except (TimeoutError, LookupError) as error:
                        result.failures.append(f"form: {str(error)[:200]}")
                        return False
                return True

            ready = [
                u for u, ok in zip(users, await asyncio.gather(*(fill(u) for u in users)), strict=True) if ok
            ]
            await asyncio.sleep(1.0)  # let the form writes and background calls settle
            state.timeline.clear()
            throttled_before = sum(state.throttled.values())
            orders_before = set(state.orders)
            confirm = Step("press Confirm", press="Confirm", expect="is placed")
            rng = random.Random(7)

            async def press(user: FakeUser) -> None:
                await asyncio.sleep(rng.uniform(0, args.spread))
                try:
                    result.confirm.append(await act(tg, user, confirm, args.timeout))
                except (TimeoutError, LookupError) as error:
                    result.failures.append(f"confirm: {str(error)[:200]}")

            cpu_before = proc.stat().cpu_seconds
            started = time.perf_counter()
            loop_started = asyncio.get_running_loop().time()
            await asyncio.gather(*(press(u) for u in ready))
            result.wall = time.perf_counter() - started
            result.bot_cpu = proc.stat().cpu_seconds - cpu_before
            result.load = os.getloadavg()[0]
            await asyncio.sleep(0.5)
            if tg.violations:
                result.failures.append(f"{len(tg.violations)} Bot API violations: {tg.violations[0]}")
            new_orders = [o for key, o in state.orders.items() if key not in orders_before]
            result.upstream_orders = len(new_orders)
            result.duplicate_links = sum(n - 1 for n in Counter(o.link for o in new_orders).values() if n > 1)
            result.throttled = sum(state.throttled.values()) - throttled_before
            result.peak_in_flight = state.peak_in_flight
            per_second: dict[int, list[int]] = {}
            for moment, _, status in state.timeline:
                second = int(moment - loop_started)
                counts = per_second.setdefault(second, [0, 0])
                counts[1 if status == 429 else 0] += 1
            result.timeline = [(s, c[0], c[1]) for s, c in sorted(per_second.items())]
            if proc.process.returncode is not None:
                result.failures.append(f"the bot exited: {proc.log_tail()}")
    async with database(url) as (_, factory), factory() as session:
        rows = await session.execute(
            select(Order.state, func.count()).where(Order.user_id.in_(ids)).group_by(Order.state)
        )
        result.db_states = {str(getattr(s, "value", s)): n for s, n in rows.all()}
        result.charges = int(
            await session.scalar(
                select(func.count())
                .select_from(LedgerEntry)
                .where(LedgerEntry.user_id.in_(ids), LedgerEntry.kind == LedgerKind.ORDER_CHARGE)
            )
            or 0
        )
    return result


def report(rushes: list[Rush], args: argparse.Namespace) -> list[dict[str, Any]]:
    rows = []
    for r in rushes:
        lost = r.users - len(r.confirm)
        rows.append(
            [
                f"{r.panel}: {DESCRIPTION[r.panel]}",
                r.tree,
                f"{len(r.confirm)}/{r.users}",
                fmt(percentile(r.confirm, 50)),
                fmt(percentile(r.confirm, 90)),
                fmt(percentile(r.confirm, 99)),
                fmt(max(r.confirm, default=math.nan)),
                f"{r.upstream_orders} / {r.duplicate_links} / {lost}",
                ", ".join(f"{k} {v}" for k, v in sorted(r.db_states.items())) + f"; {r.charges} charges",
                r.throttled,
                r.peak_in_flight,
                fmt(r.wall, 1),
                fmt(r.bot_cpu / r.wall * 100, 0) + "%",
                fmt(r.load, 1),
            ]
        )
    print()
    print(
        table(
            [
                "panel",
                "bot",
                "placed msgs",
                "p50 s",
                "p90 s",
                "p99 s",
                "max s",
                "upstream orders / duplicates / lost",
                "shop orders",
                "429s",
                "peak at once",
                "wall s",
                "bot CPU",
                "load avg",
            ],
            rows,
        )
    )
    for r in rushes:
        if r.panel == "rate" and r.timeline:
            print(
                f"\nrate panel, {r.tree}: requests the panel accepted / refused (429) per second of the rush"
            )
            cells = [f"{s}s {a}/{t}" for s, a, t in r.timeline]
            for start in range(0, len(cells), 10):
                print("  " + "  ".join(cells[start : start + 10]))
            steady = [(a, t) for s, a, t in r.timeline if s >= 10 and (a or t)]
            if steady:
                accepted = sum(a for a, _ in steady) / len(steady)
                refused = sum(t for _, t in steady)
                print(
                    f"  from second 10 on: {accepted:.2f} accepted per second, "
                    f"{refused} refused in {len(steady)} s ({refused / max(1, sum(a for a, _ in steady)):.3f} per accepted)"
                )
        for failure in r.failures[:3]:
            print(f"{r.panel}, {r.tree}: {failure}")
        if r.failures:
            print(f"{r.panel}, {r.tree}: {len(r.failures)} failures")
        if r.panel == "free":
            continue
        target = "p99 <= 3 s" if r.panel == "concurrency" else "every order once"
        ok = (
            not r.failures
            and r.upstream_orders == r.users
            and r.duplicate_links == 0
            and r.db_states == {"active": r.users}
            and r.charges == r.users
            and (r.panel != "concurrency" or percentile(r.confirm, 99) <= 3.0)
        )
        print(f"{r.panel}, {r.tree}: {target} and no order lost or duplicated: {'MET' if ok else 'NOT MET'}")
    return [
        {
            "panel": r.panel,
            "tree": r.tree,
            "placed": len(r.confirm),
            "p50": percentile(r.confirm, 50),
            "p99": percentile(r.confirm, 99),
            "upstream_orders": r.upstream_orders,
            "duplicates": r.duplicate_links,
            "db_states": r.db_states,
            "charges": r.charges,
            "throttled": r.throttled,
            "timeline": r.timeline,
            "failures": r.failures,
        }
        for r in rushes
    ]


async def main_async(args: argparse.Namespace) -> None:
    print_machine()
    panels = [p.strip() for p in args.panels.split(",") if p.strip()]
    rushes: list[Rush] = []
    with tempfile.TemporaryDirectory(prefix="bench-rush-") as tmp:
        for panel in panels:
            rushes.append(await run_rush(panel, None, Path(tmp), args))
            if args.compare_tree:
                rushes.append(await run_rush(panel, args.compare_tree, Path(tmp), args))
    print(f"\n{args.users} customers press Confirm within {args.spread:g} s; the bot at shipped defaults")
    write_json(args.json, {"rushes": report(rushes, args)})
    free = [r for r in rushes if r.panel == "free"]
    for r in rushes:
        base = next((f for f in free if f.tree == r.tree), None)
        if r.panel != "free" and base is not None and base.confirm and r.confirm:
            print(
                f"{r.panel}, {r.tree}: p99 / p99 with the free panel (same run) = "
                f"{percentile(r.confirm, 99) / percentile(base.confirm, 99):.2f}"
            )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=200, help="customers pressing Confirm (default 200)")
    parser.add_argument(
        "--spread", type=float, default=1.0, help="seconds the presses spread over (default 1)"
    )
    parser.add_argument(
        "--panels",
        default="free,concurrency,rate",
        help="free (no limits: the bot's own cost, for comparison), concurrency, rate (default all)",
    )
    parser.add_argument("--timeout", type=float, default=240.0, help="seconds a step may take")
    parser.add_argument("--fill-concurrency", type=int, default=20, help="forms filled at once beforehand")
    parser.add_argument("--settle", type=float, default=2.0, help="idle seconds after the bot starts")
    parser.add_argument("--log-level", default="INFO")
    parser.add_argument(
        "--compare-tree", help="also run the rush on this directory's bot/ and storage/ (PYTHONPATH first)"
    )
    parser.add_argument("--json", help="also write the figures to this JSON file")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    asyncio.run(main_async(parse_args(argv)))


if __name__ == "__main__":
    main()
