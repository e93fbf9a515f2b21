"""The customer's orders: the list, one order, refill and cancel requests."""

from __future__ import annotations

from aiogram import F
from aiogram.filters import Command, CommandObject
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from aiogram.utils.callback_answer import CallbackAnswer

from bot.config import Settings
from bot.handlers.order_form import start_prefilled
from bot.i18n import t
from bot.services.catalog import CatalogService
from bot.services.ordering import (
    ActionOutcome,
    ActionResult,
    OrderService,
    can_cancel,
    cancel_refusal_key,
    rules_of,
    today_utc,
)
from bot.services.reorder import prefill_from_order
from bot.services.settings import ShopSettings
from bot.services.tracking import StatusPoller
from bot.services.users import UserProfile
from bot.telegram.callbacks import MenuCb, OrderCb, OrdersCb
from bot.telegram.render import clip, show
from bot.telegram.routes import Routes
from bot.views.common import only_home
from bot.views.orders import (
    ORDERS_PER_PAGE,
    cancel_confirm,
    order_detail,
    orders_screen,
    reorder_gone,
    state_label,
)
from storage.models import Order

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
    if not raw.isdecimal() or len(raw) > 9:  # 9 digits always fit an INTEGER id (more overflowed PostgreSQL)
        await message.answer(t("status.usage"))
        return
    order = await orders.get_for_user(user.id, int(raw))
    if order is None:
        await message.answer(t("status.not_found", id=raw), reply_markup=only_home())
        return
    await show(message, *order_detail(order, await orders.latest_refill(order.id), orders.capabilities))


ACTION_KEYS = {
    ("refill", ActionOutcome.ACCEPTED): "refill.accepted",
    ("refill", ActionOutcome.NOT_ALLOWED): "refill.not_allowed",
    ("refill", ActionOutcome.IN_PROGRESS): "refill.in_progress",
    ("refill", ActionOutcome.REFUSED): "refill.refused",
    ("refill", ActionOutcome.UNAVAILABLE): "upstream.unavailable",
    ("refill", ActionOutcome.UNSUPPORTED): "refill.unsupported",
    ("cancel", ActionOutcome.ACCEPTED): "cancel_order.accepted",
    ("cancel", ActionOutcome.NOT_ALLOWED): "cancel_order.not_allowed",
    ("cancel", ActionOutcome.IN_PROGRESS): "cancel_order.in_progress",
    ("cancel", ActionOutcome.REFUSED): "cancel_order.refused",
    ("cancel", ActionOutcome.UNAVAILABLE): "upstream.unavailable",
    ("cancel", ActionOutcome.UNSUPPORTED): "cancel_order.unsupported",
}


async def own_order(
    orders: OrderService, user: UserProfile, callback_data: OrderCb, callback_answer: CallbackAnswer
) -> Order | None:
    """The button's order if it is this customer's; else None and an alert (someone else's order or a
    forged button)."""
    order = await orders.get_for_user(user.id, callback_data.id)
    if order is None:
        callback_answer.text, callback_answer.show_alert = t("status.not_found", id=callback_data.id), True
    return order


@router.callback_query(OrderCb.filter(F.action == "again"))
async def on_order_again(
    query: CallbackQuery,
    callback_data: OrderCb,
    state: FSMContext,
    orders: OrderService,
    catalog: CatalogService,
    shop: ShopSettings,
    settings: Settings,
    user: UserProfile,
    callback_answer: CallbackAnswer,
) -> None:
    """A new form for the same service with the order's answers; the summary when they all still pass."""
    order = await own_order(orders, user, callback_data, callback_answer)
    if order is None:
        return
    view = await catalog.service(order.service_id)
    if view is None:
        await show(query, *reorder_gone(order.service_id))
        return
    prefill = prefill_from_order(order, rules_of(view), today=today_utc())
    note = t("order.again_note", id=order.id)
    error = None
    if prefill.failed is not None:
        error = t("order.again_changed", id=order.id) + "\n" + t(prefill.failed.key, **prefill.failed.values)
    await start_prefilled(query, state, view, prefill.values, orders, settings, shop, note=note, error=error)


@router.callback_query(OrderCb.filter(F.action == "cancel"))
async def on_cancel_ask(
    query: CallbackQuery,
    callback_data: OrderCb,
    orders: OrderService,
    user: UserProfile,
    callback_answer: CallbackAnswer,
) -> None:
    """Cancel asks once more; only its Yes (`cancel_yes`) reaches the panel."""
    order = await own_order(orders, user, callback_data, callback_answer)
    if order is None:
        return
    if can_cancel(order, orders.capabilities):
        await show(query, *cancel_confirm(order))
        return
    refusal = cancel_refusal_key(order, orders.capabilities)
    await show_with_note(query, orders, order.id, user.id, t(refusal, id=order.id, state=state_label(order)))


@router.callback_query(OrderCb.filter())
async def on_order(
    query: CallbackQuery,
    callback_data: OrderCb,
    orders: OrderService,
    user: UserProfile,
    poller: StatusPoller,
    callback_answer: CallbackAnswer,
) -> None:
    order = await own_order(orders, user, callback_data, callback_answer)
    if order is None:
        return
    if callback_data.action == "refresh" and await poller.refresh_order(order.id):
        order = await orders.get_for_user(user.id, order.id) or order  # the panel was asked just now
    if callback_data.action == "cancel_yes" and not can_cancel(order, orders.capabilities):
        # A Yes pressed after the order ended or was cancelled already (another tap, another device).
        await show_with_note(
            query,
            orders,
            order.id,
            user.id,
            t(cancel_refusal_key(order, orders.capabilities), id=order.id, state=state_label(order)),
        )
        return
    if callback_data.action in ("refill", "cancel_yes"):
        action = "refill" if callback_data.action == "refill" else "cancel"
        if action == "refill":
            result: ActionResult = await orders.request_refill(user.id, order.id)
        else:
            result = await orders.request_cancel(user.id, order.id)
        # The panel's own words, clipped: a long refusal must not push the card past Telegram's limit.
        note = t(ACTION_KEYS[(action, result.outcome)], reason=clip(result.message or "", 300))
        await show_with_note(query, orders, order.id, user.id, note)
        return
    await show(query, *order_detail(order, await orders.latest_refill(order.id), orders.capabilities))


async def show_with_note(
    query: CallbackQuery, orders: OrderService, order_id: int, user_id: int, note: str
) -> None:
    """The order card as it is now, with one line on top saying what just happened."""
    order = await orders.get_for_user(user_id, order_id)
    if order is None:
        await show(query, note, only_home())
        return
    text, markup = order_detail(order, await orders.latest_refill(order.id), orders.capabilities)
    await show(query, f"{note}\n\n{text}", markup)
