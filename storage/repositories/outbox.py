"""The notification outbox, plus the few order/refill queries the tracking services need.

Outbox rows are written in the same transaction as the change they report and carry a unique
`dedupe_key`, so a change seen twice (two poll cycles, a retry after a crash) queues one message.
Senders claim a row with a conditional UPDATE (a lease in `claimed_until`) before sending it, so two
senders never send the same row; a sender that dies mid-send leaves the row claimable again once
the lease runs out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Notification, User


@dataclass(frozen=True)
class Recipient:
    """What a sender needs to know about the chat of a row (all None when not a known user)."""

    blocked: bool
    locale: str | None
    language_code: str | None


@dataclass(frozen=True)
class ScheduleRow:
    """One order whose next check moves without any other change (see `TrackingRepository.reschedule`)."""

    order_id: int
    seen_updated_at: datetime
    next_poll_at: datetime | None


def _pending(now: datetime) -> Any:
    return and_(
        Notification.sent_at.is_(None),
        Notification.dropped_at.is_(None),
        or_(Notification.next_attempt_at.is_(None), Notification.next_attempt_at <= now),
        or_(Notification.claimed_until.is_(None), Notification.claimed_until < now),
    )


class OutboxRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(
        self,
        *,
        user_id: int,
        kind: str,
        dedupe_key: str,
        order_id: int | None = None,
        payload: dict[str, Any] | None = None,
        now: datetime,
    ) -> bool:
        """Queue a message unless one with this `dedupe_key` exists; True when a row was added.

        INSERT ... ON CONFLICT DO NOTHING, so a concurrent writer of the same key neither fails nor
        aborts the caller's transaction.
        """
        values = {
            "user_id": user_id,
            "order_id": order_id,
            "kind": kind,
            "payload": payload or {},
            "dedupe_key": dedupe_key,
            "created_at": now,
            "attempts": 0,
        }
        dialect = self.session.get_bind().dialect.name
        insert_fn = pg_insert if dialect == "postgresql" else sqlite_insert
        statement = (
            insert_fn(Notification)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["dedupe_key"])
            .returning(Notification.id)
        )
        result = await self.session.execute(statement)
        return result.scalar_one_or_none() is not None

    async def by_key(self, dedupe_key: str) -> Notification | None:
        result = await self.session.execute(select(Notification).where(Notification.dedupe_key == dedupe_key))
        return result.scalars().first()

    async def for_order(self, order_id: int) -> list[Notification]:
        result = await self.session.execute(
            select(Notification).where(Notification.order_id == order_id).order_by(Notification.id)
        )
        return list(result.scalars())

    async def all(self) -> list[Notification]:
        result = await self.session.execute(select(Notification).order_by(Notification.id))
        return list(result.scalars())

    async def count_unsent(self) -> int:
        result = await self.session.execute(
            select(func.count())
            .select_from(Notification)
            .where(Notification.sent_at.is_(None), Notification.dropped_at.is_(None))
        )
        return int(result.scalar_one())

    async def due(self, now: datetime, *, limit: int) -> list[tuple[Notification, Recipient]]:
        """Unsent, unclaimed rows whose time has come, oldest first, with their recipient's flags."""
        result = await self.session.execute(
            select(Notification, User.blocked_bot, User.locale, User.language_code)
            .outerjoin(User, User.id == Notification.user_id)
            .where(_pending(now))
            .order_by(Notification.id)
            .limit(limit)
        )
        return [
            (row[0], Recipient(blocked=bool(row[1]), locale=row[2], language_code=row[3]))
            for row in result.all()
        ]

    async def claim(self, notification_id: int, now: datetime, until: datetime) -> bool:
        """Take the row for sending until `until`; False when it is sent, dropped or claimed by another."""
        result = await self.session.execute(
            update(Notification)
            .where(Notification.id == notification_id, _pending(now))
            .values(claimed_until=until)
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0))

    async def mark_sent(self, notification_id: int, now: datetime) -> None:
        await self.session.execute(
            update(Notification)
            .where(Notification.id == notification_id)
            .values(sent_at=now, claimed_until=None, attempts=Notification.attempts + 1, last_error=None)
            .execution_options(synchronize_session=False)
        )

    async def mark_dropped(self, notification_id: int, now: datetime, reason: str) -> None:
        await self.session.execute(
            update(Notification)
            .where(Notification.id == notification_id, Notification.sent_at.is_(None))
            .values(
                dropped_at=now,
                claimed_until=None,
                attempts=Notification.attempts + 1,
                last_error=reason[:500],
            )
            .execution_options(synchronize_session=False)
        )

    async def drop_for_user(self, user_id: int, now: datetime, reason: str) -> int:
        """Give up every unsent row of a chat (the user blocked the bot); unclaimed rows only."""
        result = await self.session.execute(
            update(Notification)
            .where(Notification.user_id == user_id, _pending(now))
            .values(dropped_at=now, last_error=reason[:500])
            .execution_options(synchronize_session=False)
        )
        return int(getattr(result, "rowcount", 0) or 0)

    async def postpone(
        self, notification_id: int, *, until: datetime, error: str | None, count_attempt: bool = True
    ) -> None:
        """Release the claim and try again at `until`."""
        values: dict[str, Any] = {"claimed_until": None, "next_attempt_at": until, "last_error": error}
        if count_attempt:
            values["attempts"] = Notification.attempts + 1
        await self.session.execute(
            update(Notification)
            .where(Notification.id == notification_id, Notification.sent_at.is_(None))
            .values(**values)
            .execution_options(synchronize_session=False)
        )
