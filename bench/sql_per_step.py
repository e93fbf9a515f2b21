"""Database work per conversation step: transactions, write transactions and SQL statements.

Deterministic (independent of the machine's speed), so it explains the conversation benchmark's
CPU figures: one user runs the full order flow against the real bot (in this process, on SQLite),
and every statement the engine executes is counted per step.

    .venv/bin/python -m bench.sql_per_step
    .venv/bin/python -m bench.sql_per_step --show-sql      # list the statements of each step
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import event

from bench.common import print_machine, table
from bench.conversation import PANEL_KEY, order_flow, prepare_database
from bench.harness import BenchTelegram, act
from bot.app import BotApp
from bot.config import load_settings
from sandbox.catalogs import realistic_catalog
from sandbox.panel_simulator import PanelState, run_panel_simulator
from storage.db import SQLITE_READ_ONLY

USER_ID = 4242


class Counter_:
    def __init__(self) -> None:
        self.statements: list[str] = []
        self.kinds: Counter[str] = Counter()

    def reset(self) -> tuple[list[str], Counter[str]]:
        done = self.statements, self.kinds
        self.statements, self.kinds = [], Counter()
        return done

    def on_begin(self, conn: Any) -> None:
        """A transaction starts (its BEGIN is issued by the driver, not through the engine)."""
        read_only = conn.get_execution_options().get(SQLITE_READ_ONLY, False)
        self.statements.append("BEGIN" if read_only else "BEGIN IMMEDIATE")
        self.kinds["read tx" if read_only else "write tx"] += 1

    def on_execute(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        text = " ".join(statement.split())
        self.statements.append(text[:160])
        head = text.split(" ", 1)[0].upper()
        if head in ("SELECT", "INSERT", "UPDATE", "DELETE"):
            self.kinds[head] += 1
        self.kinds["statements"] += head not in ("BEGIN", "PRAGMA")


async def main_async(args: argparse.Namespace) -> None:
    print_machine()
    state = PanelState(api_key=PANEL_KEY, balance=Decimal("1000000"), catalog=realistic_catalog())
    with tempfile.TemporaryDirectory(prefix="bench-sql-") as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'shop.sqlite3'}"
        await prepare_database(url, [USER_ID])
        async with BenchTelegram() as tg, run_panel_simulator(state) as sim:
            settings = load_settings(
                _env_file=None,
                bot_token=tg.token,
                telegram_api_url=tg.base_url,
                panel_api_url=sim.url,
                panel_api_key=PANEL_KEY,
                database_url=url,
                panel_requests_per_second=1000,
            )
            counter = Counter_()
            async with BotApp.open(settings) as app:
                event.listen(app.engine.sync_engine, "begin", counter.on_begin)
                event.listen(app.engine.sync_engine, "before_cursor_execute", counter.on_execute)
                async with tg.polling(
                    app.dispatcher, bot=app.bot, allowed_updates=app.dispatcher.resolve_used_update_types()
                ):
                    user = tg.add_user(USER_ID, f"U{USER_ID}")
                    rows = []
                    totals: Counter[str] = Counter()
                    for round_no in range(2):  # round 0 warms caches; round 1 is reported
                        for step in order_flow(user, round_no):
                            counter.reset()
                            await act(tg, user, step, 30.0)
                            await asyncio.sleep(0.2)  # let the step's trailing work finish
                            statements, kinds = counter.reset()
                            if round_no != args.round:
                                continue
                            totals.update(kinds)
                            rows.append(
                                [
                                    step.name,
                                    kinds["read tx"] + kinds["write tx"],
                                    kinds["write tx"],
                                    kinds["statements"],
                                    kinds["SELECT"],
                                    kinds["INSERT"] + kinds["UPDATE"] + kinds["DELETE"],
                                ]
                            )
                            if args.show_sql:
                                print(f"\n## {step.name}")
                                for text in statements:
                                    print("  " + text)
                    rows.append(
                        [
                            "**flow total**",
                            totals["read tx"] + totals["write tx"],
                            totals["write tx"],
                            totals["statements"],
                            totals["SELECT"],
                            totals["INSERT"] + totals["UPDATE"] + totals["DELETE"],
                        ]
                    )
                    print()
                    print(
                        table(
                            [
                                "step",
                                "transactions",
                                "write tx",
                                "statements",
                                "SELECT",
                                "INSERT/UPDATE/DELETE",
                            ],
                            rows,
                        )
                    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--round",
        type=int,
        choices=(0, 1),
        default=1,
        help="0: a new user's first flow (cold short-lived caches, as in bench.conversation); "
        "1: the second flow (default)",
    )
    parser.add_argument("--show-sql", action="store_true", help="print every statement of each step")
    asyncio.run(main_async(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
