"""The order form's screens: one question at a time, then the summary with the exact price."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.i18n import Html, t, tn
from bot.services.catalog import ServiceView
from bot.services.forms import FormField, takes_list_file
from bot.services.platforms import BY_SLUG
from bot.services.pricing import Quote
from bot.telegram.callbacks import FormAction, FormCb
from bot.telegram.render import clip, money
from bot.views.topup import topup_button

VALUE_LIMIT = 300
LIST_PREVIEW = 5


def _controls(draft: str, *, back: bool, skip: bool = False) -> list[InlineKeyboardButton]:
    row = []
    if back:
        row.append(
            InlineKeyboardButton(
                text=t("button.back"), callback_data=FormCb(action=FormAction.BACK, draft=draft).pack()
            )
        )
    if skip:
        row.append(
            InlineKeyboardButton(
                text=t("button.skip"), callback_data=FormCb(action=FormAction.SKIP, draft=draft).pack()
            )
        )
    row.append(
        InlineKeyboardButton(
            text=t("button.cancel"), callback_data=FormCb(action=FormAction.CANCEL, draft=draft).pack()
        )
    )
    return row


def choice_label(item: FormField, choice: str) -> str:
    return t(f"choice.{item.name}.{choice}")


def link_prompt(view: ServiceView, item: FormField) -> str | None:
    """The order's link asked for the service's platform, with an example of its links."""
    platform = BY_SLUG.get(view.platform)
    if item.name != "link" or platform is None or not platform.checks_links:
        return None
    return t("field.link_platform", platform=platform.name, example=platform.example)


def field_prompt(
    view: ServiceView, item: FormField, draft: str, *, first: bool, error: str | None = None
) -> tuple[str, InlineKeyboardMarkup]:
    """The question for one field; choices are buttons, every step has Back and Cancel."""
    prompt = link_prompt(view, item) or t(
        f"field.{item.name}",
        min=view.min_quantity,
        max=view.max_quantity,
    )
    if takes_list_file(item):
        prompt = f"{prompt}\n{t('form.file_hint')}"
    header = t("form.header", name=clip(view.name, 200), id=view.service_id)
    text = f"{header}\n\n{prompt}" if error is None else f"{error}\n\n{prompt}"
    rows: list[list[InlineKeyboardButton]] = []
    if item.choices:
        rows.append(
            [
                InlineKeyboardButton(
                    text=choice_label(item, choice),
                    callback_data=FormCb(action=FormAction.CHOICE, draft=draft, value=choice).pack(),
                )
                for choice in item.choices
            ]
        )
    rows.append(_controls(draft, back=not first, skip=item.optional))
    return text, InlineKeyboardMarkup(inline_keyboard=rows)


def format_value(item: FormField, value: Any) -> str:
    if isinstance(value, list):
        shown = [clip(str(v), 80) for v in value[:LIST_PREVIEW]]
        more = len(value) - len(shown)
        text = "; ".join(shown)
        return text + (" " + tn("summary.more", more) if more > 0 else "")
    if item.choices:
        return choice_label(item, str(value))
    return clip(str(value), VALUE_LIMIT)


def summary(
    view: ServiceView,
    fields: list[FormField],
    values: Mapping[str, Any],
    price: Quote,
    draft: str,
    currency: str,
    *,
    wallet_enabled: bool,
    balance: Decimal | None = None,
) -> tuple[str, InlineKeyboardMarkup]:
    """The answers, the price and, with a wallet, the balance before and after the order; a short
    balance is said before Confirm, with a Top up button for the missing amount."""
    lines = [t("summary.title"), t("summary.service", name=clip(view.name, 200), id=view.service_id)]
    for item in fields:
        if item.name in values and values[item.name] not in (None, ""):
            value = format_value(item, values[item.name])
            if item.name == "quantity" and values.get("dripfeed") == "yes":
                value = Html(t("summary.per_run", quantity=value))  # already escaped
            lines.append(t("summary.line", label=t(f"label.{item.name}"), value=value))
        elif item.optional:
            lines.append(t("summary.line", label=t(f"label.{item.name}"), value=t("summary.not_set")))
    lines.append("")
    lines.append(t("summary.price", price=money(price.price, currency)))
    short = Decimal(0)
    if not wallet_enabled or balance is None:
        lines.append(t("summary.wallet_off"))
    else:
        lines.append(t("summary.balance", balance=money(balance, currency)))
        short = price.price - balance
        if short > 0:
            lines.append("")
            lines.append(t("summary.short", shortfall=money(short, currency)))
        else:
            lines.append(t("summary.after", balance=money(balance - price.price, currency)))
    rows: list[list[InlineKeyboardButton]] = []
    if short > 0:  # before Confirm: top up first (Confirm stays, for a top-up made meanwhile)
        rows.append([topup_button(suggest=short)])
    markup = InlineKeyboardMarkup(
        inline_keyboard=[
            *rows,
            [
                InlineKeyboardButton(
                    text=t("button.confirm"),
                    callback_data=FormCb(action=FormAction.CONFIRM, draft=draft).pack(),
                )
            ],
            [
                InlineKeyboardButton(
                    text=t("button.edit"), callback_data=FormCb(action=FormAction.EDIT, draft=draft).pack()
                ),
                InlineKeyboardButton(
                    text=t("button.cancel"),
                    callback_data=FormCb(action=FormAction.CANCEL, draft=draft).pack(),
                ),
            ],
        ]
    )
    return "\n".join(lines), markup


def edit_menu(fields: list[FormField], draft: str) -> tuple[str, InlineKeyboardMarkup]:
    rows = [
        [
            InlineKeyboardButton(
                text=t(f"label.{item.name}"),
                callback_data=FormCb(action=FormAction.FIELD, draft=draft, value=item.name).pack(),
            )
        ]
        for item in fields
    ]
    rows.append(
        [
            InlineKeyboardButton(
                text=t("button.back"), callback_data=FormCb(action=FormAction.SUMMARY, draft=draft).pack()
            )
        ]
    )
    return t("form.edit_which"), InlineKeyboardMarkup(inline_keyboard=rows)
