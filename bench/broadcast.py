"""Broadcast rate against Telegram's 30 messages/s: achieved share of the limit, 429s, duplicates.

The admin developer's BroadcastService (bot/services/admin/broadcast.py) sends one text to every
user of a fresh database through the bot's real session (create_bot: aiohttp + RetryMiddleware) to
the fake Bot API server, which enforces `rate_limit_per_second=30` (a 429 for the 31st send within
any second) and injects extra 429s at the start. Run at several BROADCAST_RATE_PER_SECOND values
(the shipped default 25, and 28 and 29); each run:

* achieved rate = successful sends / (last send - first send), and its share of 30/s;
* the busiest 1-second window (must stay <= 30);
* 429s answered (rate limiter + injected), duplicates (users who got it twice: must be 0) and
  users who never got it.

The service runs in this process next to the fake server (at 30 messages/s neither is busy).

    .venv/bin/python -m bench.broadcast                       # 1,000 recipients, rates 25,28,29
    .venv/bin/python -m bench.broadcast --recipients 10000    # ~6 minutes per rate
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import fmt, print_machine, table, write_json
from bench.harness import BenchTelegram
from bot.app import create_bot
from bot.config import load_settings
from bot.services.admin.broadcast import BroadcastService, Content
from bot.views.admin import BROADCAST_SCREENS
from storage.db import database
from storage.models import User, utcnow

TELEGRAM_LIMIT = 30
ADMIN_ID = 900
FIRST_ID = 1_000_000


@dataclass
class Outcome:
    configured: float
    recipients: int
    seconds: float
    sent: int
    achieved: float
    busiest_second: int
    rate_limited: int
    injected: int
    duplicates: int
    missing: int


def achieved_rate(stamps: list[float]) -> float:
    if len(stamps) < 2:
        return 0.0
    ordered = sorted(stamps)
    return (len(ordered) - 1) / (ordered[-1] - ordered[0])


async def run_once(rate: float, recipients: int, inject: int, workdir: Path) -> Outcome:
    url = f"sqlite+aiosqlite:///{workdir / f'broadcast-{rate:g}.sqlite3'}"
    ids = list(range(FIRST_ID, FIRST_ID + recipients))
    async with (
        BenchTelegram(rate_limit_per_second=TELEGRAM_LIMIT) as tg,
        database(url) as (_, factory),
    ):
        now = utcnow()
        async with factory.begin() as session:
            session.add_all(
                User(id=uid, first_name=f"U{uid}", language_code="en", created_at=now, last_seen_at=now)
                for uid in [*ids, ADMIN_ID]
            )
        for uid in [*ids, ADMIN_ID]:
            tg.add_user(uid, f"U{uid}")
        settings = load_settings(
            _env_file=None,
            bot_token=tg.token,
            telegram_api_url=tg.base_url,
            panel_api_url="http://127.0.0.1:9/unused",
            panel_api_key="unused-key",
            broadcast_rate_per_second=rate,
        )
        bot = create_bot(settings)
        service = BroadcastService(factory, bot, rate_per_second=rate, screens=BROADCAST_SCREENS)
        try:
            if inject:
                tg.inject_429(count=inject, retry_after=1, methods=["sendMessage"])
            started = time.perf_counter()
            broadcast = await service.start(
                ADMIN_ID, Content(kind="text", text="Big <b>sale</b> today!"), "all", chat_id=ADMIN_ID
            )
            await asyncio.sleep(0.1)
            while service.is_sending(broadcast.id):  # noqa: ASYNC110 - the public way to ask
                await asyncio.sleep(0.2)
            seconds = time.perf_counter() - started
        finally:
            await service.close()
            await bot.session.close()
        sends = tg.stats.sends_per_chat
        stamps = list(tg.stats.send_timestamps)
        return Outcome(
            configured=rate,
            recipients=recipients,
            seconds=seconds,
            sent=sum(1 for uid in ids if sends[uid] >= 1),
            achieved=achieved_rate(stamps),
            busiest_second=tg.stats.max_sends_in_window(1.0),
            rate_limited=tg.stats.rate_limited,
            injected=tg.stats.injected_errors,
            duplicates=sum(1 for uid in ids if sends[uid] > 1),
            missing=sum(1 for uid in ids if sends[uid] == 0),
        )


async def main_async(args: argparse.Namespace) -> None:
    print_machine()
    outcomes = []
    with tempfile.TemporaryDirectory(prefix="bench-broadcast-") as tmp:
        for rate in (float(r) for r in args.rates.split(",")):
            outcome = await run_once(rate, args.recipients, args.inject_429, Path(tmp))
            print(f"  {rate:g}/s configured: {outcome.achieved:.2f}/s achieved in {outcome.seconds:.0f}s")
            outcomes.append(outcome)
    print()
    print(
        table(
            [
                "configured /s",
                "recipients",
                "delivered",
                "achieved /s",
                "share of 30/s",
                "share of configured",
                "busiest 1 s",
                "429 rate limit",
                "429 injected",
                "duplicates",
                "missing",
                "wall s",
            ],
            [
                [
                    fmt(o.configured, 0),
                    o.recipients,
                    o.sent,
                    fmt(o.achieved),
                    f"{o.achieved / TELEGRAM_LIMIT * 100:.1f}%",
                    f"{o.achieved / o.configured * 100:.1f}%",
                    o.busiest_second,
                    o.rate_limited,
                    o.injected,
                    o.duplicates,
                    o.missing,
                    fmt(o.seconds, 1),
                ]
                for o in outcomes
            ],
        )
    )
    payload: dict[str, Any] = {"outcomes": [o.__dict__ for o in outcomes]}
    write_json(args.json, payload)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--recipients", type=int, default=1000, help="users to send to (default 1,000)")
    parser.add_argument(
        "--rates",
        default="25,29",
        help="BROADCAST_RATE_PER_SECOND values (default 25,29; 29 is the shipped default)",
    )
    parser.add_argument("--inject-429", type=int, default=3, help="429s injected at the start (default 3)")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    asyncio.run(main_async(parse_args(argv)))


if __name__ == "__main__":
    main()
