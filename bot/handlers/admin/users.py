"""A customer's profile for the admins, ban and unban, and balance corrections."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

from aiogram import F
from aiogram.filters import Command, CommandObject, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from aiogram.utils.callback_answer import CallbackAnswer

from bot.config import Settings
from bot.handlers.admin.common import AdminForm
from bot.i18n import t
from bot.services.admin.audit import AuditService
from bot.services.admin.balances import (
    Adjustment,
    AdjustOutcome,
    BalanceService,
    PendingAdjustment,
    parse_amount,
)
from bot.services.admin.users import AdminUsers, parse_user_ref
from bot.services.amounts import AmountError
from bot.services.users import UserProfile
from bot.telegram.callbacks import AdminAdjustCb, AdminCb, AdminUserCb
from bot.telegram.render import clip, money, show
from bot.telegram.routes import Routes
from bot.views.admin import adjust_confirm, amount_error, ban_confirm, only_menu, usage, user_card

router = Routes("admin.users")
inputs = Routes("admin.users.inputs")
REASON_LIMIT = 200
PENDING_KEPT = 5  # confirmations an admin may have open at once; older ones expire


async def resolve(admin_users: AdminUsers, raw: str) -> int | None:
    ref = parse_user_ref(raw)
    if ref is None:
        return None
    if isinstance(ref, int):
        return ref
    found = await admin_users.find(ref)
    return found.id if found is not None else None


async def show_card(
    event: Message | CallbackQuery, admin_users: AdminUsers, user_id: int, settings: Settings
) -> bool:
    card = await admin_users.card(user_id)
    if card is None:
        return False
    await show(event, *user_card(card, settings.currency, is_admin=user_id in settings.admin_ids))
    return True


@router.message(Command("user"))
async def cmd_user(
    message: Message,
    command: CommandObject,
    admin_users: AdminUsers,
    audit: AuditService,
    user: UserProfile,
    settings: Settings,
) -> None:
    raw = (command.args or "").strip()
    if not raw:
        await message.answer(usage("user"))
        return
    await audit.record(user.id, "user.view", ref=raw)
    user_id = await resolve(admin_users, raw)
    if user_id is None or not await show_card(message, admin_users, user_id, settings):
        await message.answer(t("admin.user.not_found", ref=clip(raw, 64)))


@router.callback_query(AdminUserCb.filter())
async def on_user_button(
    query: CallbackQuery,
    callback_data: AdminUserCb,
    state: FSMContext,
    admin_users: AdminUsers,
    audit: AuditService,
    user: UserProfile,
    settings: Settings,
    callback_answer: CallbackAnswer,
) -> None:
    target = callback_data.id
    if callback_data.action in ("add", "take"):
        credit = callback_data.action == "add"
        await state.set_state(AdminForm.balance_amount)
        kept = (await state.get_data()).get("adjust")  # confirmations still open stay valid
        await state.set_data({"user_id": target, "credit": credit, **({"adjust": kept} if kept else {})})
        key = "admin.balance.ask_add" if credit else "admin.balance.ask_take"
        await show(query, t(key, id=target), only_menu(), new_message=True)
        return
    if callback_data.action in ("ban", "ban_yes", "unban"):
        if target in settings.admin_ids:
            callback_answer.text, callback_answer.show_alert = t("admin.user.cannot_ban_admin"), True
            return
        card = await admin_users.card(target, lines=0)
        if card is None:
            callback_answer.text, callback_answer.show_alert = t("admin.user.not_found", ref=target), True
            return
        if callback_data.action == "ban":  # destructive: ask once more, only Yes bans
            await show(query, *ban_confirm(card))
            return
        banned = callback_data.action == "ban_yes"
        if card.user.is_banned == banned:  # a second Yes, or a button from before
            callback_answer.text = t(
                "admin.user.already_banned" if banned else "admin.user.already_unbanned", id=target
            )
            await show_card(query, admin_users, target, settings)
            return
        if await admin_users.set_banned(user.id, target, banned):
            callback_answer.text = t(
                "admin.user.banned_done" if banned else "admin.user.unbanned_done", id=target
            )
        else:
            callback_answer.text, callback_answer.show_alert = t("admin.user.not_found", ref=target), True
            return
    elif callback_data.action == "ban_no":
        callback_answer.text = t("admin.user.ban_kept", id=target)
    else:
        await audit.record(user.id, "user.view", ref=target)
    if not await show_card(query, admin_users, target, settings):
        await show(query, t("admin.user.not_found", ref=target))


def adjustment_text(result: Adjustment, currency: str) -> str:
    values = {
        "id": result.user_id,
        "amount": money(result.amount, currency),
        "balance": money(result.balance, currency),
    }
    if result.outcome == AdjustOutcome.NO_USER:
        return t("admin.user.not_found", ref=result.user_id)
    if result.outcome == AdjustOutcome.INSUFFICIENT:
        return t("admin.balance.insufficient", **values)
    if result.outcome == AdjustOutcome.ALREADY:
        return t("admin.balance.already", id=result.user_id, balance=values["balance"])
    head = t("admin.balance.credited", **values) if result.credit else t("admin.balance.debited", **values)
    tail = t("admin.balance.notified") if result.notified else t("admin.balance.not_notified")
    return f"{head}\n{tail}"


class Step(StrEnum):
    """What became of an admin's balance change request."""

    DONE = "done"  # applied (or refused by the ledger: see the Adjustment)
    ASKED = "asked"  # a Yes/No confirmation is waiting
    REFUSED = "refused"  # nothing done, the admin was told why (no such user)
    SHORT = "short"  # nothing done: the user has less than the amount to take


async def remember(state: FSMContext, pending: PendingAdjustment) -> None:
    """Keep `pending` in the admin's conversation data until Yes or No (the newest few only)."""
    kept = dict((await state.get_data()).get("adjust") or {})
    kept[pending.token] = pending.to_data()
    await state.update_data(adjust=dict(list(kept.items())[-PENDING_KEPT:]))


async def take_pending(state: FSMContext, token: str) -> PendingAdjustment | None:
    """The pending change under `token`, removed so that it can be used only once."""
    kept = dict((await state.get_data()).get("adjust") or {})
    if token not in kept:
        return None
    raw = kept.pop(token)
    await state.update_data(adjust=kept)
    return PendingAdjustment.from_data(raw)


async def request_adjustment(
    message: Message,
    state: FSMContext,
    *,
    credit: bool,
    target: int,
    amount: Decimal,
    reason: str,
    balances: BalanceService,
    user: UserProfile,
    settings: Settings,
) -> Step:
    """Credit or debit `target`, at once or after a Yes; the ledger key is the admin's message, so
    a redelivered update or a second Yes applies once."""
    key = f"{message.chat.id}:{message.message_id}"
    reason = clip(reason, REASON_LIMIT) if reason else ""
    if not balances.needs_confirmation(amount, credit=credit):
        if credit:
            result = await balances.credit(user.id, target, amount, reason, key)
        else:  # pragma: no cover - debits always ask
            result = await balances.debit(user.id, target, amount, reason, key)
        await message.answer(adjustment_text(result, settings.currency), reply_markup=only_menu())
        return Step.REFUSED if result.outcome == AdjustOutcome.NO_USER else Step.DONE
    preview = await balances.preview(target, amount, credit=credit)
    if not preview.found:
        await message.answer(t("admin.user.not_found", ref=target))
        return Step.REFUSED
    if not preview.enough:
        values = {"id": target, "amount": money(amount, settings.currency)}
        await message.answer(
            t(
                "admin.balance.insufficient",
                balance=money(preview.balance or Decimal(0), settings.currency),
                **values,
            )
        )
        return Step.SHORT
    pending = PendingAdjustment.new(target, amount, credit, reason, key)
    await remember(state, pending)
    text, markup = adjust_confirm(pending, preview, message.message_id, settings.currency)
    await message.answer(text, reply_markup=markup)
    return Step.ASKED


async def adjust_command(
    message: Message,
    command: CommandObject,
    state: FSMContext,
    *,
    credit: bool,
    balances: BalanceService,
    admin_users: AdminUsers,
    user: UserProfile,
    settings: Settings,
) -> None:
    parts = (command.args or "").split(maxsplit=2)
    if len(parts) < 2:
        await message.answer(usage("addbalance" if credit else "takebalance"))
        return
    try:
        amount = parse_amount(parts[1])
    except AmountError as error:
        await message.answer(amount_error(error, parts[1], settings.currency, credit=credit))
        return
    target = await resolve(admin_users, parts[0])
    if target is None:
        await message.answer(t("admin.user.not_found", ref=clip(parts[0], 64)))
        return
    await request_adjustment(
        message,
        state,
        credit=credit,
        target=target,
        amount=amount,
        reason=parts[2] if len(parts) > 2 else "",
        balances=balances,
        user=user,
        settings=settings,
    )


@router.message(Command("addbalance", "takebalance"))
async def cmd_change_balance(
    message: Message,
    command: CommandObject,
    state: FSMContext,
    balances: BalanceService,
    admin_users: AdminUsers,
    user: UserProfile,
    settings: Settings,
) -> None:
    await adjust_command(
        message,
        command,
        state,
        credit=command.command == "addbalance",
        balances=balances,
        admin_users=admin_users,
        user=user,
        settings=settings,
    )


@router.callback_query(AdminAdjustCb.filter())
async def on_adjust_answer(
    query: CallbackQuery,
    callback_data: AdminAdjustCb,
    state: FSMContext,
    balances: BalanceService,
    user: UserProfile,
    settings: Settings,
    callback_answer: CallbackAnswer,
) -> None:
    """Yes applies exactly the change this confirmation was shown for, once; No drops it. A Yes
    whose change is gone (used, or replaced since) says what happened instead."""
    pending = await take_pending(state, callback_data.token)
    key = f"{query.from_user.id}:{callback_data.msg}"
    if pending is None or pending.key != key or pending.expired():
        before = await balances.applied_before(key)
        if before is not None:
            text = adjustment_text(before, settings.currency)
        else:
            text = t("admin.balance.expired")
        callback_answer.text = clip(text, 190)  # a toast holds 200 characters
        await show(query, text, only_menu())
        return
    if not callback_data.yes:
        callback_answer.text = t("admin.balance.cancelled", id=pending.user_id)
        await show(query, t("admin.balance.cancelled", id=pending.user_id), only_menu())
        return
    if pending.credit:
        result = await balances.credit(user.id, pending.user_id, pending.amount, pending.reason, key)
    else:
        result = await balances.debit(user.id, pending.user_id, pending.amount, pending.reason, key)
    await show(query, adjustment_text(result, settings.currency), only_menu())


# --- the same from buttons: find a user, then add or take with an amount ----------------------------


@router.callback_query(AdminCb.filter(F.screen == "users"))
async def on_users(query: CallbackQuery, state: FSMContext) -> None:
    await state.set_state(AdminForm.user_lookup)
    await show(query, t("admin.user.ask"), only_menu(), new_message=True)


@inputs.message(StateFilter(AdminForm.user_lookup), F.text, ~F.text.startswith("/"))
async def on_user_ref(
    message: Message,
    state: FSMContext,
    admin_users: AdminUsers,
    audit: AuditService,
    user: UserProfile,
    settings: Settings,
) -> None:
    raw = (message.text or "").strip()
    await audit.record(user.id, "user.view", ref=raw)
    user_id = await resolve(admin_users, raw)
    if user_id is None or not await show_card(message, admin_users, user_id, settings):
        await message.answer(t("admin.user.not_found", ref=clip(raw, 64)) + "\n" + t("admin.user.ask"))
        return
    await state.clear()


@inputs.message(StateFilter(AdminForm.balance_amount), F.text, ~F.text.startswith("/"))
async def on_amount(
    message: Message, state: FSMContext, balances: BalanceService, user: UserProfile, settings: Settings
) -> None:
    data = await state.get_data()
    parts = (message.text or "").split(maxsplit=1)
    target = int(data.get("user_id") or 0)
    credit = bool(data.get("credit"))
    typed = parts[0] if parts else ""
    try:
        amount = parse_amount(typed)
    except AmountError as error:  # ask again: the admin is still answering
        await message.answer(amount_error(error, typed, settings.currency, credit=credit))
        return
    step = await request_adjustment(
        message,
        state,
        credit=credit,
        target=target,
        amount=amount,
        reason=parts[1] if len(parts) > 1 else "",
        balances=balances,
        user=user,
        settings=settings,
    )
    if step == Step.SHORT:  # ask again: a smaller amount may do
        await message.answer(t("admin.balance.ask_take", id=target))
        return
    await state.set_state(None)
    await state.set_data(
        {k: v for k, v in (await state.get_data()).items() if k not in ("user_id", "credit")}
    )
