"""The customer's balance and recent ledger lines."""

from __future__ import annotations

from aiogram import F
from aiogram.filters import Command
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message

from bot.config import Settings
from bot.i18n import t
from bot.services.topups import TopUpService
from bot.services.users import UserProfile, UserService
from bot.telegram.callbacks import MenuCb
from bot.telegram.render import money, show
from bot.telegram.routes import Routes
from bot.views.common import home_button, only_home
from bot.views.ledger import statement_lines
from bot.views.topup import topup_button


async def balance_text(
    users: UserService, user: UserProfile, settings: Settings, *, can_top_up: bool = False
) -> str:
    if not settings.wallet_enabled:
        return t("balance.wallet_off")
    amount, entries = await users.statement(user.id)
    lines = [t("balance.title", amount=money(amount, settings.currency))]
    if entries:
        lines.append("")
        lines.append(t("balance.history"))
        lines.extend(statement_lines(entries, settings.currency))
    else:
        lines.append(t("balance.no_history"))
    lines.append("")
    lines.append(t("balance.top_up_button") if can_top_up else t("balance.top_up"))
    return "\n".join(lines)


async def balance_screen(
    users: UserService, user: UserProfile, settings: Settings, topups: TopUpService | None
) -> tuple[str, InlineKeyboardMarkup]:
    """The balance with a "Top up" button when the shop takes top-ups (bot/handlers/topup.py)."""
    can_top_up = settings.wallet_enabled and topups is not None and await topups.available()
    text = await balance_text(users, user, settings, can_top_up=can_top_up)
    if not can_top_up:
        return text, only_home()
    return text, InlineKeyboardMarkup(inline_keyboard=[[topup_button()], [home_button()]])


router = Routes("balance")


@router.message(Command("balance"))
@router.callback_query(MenuCb.filter(F.screen == "balance"))
async def on_balance(
    event: Message | CallbackQuery,
    users: UserService,
    user: UserProfile,
    settings: Settings,
    topups: TopUpService | None = None,
) -> None:
    await show(event, *await balance_screen(users, user, settings, topups))
