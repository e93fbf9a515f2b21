"""Owner alerts: a new order above an amount, a new top-up, a refused order, the panel balance low.

Each is switchable in /admin (bot/services/growth/settings.py) and goes out through the outbox
(storage.repositories.outbox), like customer notices: one row per admin under a dedupe key naming
the alert and its subject, so an alert is queued once however often it is seen, and the notifier's
pacing and retry policy apply. Top-ups queue theirs in the settle transaction (a TopUpService
hook); orders are scanned by a job after a cursor (no code in the order path), so an order is
looked at once, after its placement settled.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.i18n import t_in
from bot.services.growth.settings import Alert, alert_on_in, order_amount_in
from bot.telegram.render import clip, money
from storage.models import NotificationKind, Order, OrderState, TopUp, TopUpMethod, utcnow
from storage.repositories.growth import AlertScanRepository
from storage.repositories.outbox import OutboxRepository
from storage.repositories.settings import SettingsRepository


class PendingSender(Protocol):
    """What the alerts job needs of the notifier (bot/services/notifier.py imports this module)."""

    async def send_pending(self) -> Any: ...


log = logging.getLogger(__name__)

ORDER_CURSOR = "growth.alert_order_cursor"
ALERT_SCAN_SECONDS = 15.0  # the `owner_alerts` job's interval (at most; POLL_INTERVAL_SECONDS if shorter)
SCAN_BATCH = 200
PLACING_WAIT = timedelta(minutes=10)  # an order still placing after this is passed over

ALERT_KEYS: Mapping[str, str] = {
    Alert.BIG_ORDER: "alerts.message.big_order",
    Alert.TOPUP: "alerts.message.topup",
    Alert.REFUSED: "alerts.message.refused",
    Alert.PANEL_LOW: "admin.panel.low_warning",
}


async def queue_owner_alert(
    session: AsyncSession,
    admin_ids: Sequence[int],
    alert: Alert,
    subject: str,
    payload: dict[str, Any],
    now: datetime | None = None,
) -> int:
    """One outbox row per admin, once per (alert, subject), if the alert is switched on.

    Only admins who have opened the chat get one: Telegram lets no bot write first.
    """
    if not admin_ids or not await alert_on_in(session, alert):
        return 0
    outbox = OutboxRepository(session)
    added = 0
    for admin_id in await AlertScanRepository(session).reachable(sorted(set(admin_ids))):
        added += await outbox.add(
            user_id=admin_id,
            kind=NotificationKind.OWNER_ALERT,
            dedupe_key=f"owner:{admin_id}:{alert.value}:{subject}"[:160],
            payload={"alert": alert.value, **payload},
            now=now or utcnow(),
        )
    return added


def _amount(value: Any) -> Decimal:
    try:
        return Decimal(str(value)) if value is not None else Decimal("0")
    except (InvalidOperation, ValueError):
        return Decimal("0")


def render_owner_alert(locale: str, payload: Mapping[str, Any]) -> str:
    """The text of an OWNER_ALERT row in the admin's language (values escaped by t_in)."""
    alert = str(payload.get("alert") or "")
    key = ALERT_KEYS.get(alert)
    if key is None:
        raise ValueError(f"unknown owner alert {alert[:40]!r}")
    currency = clip(str(payload.get("currency") or ""), 8)
    return t_in(
        locale,
        key,
        id=payload.get("id", "?"),
        user=payload.get("user_id", "?"),
        service=clip(str(payload.get("service") or ""), 200),
        amount=money(_amount(payload.get("amount")), currency),
        method=clip(str(payload.get("method") or ""), 40),
        reason=clip(str(payload.get("reason") or ""), 200),
        balance=money(_amount(payload.get("balance")), currency or "?"),
        threshold=money(_amount(payload.get("threshold")), currency or "?"),
    )


class OwnerAlerts:
    def __init__(
        self, session_factory: async_sessionmaker[AsyncSession], *, admin_ids: Sequence[int]
    ) -> None:
        self.session_factory = session_factory
        self.admin_ids = sorted(set(admin_ids))

    async def topup_hook(self, session: AsyncSession, topup: TopUp) -> None:
        """TopUpService settle hook: queue the "new top-up" alert; never undoes the top-up.

        Manual top-ups are left out: an admin approved each of them, and every admin saw it.
        """
        if not self.admin_ids or topup.method == TopUpMethod.MANUAL:
            return
        try:
            async with session.begin_nested():
                await queue_owner_alert(
                    session,
                    self.admin_ids,
                    Alert.TOPUP,
                    str(topup.id),
                    {
                        "id": topup.id,
                        "user_id": topup.user_id,
                        "amount": str(topup.amount),
                        "currency": topup.currency,
                        "method": topup.method,
                    },
                )
        except Exception:
            log.exception("queueing the top-up alert of %s failed", topup.id)

    async def scan_orders(self, now: datetime | None = None) -> int:
        """Queue big-order and refused-order alerts for orders after the cursor; returns rows queued."""
        now = now or utcnow()
        queued = 0
        async with self.session_factory.begin() as session:
            settings = SettingsRepository(session)
            scan = AlertScanRepository(session)
            raw = await settings.get(ORDER_CURSOR)
            if raw is None or not raw.isdecimal():
                # First run: start after the orders that exist now (no alerts about the past).
                await settings.set(ORDER_CURSOR, str(await scan.last_order_id()))
                return 0
            cursor = int(raw)
            amount = await order_amount_in(session)
            for order in await scan.orders_after(cursor, limit=SCAN_BATCH):
                if order.state == OrderState.PLACING and now - order.created_at < PLACING_WAIT:
                    break  # its outcome is not known yet: look again next time
                queued += await self._order_alerts(session, order, amount, now)
                cursor = order.id
            if cursor != int(raw):
                await settings.set(ORDER_CURSOR, str(cursor))
        return queued

    async def _order_alerts(
        self, session: AsyncSession, order: Order, amount: Decimal | None, now: datetime
    ) -> int:
        payload = {
            "id": order.id,
            "user_id": order.user_id,
            "service": order.service_name,
            "amount": str(order.price),
            "currency": order.currency,
        }
        if order.state == OrderState.REFUSED:
            payload["reason"] = order.error or ""
            return await queue_owner_alert(
                session, self.admin_ids, Alert.REFUSED, str(order.id), payload, now
            )
        if amount is not None and amount > 0 and order.price >= amount:
            return await queue_owner_alert(
                session, self.admin_ids, Alert.BIG_ORDER, str(order.id), payload, now
            )
        return 0


async def run_owner_alerts(alerts: OwnerAlerts, notifier: PendingSender | None = None) -> None:
    """The scheduler job: queue order alerts, then deliver what is due. Never raises."""
    try:
        queued = await alerts.scan_orders()
    except Exception:
        log.exception("scanning orders for owner alerts failed")
        return
    if queued and notifier is not None:
        try:
            await notifier.send_pending()
        except Exception:
            log.exception("sending owner alerts failed")
