"""Broadcasts and their recipients: materialised once, then claimed in batches before sending.

A broadcast's recipients are inserted with one INSERT ... SELECT when it starts, so a restart
resumes exactly where it stopped. A sender claims a batch (PENDING -> SENDING, conditional UPDATE)
before sending and records each outcome afterwards; rows still SENDING when a new sender takes the
broadcast over were in flight when the previous one died and are closed as FAILED, never sent
again. One sender at a time owns a broadcast through a lease on its row (`runner`, `lease_until`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Table,
    and_,
    bindparam,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    Broadcast,
    BroadcastRecipient,
    BroadcastState,
    Order,
    OrderState,
    RecipientState,
    User,
)

AUDIENCE_ALL = "all"
AUDIENCE_BUYERS = "buyers"
AUDIENCE_ACTIVE = "active"  # stored as "active-<days>": users seen in the last <days> days


def active_audience(days: int) -> str:
    return f"{AUDIENCE_ACTIVE}-{days}"


def active_days(audience: str) -> int | None:
    """The <days> of an "active-<days>" audience, else None."""
    kind, _, days = audience.partition("-")
    return int(days) if kind == AUDIENCE_ACTIVE and days.isdigit() else None


@dataclass(frozen=True)
class RecipientResult:
    user_id: int
    state: str  # RecipientState: SENT, FAILED, BLOCKED, or PENDING to try again
    error: str | None = None
    count_attempt: bool = True


@dataclass(frozen=True)
class Counts:
    pending: int = 0
    sending: int = 0
    sent: int = 0
    failed: int = 0
    blocked: int = 0

    @property
    def total(self) -> int:
        return self.pending + self.sending + self.sent + self.failed + self.blocked

    @property
    def left(self) -> int:
        return self.pending + self.sending


def audience_condition(audience: str, now: datetime) -> ColumnElement[bool]:
    """Which users an audience means; users who blocked the bot or are banned never receive one."""
    base = and_(User.blocked_bot.is_(False), User.is_banned.is_(False))
    if audience == AUDIENCE_BUYERS:
        bought = exists().where(Order.user_id == User.id, Order.state != OrderState.REFUSED.value)
        return and_(base, bought)
    days = active_days(audience)
    if days is not None:
        return and_(base, User.last_seen_at >= now - timedelta(days=days))
    if audience != AUDIENCE_ALL:
        raise ValueError(f"unknown audience {audience!r}")
    return base


class BroadcastRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def audience_size(self, audience: str, now: datetime) -> int:
        result = await self.session.execute(
            select(func.count()).select_from(User).where(audience_condition(audience, now))
        )
        return int(result.scalar_one())

    async def create(self, broadcast: Broadcast, now: datetime) -> Broadcast:
        """Store the broadcast and materialise its recipients in bulk (one INSERT ... SELECT)."""
        self.session.add(broadcast)
        await self.session.flush()
        chosen = select(
            literal(broadcast.id),
            User.id,
            literal(RecipientState.PENDING.value),
            literal(0),
        ).where(audience_condition(broadcast.audience, now))
        await self.session.execute(
            insert(BroadcastRecipient).from_select(["broadcast_id", "user_id", "state", "attempts"], chosen)
        )
        total = await self.session.execute(
            select(func.count())
            .select_from(BroadcastRecipient)
            .where(BroadcastRecipient.broadcast_id == broadcast.id)
        )
        broadcast.total = int(total.scalar_one())
        await self.session.flush()
        return broadcast

    async def get(self, broadcast_id: int) -> Broadcast | None:
        return await self.session.get(Broadcast, broadcast_id, populate_existing=True)

    async def running_ids(self) -> list[int]:
        result = await self.session.execute(
            select(Broadcast.id).where(Broadcast.state == BroadcastState.RUNNING).order_by(Broadcast.id)
        )
        return list(result.scalars())

    async def recent(self, limit: int = 10) -> list[Broadcast]:
        result = await self.session.execute(select(Broadcast).order_by(Broadcast.id.desc()).limit(limit))
        return list(result.scalars())

    # --- ownership -------------------------------------------------------------------------------

    async def acquire(self, broadcast_id: int, runner: str, now: datetime, lease: timedelta) -> bool:
        """Take (or renew) the right to send this running broadcast; False if another sender has it."""
        result = await self.session.execute(
            update(Broadcast)
            .where(
                Broadcast.id == broadcast_id,
                Broadcast.state == BroadcastState.RUNNING,
                or_(
                    Broadcast.runner.is_(None),
                    Broadcast.runner == runner,
                    Broadcast.lease_until.is_(None),
                    Broadcast.lease_until < now,
                ),
            )
            .values(runner=runner, lease_until=now + lease)
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0))

    async def renew(self, broadcast_id: int, runner: str, now: datetime, lease: timedelta) -> bool:
        """Extend our lease; False when the broadcast was cancelled or another sender took it."""
        result = await self.session.execute(
            update(Broadcast)
            .where(
                Broadcast.id == broadcast_id,
                Broadcast.state == BroadcastState.RUNNING,
                Broadcast.runner == runner,
            )
            .values(lease_until=now + lease)
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0))

    async def release(self, broadcast_id: int, runner: str) -> None:
        await self.session.execute(
            update(Broadcast)
            .where(Broadcast.id == broadcast_id, Broadcast.runner == runner)
            .values(runner=None, lease_until=None)
            .execution_options(synchronize_session=False)
        )

    async def finish(self, broadcast_id: int, state: str, now: datetime) -> bool:
        """RUNNING -> DONE or CANCELLED; False when it was not running any more."""
        result = await self.session.execute(
            update(Broadcast)
            .where(Broadcast.id == broadcast_id, Broadcast.state == BroadcastState.RUNNING)
            .values(state=state, finished_at=now)
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0))

    async def set_progress_message(self, broadcast_id: int, chat_id: int, message_id: int) -> None:
        await self.session.execute(
            update(Broadcast)
            .where(Broadcast.id == broadcast_id)
            .values(progress_chat_id=chat_id, progress_message_id=message_id)
            .execution_options(synchronize_session=False)
        )

    # --- recipients --------------------------------------------------------------------------------

    async def close_interrupted(self, broadcast_id: int) -> int:
        """SENDING rows left by a sender that died mid-send: delivery unknown, so never sent again."""
        result = await self.session.execute(
            update(BroadcastRecipient)
            .where(
                BroadcastRecipient.broadcast_id == broadcast_id,
                BroadcastRecipient.state == RecipientState.SENDING,
            )
            .values(state=RecipientState.FAILED, error="interrupted: delivery unknown")
            .execution_options(synchronize_session=False)
        )
        return int(getattr(result, "rowcount", 0) or 0)

    async def claim(self, broadcast_id: int, limit: int) -> list[int]:
        """Up to `limit` pending recipients, now SENDING and ours (conditional, so never twice)."""
        candidates = await self.session.execute(
            select(BroadcastRecipient.user_id)
            .where(
                BroadcastRecipient.broadcast_id == broadcast_id,
                BroadcastRecipient.state == RecipientState.PENDING,
            )
            .order_by(BroadcastRecipient.user_id)
            .limit(limit)
        )
        ids = list(candidates.scalars())
        if not ids:
            return []
        claimed = await self.session.execute(
            update(BroadcastRecipient)
            .where(
                BroadcastRecipient.broadcast_id == broadcast_id,
                BroadcastRecipient.user_id.in_(ids),
                BroadcastRecipient.state == RecipientState.PENDING,
            )
            .values(state=RecipientState.SENDING)
            .returning(BroadcastRecipient.user_id)
            .execution_options(synchronize_session=False)
        )
        return sorted(claimed.scalars())

    async def record(
        self, broadcast_id: int, results: Sequence[RecipientResult], now: datetime, *, max_attempts: int
    ) -> None:
        """Write the outcome of claimed rows (one executemany); retries past `max_attempts` fail."""
        if not results:
            return
        table = cast(Table, BroadcastRecipient.__table__)
        statement = (
            update(table)
            .where(
                table.c.broadcast_id == broadcast_id,
                table.c.user_id == bindparam("b_user"),
                table.c.state == RecipientState.SENDING.value,
            )
            .values(
                state=bindparam("b_state"),
                error=bindparam("b_error"),
                attempts=table.c.attempts + bindparam("b_attempt"),
                sent_at=bindparam("b_sent_at"),
            )
        )
        params: list[dict[str, Any]] = [
            {
                "b_user": item.user_id,
                "b_state": item.state,
                "b_error": item.error[:200] if item.error else None,
                "b_attempt": 1 if item.count_attempt else 0,
                "b_sent_at": now if item.state == RecipientState.SENT else None,
            }
            for item in results
        ]
        await self.session.execute(statement, params)
        retried = [item.user_id for item in results if item.state == RecipientState.PENDING]
        if retried:
            await self.session.execute(
                update(BroadcastRecipient)
                .where(
                    BroadcastRecipient.broadcast_id == broadcast_id,
                    BroadcastRecipient.user_id.in_(retried),
                    BroadcastRecipient.state == RecipientState.PENDING,
                    BroadcastRecipient.attempts >= max_attempts,
                )
                .values(state=RecipientState.FAILED)
                .execution_options(synchronize_session=False)
            )
        blocked = [item.user_id for item in results if item.state == RecipientState.BLOCKED]
        if blocked:
            await self.session.execute(
                update(User)
                .where(User.id.in_(blocked))
                .values(blocked_bot=True)
                .execution_options(synchronize_session=False)
            )

    async def counts(self, broadcast_id: int) -> Counts:
        result = await self.session.execute(
            select(BroadcastRecipient.state, func.count())
            .where(BroadcastRecipient.broadcast_id == broadcast_id)
            .group_by(BroadcastRecipient.state)
        )
        found = {str(state): int(count) for state, count in result.all()}
        return Counts(
            pending=found.get(RecipientState.PENDING, 0),
            sending=found.get(RecipientState.SENDING, 0),
            sent=found.get(RecipientState.SENT, 0),
            failed=found.get(RecipientState.FAILED, 0),
            blocked=found.get(RecipientState.BLOCKED, 0),
        )
