"""Every button's callback data, built from ids with aiogram's CallbackData (always ≤ 64 bytes)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from aiogram.filters.callback_data import CallbackData
from pydantic import Field

# Numbers in callback data come from the client. A forged one beyond what its column holds must
# fail to unpack (the "no longer active" answer), not overflow a query into "something went wrong".
RowId = Annotated[int, Field(ge=0, le=2**31 - 1)]  # our rows' ids (INTEGER keys) and page numbers
Page = RowId
TelegramId = Annotated[int, Field(ge=0, le=2**63 - 1)]  # a user or message id (BIGINT)


class MenuCb(CallbackData, prefix="m"):
    screen: str  # home, catalog, search, orders, balance, settings, help


class CategoriesCb(CallbackData, prefix="cs"):
    page: Page = 0


class PlatformCb(CallbackData, prefix="pf"):
    """A platform of the catalog's first level: its categories (bot/services/platforms.py)."""

    slug: str
    page: Page = 0


class CategoryCb(CallbackData, prefix="c"):
    id: RowId
    page: Page = 0


class ServiceCb(CallbackData, prefix="s"):
    id: str


class BuyCb(CallbackData, prefix="b"):
    id: str


class SearchPageCb(CallbackData, prefix="q"):
    page: Page


class FormAction(StrEnum):
    """What an order form button does; bot/handlers/order_form.py has one handler for each."""

    BACK = "back"  # the previous question
    CANCEL = "cancel"
    SKIP = "skip"  # leave an optional field empty
    CHOICE = "choice"  # `value`: the chosen option
    CONFIRM = "confirm"
    EDIT = "edit"  # the menu of fields to change
    FIELD = "field"  # `value`: the field to ask again
    SUMMARY = "summary"  # back to the summary
    RESUME = "resume"  # carry on with the form where it was (bot/handlers/kept.py)


class FormCb(CallbackData, prefix="f"):
    """Buttons of the order form. `draft` ties the button to one filled-in form."""

    action: FormAction
    draft: str
    value: str = ""


class OrdersCb(CallbackData, prefix="os"):
    page: Page = 0


class OrderCb(CallbackData, prefix="o"):
    id: RowId
    action: str = "view"  # view, refresh, refill, cancel (asks), cancel_yes (sends), again (order again)


class LangCb(CallbackData, prefix="l"):
    code: str


class TopUpCb(CallbackData, prefix="tu"):
    """Top-up buttons (bot/handlers/topup.py). `action="menu"` opens the top-up menu (with `value`
    an amount to suggest, e.g. what an order lacks); amount, pay (`method`: stars, crypto, m<id>),
    check (`value`: a top-up id), cancel."""

    action: str = "menu"
    method: str = ""
    value: str = ""


# --- the admin console (bot/handlers/admin) ------------------------------------------------------


class AdminCb(CallbackData, prefix="adm"):
    screen: str  # menu, broadcast, broadcasts, users, stats, chart, panel, problems, catalog, sync, settings,
    # audit, markup, welcome, welcome_reset, maintenance_on, maintenance_off


class BroadcastCb(CallbackData, prefix="abc"):
    action: str  # aud (choose audience), send, drop (discard the draft), stop (a running broadcast)
    draft: str = ""
    value: str = ""
    id: RowId = 0


class AdminUserCb(CallbackData, prefix="au"):
    id: TelegramId
    action: str  # view, ban (asks), ban_yes, ban_no, unban, add, take (ask for an amount)


class AdminAdjustCb(CallbackData, prefix="aadj"):
    """Yes/No under a balance change an admin must confirm: `token` names the pending change kept
    in the admin's conversation data, `msg` the admin's message whose ledger key it is written under."""

    token: str
    msg: TelegramId
    yes: bool


class ProblemCb(CallbackData, prefix="apr"):
    id: RowId
    action: str  # attach, refund (ask), refund_yes, list


class AdminCatCb(CallbackData, prefix="acat"):
    action: str  # cats, cat, svc, hidecat, showcat, hide, show
    id: str = ""
    page: Page = 0


class AdminTopUpCb(CallbackData, prefix="atu"):
    id: RowId
    action: str  # approve, reject


class PayMethodCb(CallbackData, prefix="apm"):
    action: str  # list, add, toggle, delete, delete_yes, skip (a Russian text), pending
    id: RowId = 0


class GrowthCb(CallbackData, prefix="g"):
    """Growth buttons (bot/handlers/growth.py): promo (ask for a code), referrals, support (start
    writing), support_done, notices (`value`: the notice level chosen)."""

    screen: str
    value: str = ""


class TicketCb(CallbackData, prefix="tk"):
    """Admin buttons on a ticket: reply, close, view; `list` lists the open tickets."""

    action: str
    id: RowId = 0


class GrowthAdminCb(CallbackData, prefix="ga"):
    """Admin console: promos (list), promo_off / promo_on (`id`), alerts, alert (`value`: its name)."""

    action: str
    id: RowId = 0
    value: str = ""
