"""Conversation throughput: N users run the full order flow at once, our bot vs a bare aiogram bot.

Both bots run as separate processes (`python -m bot` and bench/bare_bot.py) against the same fake
Bot API server and panel simulator, which live in this process together with the simulated users.
Every user does the same 8 actions per flow against both bots (/start, 5 button presses, 2 texts:
the real order flow; the bare bot answers each action with one message and one button), so both
handle the same number of updates per flow. Latency per step = time from the user's action to the
moment the fake server stored the bot's reaction (the screen the step waits for).

    .venv/bin/python -m bench.conversation                 # 200 users, 1 flow each
    .venv/bin/python -m bench.conversation --users 500 --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import itertools
import tempfile
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import create_async_engine

from bench.common import (
    ProcStat,
    fmt,
    percentile,
    print_machine,
    ratio,
    self_cpu_seconds,
    table,
    write_json,
)
from bench.harness import (
    BenchTelegram,
    Step,
    StepTimes,
    bare_bot_argv,
    bot_process,
    clean_env,
    free_port,
    py_spy,
    real_bot_argv,
    run_users,
    webhook_env,
)
from sandbox.catalogs import realistic_catalog
from sandbox.panel_simulator import PanelState, run_panel_simulator
from sandbox.telegram_state import FakeUser
from storage.db import database
from storage.models import LedgerKind
from storage.repositories.ledger import LedgerRepository
from storage.repositories.users import UserRepository

PANEL_KEY = "bench-panel-key-5e2a"
WARMUP_USERS = 4
REAL_BASE_ID = 100_000
BARE_BASE_ID = 500_000
WARM_OFFSET = 90_000
REPEAT_STRIDE = 100_000  # user ids of the bare bot's repeated runs
LINKS = itertools.count()  # the panel refuses a second active order for the same link


def order_flow(user: FakeUser, round_no: int) -> list[Step]:
    """The full order flow of tests/e2e/test_order_flow.py (without the deliberate typos)."""
    return [
        Step("/start", text="/start", expect="Hello,"),
        Step("press Services", press="Services", expect="Choose a platform"),
        Step("press platform", press="Instagram (", expect="Choose a category"),
        Step("press category", press="Instagram Followers (", expect="Instagram Followers"),
        Step("press service", press=(0, 0), expect="Service #1"),
        Step("press Order", press="Order", expect="Send the link"),
        Step("send link", text=f"https://instagram.com/u{user.id}n{next(LINKS)}", expect="How many"),
        Step("send quantity", text="2000", expect="Check your order"),
        Step("press Confirm", press="Confirm", expect="is placed"),
    ]


def bare_flow(user: FakeUser, round_no: int) -> list[Step]:
    """The same 8 actions, of the same kinds, against the bare bot."""
    real = order_flow(user, round_no)
    return [
        Step(s.name, text=s.text, press="Next" if s.press is not None else None, expect=None) for s in real
    ]


@dataclass
class Run:
    name: str
    mode: str
    users: int
    rounds: int
    wall: float
    times: StepTimes
    idle: ProcStat
    after: ProcStat
    bot_cpu: float
    gen_cpu: float
    calls: dict[str, int]

    @property
    def flows_per_second(self) -> float:
        return self.times.flows / self.wall

    @property
    def all_latencies(self) -> list[float]:
        return [value for values in self.times.latencies.values() for value in values]


async def fresh_database(args: argparse.Namespace, workdir: Path, name: str) -> str:
    """A new SQLite file in the work folder, or `--database-url` with its public schema emptied."""
    if not args.database_url:
        return f"sqlite+aiosqlite:///{workdir / f'shop-{name}.sqlite3'}"
    engine = create_async_engine(args.database_url)
    try:
        async with engine.begin() as connection:
            await connection.exec_driver_sql("DROP SCHEMA IF EXISTS public CASCADE")
            await connection.exec_driver_sql("CREATE SCHEMA public")
    finally:
        await engine.dispose()
    return str(args.database_url)


async def prepare_database(url: str, user_ids: list[int]) -> None:
    """Schema plus funded customers, so the flow's Confirm charges a real wallet."""
    async with database(url) as (_, factory), factory.begin() as session:
        users, ledger = UserRepository(session), LedgerRepository(session)
        for user_id in user_ids:
            await users.touch(user_id, username=None, first_name=f"U{user_id}", language_code="en")
            await ledger.apply(
                user_id=user_id, amount=Decimal("1000"), kind=LedgerKind.DEPOSIT, key=f"bench:{user_id}"
            )


async def measure(
    name: str,
    mode: str,
    argv: list[str],
    env: dict[str, str],
    workdir: Path,
    flow: Any,
    base_id: int,
    args: argparse.Namespace,
    repeats: int = 1,
) -> Run:
    """One bot under the load; `repeats` > 1 runs the load again with new users (the bare bot's
    run is short, so it is repeated to measure it over a few seconds rather than a blip)."""
    async with BenchTelegram() as tg:
        env = {**env, "BOT_TOKEN": tg.token, "TELEGRAM_API_URL": tg.base_url}
        webhook = mode == "webhook"
        if webhook:
            env.update(webhook_env(free_port()))
        async with bot_process(tg, argv, env, workdir, name=f"{name} {mode}", webhook=webhook) as proc:
            await asyncio.sleep(args.settle)
            idle = proc.stat()
            warm = [
                tg.add_user(base_id + WARM_OFFSET + i, f"U{base_id + WARM_OFFSET + i}")
                for i in range(WARMUP_USERS)
            ]
            warm_times = StepTimes()
            await run_users(tg, warm, flow, rounds=1, timeout=args.timeout, times=warm_times)
            if warm_times.failures:
                raise RuntimeError(f"{name} warm-up failed: {warm_times.failures[:3]}\n{proc.log_tail()}")
            calls_before = dict(tg.stats.calls)
            bot_before, gen_before = proc.stat().cpu_seconds, self_cpu_seconds()
            times = StepTimes()
            wall = 0.0
            for repeat in range(repeats):
                first = base_id + repeat * REPEAT_STRIDE
                users = [tg.add_user(first + i, f"U{first + i}") for i in range(args.users)]
                async with py_spy(
                    proc.pid, args.py_spy if flow is order_flow else None, ("--gil",) if args.gil else ()
                ):
                    wall += await run_users(
                        tg, users, flow, rounds=args.rounds, timeout=args.timeout, times=times
                    )
            after = proc.stat()
            gen_cpu = self_cpu_seconds() - gen_before
            calls = {k: v - calls_before.get(k, 0) for k, v in tg.stats.calls.items()}
            if tg.violations:
                print(f"{name}: {len(tg.violations)} Bot API violations, first: {tg.violations[0]}")
        return Run(
            name,
            mode,
            args.users * repeats,
            args.rounds,
            wall,
            times,
            idle,
            after,
            after.cpu_seconds - bot_before,
            gen_cpu,
            {k: v for k, v in calls.items() if v},
        )


def report(bare: Run | None, real: Run, args: argparse.Namespace) -> dict[str, Any]:
    steps = list(real.times.latencies)
    rows = []
    for run in (r for r in (bare, real) if r is not None):
        lat = run.all_latencies
        rows.append(
            [
                run.name,
                f"{run.times.flows}/{run.users * run.rounds}",
                fmt(run.wall),
                fmt(run.flows_per_second),
                fmt(run.flows_per_second * len(steps)),
                fmt(percentile(lat, 50) * 1000, 1),
                fmt(percentile(lat, 99) * 1000, 1),
                fmt(run.bot_cpu / run.wall * 100, 0) + "%",
                fmt(run.gen_cpu / run.wall * 100, 0) + "%",
                f"{run.idle.rss_kib / 1024:.1f}",
                f"{run.after.rss_kib / 1024:.1f}",
            ]
        )
    print()
    print(
        table(
            [
                "bot",
                "flows ok",
                "wall s",
                "flows/s",
                "updates/s",
                "p50 ms",
                "p99 ms",
                "bot CPU",
                "loadgen CPU",
                "RSS idle MiB",
                "RSS after MiB",
            ],
            rows,
        )
    )
    step_rows = []
    for step in steps:
        real_lat = real.times.latencies[step]
        bare_lat = bare.times.latencies.get(step, []) if bare else []
        step_rows.append(
            [
                step,
                fmt(percentile(real_lat, 50) * 1000, 1),
                fmt(percentile(real_lat, 99) * 1000, 1),
                fmt(percentile(bare_lat, 50) * 1000, 1),
                fmt(percentile(bare_lat, 99) * 1000, 1),
                fmt(ratio(percentile(real_lat, 99), percentile(bare_lat, 99))),
            ]
        )
    print()
    print(
        table(
            ["step", "ours p50 ms", "ours p99 ms", "bare p50 ms", "bare p99 ms", "p99 ours/bare"],
            step_rows,
        )
    )
    summary: dict[str, Any] = {"real_flows_per_s": real.flows_per_second}
    if bare is not None:
        tput = ratio(real.flows_per_second, bare.flows_per_second)
        p99 = ratio(percentile(real.all_latencies, 99), percentile(bare.all_latencies, 99))
        rss = ratio(real.after.rss_kib, bare.after.rss_kib)
        cpu_per_flow = ratio(real.bot_cpu / max(real.times.flows, 1), bare.bot_cpu / max(bare.times.flows, 1))
        print()
        print(
            f"throughput ours/bare = {tput:.2f} (target >= 0.50); p99 ours/bare = {p99:.2f} (target <= 3); "
            f"bot CPU per flow ours/bare = {cpu_per_flow:.2f}; RSS after load ours/bare = {rss:.2f}"
        )
        summary.update(throughput_ratio=tput, p99_ratio=p99, cpu_per_flow_ratio=cpu_per_flow, rss_ratio=rss)
    for run in (r for r in (bare, real) if r is not None):
        if run.times.failures:
            print(f"{run.name}: {len(run.times.failures)} failed flows, e.g. {run.times.failures[0]}")
        print(f"{run.name}: Bot API calls during the load: {run.calls}")
    return {
        "summary": summary,
        "runs": [
            {
                "name": r.name,
                "flows": r.times.flows,
                "failures": len(r.times.failures),
                "wall": r.wall,
                "bot_cpu": r.bot_cpu,
                "gen_cpu": r.gen_cpu,
                "rss_idle_kib": r.idle.rss_kib,
                "rss_after_kib": r.after.rss_kib,
                "hwm_kib": r.after.hwm_kib,
                "p50": {s: percentile(v, 50) for s, v in r.times.latencies.items()},
                "p99": {s: percentile(v, 99) for s, v in r.times.latencies.items()},
                "calls": r.calls,
            }
            for r in (bare, real)
            if r is not None
        ],
    }


async def main_async(args: argparse.Namespace) -> None:
    print_machine()
    state = PanelState(
        api_key=PANEL_KEY, balance=Decimal("1000000"), catalog=realistic_catalog(), partial_chance=0.0
    )
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    payloads: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-conv-") as tmp:
        workdir = Path(tmp)
        started = time.perf_counter()
        async with run_panel_simulator(state) as sim:
            for mode in modes:
                # A fresh database per mode: update ids restart with each fake server.
                url = await fresh_database(args, workdir, mode)
                ids = [REAL_BASE_ID + i for i in range(args.users)]
                ids += [REAL_BASE_ID + WARM_OFFSET + i for i in range(WARMUP_USERS)]
                await prepare_database(url, ids)
                env = clean_env(
                    PANEL_API_URL=sim.url,
                    PANEL_API_KEY=PANEL_KEY,
                    DATABASE_URL=url,
                    LOG_LEVEL=args.log_level,
                )
                if args.panel_rps is not None:
                    env["PANEL_REQUESTS_PER_SECOND"] = str(args.panel_rps)
                ours = functools.partial(
                    measure,
                    "SMM Storefront",
                    mode,
                    real_bot_argv(mode),
                    env,
                    workdir,
                    order_flow,
                    REAL_BASE_ID,
                    args,
                )
                real = await ours() if args.ours_first else None
                bare = None
                if not args.skip_bare:
                    bare = await measure(
                        "bare aiogram, tuned" if args.bare_tuned else "bare aiogram",
                        mode,
                        bare_bot_argv(),
                        {**env, "BARE_TUNED": "1"} if args.bare_tuned else env,
                        workdir,
                        bare_flow,
                        BARE_BASE_ID,
                        args,
                        repeats=args.bare_repeats,
                    )
                if real is None:
                    real = await ours()
                print(f"\n## {mode}: {args.users} users x {args.rounds} flow(s) x 8 steps")
                payloads[mode] = report(bare, real, args)
                if args.compare_tree:
                    # The same load on another copy of bot/ and storage/ (e.g. before a fix), same run.
                    url = await fresh_database(args, workdir, f"{mode}-compare")
                    await prepare_database(url, ids)
                    other_env = {
                        **env,
                        "DATABASE_URL": url,
                        "PYTHONPATH": f"{args.compare_tree}:{env['PYTHONPATH']}",
                    }
                    other = await measure(
                        f"tree {args.compare_tree}",
                        mode,
                        real_bot_argv(mode),
                        other_env,
                        workdir,
                        order_flow,
                        REAL_BASE_ID,
                        args,
                    )
                    print(f"\n## {mode}: the same load on {args.compare_tree}")
                    payloads[f"{mode} compare"] = report(bare, other, args)
                    print(
                        f"\n{mode}: this tree / {args.compare_tree}: throughput "
                        f"{ratio(real.flows_per_second, other.flows_per_second):.2f}, bot CPU per flow "
                        f"{ratio(real.bot_cpu / max(real.times.flows, 1), other.bot_cpu / max(other.times.flows, 1)):.2f}, "
                        f"p99 {ratio(percentile(real.all_latencies, 99), percentile(other.all_latencies, 99)):.2f}"
                    )
        print(f"\ntotal bench time {time.perf_counter() - started:.0f}s")
        write_json(args.json, {"modes": payloads, "panel_orders_placed": state.count("add")})


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=200, help="concurrent users (default 200)")
    parser.add_argument("--rounds", type=int, default=1, help="flows per user (default 1)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds a step may take")
    parser.add_argument(
        "--panel-rps",
        type=float,
        help="PANEL_REQUESTS_PER_SECOND for the bot (default: not set, the shipped default, a ceiling "
        "the adaptive limiter of bot/panel/limiter.py stays under)",
    )
    parser.add_argument("--log-level", default="INFO", help="LOG_LEVEL of both bots (default INFO)")
    parser.add_argument("--settle", type=float, default=2.0, help="idle seconds before the idle RSS reading")
    parser.add_argument(
        "--modes", default="polling,webhook", help="polling, webhook or both (default polling,webhook)"
    )
    parser.add_argument(
        "--compare-tree",
        help="also run our bot from this directory's bot/ and storage/ (PYTHONPATH first), e.g. a "
        "copy from before a fix, and print this tree / that tree",
    )
    parser.add_argument(
        "--bare-repeats",
        type=int,
        default=3,
        help="run the bare bot's load this many times (new users each time) and pool them (default 3)",
    )
    parser.add_argument(
        "--bare-tuned",
        action="store_true",
        help="give the bare bot our HTTP session and garbage-collector settings (bench/bare_bot.py), "
        "to read the ratio without the generic tuning",
    )
    parser.add_argument(
        "--ours-first",
        action="store_true",
        help="run our bot before the bare bot in each mode (bench.conversation_series alternates)",
    )
    parser.add_argument("--skip-bare", action="store_true", help="only our bot (e.g. while profiling)")
    parser.add_argument(
        "--py-spy", help="sample our bot during the load into this file (.txt raw, .json, .svg)"
    )
    parser.add_argument("--gil", action="store_true", help="py-spy: only samples holding the GIL (CPU)")
    parser.add_argument(
        "--database-url",
        help="run our bot on this database instead of a new SQLite file, e.g. "
        "postgresql+asyncpg://postgres@127.0.0.1:5432/bench_conv; its public schema is DROPPED "
        "before each run, so give it a database of its own",
    )
    parser.add_argument("--json", help="also write the figures to this JSON file")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    asyncio.run(main_async(parse_args(argv)))


if __name__ == "__main__":
    main()
