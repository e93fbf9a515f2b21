"""Status polling of many active orders: the batched StatusPoller vs a one-request-per-order poller.

N active orders are created straight in the panel simulator's state and in the database (no order
flow), all due. Both pollers run against the same simulator over HTTP and the same SQLite database:

1. a cycle in which nothing changed (the steady state of a quiet shop);
2. a cycle in which 1% of the orders changed upstream (a different 1% for each poller).

Reported per cycle: upstream calls, wall time, rows written (PollReport counts for the batched
poller) and SQL statements executed (an executemany counts once).

    .venv/bin/python -m bench.polling                      # 10,000 orders
    .venv/bin/python -m bench.polling --orders 50000 --panel-rps 5
"""

from __future__ import annotations

import argparse
import asyncio
import math
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bench.common import fmt, print_machine, ratio, table, write_json
from bot.panel import PanelClient, PanelError
from bot.services.tracking import StatusPoller, apply_order_status
from sandbox.catalogs import realistic_catalog
from sandbox.panel_simulator import PanelState, SimOrder, run_panel_simulator
from storage.db import database
from storage.models import Order, OrderState, utcnow
from storage.repositories.orders import OrderRepository
from storage.repositories.users import UserRepository

PANEL_KEY = "bench-poll-key-81c3"
USER_ID = 7001
QUANTITY = 1000


@dataclass
class Cycle:
    poller: str
    label: str
    orders: int
    calls: int
    seconds: float
    rows_written: int
    rescheduled: int
    statements: int
    write_statements: int
    changed: int


class SqlCounter:
    def __init__(self) -> None:
        self.kinds: Counter[str] = Counter()

    def __call__(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        head = statement.lstrip().split(" ", 1)[0].upper()
        if head in ("SELECT", "INSERT", "UPDATE", "DELETE"):
            self.kinds["statements"] += 1
            self.kinds["writes"] += head != "SELECT"


class NaivePoller:
    """What one would write first: ask the panel about each order, save each order after asking."""

    def __init__(self, factory: async_sessionmaker[AsyncSession], panel: PanelClient) -> None:
        self.factory = factory
        self.panel = panel

    async def poll_once(self, now: datetime, limit: int) -> tuple[int, int, int]:
        """Returns (upstream calls, rows written, orders changed)."""
        async with self.factory() as session:
            due = await OrderRepository(session).due_for_poll(now, limit=limit)
            todo = [(order.id, order.upstream_id or "") for order in due]
        calls = written = changed = 0
        for order_id, upstream_id in todo:
            calls += 1
            try:
                status = await self.panel.status(upstream_id)
            except PanelError:
                continue
            async with self.factory.begin() as session:
                order = await OrderRepository(session).get_for_update(order_id)
                if order is None or order.state != OrderState.ACTIVE:
                    continue
                applied = await apply_order_status(session, order, status, now)
                changed += applied.changed
                order.next_poll_at = now  # asked again next cycle, like the young orders here
                written += 1
        return calls, written, changed


def sim_order(order_id: str, index: int) -> SimOrder:
    return SimOrder(
        order_id=order_id,
        service="1",
        type_key="default",
        link=f"https://instagram.com/bench{index}",
        quantity=QUANTITY,
        charge=Decimal("0.72"),
        status="In progress",
        start_count=100,
        remains=QUANTITY // 2,
    )


async def seed(factory: async_sessionmaker[AsyncSession], state: PanelState, count: int) -> list[str]:
    """`count` running orders upstream and as ACTIVE rows here, placed a minute ago (polled every cycle)."""
    placed = utcnow() - timedelta(minutes=1)
    upstream_ids = []
    rows = []
    for index in range(count):
        upstream_id = str(100_000 + index)
        state.orders[upstream_id] = sim_order(upstream_id, index)
        upstream_ids.append(upstream_id)
        rows.append(
            Order(
                user_id=USER_ID,
                draft_key=f"bench-{index}",
                service_id="1",
                service_name="Instagram Followers",
                service_type="default",
                link=f"https://instagram.com/bench{index}",
                quantity=QUANTITY,
                params={},
                price=Decimal("0.72"),
                cost=Decimal("0.72"),
                state=OrderState.ACTIVE,
                upstream_id=upstream_id,
                upstream_status="In progress",
                start_count=100,
                remains=QUANTITY // 2,
                created_at=placed,
                updated_at=placed,
                placed_at=placed,
                status_changed_at=placed,
                next_poll_at=None,
            )
        )
    async with factory.begin() as session:
        await UserRepository(session).touch(USER_ID, username=None, first_name="Bench", language_code="en")
        session.add_all(rows)
    return upstream_ids


def change(state: PanelState, upstream_ids: list[str], share: float, offset: int) -> int:
    """Move `share` of the orders on upstream (fewer remains), starting at `offset`."""
    count = max(1, round(len(upstream_ids) * share))
    for upstream_id in upstream_ids[offset : offset + count]:
        order = state.orders[upstream_id]
        order.remains = int(order.remains or 0) - 10
    return count


async def main_async(args: argparse.Namespace) -> None:
    print_machine()
    state = PanelState(api_key=PANEL_KEY, catalog=realistic_catalog(), partial_chance=0.0)
    cycles: list[Cycle] = []
    with tempfile.TemporaryDirectory(prefix="bench-poll-") as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'shop.sqlite3'}"
        async with database(url) as (engine, factory), run_panel_simulator(state) as sim:
            started = time.perf_counter()
            upstream_ids = await seed(factory, state, args.orders)
            print(f"seeded {args.orders} active orders in {time.perf_counter() - started:.1f}s")
            counter = SqlCounter()
            event.listen(engine.sync_engine, "before_cursor_execute", counter)
            async with PanelClient(
                sim.url, PANEL_KEY, max_requests_per_second=args.panel_rps, timeout=60
            ) as panel:
                batched = StatusPoller(factory, panel, max_orders_per_cycle=args.max_per_cycle)
                naive = NaivePoller(factory, panel)
                offset = 0
                for label, share in (("nothing changed", 0.0), (f"{args.changed:g}% changed", args.changed)):
                    for name in ("batched (StatusPoller)", "naive (1 request/order)"):
                        expected = 0
                        if share:
                            expected = change(state, upstream_ids, share / 100, offset)
                            offset += expected
                        counter.kinds.clear()
                        requests_before = len(state.requests)
                        now = utcnow() + timedelta(seconds=1)
                        t0 = time.perf_counter()
                        if name.startswith("batched"):
                            report = await batched.poll_once(now)
                            asked, written, changed = report.asked, report.changed, report.changed
                            rescheduled = report.rescheduled
                        else:
                            asked, written, changed = await naive.poll_once(now, args.orders)
                            rescheduled = 0
                        seconds = time.perf_counter() - t0
                        calls = len(state.requests) - requests_before
                        if name.startswith("batched") and report.changed != expected:
                            print(f"warning: expected {expected} changed, PollReport says {report.changed}")
                        cycles.append(
                            Cycle(
                                name,
                                label,
                                asked,
                                calls,
                                seconds,
                                written,
                                rescheduled,
                                counter.kinds["statements"],
                                counter.kinds["writes"],
                                changed,
                            )
                        )
                        print(f"  {name}, {label}: {seconds:.1f}s")
    rows = [
        [
            c.label,
            c.poller,
            c.orders,
            c.calls,
            fmt(c.seconds),
            fmt(c.calls / 5.0, 0),
            c.changed,
            c.rows_written,
            c.rescheduled,
            c.statements,
            c.write_statements,
        ]
        for c in cycles
    ]
    print()
    print(
        table(
            [
                "cycle",
                "poller",
                "orders asked",
                "upstream calls",
                "cycle s",
                "min s at 5 req/s",
                "changed",
                "rows written (ORM)",
                "rows rescheduled (1 bulk UPDATE/batch)",
                "SQL statements",
                "of them writes",
            ],
            rows,
        )
    )
    limit = math.ceil(args.orders / 100)
    print()
    for label in dict.fromkeys(c.label for c in cycles):
        b, n = (c for c in cycles if c.label == label)
        print(
            f"{label}: calls batched/naive = {ratio(b.calls, n.calls):.4f} "
            f"(batched {b.calls} <= ceil(N/100) = {limit}: {b.calls <= limit}); "
            f"cycle time batched/naive = {ratio(b.seconds, n.seconds):.3f}; "
            f"SQL statements batched/naive = {ratio(b.statements, n.statements):.4f}"
        )
    write_json(args.json, {"cycles": [c.__dict__ for c in cycles], "orders": args.orders})


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--orders", type=int, default=10_000, help="active orders (default 10,000)")
    parser.add_argument("--changed", type=float, default=1.0, help="percent changed in cycle 2 (default 1)")
    parser.add_argument(
        "--panel-rps",
        type=float,
        default=100_000.0,
        help="client rate limit (default: unlimited, to measure our cost; production default is 5)",
    )
    parser.add_argument(
        "--max-per-cycle",
        type=int,
        default=None,
        help="StatusPoller max_orders_per_cycle (default: --orders; the shipped default is 2000)",
    )
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    if args.max_per_cycle is None:
        args.max_per_cycle = args.orders
    return args


def main(argv: list[str] | None = None) -> None:
    asyncio.run(main_async(parse_args(argv)))


if __name__ == "__main__":
    main()
