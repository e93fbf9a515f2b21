"""Orders the bot could not settle alone (unknown outcome, stuck), for the admins to decide.

The rules live in ReconcileService; this adds the audit trail of who decided what.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.services.admin.audit import AuditService
from bot.services.reconcile import ReconcileResult, ReconcileService
from storage.models import Order, OrderProblem
from storage.repositories.orders import OrderRepository

LIST_LIMIT = 20


@dataclass(frozen=True)
class Problems:
    unknown: list[Order]  # outcome unknown (UNKNOWN) or refund to decide (REVIEW)
    stuck: list[Order]
    findings: list[tuple[OrderProblem, Order]] = field(default_factory=list)


class ProblemDesk:
    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        reconcile: ReconcileService,
        audit: AuditService,
    ) -> None:
        self.session_factory = session_factory
        self.reconcile = reconcile
        self.audit = audit

    async def order(self, order_id: int) -> Order | None:
        async with self.session_factory() as session:
            return await OrderRepository(session).get(order_id)

    async def overview(self, limit: int = LIST_LIMIT) -> Problems:
        return Problems(
            unknown=await self.reconcile.list_unknown(limit=limit),
            stuck=await self.reconcile.stuck_orders(limit=limit),
            findings=await self.reconcile.list_problems(limit=limit),
        )

    async def attach(self, admin_id: int, order_id: int, upstream_id: str) -> ReconcileResult:
        result = await self.reconcile.attach_upstream_id(order_id, upstream_id, actor_id=admin_id)
        await self.audit.record(
            admin_id, "order.attach", order_id=order_id, upstream_id=upstream_id, outcome=result.outcome
        )
        return result

    async def not_placed(self, admin_id: int, order_id: int) -> ReconcileResult:
        result = await self.reconcile.mark_not_placed(order_id, actor_id=admin_id)
        await self.audit.record(admin_id, "order.not_placed", order_id=order_id, outcome=result.outcome)
        return result

    async def refund_amount(self, admin_id: int, order_id: int, amount: Decimal) -> ReconcileResult:
        result = await self.reconcile.refund_amount(order_id, amount, actor_id=admin_id)
        await self.audit.record(
            admin_id, "order.refund_amount", order_id=order_id, amount=str(amount), outcome=result.outcome
        )
        return result

    async def dismiss(self, admin_id: int, problem_id: int) -> bool:
        done = await self.reconcile.dismiss_problem(problem_id, actor_id=admin_id)
        await self.audit.record(admin_id, "problem.dismiss", problem_id=problem_id, done=done)
        return done
