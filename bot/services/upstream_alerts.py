"""Alerts to the admins about what the panel sent or did, each queued once (the outbox dedupes).

A bad catalog entry, an unusable status, an overcharge or a currency mismatch is reported the first
time it is seen, not on every sync or poll cycle: the outbox row's `dedupe_key` names the alert and
its subject, so seeing the same problem again queues nothing (storage/repositories/outbox.py).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import NotificationKind
from storage.repositories.outbox import OutboxRepository

__all__ = ["queue_admin_alert", "subject_key"]


def subject_key(*parts: object) -> str:
    """A short, stable key for what an alert is about (a service id may be absurdly long)."""
    text = ":".join(str(part) for part in parts)
    if len(text) <= 80 and text.isprintable():
        return text
    return "h" + hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()[:40]


async def queue_admin_alert(
    session: AsyncSession,
    admin_ids: Iterable[int],
    alert: str,
    subject: str,
    payload: dict[str, Any],
    now: datetime,
    *,
    order_id: int | None = None,
) -> int:
    """One `notify.admin.{alert}` message per admin, once per (alert, subject); rows added."""
    added = 0
    outbox = OutboxRepository(session)
    for admin_id in sorted(set(admin_ids)):
        added += await outbox.add(
            user_id=admin_id,
            order_id=order_id,
            kind=NotificationKind.ADMIN_ALERT,
            dedupe_key=f"admin:{admin_id}:{alert}:{subject}",
            payload={"alert": alert, **payload},
            now=now,
        )
    return added
