"""Payments for the owner: manual methods, Approve / Reject of receipts, Stars refunds."""

from __future__ import annotations

from aiogram import F
from aiogram.filters import Command, CommandObject, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message
from aiogram.utils.callback_answer import CallbackAnswer
from aiogram.utils.i18n import I18n

from bot.config import Settings
from bot.handlers.admin.menu import leave_admin_form
from bot.i18n import LANGUAGES, t
from bot.services.topups.desk import ManualDesk
from bot.services.topups.methods import INSTRUCTIONS_LIMIT, NAME_LIMIT, ManualMethods, localized
from bot.services.topups.service import DecideOutcome, TopUpService
from bot.services.users import UserProfile
from bot.telegram.callbacks import AdminCb, AdminTopUpCb, PayMethodCb
from bot.telegram.render import money, show
from bot.telegram.routes import Routes
from bot.views.admin import only_menu
from bot.views.payments import delete_confirm, methods_screen, pending_screen, refund_text, skip_markup

router = Routes("admin.payments")
inputs = Routes("admin.payments.inputs")
OTHER_LANGUAGES = [code for code in LANGUAGES if code != "en"]


class AdminFormPayments(StatesGroup):
    """Adding a manual method (named AdminForm… so opening another admin screen ends it too)."""

    name = State()
    instructions = State()


# --- payment methods ------------------------------------------------------------------------------


async def methods_view(
    event: Message | CallbackQuery,
    topup_methods: ManualMethods,
    topups: TopUpService,
    settings: Settings,
    i18n: I18n,
) -> None:
    methods = await topup_methods.listed(enabled_only=False)
    network = topups.cryptopay.network if topups.cryptopay is not None else None
    await show(
        event,
        *methods_screen(
            methods,
            locale=i18n.current_locale,
            stars_rate=settings.stars_rate,
            cryptopay=network,
            currency=settings.currency,
        ),
    )


@router.message(Command("paymethods"))
async def cmd_paymethods(
    message: Message,
    state: FSMContext,
    topup_methods: ManualMethods,
    topups: TopUpService,
    settings: Settings,
    i18n: I18n,
) -> None:
    await leave_admin_form(state)
    await methods_view(message, topup_methods, topups, settings, i18n)


@router.callback_query(AdminCb.filter(F.screen == "payments"))
async def on_payments(
    query: CallbackQuery,
    state: FSMContext,
    topup_methods: ManualMethods,
    topups: TopUpService,
    settings: Settings,
    i18n: I18n,
) -> None:
    await leave_admin_form(state)
    await methods_view(query, topup_methods, topups, settings, i18n)


def language_steps() -> list[str]:
    """English first (required), then the other languages (each may copy English)."""
    return ["en", *OTHER_LANGUAGES]


async def ask_step(event: Message | CallbackQuery, state: FSMContext) -> None:
    data = await state.get_data()
    lang = language_steps()[int(data.get("lang_index") or 0)]
    field = data.get("field") or "name"
    prompt = "admin.paymethods.ask_name" if field == "name" else "admin.paymethods.ask_instructions"
    text = t(prompt, language=LANGUAGES[lang])
    markup = only_menu() if lang == "en" else skip_markup()
    await show(event, text, markup, new_message=True)


@router.callback_query(PayMethodCb.filter())
async def on_method_button(
    query: CallbackQuery,
    callback_data: PayMethodCb,
    state: FSMContext,
    topup_methods: ManualMethods,
    topups: TopUpService,
    settings: Settings,
    user: UserProfile,
    i18n: I18n,
    callback_answer: CallbackAnswer,
) -> None:
    action = callback_data.action
    if action == "add":
        await state.set_state(AdminFormPayments.name)
        await state.set_data({"lang_index": 0, "field": "name", "names": {}, "texts": {}})
        await ask_step(query, state)
    elif action == "skip":
        if await state.get_state() not in (
            AdminFormPayments.name.state,
            AdminFormPayments.instructions.state,
        ):
            callback_answer.text = t("stale.button")
            return
        await next_step(query, state, None, topup_methods, user, i18n)
    elif action == "toggle":
        method = await topup_methods.get(callback_data.id)
        if method is None or not await topup_methods.set_enabled(user.id, method.id, not method.enabled):
            callback_answer.text, callback_answer.show_alert = t("admin.paymethods.not_found"), True
            return
        await methods_view(query, topup_methods, topups, settings, i18n)
    elif action == "delete":
        method = await topup_methods.get(callback_data.id)
        if method is None:
            callback_answer.text, callback_answer.show_alert = t("admin.paymethods.not_found"), True
            return
        await show(query, *delete_confirm(method, i18n.current_locale))
    elif action == "delete_yes":
        await topup_methods.delete(user.id, callback_data.id)
        await methods_view(query, topup_methods, topups, settings, i18n)
    elif action == "pending":
        await pending_view(query, topups, topup_methods, settings, i18n)
    else:
        await methods_view(query, topup_methods, topups, settings, i18n)


async def next_step(
    event: Message | CallbackQuery,
    state: FSMContext,
    value: str | None,
    topup_methods: ManualMethods,
    user: UserProfile,
    i18n: I18n,
) -> None:
    """Store the answer (None: same as English) and ask the next question, or save the method."""
    data = await state.get_data()
    index = int(data.get("lang_index") or 0)
    field = data.get("field") or "name"
    lang = language_steps()[index]
    names: dict[str, str] = dict(data.get("names") or {})
    texts: dict[str, str] = dict(data.get("texts") or {})
    target = names if field == "name" else texts
    if value is not None:
        target[lang] = value
    elif lang != "en":
        target[lang] = (names if field == "name" else texts).get("en", "")
    if field == "name":
        await state.set_state(AdminFormPayments.instructions)
        await state.update_data(field="instructions", names=names, texts=texts)
        await ask_step(event, state)
        return
    if index + 1 < len(language_steps()):
        await state.set_state(AdminFormPayments.name)
        await state.update_data(lang_index=index + 1, field="name", names=names, texts=texts)
        await ask_step(event, state)
        return
    await state.clear()
    method = await topup_methods.add(user.id, names, texts)
    if method is None:
        await show(event, t("admin.paymethods.too_many"), only_menu(), new_message=True)
        return
    text = t("admin.paymethods.added", id=method.id, name=localized(method.names, i18n.current_locale))
    await show(event, text, only_menu(), new_message=True)


@inputs.message(
    StateFilter(AdminFormPayments.name, AdminFormPayments.instructions), F.text, ~F.text.startswith("/")
)
async def on_method_text(
    message: Message, state: FSMContext, topup_methods: ManualMethods, user: UserProfile, i18n: I18n
) -> None:
    field = (await state.get_data()).get("field") or "name"
    if field == "name":
        value = (message.text or "").strip()
        if not value or len(value) > NAME_LIMIT:
            await message.answer(t("admin.paymethods.bad_name", limit=NAME_LIMIT))
            return
    else:
        value = message.html_text.strip()  # the admin's formatting kept, plain text escaped
        if not value or len(value) > INSTRUCTIONS_LIMIT:
            await message.answer(t("admin.paymethods.bad_instructions", limit=INSTRUCTIONS_LIMIT))
            return
    await next_step(message, state, value, topup_methods, user, i18n)


# --- manual requests -------------------------------------------------------------------------------


async def pending_view(
    event: Message | CallbackQuery,
    topups: TopUpService,
    topup_methods: ManualMethods,
    settings: Settings,
    i18n: I18n,
) -> None:
    items = []
    for topup in await topups.pending_manual():
        method = await topup_methods.get(topup.manual_method_id or 0, include_deleted=True)
        items.append((topup, localized(method.names if method else {}, i18n.current_locale)))
    await show(event, *pending_screen(items, settings.currency))


@router.message(Command("topups"))
async def cmd_topups(
    message: Message, topups: TopUpService, topup_methods: ManualMethods, settings: Settings, i18n: I18n
) -> None:
    await pending_view(message, topups, topup_methods, settings, i18n)


@router.callback_query(AdminTopUpCb.filter())
async def on_decide(
    query: CallbackQuery,
    callback_data: AdminTopUpCb,
    topup_desk: ManualDesk,
    user: UserProfile,
    callback_answer: CallbackAnswer,
) -> None:
    approve = callback_data.action == "approve"
    decision = await topup_desk.decide(callback_data.id, user.id, approve=approve)
    topup = decision.topup
    if decision.outcome == DecideOutcome.NOT_FOUND or topup is None:
        callback_answer.text, callback_answer.show_alert = (
            t("admin.topup.not_found", id=callback_data.id),
            True,
        )
        return
    if decision.outcome == DecideOutcome.ALREADY:
        already = "admin.topup.already_approved" if decision.approved else "admin.topup.already_rejected"
        callback_answer.text, callback_answer.show_alert = t(already, id=topup.id), True
        return
    if approve:
        balance = decision.balance if decision.balance is not None else topup.amount
        text = t(
            "admin.topup.approved",
            id=topup.id,
            amount=money(topup.amount, topup.currency),
            balance=money(balance, topup.currency),
        )
    else:
        text = t("admin.topup.rejected", id=topup.id)
    callback_answer.text = text


# --- Stars refunds ----------------------------------------------------------------------------------


@router.message(Command("refundtopup"))
async def cmd_refund(
    message: Message, command: CommandObject, topups: TopUpService, user: UserProfile
) -> None:
    raw = (command.args or "").strip().lstrip("#")
    if not raw.isdecimal() or len(raw) > 9:  # 9 digits always fit an INTEGER id (more overflowed PostgreSQL)
        await message.answer(t("admin.usage.refundtopup"))
        return
    result = await topups.refund_stars(int(raw), user.id)
    topup = result.topup
    currency = topup.currency if topup is not None else ""
    await message.answer(
        refund_text(
            result.outcome,
            int(raw),
            money(topup.amount, currency) if topup is not None else "",
            money(result.balance, currency) if result.balance is not None else "",
            result.reason,
        ),
        reply_markup=only_menu(),
    )
