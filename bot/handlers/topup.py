"""Top-ups, the customer's side: /topup, amounts, methods, the Stars payment, manual receipts.

The payment updates (pre_checkout_query, successful_payment, refunded_payment) are handled in any
conversation state, so this router comes before the forms' (bot/routers.py). Opening the top-up menu
from an order form keeps that form: its state is put back once the top-up is on its way, so the
order's Confirm button still works after paying.
"""

from __future__ import annotations

import asyncio
import logging
from decimal import Decimal

from aiogram import Bot, F
from aiogram.dispatcher.event.bases import SkipHandler
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, LabeledPrice, Message, PreCheckoutQuery
from aiogram.utils.callback_answer import CallbackAnswer
from aiogram.utils.i18n import I18n

from bot.config import Settings
from bot.i18n import t
from bot.payments.stars import valid_charge_id
from bot.services.topups.amounts import CENT, AmountError, parse_amount
from bot.services.topups.desk import ManualDesk
from bot.services.topups.methods import localized
from bot.services.topups.service import SettleOutcome, TopUpService, TopUpUnavailable
from bot.services.users import UserProfile, UserService
from bot.telegram.callbacks import TopUpCb
from bot.telegram.render import answer_query, clip, money, show
from bot.telegram.routes import Routes
from bot.views.common import only_home
from bot.views.topup import (
    MethodChoice,
    after_request,
    amount_menu,
    crypto_invoice,
    invoice_texts,
    manual_instructions,
    methods_menu,
    stars_sent,
    unavailable,
)

log = logging.getLogger(__name__)
router = Routes("topup")

PRE_CHECKOUT_BUDGET = 7.0  # Telegram waits 10 s for the answer; leave room for the call itself
RETURN_KEY = "topup_return"  # the state to go back to (an order form waiting at its summary)
AMOUNT_KEY = "topup_amount"
METHOD_KEY = "topup_method"


class TopUpForm(StatesGroup):
    amount = State()  # a typed amount is welcome
    receipt = State()  # a manual method chosen: waiting for the receipt


async def enter(state: FSMContext, target: State) -> None:
    """Switch to a top-up step, remembering the state we came from (once)."""
    current = await state.get_state()
    if current is not None and not current.startswith(TopUpForm.__name__):
        await state.update_data({RETURN_KEY: current})
    await state.set_state(target)


async def leave(state: FSMContext) -> None:
    """Back to where the customer was before the top-up (an order summary), or to no state."""
    data = await state.get_data()
    back = data.get(RETURN_KEY)
    if isinstance(back, str) and back:
        await state.set_state(back)
        await state.update_data({RETURN_KEY: None, AMOUNT_KEY: None, METHOD_KEY: None})
    else:
        await state.clear()


def choices(topups: TopUpService, amount: Decimal, manual: list[tuple[int, str]]) -> list[MethodChoice]:
    found = []
    stars = topups.stars_for(amount)
    if stars is not None:
        found.append(MethodChoice("stars", t("topup.method.stars_price", stars=stars)))
    if topups.cryptopay_enabled:
        found.append(MethodChoice("crypto", t("topup.method.crypto")))
    found.extend(MethodChoice(f"m{method_id}", name) for method_id, name in manual)
    return found


async def manual_names(topups: TopUpService, locale: str) -> list[tuple[int, str]]:
    return [(m.id, localized(m.names, locale) or f"#{m.id}") for m in await topups.manual_methods()]


def clamp_suggestion(raw: str, topups: TopUpService) -> Decimal | None:
    """An amount suggested by a button (what an order lacks), rounded up to cents, within the range."""
    try:
        value = Decimal(raw)
    except ArithmeticError:
        return None
    if not value.is_finite() or value <= 0:
        return None
    value = value.quantize(CENT, rounding="ROUND_CEILING")
    return min(max(value, topups.minimum), topups.maximum)


async def open_menu(
    event: Message | CallbackQuery,
    state: FSMContext,
    topups: TopUpService,
    users: UserService,
    user: UserProfile,
    settings: Settings,
    *,
    suggest: Decimal | None = None,
) -> None:
    if not settings.wallet_enabled:
        await show(event, t("balance.wallet_off"), only_home())
        return
    if not await topups.available():  # from an order's summary: a new message, the summary stays
        await show(event, *unavailable(), new_message=suggest is not None)
        return
    balance, _ = await users.wallet(user.id, history=0)
    await enter(state, TopUpForm.amount)
    presets = [p for p in topups.presets if p != suggest]
    # From an order that lacks money: a new message, so the order's summary (Confirm) stays above.
    await show(
        event,
        *amount_menu(presets, settings.currency, topups.minimum, topups.maximum, balance, suggest=suggest),
        new_message=suggest is not None,
    )


async def offer_methods(
    event: Message | CallbackQuery, topups: TopUpService, amount: Decimal, settings: Settings, locale: str
) -> None:
    found = choices(topups, amount, await manual_names(topups, locale))
    if not found:
        text = t("topup.error.no_method_for_amount", amount=money(amount, settings.currency))
        await show(event, text, only_home(), new_message=isinstance(event, Message))
        return
    await show(event, *methods_menu(amount, settings.currency, found), new_message=isinstance(event, Message))


# --- the payment updates (any state) ----------------------------------------------------------------


@router.pre_checkout_query()
async def on_pre_checkout(query: PreCheckoutQuery, topups: TopUpService) -> None:
    """Telegram asks whether to take the money: yes only for a live, unexpired top-up of this user
    for exactly this many Stars. Answered within Telegram's 10 s whatever the database does."""
    try:
        async with asyncio.timeout(PRE_CHECKOUT_BUDGET):
            problem = await topups.check_pre_checkout(
                user_id=query.from_user.id,
                payload=query.invoice_payload,
                currency=query.currency,
                total_amount=query.total_amount,
            )
    except TimeoutError:
        problem = "topup.precheckout.busy"
    if problem is None:
        await query.answer(ok=True)
    else:
        await query.answer(ok=False, error_message=clip(t(problem), 200))


@router.message(F.successful_payment)
async def on_successful_payment(message: Message, topups: TopUpService) -> None:
    payment = message.successful_payment
    if payment is None or message.from_user is None:
        return
    settlement = await topups.settle_stars(
        user_id=message.from_user.id,
        payload=payment.invoice_payload,
        currency=payment.currency,
        total_amount=payment.total_amount,
        charge_id=payment.telegram_payment_charge_id,
        provider_charge_id=payment.provider_payment_charge_id,
    )
    if settlement.outcome in (SettleOutcome.UNKNOWN, SettleOutcome.MISMATCH):
        await message.answer(t("topup.payment_review"))
    # CREDITED: the service told the customer; ALREADY: a replay, nothing new to say.


@router.message(F.refunded_payment)
async def on_refunded_payment(message: Message, topups: TopUpService) -> None:
    refund = message.refunded_payment
    if refund is not None and valid_charge_id(refund.telegram_payment_charge_id):
        await topups.refunded_by_telegram(refund.telegram_payment_charge_id)


# --- the menu and the amount ---------------------------------------------------------------------------


@router.message(Command("topup"))
async def cmd_topup(
    message: Message,
    state: FSMContext,
    topups: TopUpService,
    users: UserService,
    user: UserProfile,
    settings: Settings,
) -> None:
    await open_menu(message, state, topups, users, user, settings)


@router.callback_query(TopUpCb.filter(F.action == "menu"))
async def on_menu(
    query: CallbackQuery,
    callback_data: TopUpCb,
    state: FSMContext,
    topups: TopUpService,
    users: UserService,
    user: UserProfile,
    settings: Settings,
    callback_answer: CallbackAnswer,
) -> None:
    suggest = clamp_suggestion(callback_data.value, topups) if callback_data.value else None
    callback_answer.disable()  # answered beside the menu: one round trip
    await asyncio.gather(
        answer_query(query), open_menu(query, state, topups, users, user, settings, suggest=suggest)
    )


@router.message(StateFilter(TopUpForm.amount), F.text, ~F.text.startswith("/"))
async def on_typed_amount(
    message: Message, state: FSMContext, topups: TopUpService, settings: Settings, i18n: I18n
) -> None:
    if not any(char.isdigit() for char in message.text or ""):
        # Not an attempt at an amount (a search, a question): the top-up menu is left behind.
        await leave(state)
        raise SkipHandler
    try:
        amount = parse_amount(message.text or "", minimum=topups.minimum, maximum=topups.maximum)
    except AmountError as error:
        await message.answer(
            t(
                error.key,
                min=money(topups.minimum, settings.currency),
                max=money(topups.maximum, settings.currency),
                **error.values,
            )
        )
        return
    await offer_methods(message, topups, amount, settings, i18n.current_locale)


@router.callback_query(TopUpCb.filter(F.action == "amount"))
async def on_amount(
    query: CallbackQuery,
    callback_data: TopUpCb,
    topups: TopUpService,
    settings: Settings,
    i18n: I18n,
    callback_answer: CallbackAnswer,
) -> None:
    try:
        amount = parse_amount(callback_data.value, minimum=topups.minimum, maximum=topups.maximum)
    except AmountError:  # a button from before the range changed, or a forged one
        callback_answer.text = t("stale.button")
        return
    callback_answer.disable()  # answered beside the methods: one round trip
    await asyncio.gather(
        answer_query(query), offer_methods(query, topups, amount, settings, i18n.current_locale)
    )


# --- paying ----------------------------------------------------------------------------------------------


@router.callback_query(TopUpCb.filter(F.action == "pay"))
async def on_pay(
    query: CallbackQuery,
    callback_data: TopUpCb,
    state: FSMContext,
    bot: Bot,
    topups: TopUpService,
    user: UserProfile,
    settings: Settings,
    i18n: I18n,
    callback_answer: CallbackAnswer,
) -> None:
    try:
        amount = parse_amount(callback_data.value, minimum=topups.minimum, maximum=topups.maximum)
    except AmountError:
        callback_answer.text = t("stale.button")
        return
    callback_answer.disable()  # each method answers at its own moment (before a slow call)
    method = callback_data.method
    chat_id = query.message.chat.id if query.message is not None else user.id
    answered = False
    try:
        if method == "stars":
            topup = await topups.start_stars(user.id, amount)
            assert topup.stars is not None
            title, description, label = invoice_texts(amount, settings.currency, topup.stars)
            await answer_query(query)
            await leave(state)
            await show(query, stars_sent(topup.stars), only_home())
            await bot.send_invoice(
                chat_id,
                title=title,
                description=description,
                payload=topups.payload_of(topup),
                currency="XTR",
                prices=[LabeledPrice(label=label, amount=topup.stars)],
                provider_token="",
            )
        elif method == "crypto":
            await answer_query(query, t("topup.crypto.creating"))
            answered = True
            title, description, _ = invoice_texts(amount, settings.currency, 0)
            topup = await topups.start_cryptopay(user.id, amount, description=title)
            await leave(state)
            await show(query, *crypto_invoice(topup.id, topup.amount, topup.currency, topup.pay_url))
        elif method.startswith("m") and method[1:].isdecimal() and len(method) <= 12:
            chosen = next((m for m in await topups.manual_methods() if m.id == int(method[1:])), None)
            if chosen is None:
                raise TopUpUnavailable("topup.error.method_off")
            await enter(state, TopUpForm.receipt)
            await state.update_data({AMOUNT_KEY: format(amount, "f"), METHOD_KEY: chosen.id})
            await answer_query(query)
            text, markup = manual_instructions(
                localized(chosen.names, i18n.current_locale),
                localized(chosen.instructions, i18n.current_locale),
                amount,
                settings.currency,
            )
            await show(query, text, markup)
        else:
            await query.answer(t("stale.button"))
    except TopUpUnavailable as error:
        text = t(error.key, **error.values)
        if answered:
            await show(query, text, only_home())
        else:
            await query.answer(text, show_alert=True)


@router.callback_query(TopUpCb.filter(F.action == "check"))
async def on_check(
    query: CallbackQuery,
    callback_data: TopUpCb,
    topups: TopUpService,
    user: UserProfile,
    settings: Settings,
    callback_answer: CallbackAnswer,
) -> None:
    """ "I have paid": ask Crypto Pay about this invoice now instead of waiting for the next poll."""
    value = callback_data.value
    if not value.isdecimal() or len(value) > 9:  # 9 digits always fit an INTEGER id
        callback_answer.text = t("stale.button")
        return
    settlement = await topups.check_invoice(int(value), user.id)
    if settlement is None:
        callback_answer.text = t("stale.button")
        return
    topup = settlement.topup
    if settlement.outcome == SettleOutcome.CREDITED and topup is not None:
        balance = settlement.balance if settlement.balance is not None else Decimal(0)
        text = t(
            "topup.credited",
            id=topup.id,
            amount=money(topup.amount, topup.currency),
            balance=money(balance, topup.currency),
        )
        await show(query, text, after_request())
    elif settlement.outcome == SettleOutcome.ALREADY:
        callback_answer.text = t("topup.crypto.already")
    else:
        callback_answer.text, callback_answer.show_alert = t("topup.crypto.not_yet"), True


@router.callback_query(TopUpCb.filter(F.action == "cancel"))
async def on_cancel(query: CallbackQuery, state: FSMContext) -> None:
    await leave(state)
    await show(query, t("topup.cancelled"), only_home())


# --- the manual receipt ------------------------------------------------------------------------------------


@router.message(StateFilter(TopUpForm.receipt), ~F.text.startswith("/"))
async def on_receipt(
    message: Message,
    state: FSMContext,
    topups: TopUpService,
    topup_desk: ManualDesk,
    user: UserProfile,
    settings: Settings,
) -> None:
    if message.photo:
        kind, file_id, text = "photo", message.photo[-1].file_id, message.caption
    elif message.document is not None:
        kind, file_id, text = "document", message.document.file_id, message.caption
    elif message.text and message.text.strip():
        kind, file_id, text = "text", None, message.text
    else:
        await message.answer(t("topup.manual.need_receipt"))
        return
    data = await state.get_data()
    try:
        amount = Decimal(str(data.get(AMOUNT_KEY)))
        method_id = int(data.get(METHOD_KEY) or 0)
    except (ArithmeticError, ValueError):
        await leave(state)
        await message.answer(t("stale.form"), reply_markup=only_home())
        return
    try:
        topup = await topups.start_manual(
            user.id, amount, method_id, receipt_kind=kind, receipt_text=text, receipt_file_id=file_id
        )
    except TopUpUnavailable as error:
        await leave(state)
        await message.answer(t(error.key), reply_markup=only_home())
        return
    await leave(state)
    await topup_desk.send_to_admins(topup)
    await message.answer(
        t("topup.manual.sent", id=topup.id, amount=money(topup.amount, settings.currency)),
        reply_markup=after_request(),
    )
