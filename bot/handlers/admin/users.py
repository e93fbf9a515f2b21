"""A customer's profile for the admins, ban and unban, and balance corrections."""

from __future__ import annotations

from aiogram import F
from aiogram.filters import Command, CommandObject, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from aiogram.utils.callback_answer import CallbackAnswer

from bot.config import Settings
from bot.handlers.admin.common import AdminForm
from bot.i18n import t
from bot.services.admin.audit import AuditService
from bot.services.admin.balances import Adjustment, AdjustOutcome, BalanceService, parse_amount
from bot.services.admin.users import AdminUsers, parse_user_ref
from bot.services.users import UserProfile
from bot.telegram.render import clip, show
from bot.telegram.routes import Routes
from bot.views.admin import AdminCb, AdminUserCb, only_menu, usage, user_card
from bot.views.common import money

router = Routes("admin.users")
inputs = Routes("admin.users.inputs")
REASON_LIMIT = 200


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
        await state.set_data({"user_id": target, "credit": credit})
        key = "admin.balance.ask_add" if credit else "admin.balance.ask_take"
        await show(query, t(key, id=target), only_menu(), new_message=True)
        return
    if callback_data.action in ("ban", "unban"):
        if target in settings.admin_ids:
            callback_answer.text, callback_answer.show_alert = t("admin.user.cannot_ban_admin"), True
            return
        banned = callback_data.action == "ban"
        if await admin_users.set_banned(user.id, target, banned):
            callback_answer.text = t(
                "admin.user.banned_done" if banned else "admin.user.unbanned_done", id=target
            )
        else:
            callback_answer.text, callback_answer.show_alert = t("admin.user.not_found", ref=target), True
            return
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


async def apply_adjustment(
    message: Message,
    *,
    credit: bool,
    target: int,
    amount_text: str,
    reason: str,
    balances: BalanceService,
    user: UserProfile,
    settings: Settings,
) -> Adjustment | None:
    """Credit or debit `target`; the key is the admin's message, so a redelivered update applies once.
    None when the amount is not valid (nothing done)."""
    amount = parse_amount(amount_text)
    if amount is None:
        await message.answer(t("admin.balance.bad_amount", amount=clip(amount_text, 30)))
        return None
    key = f"{message.chat.id}:{message.message_id}"
    reason = clip(reason, REASON_LIMIT) if reason else ""
    if credit:
        result = await balances.credit(user.id, target, amount, reason, key)
    else:
        result = await balances.debit(user.id, target, amount, reason, key)
    await message.answer(adjustment_text(result, settings.currency), reply_markup=only_menu())
    return result


async def adjust_command(
    message: Message,
    command: CommandObject,
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
    if parse_amount(parts[1]) is None:
        await message.answer(t("admin.balance.bad_amount", amount=clip(parts[1], 30)))
        return
    target = await resolve(admin_users, parts[0])
    if target is None:
        await message.answer(t("admin.user.not_found", ref=clip(parts[0], 64)))
        return
    await apply_adjustment(
        message,
        credit=credit,
        target=target,
        amount_text=parts[1],
        reason=parts[2] if len(parts) > 2 else "",
        balances=balances,
        user=user,
        settings=settings,
    )


@router.message(Command("addbalance", "takebalance"))
async def cmd_change_balance(
    message: Message,
    command: CommandObject,
    balances: BalanceService,
    admin_users: AdminUsers,
    user: UserProfile,
    settings: Settings,
) -> None:
    await adjust_command(
        message,
        command,
        credit=command.command == "addbalance",
        balances=balances,
        admin_users=admin_users,
        user=user,
        settings=settings,
    )


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
    result = await apply_adjustment(
        message,
        credit=bool(data.get("credit")),
        target=target,
        amount_text=parts[0] if parts else "",
        reason=parts[1] if len(parts) > 1 else "",
        balances=balances,
        user=user,
        settings=settings,
    )
    if result is None:
        return
    if result.outcome == AdjustOutcome.INSUFFICIENT:  # ask again: a smaller amount may do
        await message.answer(t("admin.balance.ask_take", id=target))
        return
    await state.clear()
