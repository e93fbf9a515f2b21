"""The admin audit log: who did what, with which arguments, when.

Actions that change something write their row in the same transaction as the change
(`write_audit`); views and actions of services we do not own are recorded with `record`.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import AdminAudit, utcnow
from storage.repositories.admin import AuditRepository

ARG_TEXT_LIMIT = 300


def _plain(value: Any) -> Any:
    """A JSON-safe copy: Decimal and dates as text, long strings cut."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, str):
        return value if len(value) <= ARG_TEXT_LIMIT else value[: ARG_TEXT_LIMIT - 1] + "…"
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    return str(value)


async def write_audit(session: AsyncSession, admin_id: int, action: str, **args: Any) -> None:
    """One audit row inside the caller's transaction."""
    await AuditRepository(session).add(admin_id, action, _plain({k: v for k, v in args.items()}), utcnow())


class AuditService:
    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self.session_factory = session_factory

    async def record(self, admin_id: int, action: str, **args: Any) -> None:
        async with self.session_factory.begin() as session:
            await write_audit(session, admin_id, action, **args)

    async def recent(self, *, limit: int = 20, action: str | None = None) -> list[AdminAudit]:
        async with self.session_factory() as session:
            return await AuditRepository(session).recent(limit=limit, action=action)
