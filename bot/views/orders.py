"""Order screens: the list, one order's detail, the outcome of placing one."""

from __future__ import annotations

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.i18n import t
from bot.panel.capabilities import PanelCapabilities
from bot.services.catalog import Page
from bot.services.ordering import can_cancel, can_refill, refill_is_open
from bot.telegram.callbacks import MenuCb, OrderCb, OrdersCb
from bot.telegram.render import clip, money
from bot.views.common import button_label, home_button, nav_row
from storage.models import Order, OrderState, Refill, RefillState

ORDERS_PER_PAGE = 8


def state_label(order: Order) -> str:
    return t(f"state.{order.state}")


def orders_screen(page: Page[Order]) -> tuple[str, InlineKeyboardMarkup]:
    if page.total == 0:
        rows = [
            [InlineKeyboardButton(text=t("button.catalog"), callback_data=MenuCb(screen="catalog").pack())],
            [home_button()],
        ]
        return t("orders.empty"), InlineKeyboardMarkup(inline_keyboard=rows)
    rows = [
        [
            InlineKeyboardButton(
                text=button_label(f"#{order.id} · {state_label(order)} · {order.service_name}"),
                callback_data=OrderCb(id=order.id).pack(),
            )
        ]
        for order in page.items
    ]
    rows.append(nav_row(page.page, page.pages, lambda n: OrdersCb(page=n)))
    rows.append([home_button()])
    text = t("orders.title", total=page.total, page=page.page + 1, pages=page.pages)
    return text, InlineKeyboardMarkup(inline_keyboard=[r for r in rows if r])


def order_detail(
    order: Order, refill: Refill | None = None, panel: PanelCapabilities | None = None
) -> tuple[str, InlineKeyboardMarkup]:
    """The order card; `panel` (what the panel supports) hides a Refill or Cancel it cannot do."""
    lines = [
        t("order.title", id=order.id),
        t("order.service", name=clip(order.service_name, 200), id=order.service_id),
        t("order.state", state=state_label(order)),
    ]
    if order.link:
        lines.append(t("order.link", link=clip(order.link, 300)))
    if order.quantity is not None:
        lines.append(t("order.quantity", quantity=order.quantity))
    lines.append(t("order.charge", amount=money(order.price, order.currency)))
    if order.start_count is not None:
        lines.append(t("order.start_count", count=order.start_count))
    if order.remains is not None:
        lines.append(t("order.remains", count=order.remains))
    if order.refunded > 0:
        lines.append(t("order.refunded", amount=money(order.refunded, order.currency)))
    if order.error and order.state == "refused":
        lines.append(t("order.reason", reason=clip(order.error, 300)))
    if order.cancel_requested_at is not None and order.state == "active":
        lines.append(t("order.cancel_requested"))
    open_refill = refill is not None and refill_is_open(refill)
    if refill is not None and open_refill:
        lines.append(
            t(
                "order.refill_open",
                when=refill.created_at.strftime("%Y-%m-%d %H:%M UTC"),
                state=t(f"refill.{refill.state}"),
            )
        )
    elif refill is not None:
        lines.append(t("order.refill_state", state=t(f"refill.{refill.state}")))
        if refill.reason and refill.state == RefillState.REJECTED:
            lines.append(t("order.refill_reason", reason=clip(refill.reason, 300)))
    lines.append(t("order.created", when=order.created_at.strftime("%Y-%m-%d %H:%M UTC")))

    rows = [
        [
            InlineKeyboardButton(
                text=t("button.refresh"), callback_data=OrderCb(id=order.id, action="refresh").pack()
            )
        ]
    ]
    actions = []
    if can_refill(order, panel) and not open_refill:  # one refill at a time: the button waits for its outcome
        actions.append(
            InlineKeyboardButton(
                text=t("button.refill"), callback_data=OrderCb(id=order.id, action="refill").pack()
            )
        )
    if can_cancel(order, panel):
        actions.append(
            InlineKeyboardButton(
                text=t("button.cancel_order"), callback_data=OrderCb(id=order.id, action="cancel").pack()
            )
        )
    if actions:
        rows.append(actions)
    rows.append(
        [
            InlineKeyboardButton(
                text=t("order.again_button"), callback_data=OrderCb(id=order.id, action="again").pack()
            )
        ]
    )
    rows.append(
        [
            InlineKeyboardButton(text=t("button.my_orders"), callback_data=OrdersCb(page=0).pack()),
            home_button(),
        ]
    )
    return "\n".join(lines), InlineKeyboardMarkup(inline_keyboard=rows)


def already_confirmed(order: Order) -> str:
    """What a repeat Confirm of a form says about the order the first Confirm made: "already
    placed" only once the panel took it; while its placement is under way (or its placer died)
    the order is not placed yet, and while its outcome is being checked it may still be refunded."""
    if order.state == OrderState.PLACING:
        return t("confirm.being_placed", id=order.id)
    if order.state == OrderState.UNKNOWN:
        return t("confirm.unknown", id=order.id)
    return t("confirm.already", id=order.id)


def cancel_confirm(order: Order) -> tuple[str, InlineKeyboardMarkup]:
    """Cancelling cannot be taken back: the customer says Yes once more before the panel is asked."""
    text = "\n".join(
        [
            t("cancel_order.confirm", id=order.id),
            t("order.service", name=clip(order.service_name, 200), id=order.service_id),
            t("order.state", state=state_label(order)),
        ]
    )
    rows = [
        [
            InlineKeyboardButton(
                text=t("cancel_order.yes"), callback_data=OrderCb(id=order.id, action="cancel_yes").pack()
            ),
            InlineKeyboardButton(
                text=t("cancel_order.no"), callback_data=OrderCb(id=order.id, action="view").pack()
            ),
        ]
    ]
    return text, InlineKeyboardMarkup(inline_keyboard=rows)


def reorder_gone(service_id: str) -> tuple[str, InlineKeyboardMarkup]:
    """Order again of a service the shop no longer sells."""
    rows = [
        [InlineKeyboardButton(text=t("button.catalog"), callback_data=MenuCb(screen="catalog").pack())],
        [home_button()],
    ]
    return t("order.again_gone", id=service_id[:32]), InlineKeyboardMarkup(inline_keyboard=rows)
