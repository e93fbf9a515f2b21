"""Shared pieces of screens: money, navigation rows, the main menu."""

from __future__ import annotations

from decimal import Decimal

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.i18n import t
from bot.telegram.callbacks import GrowthCb, MenuCb
from bot.telegram.render import clip

BUTTON_TEXT_LIMIT = 60


def money(amount: Decimal, currency: str) -> str:
    """`12.50 USD`; drops trailing zeros beyond the cents, keeps precise sub-cent costs."""
    value = (
        amount.quantize(Decimal("0.01")) if amount == amount.quantize(Decimal("0.01")) else amount.normalize()
    )
    return f"{value:f} {currency}"


def button_label(text: str) -> str:
    return clip(" ".join(text.split()), BUTTON_TEXT_LIMIT) or "—"


def nav_row(page: int, pages: int, make: type, **fixed: object) -> list[InlineKeyboardButton]:
    """◀️ 2/7 ▶️ — only the arrows that lead somewhere; the counter is inert."""
    row: list[InlineKeyboardButton] = []
    if pages <= 1:
        return row
    if page > 0:
        row.append(InlineKeyboardButton(text="◀️", callback_data=make(page=page - 1, **fixed).pack()))
    row.append(
        InlineKeyboardButton(text=f"{page + 1}/{pages}", callback_data=make(page=page, **fixed).pack())
    )
    if page + 1 < pages:
        row.append(InlineKeyboardButton(text="▶️", callback_data=make(page=page + 1, **fixed).pack()))
    return row


def home_button() -> InlineKeyboardButton:
    return InlineKeyboardButton(text=t("button.menu"), callback_data=MenuCb(screen="home").pack())


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
