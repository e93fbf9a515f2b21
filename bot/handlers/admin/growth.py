"""Growth in the admin console: promo codes, support tickets, owner alerts, the referral percent."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal

from aiogram import F
from aiogram.filters import Command, CommandObject, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.callback_answer import CallbackAnswer

from bot.config import Settings
from bot.handlers.admin.menu import leave_admin_form
from bot.i18n import Html, t
from bot.services.admin.audit import AuditService
from bot.services.amounts import AmountError, parse_money, parse_percent
from bot.services.growth.promo import PromoExists, PromoService, PromoSpecError, parse_spec
from bot.services.growth.settings import PERCENT_MAX, Alert, GrowthSettings
from bot.services.growth.support import Content, ReplyOutcome, SupportDesk
from bot.services.users import UserProfile
from bot.telegram.callbacks import AdminCb, GrowthAdminCb, TicketCb
from bot.telegram.render import show
from bot.telegram.routes import Routes
from bot.views.admin import amount_error, only_menu, percent_error
from bot.views.growth import alerts_screen, promo_line, promos_screen, tickets_screen

router = Routes("admin.growth")
inputs = Routes("admin.growth.inputs")
TICKET_KEY = "support_ticket"
ALERT_AMOUNT_MAX = Decimal("1000000")


class AdminFormGrowth(StatesGroup):
    """Named after AdminForm so that opening another admin screen ends it (leave_admin_form)."""

    reply = State()  # the admin's next message is the reply to a ticket


# --- promo codes ------------------------------------------------------------------------------------------


@router.message(Command("newpromo"))
async def cmd_newpromo(
    message: Message, command: CommandObject, promos: PromoService, user: UserProfile, settings: Settings
) -> None:
    try:
        spec = parse_spec(command.args or "")
        promo = await promos.create(user.id, spec)
    except PromoSpecError as error:
        await message.answer(
            t(error.key, **error.values) + "\n\n" + t("promo.admin.usage"), reply_markup=only_menu()
        )
        return
    except PromoExists:
        await message.answer(t("promo.admin.exists"), reply_markup=only_menu())
        return
    await message.answer(
        t("promo.admin.created", line=Html(promo_line(promo, settings.currency))), reply_markup=only_menu()
    )


@router.message(Command("promos"))
async def cmd_promos(
    message: Message, promos: PromoService, audit: AuditService, user: UserProfile, settings: Settings
) -> None:
    await audit.record(user.id, "promo.list")
    await show(message, *promos_screen(await promos.listed(), settings.currency))


@router.callback_query(AdminCb.filter(F.screen == "promos"))
async def on_promos(
    query: CallbackQuery,
    state: FSMContext,
    promos: PromoService,
    audit: AuditService,
    user: UserProfile,
    settings: Settings,
) -> None:
    await leave_admin_form(state)
    await audit.record(user.id, "promo.list")
    await show(query, *promos_screen(await promos.listed(), settings.currency))


@router.callback_query(GrowthAdminCb.filter(F.action.in_({"promo_on", "promo_off"})))
async def on_promo_switch(
    query: CallbackQuery,
    callback_answer: CallbackAnswer,
    callback_data: GrowthAdminCb,
    promos: PromoService,
    user: UserProfile,
    settings: Settings,
) -> None:
    promo = await promos.set_active(user.id, callback_data.id, callback_data.action == "promo_on")
    if promo is None:
        callback_answer.text, callback_answer.show_alert = t("stale.button"), True
        return
    await show(query, *promos_screen(await promos.listed(), settings.currency))
    callback_answer.text = t("promo.admin.switched", code=promo.code)


# --- support tickets --------------------------------------------------------------------------------------


@router.message(Command("tickets"))
async def cmd_tickets(
    message: Message, support_desk: SupportDesk, audit: AuditService, user: UserProfile
) -> None:
    await audit.record(user.id, "support.list")
    await show(message, *tickets_screen(*await support_desk.waiting()))


@router.callback_query(AdminCb.filter(F.screen == "tickets"))
@router.callback_query(TicketCb.filter(F.action == "list"))
async def on_tickets(
    query: CallbackQuery, state: FSMContext, support_desk: SupportDesk, audit: AuditService, user: UserProfile
) -> None:
    await leave_admin_form(state)
    await audit.record(user.id, "support.list")
    await show(query, *tickets_screen(*await support_desk.waiting()))


@router.callback_query(TicketCb.filter(F.action == "view"))
async def on_ticket_view(
    query: CallbackQuery,
    callback_answer: CallbackAnswer,
    callback_data: TicketCb,
    support_desk: SupportDesk,
    user: UserProfile,
) -> None:
    found = await support_desk.history(callback_data.id, user.id)
    if found is None:
        callback_answer.text, callback_answer.show_alert = (
            t("support.admin.not_found", id=callback_data.id),
            True,
        )
        return
    await show(query, *found, new_message=True)


@router.callback_query(TicketCb.filter(F.action == "reply"))
async def on_ticket_reply(
    query: CallbackQuery,
    callback_answer: CallbackAnswer,
    callback_data: TicketCb,
    state: FSMContext,
    support_desk: SupportDesk,
    user: UserProfile,
) -> None:
    taken = await support_desk.take(callback_data.id, user.id)
    if taken.ticket is None:
        callback_answer.text, callback_answer.show_alert = (
            t("support.admin.not_found", id=callback_data.id),
            True,
        )
        return
    if taken.ticket.status == "closed":
        callback_answer.text, callback_answer.show_alert = (
            t("support.admin.is_closed", id=callback_data.id),
            True,
        )
        return
    if not taken.ok:
        callback_answer.text, callback_answer.show_alert = (
            t("support.admin.taken_alert", who=taken.taker or "?"),
            True,
        )
        return
    await state.set_state(AdminFormGrowth.reply)
    await state.update_data({TICKET_KEY: taken.ticket.id})
    if query.message is not None:
        await query.bot.send_message(  # type: ignore[union-attr]
            query.from_user.id, t("support.admin.write_reply", id=taken.ticket.id), reply_markup=only_menu()
        )


@router.callback_query(TicketCb.filter(F.action == "close"))
async def on_ticket_close(
    query: CallbackQuery,
    callback_answer: CallbackAnswer,
    callback_data: TicketCb,
    state: FSMContext,
    support_desk: SupportDesk,
    user: UserProfile,
) -> None:
    ticket = await support_desk.close(callback_data.id, user.id)
    if ticket is None:
        callback_answer.text, callback_answer.show_alert = (
            t("support.admin.not_found", id=callback_data.id),
            True,
        )
        return
    data = await state.get_data()
    if data.get(TICKET_KEY) == ticket.id:
        await state.clear()
    callback_answer.text = t("support.admin.closed_now", id=ticket.id)


@inputs.message(StateFilter(AdminFormGrowth.reply), ~F.text.startswith("/"))
async def on_reply_text(
    message: Message, state: FSMContext, support_desk: SupportDesk, user: UserProfile
) -> None:
    content = Content.of(message, html=True)
    ticket_id = (await state.get_data()).get(TICKET_KEY)
    if not isinstance(ticket_id, int):
        await state.clear()
        await message.answer(t("stale.form"), reply_markup=only_menu())
        return
    if content is None:
        await message.answer(t("support.need_content"))
        return
    result = await support_desk.reply(ticket_id, user.id, content)
    if result.outcome == ReplyOutcome.SENT:
        await state.clear()
        await message.answer(
            t("support.admin.sent", id=ticket_id, who=result.customer), reply_markup=only_menu()
        )
        return
    await state.clear()
    key = {
        ReplyOutcome.TAKEN: "support.admin.taken_alert",
        ReplyOutcome.CLOSED: "support.admin.is_closed",
        ReplyOutcome.NOT_FOUND: "support.admin.not_found",
        ReplyOutcome.BLOCKED: "support.admin.blocked",
        ReplyOutcome.FAILED: "support.admin.failed",
    }[result.outcome]
    await message.answer(t(key, id=ticket_id, who=result.taker or result.customer), reply_markup=only_menu())


# --- owner alerts and the referral percent -----------------------------------------------------------


async def alerts_view(
    growth_settings: GrowthSettings, settings: Settings
) -> tuple[str, InlineKeyboardMarkup]:
    return alerts_screen(
        {alert.value: on for alert, on in (await growth_settings.alerts()).items()},
        await growth_settings.order_amount(),
        await growth_settings.referral_percent(),
        settings.currency,
    )


@router.message(Command("alerts"))
async def cmd_alerts(
    message: Message,
    growth_settings: GrowthSettings,
    audit: AuditService,
    user: UserProfile,
    settings: Settings,
) -> None:
    await audit.record(user.id, "alerts.view")
    await show(message, *await alerts_view(growth_settings, settings))


@router.callback_query(AdminCb.filter(F.screen == "alerts"))
async def on_alerts(
    query: CallbackQuery,
    state: FSMContext,
    growth_settings: GrowthSettings,
    audit: AuditService,
    user: UserProfile,
    settings: Settings,
) -> None:
    await leave_admin_form(state)
    await audit.record(user.id, "alerts.view")
    await show(query, *await alerts_view(growth_settings, settings))


@router.callback_query(GrowthAdminCb.filter(F.action == "alert"))
async def on_alert_switch(
    query: CallbackQuery,
    callback_answer: CallbackAnswer,
    callback_data: GrowthAdminCb,
    growth_settings: GrowthSettings,
    audit: AuditService,
    user: UserProfile,
    settings: Settings,
) -> None:
    name, _, wanted = callback_data.value.partition(".")
    try:
        alert = Alert(name)
    except ValueError:
        callback_answer.text = t("stale.button")
        return
    await growth_settings.set_alert(alert, wanted == "on")
    await audit.record(user.id, "alerts.switch", alert=alert.value, on=wanted == "on")
    await show(query, *await alerts_view(growth_settings, settings))


@dataclass(frozen=True)
class ValueSetting:
    """A number the owner sets with a command: how it is read, what its problems say, where it is
    saved and audited. One handler serves every row of VALUE_SETTINGS."""

    usage_key: str  # the hint that follows the problem
    parse: Callable[[str], Decimal]  # raises AmountError naming the problem
    problem: Callable[[AmountError, str, Settings], str]
    save: Callable[[GrowthSettings, Decimal], Awaitable[None]]
    audit_action: str
    audit_field: str


VALUE_SETTINGS = {
    "alertamount": ValueSetting(
        usage_key="alerts.admin.bad_amount",
        parse=lambda text: parse_money(text, maximum=ALERT_AMOUNT_MAX, allow_zero=True),
        problem=lambda error, typed, settings: amount_error(error, typed, settings.currency),
        save=GrowthSettings.set_order_amount,
        audit_action="alerts.order_amount",
        audit_field="amount",
    ),
    "refpercent": ValueSetting(
        usage_key="alerts.admin.bad_percent",
        parse=lambda text: parse_percent(text, maximum=PERCENT_MAX),
        problem=lambda error, typed, settings: percent_error(error, typed),
        save=GrowthSettings.set_referral_percent,
        audit_action="referral.percent",
        audit_field="percent",
    ),
}


@router.message(Command(*VALUE_SETTINGS))
async def cmd_value_setting(
    message: Message,
    command: CommandObject,
    growth_settings: GrowthSettings,
    audit: AuditService,
    user: UserProfile,
    settings: Settings,
) -> None:
    """`/alertamount 100`, `/refpercent 5`: saved and the alerts screen shown again, or the problem
    named the way /addbalance names it, then the usage."""
    setting = VALUE_SETTINGS[command.command.lower()]
    typed = (command.args or "").strip()
    try:
        value = setting.parse(typed)
    except AmountError as error:
        problem = setting.problem(error, typed, settings) if typed else ""
        await message.answer(
            "\n".join(filter(None, (problem, t(setting.usage_key)))), reply_markup=only_menu()
        )
        return
    await setting.save(growth_settings, value)
    await audit.record(user.id, setting.audit_action, **{setting.audit_field: value})
    await show(message, *await alerts_view(growth_settings, settings))
