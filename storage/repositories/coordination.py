"""Coordination of several bot instances on one database: named leases and processed updates.

Both work the same on SQLite and PostgreSQL. A lease is taken with one conditional UPDATE
(`WHERE name = :name AND (holder = :me OR expires_at <= now)`) or, for the very first holder, an
INSERT ... ON CONFLICT DO NOTHING; the database serialises concurrent writers of the row, so exactly
one candidate wins. On PostgreSQL "now" is the database's clock, so the instances' clocks do not
matter; SQLite is one file on one host, so its instances share a clock anyway.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import and_, case, delete, func, literal, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Lease, ProcessedUpdate, utcnow
from storage.types import UTCDateTime


@dataclass(frozen=True)
class LeaseGrant:
    """The lease as this holder now has it."""

    term: int
    expires_at: datetime


class LeaseRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @property
    def _dialect(self) -> str:
        return self.session.get_bind().dialect.name

    def _clock(self, seconds: float = 0.0) -> tuple[Any, Any]:
        """(now, now + seconds): the database's clock on PostgreSQL, the process clock on SQLite."""
        if self._dialect == "postgresql":
            return func.now(), func.now() + timedelta(seconds=seconds)
        now = utcnow()
        return literal(now, UTCDateTime()), literal(now + timedelta(seconds=seconds), UTCDateTime())

    def _insert(self) -> Any:
        return pg_insert if self._dialect == "postgresql" else sqlite_insert

    async def acquire(self, name: str, holder: str, seconds: float) -> LeaseGrant | None:
        """Take or renew the lease for `seconds`; None when another holder's lease is still valid."""
        now, until = self._clock(seconds)
        # Still ours and valid: a renewal. Otherwise the lease changes hands (or lapsed): a new term.
        renewal = and_(Lease.holder == holder, Lease.expires_at > now)
        renewed = await self.session.execute(
            update(Lease)
            .where(Lease.name == name, or_(Lease.holder == holder, Lease.expires_at <= now))
            .values(
                holder=holder,
                expires_at=until,
                term=case((renewal, Lease.term), else_=Lease.term + 1),
                acquired_at=case((renewal, Lease.acquired_at), else_=now),
            )
            .returning(Lease.term, Lease.expires_at)
        )
        row = renewed.one_or_none()
        if row is None:
            inserted = await self.session.execute(
                self._insert()(Lease)
                .values(name=name, holder=holder, expires_at=until, term=1, acquired_at=now)
                .on_conflict_do_nothing(index_elements=[Lease.name])
                .returning(Lease.term, Lease.expires_at)
            )
            row = inserted.one_or_none()
        if row is None:
            return None
        return LeaseGrant(term=int(row.term), expires_at=row.expires_at)

    async def expire(self, name: str) -> bool:
        """End the lease whoever holds it (a holder known to be dead); True if one was valid."""
        now, _ = self._clock()
        result = await self.session.execute(
            update(Lease)
            .where(Lease.name == name, Lease.expires_at > now)
            .values(expires_at=now)
            .returning(Lease.holder)
        )
        return result.one_or_none() is not None

    async def release(self, name: str, holder: str) -> bool:
        """Let the lease lapse now if `holder` has it, so a successor takes it at its next try."""
        now, _ = self._clock()
        result = await self.session.execute(
            update(Lease)
            .where(Lease.name == name, Lease.holder == holder, Lease.expires_at > now)
            .values(expires_at=now)
            .returning(Lease.name)
        )
        return result.one_or_none() is not None

    async def get(self, name: str) -> Lease | None:
        return (await self.session.execute(select(Lease).where(Lease.name == name))).scalar_one_or_none()

    async def current_holder(self, name: str) -> str | None:
        """Who holds a valid lease now, if anyone."""
        now, _ = self._clock()
        result = await self.session.execute(
            select(Lease.holder).where(Lease.name == name, Lease.expires_at > now)
        )
        return result.scalar_one_or_none()


class Claim(StrEnum):
    """What a delivery of an update finds: take it, skip it (processed), or come back later."""

    TAKEN = "taken"
    DONE = "done"
    BUSY = "busy"  # another delivery of it is being processed and its claim has not run out


class ProcessedUpdateRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def _insert(self) -> Any:
        dialect = self.session.get_bind().dialect.name
        return (pg_insert if dialect == "postgresql" else sqlite_insert)(ProcessedUpdate)

    async def claim(self, update_id: int, *, until: datetime, now: datetime | None = None) -> Claim:
        """Take the update for processing until `until`, in one statement; a claim that ran out
        (its instance died mid-update) is taken over."""
        now = now or utcnow()
        statement = self._insert().values(
            update_id=update_id, created_at=now, done=False, claimed_until=until
        )
        table = ProcessedUpdate.__table__.c
        result = await self.session.execute(
            statement.on_conflict_do_update(
                index_elements=[ProcessedUpdate.update_id],
                set_={"claimed_until": statement.excluded.claimed_until, "created_at": now},
                where=and_(table.done.is_(False), table.claimed_until < now),
            ).returning(ProcessedUpdate.update_id)
        )
        if result.one_or_none() is not None:
            return Claim.TAKEN
        done = await self.session.scalar(
            select(ProcessedUpdate.done).where(ProcessedUpdate.update_id == update_id)
        )
        return Claim.DONE if done else Claim.BUSY

    async def finish(self, update_id: int) -> None:
        """The update's effects are committed: from now on a redelivery is skipped."""
        await self.session.execute(
            update(ProcessedUpdate)
            .where(ProcessedUpdate.update_id == update_id)
            .values(done=True, claimed_until=None)
        )

    async def mark(self, update_id: int, now: datetime | None = None) -> bool:
        """Record the update as processed; False when it was already recorded."""
        result = await self.session.execute(
            self._insert()
            .values(update_id=update_id, created_at=now or utcnow(), done=True)
            .on_conflict_do_nothing(index_elements=[ProcessedUpdate.update_id])
            .returning(ProcessedUpdate.update_id)
        )
        return result.one_or_none() is not None

    async def forget(self, update_id: int) -> None:
        await self.session.execute(delete(ProcessedUpdate).where(ProcessedUpdate.update_id == update_id))

    async def prune(self, before: datetime) -> int:
        result = await self.session.execute(
            delete(ProcessedUpdate)
            .where(ProcessedUpdate.created_at < before)
            .returning(ProcessedUpdate.update_id)
        )
        return len(result.all())

    async def seen(self, update_id: int) -> bool:
        """True once the update was processed (not while it is being processed)."""
        done = await self.session.scalar(
            select(ProcessedUpdate.done).where(ProcessedUpdate.update_id == update_id)
        )
        return bool(done)
