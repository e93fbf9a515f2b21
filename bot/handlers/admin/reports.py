"""What the admins look at: statistics, the 30-day chart, the panel balance, orders to settle."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from aiogram import Bot, F
from aiogram.filters import Command, CommandObject, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import BufferedInputFile, CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.callback_answer import CallbackAnswer
from aiogram.utils.i18n import I18n

from bot.config import Settings
from bot.handlers.admin.common import AdminForm
from bot.handlers.admin.menu import leave_admin_form
from bot.i18n import t
from bot.panel import PanelError
from bot.services.admin.audit import AuditService
from bot.services.admin.balances import MAX_AMOUNT
from bot.services.admin.chart import render_chart
from bot.services.admin.panel import PanelMonitor
from bot.services.admin.problems import ProblemDesk
from bot.services.admin.stats import StatsService
from bot.services.amounts import AmountError, parse_money
from bot.services.reconcile import ReconcileOutcome, ReconcileResult
from bot.services.topups.report import PaymentsReports
from bot.services.users import UserProfile
from bot.telegram.callbacks import AdminCb, ProblemCb
from bot.telegram.render import ANSWER_FIRST, clip, money, show
from bot.telegram.routes import Routes
from bot.views.admin import (
    chart_caption,
    chart_labels,
    only_menu,
    panel_screen,
    panel_unavailable,
    problems_screen,
    refund_confirm,
    stats_screen,
    usage,
)
from bot.views.payments import payments_block, reconciliation_block
from storage.models import OrderState

router = Routes("admin.reports")
inputs = Routes("admin.reports.inputs")
CHART_DAYS = 30
UPSTREAM_ID_LIMIT = 64


# --- statistics and chart ----------------------------------------------------------------------


async def stats_with_payments(
    stats: StatsService, settings: Settings, payments: PaymentsReports | None, locale: str
) -> tuple[str, InlineKeyboardMarkup]:
    """The shop's statistics, then the payments report (bot/services/topups/report.py)."""
    text, markup = stats_screen(await stats.collect(), settings.currency)
    if payments is not None:
        text += "\n\n" + payments_block(await payments.collect(), settings.currency, locale)
    return text, markup


@router.message(Command("stats"))
async def cmd_stats(
    message: Message,
    stats: StatsService,
    audit: AuditService,
    user: UserProfile,
    settings: Settings,
    i18n: I18n,
    payments_reports: PaymentsReports | None = None,
) -> None:
    await audit.record(user.id, "report.stats")
    await show(message, *await stats_with_payments(stats, settings, payments_reports, i18n.current_locale))


@router.callback_query(AdminCb.filter(F.screen == "stats"))
async def on_stats(
    query: CallbackQuery,
    stats: StatsService,
    audit: AuditService,
    user: UserProfile,
    settings: Settings,
    i18n: I18n,
    payments_reports: PaymentsReports | None = None,
) -> None:
    await audit.record(user.id, "report.stats")
    await show(query, *await stats_with_payments(stats, settings, payments_reports, i18n.current_locale))


async def send_chart(bot: Bot, chat_id: int, stats: StatsService, settings: Settings) -> None:
    points = await stats.daily(CHART_DAYS)
    labels = chart_labels(CHART_DAYS, settings.currency)
    png = await asyncio.to_thread(
        render_chart, [p.day for p in points], [p.orders for p in points], [p.revenue for p in points], labels
    )
    revenue = sum((p.revenue for p in points), start=Decimal(0))
    caption = chart_caption(CHART_DAYS, sum(p.orders for p in points), revenue, settings.currency)
    await bot.send_photo(chat_id, BufferedInputFile(png, filename="chart.png"), caption=caption)


@router.message(Command("chart"))
@router.callback_query(AdminCb.filter(F.screen == "chart"), flags=ANSWER_FIRST)  # drawing takes a while
async def on_chart(
    event: Message | CallbackQuery,
    bot: Bot,
    stats: StatsService,
    audit: AuditService,
    user: UserProfile,
    settings: Settings,
) -> None:
    await audit.record(user.id, "report.chart")
    message = event if isinstance(event, Message) else event.message
    await send_chart(bot, user.id if message is None else message.chat.id, stats, settings)


# --- panel ---------------------------------------------------------------------------------------


async def panel_with_wallets(
    panel_monitor: PanelMonitor, settings: Settings, payments: PaymentsReports | None
) -> tuple[str, InlineKeyboardMarkup]:
    """The panel balance (or why it is unknown), then the wallets-vs-ledger reconciliation."""
    try:
        balance = await panel_monitor.balance()
    except PanelError as error:
        text, markup = panel_unavailable(error.message)
    else:
        text, markup = panel_screen(balance, panel_monitor.threshold, low=panel_monitor.is_low(balance))
    if payments is not None:
        text += "\n\n" + reconciliation_block(await payments.reconciliation(), settings.currency)
    return text, markup


@router.message(Command("panel"))
async def cmd_panel(
    message: Message,
    panel_monitor: PanelMonitor,
    audit: AuditService,
    user: UserProfile,
    settings: Settings,
    payments_reports: PaymentsReports | None = None,
) -> None:
    await audit.record(user.id, "report.panel")
    await show(message, *await panel_with_wallets(panel_monitor, settings, payments_reports))


@router.callback_query(AdminCb.filter(F.screen == "panel"))
async def on_panel(
    query: CallbackQuery,
    panel_monitor: PanelMonitor,
    audit: AuditService,
    user: UserProfile,
    settings: Settings,
    payments_reports: PaymentsReports | None = None,
) -> None:
    await audit.record(user.id, "report.panel")
    await show(query, *await panel_with_wallets(panel_monitor, settings, payments_reports))


# --- problems --------------------------------------------------------------------------------------


def outcome_text(result: ReconcileResult, order_id: int, upstream_id: str = "") -> str:
    order = result.order
    if result.outcome == ReconcileOutcome.DONE and order is not None:
        if order.state == OrderState.REFUSED:
            return t("admin.problems.refunded", id=order.id, amount=money(order.refunded, order.currency))
        if order.state == OrderState.ACTIVE:
            return t("admin.problems.attached", id=order.id, upstream=order.upstream_id or "—")
        return t("admin.problems.settled", id=order.id, amount=money(order.refunded, order.currency))
    if result.outcome == ReconcileOutcome.BAD_AMOUNT and order is not None:
        left = money(order.price - order.refunded, order.currency)
        return t("admin.problems.bad_amount", max=left)
    if result.outcome == ReconcileOutcome.WRONG_STATE and order is not None:
        return t("admin.problems.wrong_state", id=order_id, state=t(f"state.{order.state}"))
    if result.outcome == ReconcileOutcome.DUPLICATE:
        other = order.id if order is not None else "?"
        return t("admin.problems.duplicate", upstream=clip(upstream_id, UPSTREAM_ID_LIMIT), other=other)
    if result.outcome == ReconcileOutcome.UPSTREAM_NOT_FOUND:
        return t("admin.problems.upstream_not_found", upstream=clip(upstream_id, UPSTREAM_ID_LIMIT))
    if result.outcome == ReconcileOutcome.UNAVAILABLE:
        return t("admin.problems.unavailable", reason=clip(result.message or "", 200))
    if result.outcome == ReconcileOutcome.REFUSED:
        return t("admin.problems.refused", reason=clip(result.message or "", 200))
    return t("admin.problems.not_found", id=order_id)


@router.message(Command("problems"))
async def cmd_problems(
    message: Message, state: FSMContext, problems: ProblemDesk, audit: AuditService, user: UserProfile
) -> None:
    await leave_admin_form(state)
    await audit.record(user.id, "report.problems")
    await show(message, *problems_screen(await problems.overview()))


@router.callback_query(AdminCb.filter(F.screen == "problems"))
async def on_problems(
    query: CallbackQuery, state: FSMContext, problems: ProblemDesk, audit: AuditService, user: UserProfile
) -> None:
    await leave_admin_form(state)
    await audit.record(user.id, "report.problems")
    await show(query, *problems_screen(await problems.overview()))


@router.callback_query(ProblemCb.filter())
async def on_problem_button(
    query: CallbackQuery,
    callback_data: ProblemCb,
    state: FSMContext,
    problems: ProblemDesk,
    user: UserProfile,
    callback_answer: CallbackAnswer,
) -> None:
    order_id = callback_data.id
    if callback_data.action == "attach":
        await state.set_state(AdminForm.attach_upstream)
        await state.set_data({"order_id": order_id})
        await show(query, t("admin.problems.ask_upstream", id=order_id), only_menu(), new_message=True)
    elif callback_data.action == "refund":
        order = await problems.order(order_id)
        if order is None:
            await show(query, t("admin.problems.not_found", id=order_id), only_menu())
        else:
            await show(query, *refund_confirm(order))
    elif callback_data.action == "refund_yes":
        result = await problems.not_placed(user.id, order_id)
        await show(query, outcome_text(result, order_id), only_menu())
    elif callback_data.action == "amount":
        order = await problems.order(order_id)
        if order is None:
            await show(query, t("admin.problems.not_found", id=order_id), only_menu())
        else:
            await state.set_state(AdminForm.refund_amount)
            await state.set_data({"order_id": order_id})
            left = money(order.price - order.refunded, order.currency)
            await show(
                query, t("admin.problems.ask_amount", id=order_id, max=left), only_menu(), new_message=True
            )
    elif callback_data.action == "dismiss":
        done = await problems.dismiss(user.id, order_id)  # the id is the problem's here
        callback_answer.text = (
            t("admin.problems.dismissed") if done else t("admin.problems.already_dismissed")
        )
        await show(query, *problems_screen(await problems.overview()))
        return
    else:
        await show(query, *problems_screen(await problems.overview()))


@router.message(Command("attach"))
async def cmd_attach(
    message: Message, command: CommandObject, problems: ProblemDesk, user: UserProfile
) -> None:
    parts = (command.args or "").split()
    raw = parts[0].lstrip("#") if parts else ""
    if len(parts) != 2 or not raw.isdecimal() or len(raw) > 9:  # 9 digits always fit an INTEGER id
        await message.answer(usage("attach"))
        return
    order_id = int(parts[0].lstrip("#"))
    result = await problems.attach(user.id, order_id, parts[1][:UPSTREAM_ID_LIMIT])
    await message.answer(outcome_text(result, order_id, parts[1]))


@router.message(Command("notplaced"))
async def cmd_not_placed(
    message: Message, command: CommandObject, problems: ProblemDesk, user: UserProfile
) -> None:
    raw = (command.args or "").strip().lstrip("#")
    if not raw.isdecimal() or len(raw) > 9:  # 9 digits always fit an INTEGER id (more overflowed PostgreSQL)
        await message.answer(usage("notplaced"))
        return
    result = await problems.not_placed(user.id, int(raw))
    await message.answer(outcome_text(result, int(raw)))


@inputs.message(StateFilter(AdminForm.refund_amount), F.text, ~F.text.startswith("/"))
async def on_refund_amount(
    message: Message, state: FSMContext, problems: ProblemDesk, user: UserProfile
) -> None:
    order_id = int((await state.get_data()).get("order_id") or 0)
    try:  # the bounds that matter (what is left of the price) are the service's to check
        amount: Decimal | None = parse_money(message.text or "", maximum=MAX_AMOUNT, allow_zero=True)
    except AmountError:
        amount = None
    if amount is None:
        order = await problems.order(order_id)
        left = money(order.price - order.refunded, order.currency) if order is not None else "—"
        await message.answer(t("admin.problems.bad_amount", max=left))
        return
    result = await problems.refund_amount(user.id, order_id, amount)
    if result.outcome == ReconcileOutcome.BAD_AMOUNT:
        await message.answer(outcome_text(result, order_id))
        return
    await state.clear()
    await message.answer(outcome_text(result, order_id), reply_markup=only_menu())


@inputs.message(StateFilter(AdminForm.attach_upstream), F.text, ~F.text.startswith("/"))
async def on_upstream_id(
    message: Message, state: FSMContext, problems: ProblemDesk, user: UserProfile
) -> None:
    order_id = int((await state.get_data()).get("order_id") or 0)
    upstream_id = (message.text or "").strip()[:UPSTREAM_ID_LIMIT]
    result = await problems.attach(user.id, order_id, upstream_id)
    if result.outcome in (ReconcileOutcome.UPSTREAM_NOT_FOUND, ReconcileOutcome.UNAVAILABLE):
        await message.answer(
            outcome_text(result, order_id, upstream_id) + "\n" + t("admin.problems.try_again")
        )
        return
    await state.clear()
    await message.answer(outcome_text(result, order_id, upstream_id), reply_markup=only_menu())
