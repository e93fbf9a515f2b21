"""Refunding an order: one ledger entry per order, whoever asks (refusal, partial, cancel, admin)."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from bot.services.growth.referrals import on_order_refunded
from storage.models import LedgerKind, Order
from storage.repositories.ledger import LedgerRepository


async def refund_order(
    session: AsyncSession, order: Order, amount: Decimal, *, note: str, actor_id: int | None = None
) -> Decimal:
    """Refund once per order through the ledger's unique key; returns what the order has been refunded."""
    if amount <= 0:
        return order.refunded
    result = await LedgerRepository(session).apply(
        user_id=order.user_id,
        amount=amount,
        kind=LedgerKind.ORDER_REFUND,
        key=f"order:{order.id}:refund",
        order_id=order.id,
        note=note[:200],
        actor_id=actor_id,
    )
    order.refunded = result.entry.amount
    await on_order_refunded(session, order)  # reverses a referral earning pro rata (bot/services/growth)
    return order.refunded
