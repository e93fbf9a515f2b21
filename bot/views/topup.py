"""The customer's top-up screens: amounts, methods, the Crypto Pay invoice, manual instructions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.i18n import Html, t
from bot.telegram.callbacks import MenuCb, TopUpCb
from bot.telegram.render import clip, money
from bot.views.common import button_label, home_button

PRESETS_PER_ROW = 3
INVOICE_TITLE_LIMIT = 32
INVOICE_DESCRIPTION_LIMIT = 255


@dataclass(frozen=True)
class MethodChoice:
    """One way to pay shown to the customer: `code` is stars, crypto or m<manual method id>."""

    code: str
    label: str


def _button(text: str, data: TopUpCb) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=button_label(text), callback_data=data.pack())


def topup_button(suggest: Decimal | None = None) -> InlineKeyboardButton:
    """ "Top up" for other screens (balance, not enough balance): opens the top-up menu."""
    value = format(suggest, "f") if suggest is not None else ""
    return _button(t("button.topup"), TopUpCb(action="menu", value=value))


def amount_menu(
    presets: Sequence[Decimal],
    currency: str,
    minimum: Decimal,
    maximum: Decimal,
    balance: Decimal,
    *,
    suggest: Decimal | None = None,
) -> tuple[str, InlineKeyboardMarkup]:
    lines = [
        t("topup.menu", balance=money(balance, currency)),
        t("topup.menu_range", min=money(minimum, currency), max=money(maximum, currency)),
    ]
    rows: list[list[InlineKeyboardButton]] = []
    if suggest is not None:
        rows.append(
            [
                _button(
                    t("topup.suggest", amount=money(suggest, currency)),
                    TopUpCb(action="amount", value=format(suggest, "f")),
                )
            ]
        )
    buttons = [
        _button(money(amount, currency), TopUpCb(action="amount", value=format(amount, "f")))
        for amount in presets
    ]
    rows.extend(buttons[i : i + PRESETS_PER_ROW] for i in range(0, len(buttons), PRESETS_PER_ROW))
    rows.append([home_button()])
    return "\n".join(lines), InlineKeyboardMarkup(inline_keyboard=rows)


def methods_menu(
    amount: Decimal, currency: str, choices: Sequence[MethodChoice]
) -> tuple[str, InlineKeyboardMarkup]:
    rows = [
        [_button(choice.label, TopUpCb(action="pay", method=choice.code, value=format(amount, "f")))]
        for choice in choices
    ]
    rows.append([_button(t("button.topup_other_amount"), TopUpCb(action="menu")), home_button()])
    return t("topup.choose_method", amount=money(amount, currency)), InlineKeyboardMarkup(
        inline_keyboard=rows
    )


def unavailable() -> tuple[str, InlineKeyboardMarkup]:
    return t("topup.unavailable"), InlineKeyboardMarkup(inline_keyboard=[[home_button()]])


def invoice_texts(amount: Decimal, currency: str, stars: int) -> tuple[str, str, str]:
    """Title, description and price label of a Stars invoice (Telegram's length limits kept)."""
    title = clip(t("topup.invoice.title", amount=money(amount, currency)), INVOICE_TITLE_LIMIT)
    description = clip(
        t("topup.invoice.description", amount=money(amount, currency), stars=stars), INVOICE_DESCRIPTION_LIMIT
    )
    return title, description, clip(t("topup.invoice.label", amount=money(amount, currency)), 32)


def stars_sent(stars: int) -> str:
    return t("topup.stars.sent", stars=stars)


def crypto_invoice(
    topup_id: int, amount: Decimal, currency: str, pay_url: str | None
) -> tuple[str, InlineKeyboardMarkup]:
    rows: list[list[InlineKeyboardButton]] = []
    if pay_url:
        rows.append([InlineKeyboardButton(text=button_label(t("button.pay_crypto")), url=pay_url)])
    rows.append([_button(t("button.topup_paid"), TopUpCb(action="check", value=str(topup_id)))])
    rows.append([home_button()])
    text = t("topup.crypto.invoice", id=topup_id, amount=money(amount, currency))
    return text, InlineKeyboardMarkup(inline_keyboard=rows)


def manual_instructions(
    name: str, instructions: str, amount: Decimal, currency: str
) -> tuple[str, InlineKeyboardMarkup]:
    text = t(
        "topup.manual.instructions",
        name=clip(name, 40),
        amount=money(amount, currency),
        instructions=Html(instructions),
    )
    rows = [[_button(t("button.topup_cancel"), TopUpCb(action="cancel"))]]
    return text, InlineKeyboardMarkup(inline_keyboard=rows)


def after_request() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text=t("button.balance"), callback_data=MenuCb(screen="balance").pack())],
            [home_button()],
        ]
    )
