"""The customer's orders: the list, one order, refill and cancel requests."""

from __future__ import annotations

from aiogram import F
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, Message
from aiogram.utils.callback_answer import CallbackAnswer

from bot.i18n import t
from bot.services.ordering import ActionOutcome, ActionResult, OrderService
from bot.services.users import UserProfile
from bot.telegram.callbacks import MenuCb, OrderCb, OrdersCb
from bot.telegram.render import show
from bot.telegram.routes import Routes
from bot.views.common import only_home
from bot.views.orders import ORDERS_PER_PAGE, order_detail, orders_screen

router = Routes("orders")


@router.message(Command("orders"))
@router.callback_query(MenuCb.filter(F.screen == "orders"))
async def on_orders(event: Message | CallbackQuery, orders: OrderService, user: UserProfile) -> None:
    await show(event, *orders_screen(await orders.list_for_user(user.id, 0, ORDERS_PER_PAGE)))


@router.callback_query(OrdersCb.filter())
async def on_orders_page(
    query: CallbackQuery, callback_data: OrdersCb, orders: OrderService, user: UserProfile
) -> None:
    await show(
        query, *orders_screen(await orders.list_for_user(user.id, callback_data.page, ORDERS_PER_PAGE))
    )


@router.message(Command("status"))
async def cmd_status(
    message: Message, command: CommandObject, orders: OrderService, user: UserProfile
) -> None:
    raw = (command.args or "").strip().lstrip("#")
    if not raw.isdigit() or len(raw) > 12:
        await message.answer(t("status.usage"))
        return
    order = await orders.get_for_user(user.id, int(raw))
    if order is None:
        await message.answer(t("status.not_found", id=raw), reply_markup=only_home())
        return
    await show(message, *order_detail(order, await orders.latest_refill(order.id)))


ACTION_KEYS = {
    ("refill", ActionOutcome.ACCEPTED): "refill.accepted",
    ("refill", ActionOutcome.NOT_ALLOWED): "refill.not_allowed",
    ("refill", ActionOutcome.IN_PROGRESS): "refill.in_progress",
    ("refill", ActionOutcome.REFUSED): "refill.refused",
    ("refill", ActionOutcome.UNAVAILABLE): "upstream.unavailable",
    ("cancel", ActionOutcome.ACCEPTED): "cancel_order.accepted",
    ("cancel", ActionOutcome.NOT_ALLOWED): "cancel_order.not_allowed",
    ("cancel", ActionOutcome.IN_PROGRESS): "cancel_order.in_progress",
    ("cancel", ActionOutcome.REFUSED): "cancel_order.refused",
    ("cancel", ActionOutcome.UNAVAILABLE): "upstream.unavailable",
}


@router.callback_query(OrderCb.filter())
async def on_order(
    query: CallbackQuery,
    callback_data: OrderCb,
    orders: OrderService,
    user: UserProfile,
    callback_answer: CallbackAnswer,
) -> None:
    order = await orders.get_for_user(user.id, callback_data.id)
    if order is None:  # someone else's order or a forged button
        callback_answer.text, callback_answer.show_alert = t("status.not_found", id=callback_data.id), True
        return
    if callback_data.action in ("refill", "cancel"):
        if callback_data.action == "refill":
            result: ActionResult = await orders.request_refill(user.id, order.id)
        else:
            result = await orders.request_cancel(user.id, order.id)
        note = t(ACTION_KEYS[(callback_data.action, result.outcome)], reason=result.message or "")
        fresh = await orders.get_for_user(user.id, order.id) or order
        text, markup = order_detail(fresh, await orders.latest_refill(order.id))
        await show(query, f"{note}\n\n{text}", markup)
        return
    await show(query, *order_detail(order, await orders.latest_refill(order.id)))
