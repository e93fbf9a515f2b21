"""Start, help, cancel, the main menu and language settings."""

from __future__ import annotations

from aiogram import F
from aiogram.filters import Command, CommandStart
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.callback_answer import CallbackAnswer
from aiogram.utils.i18n import I18n

from bot.i18n import t
from bot.services.settings import ShopSettings
from bot.services.users import UserProfile, UserService
from bot.telegram.callbacks import AdminCb, LangCb, MenuCb
from bot.telegram.render import show
from bot.telegram.routes import Routes
from bot.views.common import cancelled_text, language_screen, main_menu

router = Routes("start")


def home_menu(is_admin: bool) -> InlineKeyboardMarkup:
    """The main menu; an admin also gets the way into the admin console (bot/handlers/admin)."""
    markup = main_menu()
    if is_admin:
        markup.inline_keyboard.append(
            [InlineKeyboardButton(text=t("button.admin"), callback_data=AdminCb(screen="menu").pack())]
        )
    return markup


def help_text(is_admin: bool) -> str:
    return t("help.text") + ("\n\n" + t("help.admin") if is_admin else "")


async def welcome_text(user: UserProfile, shop: ShopSettings) -> str:
    custom = await shop.welcome_text()
    return custom if custom else t("start.welcome", name=user.first_name or "")


@router.message(CommandStart())
@router.callback_query(MenuCb.filter(F.screen == "home"))
async def on_home(
    event: Message | CallbackQuery,
    state: FSMContext,
    user: UserProfile,
    shop: ShopSettings,
    is_admin: bool = False,
) -> None:
    await state.clear()
    await show(event, await welcome_text(user, shop), home_menu(is_admin))


@router.message(Command("help"))
@router.callback_query(MenuCb.filter(F.screen == "help"))
async def on_help(event: Message | CallbackQuery, is_admin: bool = False) -> None:
    await show(event, help_text(is_admin), home_menu(is_admin))


@router.message(Command("cancel"))
async def cmd_cancel(message: Message, state: FSMContext, is_admin: bool = False) -> None:
    """Ends whatever question is open and says what was dropped: an order, a broadcast, an admin's
    balance change (not "nothing was ordered" to an admin who was asked for an amount)."""
    current, data = await state.get_state(), await state.get_data()
    await state.clear()
    await message.answer(cancelled_text(current, data), reply_markup=home_menu(is_admin))


@router.message(Command("settings", "language"))
@router.callback_query(MenuCb.filter(F.screen == "settings"))
async def on_settings(event: Message | CallbackQuery) -> None:
    await show(event, *language_screen())


@router.callback_query(LangCb.filter())
async def on_language(
    query: CallbackQuery,
    callback_data: LangCb,
    users: UserService,
    i18n: I18n,
    callback_answer: CallbackAnswer,
) -> None:
    if callback_data.code not in i18n.available_locales:
        callback_answer.text = t("stale.button")
        return
    await users.set_locale(query.from_user.id, callback_data.code)
    with i18n.use_locale(callback_data.code):
        await show(query, t("settings.saved"), main_menu())
