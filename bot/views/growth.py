"""Screens of the growth features: promo codes, referrals, support tickets, owner alerts, notices.

Callback data prefixes are distinct from the shop's (bot/telegram/callbacks.py) and the admin
console's (bot/views/admin.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from html import escape

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.i18n import Html, t, tn
from bot.services.growth.support import SupportScreens
from bot.telegram.callbacks import AdminCb, GrowthAdminCb, GrowthCb, MenuCb, TicketCb
from bot.telegram.render import clip, money, percent
from bot.views.common import button_label, home_button
from storage.models import (
    NoticeLevel,
    PromoCode,
    PromoKind,
    SupportMessage,
    SupportTicket,
    TicketStatus,
    User,
)

TEXT_LIMIT = 3000


def _button(text: str, data: CallbackData) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=button_label(text), callback_data=data.pack())


def person(user: User | None, user_id: int) -> str:
    if user is None:
        return str(user_id)
    name = clip(user.first_name or "—", 40)
    return f"{name} (@{user.username}, {user.id})" if user.username else f"{name} ({user.id})"


# --- customers ----------------------------------------------------------------------------------------


def back_home() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[home_button()]])


def referral_screen(link: str, referees: int, earned: Decimal, share: Decimal, currency: str) -> str:
    lines = [t("referral.title")]
    if share > 0:
        lines.append(t("referral.terms", percent=percent(share)))
    else:
        lines.append(t("referral.off"))
    lines += [
        "",
        t("referral.link", link=link),
        "",
        tn("referral.stats", referees, earned=money(earned, currency)),
    ]
    return "\n".join(lines)


def notices_screen(current: str) -> tuple[str, InlineKeyboardMarkup]:
    def option(level: NoticeLevel, label: str) -> InlineKeyboardButton:
        mark = "✅ " if current == level else ""
        return InlineKeyboardButton(
            text=mark + label, callback_data=GrowthCb(screen="notices", value=level.value).pack()
        )

    rows = [
        [option(NoticeLevel.ALL, t("button.notices_all"))],
        [option(NoticeLevel.FINAL, t("button.notices_final"))],
        [InlineKeyboardButton(text=t("button.back"), callback_data=MenuCb(screen="settings").pack())],
    ]
    explained = t("notices.all") if current == NoticeLevel.ALL else t("notices.final")
    return "\n".join([t("notices.title"), "", explained]), InlineKeyboardMarkup(inline_keyboard=rows)


def support_done_markup() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [_button(t("button.support_done"), GrowthCb(screen="support_done"))],
            [home_button()],
        ]
    )


# --- admins: tickets ----------------------------------------------------------------------------------


def ticket_status(ticket: SupportTicket, taker: str | None) -> str:
    if ticket.status == TicketStatus.CLOSED:
        return t("support.admin.closed", who=taker or "—") if taker else t("support.admin.closed_plain")
    if taker:
        key = (
            "support.admin.answered_by"
            if ticket.status == TicketStatus.ANSWERED
            else "support.admin.taken_by"
        )
        return t(key, who=taker)
    return t("support.admin.waiting")


def ticket_card(
    ticket: SupportTicket,
    message: SupportMessage,
    customer: User | None,
    taker: str | None,
    *,
    for_admin: int,
    limit: int = TEXT_LIMIT,
) -> tuple[str, InlineKeyboardMarkup | None]:
    """What an admin gets for one customer message: the ticket, the customer, the text, the status."""
    lines = [
        t("support.admin.card", id=ticket.id, who=person(customer, ticket.user_id)),
        "",
        escape(clip(message.text, limit - 400), quote=False)
        if message.text
        else t(f"support.kind.{message.kind}"),
    ]
    if message.text and message.kind != "text":
        lines[2] = t(f"support.kind.{message.kind}") + "\n" + lines[2]
    lines += ["", ticket_status(ticket, taker)]
    return "\n".join(line if isinstance(line, str) else str(line) for line in lines), ticket_buttons(
        ticket, for_admin
    )


def ticket_buttons(ticket: SupportTicket, admin_id: int) -> InlineKeyboardMarkup | None:
    if ticket.status == TicketStatus.CLOSED:
        return None
    row = []
    if ticket.taken_by is None or ticket.taken_by == admin_id:
        row.append(_button(t("button.support_reply"), TicketCb(action="reply", id=ticket.id)))
    row.append(_button(t("button.support_close"), TicketCb(action="close", id=ticket.id)))
    return InlineKeyboardMarkup(inline_keyboard=[row])


def tickets_screen(
    tickets: Sequence[SupportTicket], people: Mapping[int, User]
) -> tuple[str, InlineKeyboardMarkup]:
    lines = [t("support.admin.list_title")]
    rows: list[list[InlineKeyboardButton]] = []
    if not tickets:
        lines.append(t("support.admin.list_empty"))
    for ticket in tickets:
        taker = person(people.get(ticket.taken_by), ticket.taken_by) if ticket.taken_by else None
        lines.append(
            t(
                "support.admin.list_line",
                id=ticket.id,
                who=person(people.get(ticket.user_id), ticket.user_id),
                status=Html(ticket_status(ticket, taker)),
                when=ticket.updated_at.strftime("%Y-%m-%d %H:%M"),
            )
        )
        rows.append([_button(t("button.support_view", id=ticket.id), TicketCb(action="view", id=ticket.id))])
    rows.append([_button(t("admin.button.menu"), AdminCb(screen="menu"))])
    return "\n".join(lines), InlineKeyboardMarkup(inline_keyboard=rows)


def ticket_history(
    ticket: SupportTicket, messages: Sequence[SupportMessage], people: Mapping[int, User], admin_id: int
) -> tuple[str, InlineKeyboardMarkup | None]:
    taker = person(people.get(ticket.taken_by), ticket.taken_by) if ticket.taken_by else None
    lines = [
        t("support.admin.card", id=ticket.id, who=person(people.get(ticket.user_id), ticket.user_id)),
        "",
    ]
    budget = TEXT_LIMIT - 600
    for message in messages:
        who = person(people.get(message.author_id), message.author_id) if message.from_admin else None
        body = clip(message.text or "", 500) if message.text else t(f"support.kind.{message.kind}")
        line = (
            t("support.admin.from_admin", who=who, text=body)
            if who
            else t("support.admin.from_customer", text=body)
        )
        budget -= len(line)
        if budget < 0:
            break
        lines.append(line)
    lines += ["", ticket_status(ticket, taker)]
    return "\n".join(lines), ticket_buttons(ticket, admin_id)


def reply_for_customer(ticket_id: int, html: str) -> str:
    return t("support.reply", id=ticket_id, text=Html(html))


# --- admins: promo codes and alerts -------------------------------------------------------------------


def promo_line(promo: PromoCode, currency: str) -> str:
    value = (
        money(promo.amount, currency)
        if promo.kind == PromoKind.CREDIT
        else t("promo.admin.bonus", percent=percent(promo.amount))
    )
    limits = [
        t("promo.admin.uses", uses=promo.uses, max=promo.max_uses if promo.max_uses is not None else "∞")
    ]
    if promo.per_user != 1:
        limits.append(tn("promo.admin.per_user", promo.per_user))
    if promo.min_topup is not None:
        limits.append(t("promo.admin.min", amount=money(promo.min_topup, currency)))
    if promo.expires_at is not None:
        limits.append(t("promo.admin.until", when=promo.expires_at.strftime("%Y-%m-%d %H:%M")))
    state = "" if promo.active else " " + t("promo.admin.off")
    return t("promo.admin.line", code=promo.code, value=Html(value), limits=Html(", ".join(limits))) + state


def promos_screen(promos: Sequence[PromoCode], currency: str) -> tuple[str, InlineKeyboardMarkup]:
    lines = [t("promo.admin.title"), ""]
    rows: list[list[InlineKeyboardButton]] = []
    if not promos:
        lines.append(t("promo.admin.none"))
    for promo in promos:
        lines.append(promo_line(promo, currency))
        if promo.active:
            rows.append(
                [
                    _button(
                        t("button.promo_off", code=promo.code), GrowthAdminCb(action="promo_off", id=promo.id)
                    )
                ]
            )
        else:
            rows.append(
                [
                    _button(
                        t("button.promo_on", code=promo.code), GrowthAdminCb(action="promo_on", id=promo.id)
                    )
                ]
            )
    lines += ["", t("promo.admin.usage")]
    rows.append([_button(t("admin.button.menu"), AdminCb(screen="menu"))])
    return "\n".join(lines), InlineKeyboardMarkup(inline_keyboard=rows)


def alerts_screen(
    alerts: Mapping[str, bool], order_amount: Decimal, referral_percent: Decimal, currency: str
) -> tuple[str, InlineKeyboardMarkup]:
    lines = [t("alerts.admin.title"), ""]
    rows: list[list[InlineKeyboardButton]] = []
    for name, on in alerts.items():
        label = t(f"alerts.name.{name}", amount=money(order_amount, currency))
        lines.append(
            t("alerts.admin.line", name=Html(label), state=t("alerts.on") if on else t("alerts.off"))
        )
        rows.append(
            [
                _button(
                    t("button.alert_off" if on else "button.alert_on", name=t(f"alerts.short.{name}")),
                    GrowthAdminCb(action="alert", value=f"{name}.{'off' if on else 'on'}"),
                )
            ]
        )
    lines += [
        "",
        t("alerts.admin.referral", percent=percent(referral_percent)),
        "",
        t("alerts.admin.usage"),
    ]
    rows.append([_button(t("admin.button.menu"), AdminCb(screen="menu"))])
    return "\n".join(lines), InlineKeyboardMarkup(inline_keyboard=rows)


SUPPORT_SCREENS = SupportScreens(
    card=ticket_card, person=person, reply_for_customer=reply_for_customer, history=ticket_history
)
