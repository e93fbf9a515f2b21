"""Growth, the customer's side: /promo, referral links and screen, support conversations, notices."""

from __future__ import annotations

from aiogram import Bot, F
from aiogram.filters import Command, CommandObject, CommandStart, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message
from aiogram.utils.callback_answer import CallbackAnswer

from bot.config import Settings
from bot.handlers import start
from bot.i18n import t
from bot.services.growth.notices import NoticeSettings
from bot.services.growth.promo import PromoService, Redeemed, RedeemOutcome
from bot.services.growth.referrals import BindOutcome, ReferralService, code_from_start
from bot.services.growth.support import Content, SupportDesk
from bot.services.settings import ShopSettings
from bot.services.users import UserProfile
from bot.telegram.callbacks import GrowthCb
from bot.telegram.render import money, percent, show
from bot.telegram.routes import Routes
from bot.views.common import only_home
from bot.views.growth import back_home, notices_screen, referral_screen, support_done_markup
from storage.models import NoticeLevel

router = Routes("growth")


class GrowthForm(StatesGroup):
    promo_code = State()  # waiting for a promo code
    support = State()  # every message goes to the support ticket


# --- referrals: the deep link ----------------------------------------------------------------------------


@router.message(CommandStart(deep_link=True, magic=F.args.startswith("ref_")))
async def on_start_with_referral(
    message: Message,
    command: CommandObject,
    state: FSMContext,
    user: UserProfile,
    shop: ShopSettings,
    referrals: ReferralService,
    is_admin: bool = False,
) -> None:
    """A start through `t.me/<bot>?start=ref_<code>`: bind the referrer (first start only), then the
    usual welcome."""
    code = code_from_start(command.args)
    outcome = await referrals.bind(user.id, code, first_start=user.created) if code else BindOutcome.UNKNOWN
    await start.on_home(message, state, user, shop, is_admin)
    if outcome == BindOutcome.SELF:
        await message.answer(t("referral.self"))
    elif outcome == BindOutcome.BOUND:
        await message.answer(t("referral.welcome"))
    elif outcome in (BindOutcome.NOT_NEW, BindOutcome.ALREADY):
        await message.answer(t("referral.not_new"))


async def referral_text(bot: Bot, referrals: ReferralService, user: UserProfile, settings: Settings) -> str:
    screen = await referrals.screen(user.id)
    me = await bot.me()
    link = f"https://t.me/{me.username}?start=ref_{screen.code}"
    return referral_screen(link, screen.referees, screen.earned, screen.percent, settings.currency)


@router.message(Command("referrals", "invite"))
async def cmd_referrals(
    message: Message, bot: Bot, referrals: ReferralService, user: UserProfile, settings: Settings
) -> None:
    await show(message, await referral_text(bot, referrals, user, settings), back_home())


@router.callback_query(GrowthCb.filter(F.screen == "referrals"))
async def on_referrals(
    query: CallbackQuery, bot: Bot, referrals: ReferralService, user: UserProfile, settings: Settings
) -> None:
    await show(query, await referral_text(bot, referrals, user, settings), back_home())


# --- promo codes ------------------------------------------------------------------------------------------


def redeemed_text(result: Redeemed, currency: str) -> str:
    if result.outcome == RedeemOutcome.CREDITED and result.amount is not None:
        balance = money(result.balance or result.amount, currency)
        return t("promo.credited", code=result.code, amount=money(result.amount, currency), balance=balance)
    if result.outcome == RedeemOutcome.BONUS_WAITING and result.amount is not None:
        text = t("promo.bonus_waiting", code=result.code, percent=percent(result.amount))
        if result.minimum is not None:
            text += "\n" + t("promo.bonus_minimum", amount=money(result.minimum, currency))
        return text
    if result.outcome == RedeemOutcome.NEEDS_TOPUPS and result.minimum is not None:
        return t("promo.needs_topups", amount=money(result.minimum, currency))
    return t(f"promo.refused.{result.outcome.value}", code=result.code)


@router.message(Command("promo"))
async def cmd_promo(
    message: Message,
    command: CommandObject,
    state: FSMContext,
    promos: PromoService,
    user: UserProfile,
    settings: Settings,
) -> None:
    if not command.args:
        await state.set_state(GrowthForm.promo_code)
        await message.answer(t("promo.ask"), reply_markup=only_home())
        return
    await redeem(message, state, promos, user, settings, command.args)


@router.callback_query(GrowthCb.filter(F.screen == "promo"))
async def on_promo(query: CallbackQuery, state: FSMContext) -> None:
    await state.set_state(GrowthForm.promo_code)
    await show(query, t("promo.ask"), only_home(), new_message=True)


@router.message(StateFilter(GrowthForm.promo_code), F.text, ~F.text.startswith("/"))
async def on_promo_code(
    message: Message, state: FSMContext, promos: PromoService, user: UserProfile, settings: Settings
) -> None:
    await redeem(message, state, promos, user, settings, message.text or "")


async def redeem(
    message: Message, state: FSMContext, promos: PromoService, user: UserProfile, settings: Settings, raw: str
) -> None:
    if not settings.wallet_enabled:
        await state.clear()
        await message.answer(t("balance.wallet_off"), reply_markup=only_home())
        return
    result = await promos.redeem(user.id, raw.strip().split()[0] if raw.strip() else "")
    if result.outcome == RedeemOutcome.INVALID:
        await message.answer(t("promo.refused.invalid"), reply_markup=only_home())  # ask again
        return
    await state.clear()
    await message.answer(redeemed_text(result, settings.currency), reply_markup=only_home())


# --- support ----------------------------------------------------------------------------------------------


@router.message(Command("support"))
async def cmd_support(message: Message, state: FSMContext) -> None:
    await state.set_state(GrowthForm.support)
    await message.answer(t("support.ask"), reply_markup=support_done_markup())


@router.callback_query(GrowthCb.filter(F.screen == "support"))
async def on_support(query: CallbackQuery, state: FSMContext) -> None:
    await state.set_state(GrowthForm.support)
    await show(query, t("support.ask"), support_done_markup(), new_message=True)


@router.callback_query(GrowthCb.filter(F.screen == "support_done"))
async def on_support_done(query: CallbackQuery, state: FSMContext) -> None:
    if await state.get_state() == GrowthForm.support.state:
        await state.clear()
    await show(query, t("support.done"), back_home())


@router.message(StateFilter(GrowthForm.support), ~F.text.startswith("/"))
async def on_support_message(message: Message, support_desk: SupportDesk, user: UserProfile) -> None:
    content = Content.of(message, html=False)
    if content is None or (content.kind == "text" and not (content.text or "").strip()):
        await message.answer(t("support.need_content"), reply_markup=support_done_markup())
        return
    ticket, delivered = await support_desk.from_customer(user.id, content)
    key = "support.sent" if delivered else "support.sent_later"
    await message.answer(t(key, id=ticket.id), reply_markup=support_done_markup())


# --- order notices ----------------------------------------------------------------------------------------


@router.callback_query(GrowthCb.filter(F.screen == "notices"))
async def on_notices(
    query: CallbackQuery,
    callback_answer: CallbackAnswer,
    callback_data: GrowthCb,
    notice_settings: NoticeSettings,
    user: UserProfile,
) -> None:
    if callback_data.value:
        try:
            level = NoticeLevel(callback_data.value)
        except ValueError:
            callback_answer.text = t("stale.button")
            return
        await notice_settings.set_level(user.id, level)
        await show(query, *notices_screen(level))
        callback_answer.text = t("notices.saved")
        return
    await show(query, *notices_screen(await notice_settings.level(user.id)))


@router.message(Command("notices"))
async def cmd_notices(message: Message, notice_settings: NoticeSettings, user: UserProfile) -> None:
    await show(message, *notices_screen(await notice_settings.level(user.id)))
