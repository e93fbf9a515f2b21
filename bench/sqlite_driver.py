"""aiosqlite vs the inline driver (storage/sqlite_inline.py), through SQLAlchemy's async ORM.

Same process, same throw-away SQLite file, the engine set up like storage/db.py (WAL, busy timeout,
foreign keys, `BEGIN IMMEDIATE` for `factory.begin()` and a deferred `BEGIN` for `factory()`):

* read transaction:  `async with factory() as s: await s.get(Item, id)`
* write transaction: `async with factory.begin() as s: UPDATE … one row` (BEGIN IMMEDIATE, UPDATE, COMMIT)

CPU per transaction is `time.process_time()` (all threads of the process, so aiosqlite's worker
threads count), wall time is `time.perf_counter()`. Rounds alternate between the drivers; the
median round is reported. Then a concurrency check: 50 tasks doing write transactions at once
(each holding the write lock across an `await`) through the inline driver on a pool of several
connections, with a ticker task measuring how long the event loop was ever blocked.

    .venv/bin/python -m bench.sqlite_driver
    .venv/bin/python -m bench.sqlite_driver --transactions 5000 --rounds 7
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from sqlalchemy import Integer, String, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from bench.common import fmt, print_machine, ratio, table, write_json
from storage.db import (
    create_engine,
    create_session_factory,
)

ROWS = 100


class Base(DeclarativeBase):
    pass


class Item(Base):
    __tablename__ = "items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    value: Mapped[int] = mapped_column(Integer, default=0)
    name: Mapped[str] = mapped_column(String(64), default="")


async def prepare(path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    factory = create_session_factory(engine)
    async with factory.begin() as session:
        session.add_all(Item(id=i, value=0, name=f"item {i}") for i in range(1, ROWS + 1))
    await engine.dispose()


async def read_tx(factory: async_sessionmaker[AsyncSession], i: int) -> None:
    async with factory() as session:
        item = await session.get(Item, i % ROWS + 1)
        assert item is not None


async def write_tx(factory: async_sessionmaker[AsyncSession], i: int) -> None:
    async with factory.begin() as session:
        await session.execute(update(Item).where(Item.id == i % ROWS + 1).values(value=Item.value + 1))


async def measure(
    factory: async_sessionmaker[AsyncSession],
    tx: Callable[[async_sessionmaker[AsyncSession], int], Awaitable[None]],
    count: int,
) -> tuple[float, float]:
    """(CPU seconds, wall seconds) per transaction over `count` sequential transactions."""
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for i in range(count):
        await tx(factory, i)
    return (time.process_time() - cpu0) / count, (time.perf_counter() - wall0) / count


async def compare(path: Path, args: argparse.Namespace) -> dict[str, dict[str, dict[str, float]]]:
    engines = {
        "aiosqlite": create_engine(f"sqlite+aiosqlite:///{path}", fast_paths=False),
        "inline": create_engine(f"sqlite+aiosqlite:///{path}"),
    }
    factories = {name: create_session_factory(engine) for name, engine in engines.items()}
    kinds = {"read tx (session.get)": read_tx, "write tx (UPDATE)": write_tx}
    samples: dict[str, dict[str, list[tuple[float, float]]]] = {
        kind: {name: [] for name in engines} for kind in kinds
    }
    try:
        for kind, tx in kinds.items():
            for factory in factories.values():  # warm-up: connections, statement caches
                await measure(factory, tx, max(args.transactions // 10, 50))
            for _ in range(args.rounds):
                for name, factory in factories.items():
                    samples[kind][name].append(await measure(factory, tx, args.transactions))
    finally:
        for engine in engines.values():
            await engine.dispose()
    result: dict[str, dict[str, dict[str, float]]] = {}
    for kind, by_driver in samples.items():
        result[kind] = {
            name: {
                "cpu_us": statistics.median(s[0] for s in runs) * 1e6,
                "wall_us": statistics.median(s[1] for s in runs) * 1e6,
            }
            for name, runs in by_driver.items()
        }
    return result


async def concurrency_check(path: Path, args: argparse.Namespace, driver: str) -> dict[str, float]:
    """50 tasks × N write transactions on a pool of several connections; must all commit.

    The ticker's longest gap is how long the loop went without running it: with many ready tasks
    that includes plain scheduling (every ready task runs once per loop iteration), so the
    aiosqlite figure of the same check is the baseline to compare with.
    """
    engine = create_engine(
        f"sqlite+aiosqlite:///{path}",
        fast_paths=driver == "inline",
        pool_size=args.pool_size,
        max_overflow=0,
    )
    factory = create_session_factory(engine)
    async with factory() as session:
        before = await session.scalar(select(func.sum(Item.value)))

    max_gap = 0.0
    stop = asyncio.Event()

    async def ticker() -> None:
        nonlocal max_gap
        last = time.perf_counter()
        while not stop.is_set():
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            max_gap = max(max_gap, now - last)
            last = now

    async def worker(n: int) -> None:
        for k in range(args.writes_per_task):
            async with factory.begin() as session:
                row_id = (n * args.writes_per_task + k) % ROWS + 1
                await session.execute(update(Item).where(Item.id == row_id).values(value=Item.value + 1))
                await asyncio.sleep(0)  # hold the write lock across an await: others must wait

    tick = asyncio.create_task(ticker())
    wall0 = time.perf_counter()
    try:
        await asyncio.wait_for(asyncio.gather(*(worker(n) for n in range(args.tasks))), timeout=args.deadline)
    finally:
        elapsed = time.perf_counter() - wall0
        stop.set()
        await tick
    async with factory() as session:
        after = await session.scalar(select(func.sum(Item.value)))
    await engine.dispose()
    expected = args.tasks * args.writes_per_task
    if after - before != expected:
        raise AssertionError(f"lost writes: {after - before} of {expected}")
    return {
        "tasks": args.tasks,
        "transactions": expected,
        "pool_size": args.pool_size,
        "elapsed_s": elapsed,
        "tx_per_s": expected / elapsed,
        "max_loop_gap_ms": max_gap * 1000,
    }


async def main_async(args: argparse.Namespace) -> None:
    print_machine()
    with tempfile.TemporaryDirectory(prefix="bench-sqlite-driver-") as tmp:
        path = Path(tmp) / "bench.sqlite3"
        await prepare(path)
        figures = await compare(path, args)
        rows = []
        for kind, by_driver in figures.items():
            a, b = by_driver["aiosqlite"], by_driver["inline"]
            rows.append(
                [
                    kind,
                    fmt(a["cpu_us"], 0),
                    fmt(b["cpu_us"], 0),
                    fmt(ratio(b["cpu_us"], a["cpu_us"])),
                    fmt(a["wall_us"], 0),
                    fmt(b["wall_us"], 0),
                    fmt(ratio(b["wall_us"], a["wall_us"])),
                ]
            )
        print(f"\n{args.transactions} sequential transactions per round, median of {args.rounds} rounds")
        print(
            table(
                [
                    "transaction",
                    "aiosqlite CPU µs/tx",
                    "inline CPU µs/tx",
                    "CPU inline/aiosqlite",
                    "aiosqlite wall µs/tx",
                    "inline wall µs/tx",
                    "wall inline/aiosqlite",
                ],
                rows,
            )
        )
        checks = {driver: await concurrency_check(path, args, driver) for driver in ("inline", "aiosqlite")}
        print(
            f"\nconcurrency: {args.tasks} tasks × {args.writes_per_task} write transactions (the write "
            f"lock held across an await) on a pool of {args.pool_size}; all committed, no 'database is locked'"
        )
        print(
            table(
                ["driver", "elapsed s", "tx/s", "longest loop gap seen by a 1 ms ticker, ms"],
                [
                    [d, fmt(c["elapsed_s"]), fmt(c["tx_per_s"], 0), fmt(c["max_loop_gap_ms"])]
                    for d, c in checks.items()
                ],
            )
        )
        write_json(args.json, {"figures": figures, "concurrency": checks})


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--transactions", type=int, default=2000, help="per round and driver")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tasks", type=int, default=50, help="concurrent writers in the check")
    parser.add_argument("--writes-per-task", type=int, default=20)
    parser.add_argument("--pool-size", type=int, default=5)
    parser.add_argument("--deadline", type=float, default=60.0, help="seconds before the check fails")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    asyncio.run(main_async(parse_args(argv)))


if __name__ == "__main__":
    main()
