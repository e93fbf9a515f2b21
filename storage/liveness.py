"""Dead-connection handling for a server database without a ping per checkout.

`pool_pre_ping` checks every connection the pool hands out: on asyncpg that is BEGIN, `;` and
ROLLBACK, three round trips before each transaction. In an order flow it was 33 of 69 round trips
(bench/RESULTS.md, `bench.round_trips`). A connection in use every few milliseconds is not the one
that died, though; the ones at risk are those that sat idle (a database restart, a failover, a
firewall dropping idle TCP). So:

* a connection idle for less than `idle_seconds` is handed out as it is;
* one idle for longer is pinged first (SQLAlchemy's dialect ping); if the ping fails, raising
  `DisconnectionError` from the checkout event makes the pool drop it and hand out another
  (SQLAlchemy's documented custom pessimistic handling);
* `pool_recycle` replaces every connection after an hour anyway;
* a connection that dies mid-use raises a disconnect error, on which SQLAlchemy invalidates it and
  every connection of the pool opened before it, so the next checkout connects afresh.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine

IDLE_PING_SECONDS = 10.0
POOL_RECYCLE_SECONDS = 3600
_CHECKED_IN = "smm_checked_in_at"


def ping_idle_connections(engine: AsyncEngine, idle_seconds: float = IDLE_PING_SECONDS) -> None:
    """Ping a pooled connection at checkout only if it sat idle longer than `idle_seconds`."""
    dialect = engine.dialect

    def checkin(dbapi_connection: Any, record: Any) -> None:
        if record is not None:
            record.info[_CHECKED_IN] = time.monotonic()

    def checkout(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        since = record.info.get(_CHECKED_IN)
        if since is None or time.monotonic() - since < idle_seconds:
            return  # new, or in use moments ago
        try:
            alive = dialect.do_ping(dbapi_connection)
        except Exception as error:
            raise DisconnectionError(f"idle connection is gone ({type(error).__name__})") from error
        if not alive:
            raise DisconnectionError("idle connection is gone")

    event.listen(engine.sync_engine, "checkin", checkin)
    event.listen(engine.sync_engine, "checkout", checkout)
