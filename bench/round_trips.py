"""Round trips to PostgreSQL and commands to Redis per order flow, counted on the wire.

One bot instance in webhook mode (the production code path: `BotApp` + `bot.webhook.WebhookServer`)
on PostgreSQL and Redis, the fake Bot API server delivering updates to it like Telegram does, and
the panel simulator. Between the bot and each server sits a TCP relay in this process that parses
the protocol of what the bot sends:

* PostgreSQL: every frontend message after start-up; a round trip is a message the client then
  waits on, i.e. a `Sync` (extended protocol), a simple `Query` or a `Flush`. New connections are
  counted apart (their start-up and authentication are a few round trips more each).
* Redis: every command (a RESP array), pipelined ones included, by name.

Scheduled jobs are pushed out of the measurement (`LEASE_SECONDS`, poll intervals of an hour), so
what is counted is what the updates cost. A user does the flow twice; the first (cold caches,
first prepared statements) and the second are both reported.

    .venv/bin/python -m bench.round_trips --postgres-url postgresql+asyncpg://postgres@127.0.0.1/db \\
        --redis-url redis://127.0.0.1:6379/15

The PostgreSQL database's public schema is dropped first: give it a database of its own. The Redis
database is flushed. Defaults: TEST_POSTGRES_URL and TEST_REDIS_BASE_URL (database 13).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import struct
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from bench.common import print_machine, table
from bench.conversation import PANEL_KEY, prepare_database
from bench.harness import BenchTelegram, Step, act
from bot.app import BotApp
from bot.config import load_settings
from bot.webhook import WebhookServer
from sandbox.catalogs import realistic_catalog
from sandbox.panel_simulator import PanelState, run_panel_simulator

USER_ID = 4343
PG_SSL_REQUEST = 80877103
PG_GSS_REQUEST = 80877104
PG_PROTOCOL_3 = 196608
PG_WAITING = {b"S": "Sync", b"Q": "Query", b"H": "Flush"}


def flow(user_id: int, round_no: int) -> list[Step]:
    """The order flow of bench/conversation.py after /start: 8 updates, from Services to Confirm."""
    return [
        Step("press Services", press="Services", expect="Choose a platform"),
        Step("press platform", press="Instagram (", expect="Choose a category"),
        Step("press category", press="Instagram Followers (", expect="Instagram Followers"),
        Step("press service", press=(0, 0), expect="Service #1"),
        Step("press Order", press="Order", expect="Send the link"),
        Step("send link", text=f"https://instagram.com/rt{user_id}n{round_no}", expect="How many"),
        Step("send quantity", text="2000", expect="Check your order"),
        Step("press Confirm", press="Confirm", expect="is placed"),
    ]


@dataclass
class PostgresCounter:
    """Parses PostgreSQL frontend messages (client to server) of every relayed connection."""

    connections: int = 0
    round_trips: int = 0
    messages: Counter[str] = field(default_factory=Counter)

    def parser(self) -> Callable[[bytes], None]:
        self.connections += 1
        buffer = bytearray()
        started = False

        def feed(data: bytes) -> None:
            nonlocal started
            buffer.extend(data)
            while True:
                if not started:  # untyped start-up packets: SSLRequest, GSSENCRequest, StartupMessage
                    if len(buffer) < 8:
                        return
                    length, code = struct.unpack("!ii", buffer[:8])
                    if len(buffer) < length:
                        return
                    del buffer[:length]
                    started = code == PG_PROTOCOL_3 or code not in (PG_SSL_REQUEST, PG_GSS_REQUEST)
                    continue
                if len(buffer) < 5:
                    return
                kind = bytes(buffer[:1])
                (length,) = struct.unpack("!i", buffer[1:5])
                if len(buffer) < 1 + length:
                    return
                del buffer[: 1 + length]
                self.messages[kind.decode("latin-1")] += 1
                if kind in PG_WAITING:
                    self.round_trips += 1

        return feed


@dataclass
class RedisCounter:
    """Parses RESP commands (client to server) of every relayed connection."""

    connections: int = 0
    commands: Counter[str] = field(default_factory=Counter)

    @property
    def total(self) -> int:
        return sum(self.commands.values())

    def parser(self) -> Callable[[bytes], None]:
        self.connections += 1
        buffer = bytearray()

        def feed(data: bytes) -> None:
            buffer.extend(data)
            while True:
                parsed = _resp_command(buffer)
                if parsed is None:
                    return
                consumed, name = parsed
                del buffer[:consumed]
                self.commands[name] += 1

        return feed


def _resp_command(buffer: bytearray) -> tuple[int, str] | None:
    """(bytes consumed, command name) of the first complete RESP array, or None if incomplete."""
    end = buffer.find(b"\r\n")
    if end < 0:
        return None
    if buffer[:1] != b"*":  # an inline command
        return end + 2, bytes(buffer[:end]).split(b" ", 1)[0].decode("latin-1").upper()
    count = int(buffer[1:end])
    position = end + 2
    words: list[bytes] = []
    for _ in range(count):
        end = buffer.find(b"\r\n", position)
        if end < 0:
            return None
        size = int(buffer[position + 1 : end])
        start = end + 2
        if len(buffer) < start + size + 2:
            return None
        words.append(bytes(buffer[start : start + size]))
        position = start + size + 2
    name = words[0].decode("latin-1").upper() if words else ""
    if name in ("SCRIPT", "CLIENT", "CONFIG") and len(words) > 1:
        name += " " + words[1].decode("latin-1").upper()
    return position, name


@contextlib.asynccontextmanager
async def relay(host: str, port: int, counter: PostgresCounter | RedisCounter) -> AsyncIterator[int]:
    """A TCP relay on a free local port to host:port; yields the port."""

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, feed: Any) -> None:
        try:
            while data := await reader.read(65536):
                if feed is not None:
                    feed(data)
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    writers: set[asyncio.StreamWriter] = set()

    async def serve(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            server_reader, server_writer = await asyncio.open_connection(host, port)
        except OSError:
            client_writer.close()
            return
        writers.update((client_writer, server_writer))
        await asyncio.gather(
            pipe(client_reader, server_writer, counter.parser()),
            pipe(server_reader, client_writer, None),
            return_exceptions=True,
        )

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        yield int(server.sockets[0].getsockname()[1])
    finally:
        server.close()
        for writer in writers:
            writer.close()
        await asyncio.sleep(0.1)  # let the pipes see their ends


def via(url: str, port: int) -> str:
    return make_url(url).set(host="127.0.0.1", port=port).render_as_string(hide_password=False)


async def empty_postgres(url: str) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.exec_driver_sql("DROP SCHEMA IF EXISTS public CASCADE")
            await connection.exec_driver_sql("CREATE SCHEMA public")
    finally:
        await engine.dispose()


async def flush_redis(url: str) -> None:
    from redis.asyncio import Redis

    client = Redis.from_url(url)
    try:
        await client.flushdb()
    finally:
        await client.aclose()


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    print_machine()
    await empty_postgres(args.postgres_url)
    await flush_redis(args.redis_url)
    await prepare_database(args.postgres_url, [USER_ID])
    pg_url, redis_url = make_url(args.postgres_url), make_url(args.redis_url)
    pg, rd = PostgresCounter(), RedisCounter()
    state = PanelState(api_key=PANEL_KEY, balance=Decimal("1000000"), catalog=realistic_catalog())
    results: dict[str, Any] = {}
    async with (
        relay(pg_url.host or "127.0.0.1", pg_url.port or 5432, pg) as pg_port,
        relay(redis_url.host or "127.0.0.1", redis_url.port or 6379, rd) as redis_port,
        BenchTelegram() as tg,
        run_panel_simulator(state) as sim,
    ):
        settings = load_settings(
            _env_file=None,
            bot_token=tg.token,
            telegram_api_url=tg.base_url,
            panel_api_url=sim.url,
            panel_api_key=PANEL_KEY,
            database_url=via(args.postgres_url, pg_port),
            redis_url=via(args.redis_url, redis_port),
            panel_requests_per_second=1000,
            poll_interval_seconds=3600,
            lease_seconds=3600,
            crypto_pay_poll_seconds=3600,
            webhook_url="http://127.0.0.1:1/telegram/webhook",  # replaced below by the real port
            webhook_listen_host="127.0.0.1",
            webhook_port=0,
            instance_id="bench",
        )
        async with BotApp.open(settings) as app:
            server = WebhookServer(app, set_webhook=False)
            await server.start()
            try:
                await app.bot.set_webhook(
                    url=server.url + settings.webhook_path,
                    secret_token=server.handler.secret_token,
                    allowed_updates=app.dispatcher.resolve_used_update_types(),
                )
                user = tg.add_user(USER_ID, f"U{USER_ID}")
                rows = []
                for round_no in range(2):
                    # Not counted: /start brings back the menu the flow starts from.
                    await act(tg, user, Step("/start", text="/start", expect="Hello,"), 30.0)
                    await asyncio.sleep(0.3)
                    pg_before, rd_before = pg.round_trips, rd.total
                    pg_conn, rd_conn = pg.connections, rd.connections
                    commands_before = Counter(rd.commands)
                    for step in flow(USER_ID, round_no):
                        await act(tg, user, step, 30.0)
                    await asyncio.sleep(0.3)  # the step's trailing work
                    name = "first flow (cold)" if round_no == 0 else "second flow"
                    figures = {
                        "postgres_round_trips": pg.round_trips - pg_before,
                        "postgres_new_connections": pg.connections - pg_conn,
                        "redis_commands": rd.total - rd_before,
                        "redis_new_connections": rd.connections - rd_conn,
                        "redis_by_command": dict(rd.commands - commands_before),
                    }
                    results[name] = figures
                    rows.append(
                        [
                            name,
                            figures["postgres_round_trips"],
                            figures["postgres_new_connections"],
                            figures["redis_commands"],
                            figures["redis_new_connections"],
                        ]
                    )
            finally:
                await server.stop()
    print()
    print("One order flow: 8 updates (Services, platform, category, service, Order, link, quantity, Confirm)")
    print(
        table(
            ["flow", "PostgreSQL round trips", "new PG connections", "Redis commands", "new Redis conns"],
            rows,
        )
    )
    for name, figures in results.items():
        by_command = ", ".join(f"{k} {v}" for k, v in sorted(figures["redis_by_command"].items()))
        print(f"{name}: Redis {by_command}")
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/bench"),
    )
    redis_base = os.environ.get("TEST_REDIS_BASE_URL", "redis://127.0.0.1:6379").rstrip("/")
    parser.add_argument("--redis-url", default=f"{redis_base}/13")
    parser.add_argument("--json", help="write the figures to this file")
    args = parser.parse_args(argv)
    results = asyncio.run(main_async(args))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(results, out, indent=2)


if __name__ == "__main__":
    main()
