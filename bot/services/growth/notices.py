"""Which order notices a customer gets: every status change, or only completion and refunds.

The choice is read where a notice is queued (bot/services/tracking.py `queue_order_notice` and
`StatusPoller._queue_refill_notice`), in the same transaction, so a muted notice is never written
to the outbox.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import NoticeLevel, NotificationKind
from storage.repositories.growth import PrefsRepository

# Status changes that are neither a completion nor a refund: muted under NoticeLevel.FINAL.
PROGRESS_KINDS = frozenset({NotificationKind.ORDER_STARTED})
# Outcomes, sent at every level: an order's end (with its refund, if any) and a refill's. A refill
# outcome is the completion of a request the customer made themselves; muting a rejection or an
# unconfirmed refill would leave them waiting for a refill that is not coming.
OUTCOME_KINDS = frozenset(
    {
        NotificationKind.ORDER_COMPLETED,
        NotificationKind.ORDER_PARTIAL,
        NotificationKind.ORDER_CANCELED,
        NotificationKind.ORDER_NOT_PLACED,
        NotificationKind.REFILL_COMPLETED,
        NotificationKind.REFILL_REJECTED,
        NotificationKind.REFILL_UNCONFIRMED,
    }
)
# Messages to admins and the owner, not governed by a customer's choice.
STAFF_KINDS = frozenset({NotificationKind.ADMIN_ALERT, NotificationKind.OWNER_ALERT})


async def wants_notice(session: AsyncSession, user_id: int, kind: str) -> bool:
    """Whether this customer gets a notice of `kind` (outcomes always, progress by their choice)."""
    if kind not in PROGRESS_KINDS:
        return True
    return await PrefsRepository(session).notices(user_id) == NoticeLevel.ALL


class NoticeSettings:
    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self.session_factory = session_factory

    async def level(self, user_id: int) -> str:
        async with self.session_factory() as session:
            return await PrefsRepository(session).notices(user_id)

    async def set_level(self, user_id: int, level: NoticeLevel) -> None:
        async with self.session_factory.begin() as session:
            await PrefsRepository(session).set_notices(user_id, level)
