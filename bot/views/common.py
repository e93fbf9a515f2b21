"""Shared pieces of screens: navigation rows, the main menu (money is bot/telegram/render.py)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.i18n import LANGUAGES, t
from bot.telegram.callbacks import GrowthCb, LangCb, MenuCb
from bot.telegram.render import clip

BUTTON_TEXT_LIMIT = 60


def button_label(text: str) -> str:
    return clip(" ".join(text.split()), BUTTON_TEXT_LIMIT) or "—"


def nav_row(page: int, pages: int, make: Callable[[int], CallbackData]) -> list[InlineKeyboardButton]:
    """◀️ 2/7 ▶️ — only the arrows that lead somewhere; the counter is inert. `make(n)`: page n's data."""
    row: list[InlineKeyboardButton] = []
    if pages <= 1:
        return row
    if page > 0:
        row.append(InlineKeyboardButton(text="◀️", callback_data=make(page - 1).pack()))
    row.append(InlineKeyboardButton(text=f"{page + 1}/{pages}", callback_data=make(page).pack()))
    if page + 1 < pages:
        row.append(InlineKeyboardButton(text="▶️", callback_data=make(page + 1).pack()))
    return row


def home_button() -> InlineKeyboardButton:
    return InlineKeyboardButton(text=t("button.menu"), callback_data=MenuCb(screen="home").pack())


# What /cancel says, by the conversation state it ends (aiogram's "Group:state" names): each says
# what was dropped; a state not listed gets a plain "Cancelled." (an admin's: "Nothing was changed.").
CANCELLED_KEYS: dict[str, str] = {
    "OrderForm:filling": "cancel.done",
    "OrderForm:confirming": "cancel.done",
    "SearchForm:query": "cancel.search",
    "TopUpForm:amount": "topup.cancelled",
    "TopUpForm:receipt": "topup.cancelled",
    "AdminForm:broadcast_content": "cancel.broadcast",
    "AdminForm:broadcast_preview": "cancel.broadcast",
    "AdminFormGrowth:reply": "cancel.reply",
}
ADMIN_STATE_PREFIX = "AdminForm"  # AdminForm, AdminFormGrowth, AdminFormPayments


def cancelled_text(state: str | None, data: Mapping[str, Any]) -> str:
    """The answer to /cancel in `state` with its conversation `data` (state None: nothing to cancel)."""
    if state is None:
        return t("cancel.nothing")
    target = data.get("user_id")
    if state == "AdminForm:balance_amount" and isinstance(target, int):
        return t("admin.balance.cancelled", id=target)
    order = data.get("order_id")
    if state == "AdminForm:refund_amount" and isinstance(order, int):
        return t("cancel.refund", id=order)
    key = CANCELLED_KEYS.get(state)
    if key is None:
        key = "cancel.admin" if state.startswith(ADMIN_STATE_PREFIX) else "cancel.neutral"
    return t(key)


def main_menu() -> InlineKeyboardMarkup:
    """Two buttons a row. Built directly: aiogram's InlineKeyboardBuilder took 7x the time."""

    def button(label: str, screen: str) -> InlineKeyboardButton:
        return InlineKeyboardButton(text=t(label), callback_data=MenuCb(screen=screen).pack())

    def growth(label: str, screen: str) -> InlineKeyboardButton:
        return InlineKeyboardButton(text=t(label), callback_data=GrowthCb(screen=screen).pack())

    return InlineKeyboardMarkup(
        inline_keyboard=[
            [button("button.catalog", "catalog"), button("button.search", "search")],
            [button("button.orders", "orders"), button("button.balance", "balance")],
            [button("button.settings", "settings"), button("button.help", "help")],
            [growth("button.promo", "promo"), growth("button.referrals", "referrals")],
            [growth("button.support", "support")],  # bot/handlers/growth.py
        ]
    )


def only_home() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[home_button()]])


def language_screen() -> tuple[str, InlineKeyboardMarkup]:
    """The customer's settings: a button per language (/settings, ⚙️ Settings)."""
    rows = [
        [
            InlineKeyboardButton(text=name, callback_data=LangCb(code=code).pack())
            for code, name in LANGUAGES.items()
        ],
        [notices_button()],  # which order notices (bot/handlers/growth.py)
        [home_button()],
    ]
    return t("settings.title"), InlineKeyboardMarkup(inline_keyboard=rows)


def notices_button() -> InlineKeyboardButton:
    """The settings screen's entry to the order notices choice."""
    return InlineKeyboardButton(text=t("button.notices"), callback_data=GrowthCb(screen="notices").pack())
