"""The order form: one question per step, a summary with the price, and a confirm that places once."""

from __future__ import annotations

import asyncio
import logging
import secrets
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import aiohttp
from aiogram import Bot, F
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command, CommandObject, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from aiogram.utils.callback_answer import CallbackAnswer

from bot.config import Settings
from bot.handlers.states import OrderForm
from bot.i18n import t
from bot.panel import (
    BadLink,
    DripfeedUnsupported,
    DuplicateActiveOrder,
    PanelError,
    QuantityOutOfRange,
    RateLimited,
    UnknownService,
    UpstreamUnavailable,
)
from bot.services.catalog import CatalogService, ServiceView
from bot.services.forms import (
    MAX_LIST_FILE_BYTES,
    FieldError,
    FormField,
    ServiceRules,
    applicable_fields,
    check_list_file,
    decode_list_file,
    next_field,
    previous_field,
    validate,
)
from bot.services.ordering import (
    InsufficientBalance,
    OrderService,
    Outcome,
    PriceChanged,
    SellingPaused,
    rules_of,
    today_utc,
)
from bot.services.settings import ShopSettings
from bot.services.users import UserProfile
from bot.telegram.callbacks import BuyCb, FormAction, FormCb
from bot.telegram.render import answer_query, money, show
from bot.telegram.routes import Routes
from bot.views.common import only_home
from bot.views.form import edit_menu, field_prompt, summary
from bot.views.orders import already_confirmed, order_detail

log = logging.getLogger(__name__)
router = Routes("order_form")

# Which question to ask again when a cross-field check fails at the summary.
DOWNLOAD_TIMEOUT = 30  # seconds for a list file (at most 256 KB) to come from Telegram
EDITING_KEY = "editing"  # {"field": name, "value": the answer before Edit}: Back puts it back
FIELD_OF_ERROR = {"form.error.total_range": "runs", "form.error.quantity_range": "quantity"}


def draft_key(user_id: int, draft: str) -> str:
    return f"{user_id}:{draft}"


def error_text(error: FieldError) -> str:
    return t(error.key, **error.values)


def asked_field(rules: ServiceRules, values: dict[str, Any], name: object) -> FormField | None:
    """The question the form is on (`name`), while it still applies to the answers given."""
    return next((f for f in applicable_fields(rules, values) if f.name == name), None)


def refusal_text(error: PanelError | None) -> str:
    if isinstance(error, BadLink):
        return t("refused.bad_link")
    if isinstance(error, QuantityOutOfRange):
        # The panel's real limits, when its error (or its numeric code and fields) names them.
        if error.min_allowed is not None:
            return t("refused.quantity_min", min=error.min_allowed)
        if error.max_allowed is not None:
            return t("refused.quantity_max", max=error.max_allowed)
        return t("refused.quantity")
    if isinstance(error, UnknownService):
        return t("refused.service")
    if isinstance(error, DuplicateActiveOrder):
        return t("refused.duplicate")
    if isinstance(error, DripfeedUnsupported):
        return t("refused.dripfeed")
    if isinstance(error, UpstreamUnavailable | RateLimited):
        return t("refused.unreachable")
    return t("refused.other")


async def start_form(
    event: Message | CallbackQuery,
    state: FSMContext,
    catalog: CatalogService,
    shop: ShopSettings,
    service_id: str,
) -> None:
    paused = await shop.maintenance_message()
    if paused:
        await show(event, t("maintenance.orders_paused", text=paused), only_home())
        return
    view = await catalog.service(service_id)
    if view is None:
        await show(event, t("service.not_found", id=service_id[:32]), only_home())
        return
    draft = secrets.token_hex(6)
    await state.set_state(OrderForm.filling)
    await state.set_data({"draft": draft, "service_id": view.service_id, "values": {}, "field": None})
    await ask_next(event, state, view, {}, draft)


async def start_prefilled(
    event: Message | CallbackQuery,
    state: FSMContext,
    view: ServiceView,
    values: dict[str, Any],
    orders: OrderService,
    settings: Settings,
    shop: ShopSettings,
    *,
    note: str,
    error: str | None = None,
) -> None:
    """A new form whose answers are already in (order again): the summary with `note` on top, or,
    when an answer is missing or `error` says one no longer passes, that question."""
    paused = await shop.maintenance_message()
    if paused:
        await show(event, t("maintenance.orders_paused", text=paused), only_home())
        return
    draft = secrets.token_hex(6)
    await state.set_state(OrderForm.filling)
    await state.set_data({"draft": draft, "service_id": view.service_id, "values": {}, "field": None})
    if error is None and next_field(rules_of(view), values) is None:
        await show_summary(event, state, view, values, draft, orders, settings, note=note)
    else:
        await ask_next(event, state, view, values, draft, error=error or note)


async def ask_next(
    event: Message | CallbackQuery,
    state: FSMContext,
    view: ServiceView,
    values: dict[str, Any],
    draft: str,
    *,
    error: str | None = None,
    settings: Settings | None = None,
    orders: OrderService | None = None,
) -> None:
    """Ask the first unanswered question, or show the summary when every answer is in."""
    rules = rules_of(view)
    item = next_field(rules, values)
    if item is None and orders is not None and settings is not None:
        await show_summary(event, state, view, values, draft, orders, settings)
        return
    if item is None:
        item = applicable_fields(rules, values)[-1]
    editing = (await state.get_data()).get(EDITING_KEY)
    first = applicable_fields(rules, values)[0].name == item.name and not (
        isinstance(editing, dict) and editing.get("field") == item.name
    )
    await state.set_state(OrderForm.filling)
    await state.update_data(field=item.name, values=values)
    await show(
        event,
        *field_prompt(view, item, draft, first=first, error=error),
        new_message=isinstance(event, Message),
    )


async def show_summary(
    event: Message | CallbackQuery,
    state: FSMContext,
    view: ServiceView,
    values: dict[str, Any],
    draft: str,
    orders: OrderService,
    settings: Settings,
    *,
    note: str | None = None,
) -> None:
    """The summary with the price and the customer's balance (read fresh, in its own short session)."""
    try:
        _, price = orders.prepare(view, values)
    except FieldError as error:
        refill = FIELD_OF_ERROR.get(error.key)
        if refill:
            values.pop(refill, None)
        await ask_next(event, state, view, values, draft, error=error_text(error))
        return
    await state.set_state(OrderForm.confirming)
    await state.update_data(values=values, field=None, price=str(price.price))
    fields = applicable_fields(rules_of(view), values)
    balance = await orders.balance(event.from_user.id) if event.from_user is not None else None
    text, markup = summary(
        view,
        fields,
        values,
        price,
        draft,
        settings.currency,
        wallet_enabled=settings.wallet_enabled,
        balance=balance,
    )
    if note:
        text = f"{note}\n\n{text}"
    await show(event, text, markup)


async def load(state: FSMContext, catalog: CatalogService) -> tuple[dict[str, Any], ServiceView | None]:
    data = await state.get_data()
    service_id = data.get("service_id")
    view = await catalog.service(service_id) if service_id else None
    return data, view


async def load_typed(
    message: Message, state: FSMContext, catalog: CatalogService
) -> tuple[dict[str, Any], ServiceView] | None:
    """The form a typed answer belongs to; None when its service is gone (the form closed, said so)."""
    data, view = await load(state, catalog)
    if view is None:
        await state.clear()
        await message.answer(t("service.gone"), reply_markup=only_home())
        return None
    return data, view


@router.message(Command("order"))
async def cmd_order(
    message: Message, command: CommandObject, state: FSMContext, catalog: CatalogService, shop: ShopSettings
) -> None:
    service_id = (command.args or "").strip().split(" ")[0].lstrip("#№")
    if not service_id:
        from bot.handlers.states import SearchForm
        from bot.views.catalog import search_prompt

        await state.set_state(SearchForm.query)
        await show(message, t("order.ask_service"), search_prompt()[1])
        return
    await start_form(message, state, catalog, shop, service_id)


@router.callback_query(BuyCb.filter())
async def on_buy(
    query: CallbackQuery,
    callback_data: BuyCb,
    state: FSMContext,
    catalog: CatalogService,
    shop: ShopSettings,
    callback_answer: CallbackAnswer,
) -> None:
    # The spinner stops while the form's first question is being sent: one round trip less.
    callback_answer.disable()
    await asyncio.gather(answer_query(query), start_form(query, state, catalog, shop, callback_data.id))


# A `/command` is never a form answer: it goes on to its own handler (bot/handlers/kept.py).
NOT_A_COMMAND = ~F.text.startswith("/")


@router.message(StateFilter(OrderForm.filling), F.document)
async def on_document(
    message: Message,
    state: FSMContext,
    catalog: CatalogService,
    orders: OrderService,
    settings: Settings,
    bot: Bot,
) -> None:
    """A .txt document answers a list field (1000 comments do not fit in one message)."""
    loaded = await load_typed(message, state, catalog)
    if loaded is None:
        return
    data, view = loaded
    values: dict[str, Any] = dict(data.get("values") or {})
    draft = str(data.get("draft"))
    rules = rules_of(view)
    item = asked_field(rules, values, data.get("field")) or next_field(rules, values)
    document = message.document
    if item is None or document is None:
        await show_summary(message, state, view, values, draft, orders, settings)
        return
    try:
        check_list_file(
            item, file_name=document.file_name, mime_type=document.mime_type, size=document.file_size
        )
        text = decode_list_file(await download_document(bot, document.file_id))
    except FieldError as error:
        await ask_next(message, state, view, values, draft, error=error_text(error))
        return
    await accept_answer(message, state, view, data, text, orders, settings)


async def download_document(bot: Bot, file_id: str) -> bytes:
    """The file's bytes, at most MAX_LIST_FILE_BYTES + 1 of them (enough to tell it is too big)."""
    try:
        buffer = await bot.download(file_id, timeout=DOWNLOAD_TIMEOUT)
    except (TelegramAPIError, aiohttp.ClientError, TimeoutError) as error:
        log.info("could not download a list file: %s", error)
        raise FieldError("form.error.file_failed") from None
    if buffer is None:
        raise FieldError("form.error.file_failed")
    return buffer.read(MAX_LIST_FILE_BYTES + 1)


@router.message(StateFilter(OrderForm.filling), NOT_A_COMMAND)
async def on_answer(
    message: Message, state: FSMContext, catalog: CatalogService, orders: OrderService, settings: Settings
) -> None:
    loaded = await load_typed(message, state, catalog)
    if loaded is not None:
        data, view = loaded
        await accept_answer(message, state, view, data, message.text or "", orders, settings)


async def accept_answer(
    event: Message | CallbackQuery,
    state: FSMContext,
    view: ServiceView,
    data: dict[str, Any],
    text: str,
    orders: OrderService,
    settings: Settings,
) -> None:
    rules = rules_of(view)
    values: dict[str, Any] = dict(data.get("values") or {})
    draft = str(data.get("draft"))
    current = asked_field(rules, values, data.get("field")) or next_field(rules, values)
    if current is None:
        await show_summary(event, state, view, values, draft, orders, settings)
        return
    if not text.strip():
        await ask_next(event, state, view, values, draft, error=t("form.error.text_expected"))
        return
    try:
        values[current.name] = validate(rules, current, text, values, today=today_utc())
    except FieldError as error:
        values.pop(current.name, None)
        await ask_next(event, state, view, values, draft, error=error_text(error))
        return
    if data.get(EDITING_KEY):
        await state.update_data({EDITING_KEY: None})
    await ask_next(event, state, view, values, draft, settings=settings, orders=orders)


@router.message(StateFilter(OrderForm.confirming), NOT_A_COMMAND)
async def on_text_at_summary(message: Message) -> None:
    await message.answer(t("summary.use_buttons"))


def is_live(data: dict[str, Any], current_state: str | None, callback_data: FormCb) -> bool:
    """The button belongs to the form being filled in now (not an older one, not a closed one)."""
    return data.get("draft") == callback_data.draft and current_state in (
        OrderForm.filling.state,
        OrderForm.confirming.state,
    )


@dataclass(frozen=True)
class LiveForm:
    """The form a button belongs to, read once, so each button's handler is only its own rule."""

    data: dict[str, Any]
    view: ServiceView
    state: str | None
    values: dict[str, Any]  # a copy of the answers: the handler changes it before saving it
    draft: str

    @property
    def filling(self) -> bool:
        return self.state == OrderForm.filling.state

    @property
    def rules(self) -> ServiceRules:
        return rules_of(self.view)


async def live_form(
    query: CallbackQuery,
    callback_data: FormCb,
    state: FSMContext,
    catalog: CatalogService,
    callback_answer: CallbackAnswer,
) -> LiveForm | None:
    """The live form; None when the button is stale (answered so) or its service is gone (the form
    closed)."""
    data, view = await load(state, catalog)
    current_state = await state.get_state()
    if not is_live(data, current_state, callback_data):
        callback_answer.text = t("stale.form")
        return None
    if view is None:
        await state.clear()
        await show(query, t("service.gone"), only_home())
        return None
    return LiveForm(data, view, current_state, dict(data.get("values") or {}), callback_data.draft)


@router.callback_query(FormCb.filter(F.action == FormAction.CONFIRM))
async def on_confirm(
    query: CallbackQuery,
    callback_data: FormCb,
    state: FSMContext,
    catalog: CatalogService,
    orders: OrderService,
    settings: Settings,
    user: UserProfile,
    shop: ShopSettings,
    callback_answer: CallbackAnswer,
) -> None:
    data, view = await load(state, catalog)
    current_state = await state.get_state()
    live = is_live(data, current_state, callback_data)
    if live and current_state != OrderForm.confirming.state and view is not None:
        # A Confirm of an older summary while the form is being edited: not complete any more.
        callback_answer.text, callback_answer.show_alert = t("confirm.finish_form"), True
        return
    paused = await shop.maintenance_message() if live else None
    if paused:  # maintenance began after this form was opened: nothing is placed
        # The summary stays, to confirm once orders resume.
        await show(query, t("maintenance.orders_paused", text=paused), only_home(), new_message=True)
        return
    await confirm(
        query, callback_data, state, data, view if live else None, orders, settings, user, callback_answer
    )


@router.callback_query(FormCb.filter(F.action == FormAction.CANCEL))
async def on_cancel(
    query: CallbackQuery, callback_data: FormCb, state: FSMContext, callback_answer: CallbackAnswer
) -> None:
    if not is_live(await state.get_data(), await state.get_state(), callback_data):
        callback_answer.text = t("stale.form")
        return
    await state.clear()
    await show(query, t("form.cancelled"), only_home())


@router.callback_query(FormCb.filter(F.action == FormAction.CHOICE))
async def on_choice(
    query: CallbackQuery,
    callback_data: FormCb,
    state: FSMContext,
    catalog: CatalogService,
    orders: OrderService,
    settings: Settings,
    callback_answer: CallbackAnswer,
) -> None:
    form = await live_form(query, callback_data, state, catalog, callback_answer)
    if form is not None and form.filling:
        await accept_answer(query, state, form.view, form.data, callback_data.value, orders, settings)


@router.callback_query(FormCb.filter(F.action == FormAction.SKIP))
async def on_skip(
    query: CallbackQuery,
    callback_data: FormCb,
    state: FSMContext,
    catalog: CatalogService,
    orders: OrderService,
    settings: Settings,
    callback_answer: CallbackAnswer,
) -> None:
    form = await live_form(query, callback_data, state, catalog, callback_answer)
    if form is None or not form.filling:
        return
    item = asked_field(form.rules, form.values, form.data.get("field"))
    if item is not None and item.optional:
        form.values[item.name] = None
    await ask_next(query, state, form.view, form.values, form.draft, settings=settings, orders=orders)


@router.callback_query(FormCb.filter(F.action == FormAction.BACK))
async def on_back(
    query: CallbackQuery,
    callback_data: FormCb,
    state: FSMContext,
    catalog: CatalogService,
    orders: OrderService,
    settings: Settings,
    callback_answer: CallbackAnswer,
) -> None:
    form = await live_form(query, callback_data, state, catalog, callback_answer)
    if form is None:
        return
    current = form.data.get("field") if form.filling else None
    editing = form.data.get(EDITING_KEY)
    if isinstance(editing, dict) and current is not None and editing.get("field") == current:
        # Back from a field opened by Edit: the old answer stands, and the summary comes back.
        form.values[current] = editing.get("value")
        await state.update_data({EDITING_KEY: None})
        await show_summary(query, state, form.view, form.values, form.draft, orders, settings)
        return
    previous = previous_field(form.rules, form.values, current)
    if previous is not None:
        form.values.pop(previous.name, None)
    await ask_next(query, state, form.view, form.values, form.draft)


@router.callback_query(FormCb.filter(F.action == FormAction.EDIT))
async def on_edit(
    query: CallbackQuery,
    callback_data: FormCb,
    state: FSMContext,
    catalog: CatalogService,
    callback_answer: CallbackAnswer,
) -> None:
    form = await live_form(query, callback_data, state, catalog, callback_answer)
    if form is not None:
        await show(query, *edit_menu(applicable_fields(form.rules, form.values), form.draft))


@router.callback_query(FormCb.filter(F.action == FormAction.FIELD))
async def on_field(
    query: CallbackQuery,
    callback_data: FormCb,
    state: FSMContext,
    catalog: CatalogService,
    orders: OrderService,
    settings: Settings,
    callback_answer: CallbackAnswer,
) -> None:
    form = await live_form(query, callback_data, state, catalog, callback_answer)
    if form is None:
        return
    name = callback_data.value
    if asked_field(form.rules, form.values, name) is not None and name in form.values:
        await state.update_data({EDITING_KEY: {"field": name, "value": form.values.pop(name)}})
    await ask_next(query, state, form.view, form.values, form.draft, settings=settings, orders=orders)


@router.callback_query(FormCb.filter(F.action == FormAction.RESUME))
async def on_resume(
    query: CallbackQuery,
    callback_data: FormCb,
    state: FSMContext,
    catalog: CatalogService,
    orders: OrderService,
    settings: Settings,
    callback_answer: CallbackAnswer,
) -> None:
    form = await live_form(query, callback_data, state, catalog, callback_answer)
    if form is None:
        return
    if form.state == OrderForm.confirming.state:
        await show_summary(query, state, form.view, form.values, form.draft, orders, settings)
    else:
        await ask_next(query, state, form.view, form.values, form.draft, settings=settings, orders=orders)


@router.callback_query(FormCb.filter(F.action == FormAction.SUMMARY))
async def on_summary(
    query: CallbackQuery,
    callback_data: FormCb,
    state: FSMContext,
    catalog: CatalogService,
    orders: OrderService,
    settings: Settings,
    callback_answer: CallbackAnswer,
) -> None:
    form = await live_form(query, callback_data, state, catalog, callback_answer)
    if form is not None:
        await show_summary(query, state, form.view, form.values, form.draft, orders, settings)


async def show_placing(query: CallbackQuery) -> None:
    """The "placing…" toast and screen: cosmetic, so a Telegram error here never stops the order."""
    try:
        await asyncio.gather(
            answer_query(query, t("confirm.placing")), show(query, t("confirm.placing_long"), None)
        )
    except TelegramAPIError as error:
        log.info("could not show the placing screen: %s", error.message)


async def confirm(
    query: CallbackQuery,
    callback_data: FormCb,
    state: FSMContext,
    data: dict[str, Any],
    view: ServiceView | None,
    orders: OrderService,
    settings: Settings,
    user: UserProfile,
    callback_answer: CallbackAnswer,
) -> None:
    key = draft_key(user.id, callback_data.draft)
    if view is None:
        # Not the live form: maybe it was confirmed already (second tap, other device, retried update).
        existing = await orders.find_by_draft(user.id, key)
        if existing is not None:
            callback_answer.text = already_confirmed(existing)
            await show(query, *order_detail(existing, panel=orders.capabilities))
        else:
            callback_answer.text = t("stale.form")
        return
    callback_answer.disable()  # the "placing…" toast below answers it
    # Toast and "placing…" screen (its buttons gone) go out while the order is placed: one round
    # trip less before the result. Every later screen waits for them, so the result comes last.
    placing = asyncio.create_task(show_placing(query))
    values: dict[str, Any] = dict(data.get("values") or {})
    expected = Decimal(str(data["price"])) if data.get("price") else None
    try:
        placement = await orders.place(
            user_id=user.id, draft_key=key, view=view, values=values, expected_price=expected
        )
    except (PriceChanged, InsufficientBalance, FieldError, SellingPaused) as problem:
        await placing
        await not_placed(query, state, view, values, callback_data.draft, orders, settings, problem)
        return
    except BaseException:
        placing.cancel()
        raise
    await placing
    await state.clear()
    order = placement.order
    if placement.outcome == Outcome.PLACED:
        head = t("confirm.placed", id=order.id)
    elif placement.outcome == Outcome.ALREADY:
        head = already_confirmed(order)
    elif placement.outcome == Outcome.REFUSED:
        head = t("confirm.refused", id=order.id, reason=refusal_text(placement.error))
        if order.refunded > 0:
            head += "\n" + t("confirm.refunded", amount=money(order.refunded, order.currency))
    else:
        head = t("confirm.unknown", id=order.id)
    text, markup = order_detail(order, panel=orders.capabilities)
    await show(query, f"{head}\n\n{text}", markup)


async def not_placed(
    query: CallbackQuery,
    state: FSMContext,
    view: ServiceView,
    values: dict[str, Any],
    draft: str,
    orders: OrderService,
    settings: Settings,
    problem: PriceChanged | InsufficientBalance | FieldError | SellingPaused,
) -> None:
    """Nothing was placed: the summary again with the new price or the shortfall on top, the
    question whose answer no longer passes, or the pause."""
    if isinstance(problem, SellingPaused):
        await show(query, t("shop.selling_paused"), only_home())
        return
    if isinstance(problem, FieldError):
        await ask_next(query, state, view, values, draft, error=error_text(problem))
        return
    if isinstance(problem, PriceChanged):
        note = t("confirm.price_changed", price=money(problem.quote.price, settings.currency))
    else:
        note = t(
            "confirm.insufficient",
            price=money(problem.price, settings.currency),
            balance=money(problem.balance, settings.currency),
            shortfall=money(problem.shortfall, settings.currency),
        )
    await show_summary(query, state, view, values, draft, orders, settings, note=note)
