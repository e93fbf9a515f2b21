"""Admin console screens, and the callback data of its buttons (prefixes distinct from the shop's)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.i18n import t, tn
from bot.services.admin.broadcast import BroadcastScreens, Progress
from bot.services.admin.chart import ChartLabels
from bot.services.amounts import AmountError, AmountProblem
from bot.telegram.callbacks import AdminAdjustCb, AdminCatCb, AdminCb, AdminUserCb, BroadcastCb, ProblemCb
from bot.telegram.render import clip, money, percent
from bot.views.catalog import platform_name
from bot.views.common import button_label, nav_row
from storage.models import BroadcastState, LedgerEntry, Order, OrderState
from storage.repositories.broadcasts import AUDIENCE_ALL, AUDIENCE_BUYERS, active_audience, active_days

if TYPE_CHECKING:
    from bot.panel import Balance
    from bot.services.admin.balances import PendingAdjustment, Preview
    from bot.services.admin.catalog import AdminCategory, AdminService
    from bot.services.admin.problems import Problems
    from bot.services.admin.stats import ShopStats
    from bot.services.admin.users import UserCard
    from bot.services.catalog import Page
    from storage.models import AdminAudit, Broadcast
    from storage.repositories.broadcasts import Counts
    from storage.repositories.catalog import SyncReport

CENT = Decimal("0.01")
NAME_LIMIT = 120
ADMIN_CATEGORIES_PER_PAGE = 10
ADMIN_SERVICES_PER_PAGE = 10
SYNC_IDS_SHOWN = 20


# --- small helpers -------------------------------------------------------------------------------


def when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if moment is not None else "—"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    total = max(0, round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _button(text: str, data: CallbackData) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=button_label(text), callback_data=data.pack())


def admin_menu_button() -> InlineKeyboardButton:
    return _button(t("admin.button.menu"), AdminCb(screen="menu"))


def only_menu() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[admin_menu_button()]])


def yes_no(value: bool) -> str:
    return t("admin.yes") if value else t("admin.no")


# --- menu -----------------------------------------------------------------------------------------


def admin_menu() -> tuple[str, InlineKeyboardMarkup]:
    entries = [
        ("admin.button.broadcast", "broadcast"),
        ("admin.button.broadcasts", "broadcasts"),
        ("admin.button.users", "users"),
        ("admin.button.stats", "stats"),
        ("admin.button.chart", "chart"),
        ("admin.button.panel", "panel"),
        ("admin.button.problems", "problems"),
        ("admin.button.catalog", "catalog"),
        ("admin.button.sync", "sync"),
        ("admin.button.settings", "settings"),
        ("admin.button.audit", "audit"),
        ("admin.button.payments", "payments"),  # bot/handlers/admin/payments.py
        ("admin.button.promos", "promos"),  # bot/handlers/admin/growth.py
        ("admin.button.tickets", "tickets"),
        ("admin.button.alerts", "alerts"),
    ]
    buttons = [_button(t(key), AdminCb(screen=screen)) for key, screen in entries]
    rows = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
    return t("admin.menu"), InlineKeyboardMarkup(inline_keyboard=rows)


USAGE_KEYS: Mapping[str, str] = {
    "user": "admin.usage.user",
    "addbalance": "admin.usage.addbalance",
    "takebalance": "admin.usage.takebalance",
    "hide": "admin.usage.hide",
    "show": "admin.usage.show",
    "hidecat": "admin.usage.hidecat",
    "showcat": "admin.usage.showcat",
    "rename": "admin.usage.rename",
    "renamecat": "admin.usage.renamecat",
    "platform": "admin.usage.platform",
    "markup": "admin.usage.markup",
    "attach": "admin.usage.attach",
    "notplaced": "admin.usage.notplaced",
    "maintenance": "admin.usage.maintenance",
    "stopbroadcast": "admin.usage.stopbroadcast",
    "refundtopup": "admin.usage.refundtopup",
}


def usage(command: str) -> str:
    return t(USAGE_KEYS[command])


# --- broadcasts ------------------------------------------------------------------------------------


def audience_label(audience: str) -> str:
    days = active_days(audience)
    if days is not None:
        return tn("admin.broadcast.audience_active", days)
    if audience == AUDIENCE_BUYERS:
        return t("admin.broadcast.audience_buyers")
    return t("admin.broadcast.audience_all")


def broadcast_prompt() -> tuple[str, InlineKeyboardMarkup]:
    return t("admin.broadcast.prompt"), only_menu()


def broadcast_controls(draft: str, audience: str, size: int) -> tuple[str, InlineKeyboardMarkup]:
    """Below the preview: the audience to choose, Send and Cancel."""
    choices = [
        (AUDIENCE_ALL, t("admin.button.all")),
        (active_audience(7), t("admin.button.active_7")),
        (active_audience(30), t("admin.button.active_30")),
        (AUDIENCE_BUYERS, t("admin.button.buyers")),
    ]
    audience_row = [
        _button(
            ("• " if value == audience else "") + label, BroadcastCb(action="aud", draft=draft, value=value)
        )
        for value, label in choices
    ]
    rows = [
        audience_row[:2],
        audience_row[2:],
        [
            _button(tn("admin.button.send", size), BroadcastCb(action="send", draft=draft)),
            _button(t("admin.button.cancel"), BroadcastCb(action="drop", draft=draft)),
        ],
    ]
    text = tn("admin.broadcast.ready", size, audience=audience_label(audience))
    return text, InlineKeyboardMarkup(inline_keyboard=rows)


def broadcast_progress(progress: Progress) -> tuple[str, InlineKeyboardMarkup | None]:
    values: dict[str, Any] = {
        "id": progress.broadcast_id,
        "sent": progress.sent,
        "failed": progress.failed + progress.blocked,
        "blocked": progress.blocked,
        "left": progress.left,
        "total": progress.total,
    }
    if progress.state == BroadcastState.RUNNING:
        text = t(
            "admin.broadcast.progress",
            rate=f"{progress.rate:.1f}",
            eta=duration(progress.eta_seconds),
            **values,
        )
        stop = _button(t("admin.button.stop"), BroadcastCb(action="stop", id=progress.broadcast_id))
        return text, InlineKeyboardMarkup(inline_keyboard=[[stop]])
    if progress.state == BroadcastState.CANCELLED:
        return t("admin.broadcast.progress_cancelled", **values), None
    return t("admin.broadcast.progress_done", **values), None


def broadcast_report(progress: Progress) -> str:
    values: dict[str, Any] = {
        "id": progress.broadcast_id,
        "sent": progress.sent,
        "failed": progress.failed + progress.blocked,
        "blocked": progress.blocked,
        "left": progress.left,
        "total": progress.total,
    }
    if progress.state == BroadcastState.CANCELLED:
        return t("admin.broadcast.report_cancelled", **values)
    return t("admin.broadcast.report_done", **values)


BROADCAST_STATE_KEYS: Mapping[str, str] = {
    BroadcastState.RUNNING: "admin.broadcast.state_running",
    BroadcastState.CANCELLED: "admin.broadcast.state_cancelled",
    BroadcastState.DONE: "admin.broadcast.state_done",
}


def broadcasts_screen(items: Sequence[tuple[Broadcast, Counts]]) -> tuple[str, InlineKeyboardMarkup]:
    if not items:
        return t("admin.broadcasts.empty"), only_menu()
    lines = [t("admin.broadcasts.title")]
    rows = []
    for broadcast, counts in items:
        lines.append(
            t(
                "admin.broadcasts.line",
                id=broadcast.id,
                state=t(BROADCAST_STATE_KEYS[broadcast.state]),
                audience=audience_label(broadcast.audience),
                sent=counts.sent,
                total=counts.total,
                failed=counts.failed + counts.blocked,
                when=when(broadcast.created_at),
            )
        )
        if broadcast.state == BroadcastState.RUNNING:
            rows.append(
                [
                    _button(
                        t("admin.button.stop_id", id=broadcast.id),
                        BroadcastCb(action="stop", id=broadcast.id),
                    )
                ]
            )
    rows.append([admin_menu_button()])
    return "\n".join(lines), InlineKeyboardMarkup(inline_keyboard=rows)


# --- users and balances -------------------------------------------------------------------------------


def user_card(card: UserCard, currency: str, *, is_admin: bool) -> tuple[str, InlineKeyboardMarkup]:
    user = card.user
    lines = [
        t(
            "admin.user.card",
            name=clip(user.first_name or "—", NAME_LIMIT),
            username=f"@{user.username}" if user.username else "—",
            id=user.id,
            language=user.locale or user.language_code or "—",
            joined=when(user.created_at),
            seen=when(user.last_seen_at),
            balance=money(card.balance, currency),
            orders=card.order_count,
        )
    ]
    if user.is_banned:
        lines.append(t("admin.user.banned"))
    if user.blocked_bot:
        lines.append(t("admin.user.blocked"))
    if card.ledger:
        lines.append("")
        lines.append(t("admin.user.ledger_title"))
        lines.extend(ledger_line(entry, currency) for entry in card.ledger)
    if card.orders:
        lines.append("")
        lines.append(t("admin.user.orders_title"))
        lines.extend(order_line(order) for order in card.orders)
    lines.append("")
    lines.append(t("admin.user.hint", id=user.id))
    rows: list[list[InlineKeyboardButton]] = [
        [
            _button(t("admin.button.add_balance"), AdminUserCb(id=user.id, action="add")),
            _button(t("admin.button.take_balance"), AdminUserCb(id=user.id, action="take")),
        ]
    ]
    if not is_admin:
        if user.is_banned:
            rows.append([_button(t("admin.button.unban"), AdminUserCb(id=user.id, action="unban"))])
        else:
            rows.append([_button(t("admin.button.ban"), AdminUserCb(id=user.id, action="ban"))])
    rows.append([admin_menu_button()])
    return "\n".join(lines), InlineKeyboardMarkup(inline_keyboard=rows)


def ban_confirm(card: UserCard) -> tuple[str, InlineKeyboardMarkup]:
    """Banning asks once more (unbanning is one tap: it only gives access back)."""
    user = card.user
    text = t("admin.user.ban_confirm", name=clip(user.first_name or "—", NAME_LIMIT), id=user.id)
    rows = [
        [
            _button(t("admin.button.ban_yes"), AdminUserCb(id=user.id, action="ban_yes")),
            _button(t("admin.button.ban_no"), AdminUserCb(id=user.id, action="ban_no")),
        ]
    ]
    return text, InlineKeyboardMarkup(inline_keyboard=rows)


def adjust_confirm(
    pending: PendingAdjustment, preview: Preview, msg: int, currency: str
) -> tuple[str, InlineKeyboardMarkup]:
    """ "Take 5.00 USD from user Ann (1001)? Balance 12.00 → 7.00" with Yes/No bound to `pending`."""
    values = {
        "amount": money(pending.amount, currency),
        "name": clip(preview.name or "—", NAME_LIMIT),
        "id": pending.user_id,
        "balance": money(preview.balance or Decimal(0), currency),
        "after": money(preview.after or Decimal(0), currency),
    }
    if pending.credit:
        lines = [t("admin.balance.confirm_add", **values)]
        yes = t("admin.button.add_yes")
    else:
        lines = [t("admin.balance.confirm_take", **values)]
        yes = t("admin.button.take_yes")
    if pending.reason:
        lines.append(t("admin.balance.user_reason", reason=pending.reason))
    rows = [
        [
            _button(yes, AdminAdjustCb(token=pending.token, msg=msg, yes=True)),
            _button(t("admin.button.adjust_no"), AdminAdjustCb(token=pending.token, msg=msg, yes=False)),
        ]
    ]
    return "\n".join(lines), InlineKeyboardMarkup(inline_keyboard=rows)


def amount_error(error: AmountError, typed: str, currency: str, *, credit: bool | None = None) -> str:
    """The real problem with a typed amount, in words, for the balance commands, prompts and the
    owner's amount settings. `credit` picks the hint for a negative balance change; None is a setting."""
    limit = money(error.limit, currency) if error.limit is not None else ""
    negative = {
        True: "admin.amount.negative_add",
        False: "admin.amount.negative_take",
        None: "admin.amount.negative",
    }
    return typed_number_error(error, typed, limit, negative[credit])


def percent_error(error: AmountError, typed: str) -> str:
    """A typed percent's problem, in the same words as an amount's; the bound in percent."""
    limit = f"{percent(error.limit)}%" if error.limit is not None else ""
    return typed_number_error(error, typed, limit, "admin.amount.negative")


def typed_number_error(error: AmountError, typed: str, limit: str, negative_key: str) -> str:
    amount = clip(typed, 30)
    problem = error.problem
    if problem == AmountProblem.NOT_FINITE:
        return t("admin.amount.not_finite", amount=amount)
    if problem == AmountProblem.NEGATIVE:
        return t(negative_key, amount=amount)
    if problem == AmountProblem.ZERO:
        return t("admin.amount.zero", amount=amount)
    if problem == AmountProblem.TOO_LARGE:
        return t("admin.amount.too_large", amount=amount, max=limit)
    if problem == AmountProblem.TOO_SMALL:
        return t("admin.amount.too_small", amount=amount, min=limit)
    if problem == AmountProblem.TOO_PRECISE:
        return t("admin.amount.too_precise", amount=amount)
    if problem == AmountProblem.AMBIGUOUS:
        return t("admin.amount.ambiguous", amount=amount, whole=error.whole)
    return t("admin.amount.not_a_number", amount=amount)


def ledger_line(entry: LedgerEntry, currency: str) -> str:
    return t(
        "balance.line",
        when=entry.created_at.strftime("%Y-%m-%d"),
        sign="+" if entry.amount > 0 else "−",
        amount=money(abs(entry.amount), currency),
        kind=t(f"ledger.{entry.kind}"),
        note=clip(entry.note or "", 60),
    )


def order_line(order: Order) -> str:
    return t(
        "admin.user.order_line",
        id=order.id,
        state=t(f"state.{order.state}"),
        service=clip(order.service_name, 60),
        price=money(order.price, order.currency),
        when=when(order.created_at),
    )


# --- statistics, chart, panel ----------------------------------------------------------------------------


PERIOD_KEYS: Mapping[str, str] = {
    "today": "admin.stats.today",
    "week": "admin.stats.week",
    "month": "admin.stats.month",
}


def stats_screen(stats: ShopStats, currency: str) -> tuple[str, InlineKeyboardMarkup]:
    users = stats.users
    lines = [
        t("admin.stats.title"),
        "",
        tn(
            "admin.stats.users",
            users.total,
            new_today=users.new["today"],
            new_week=users.new["week"],
            new_month=users.new["month"],
            active_today=users.active["today"],
            active_week=users.active["week"],
            active_month=users.active["month"],
        ),
        "",
    ]
    for name, key in PERIOD_KEYS.items():
        period = stats.periods[name]
        lines.append(
            tn(
                "admin.stats.period",
                period.orders,
                label=t(key),
                revenue=money(period.revenue, currency, to_cent=True),
                cost=money(period.cost, currency, to_cent=True),
                profit=money(period.profit, currency, to_cent=True),
            )
        )
    lines.append(
        tn(
            "admin.stats.all_time",
            stats.all_time_orders,
            revenue=money(stats.all_time_revenue, currency, to_cent=True),
        )
    )
    if stats.by_state:
        states = ", ".join(
            f"{t(f'state.{state}')}: {count}" for state, count in sorted(stats.by_state.items())
        )
        lines.append(t("admin.stats.states", states=states))
    lines.append("")
    if stats.top:
        lines.append(t("admin.stats.top_title"))
        for place, item in enumerate(stats.top, start=1):
            lines.append(
                tn(
                    "admin.stats.top_line",
                    item.orders,
                    place=place,
                    name=clip(item.name, 60),
                    id=item.service_id,
                    revenue=money(item.revenue, currency, to_cent=True),
                )
            )
        lines.append("")
    capped = "+" if stats.unknown >= stats.problem_limit or stats.stuck >= stats.problem_limit else ""
    lines.append(
        t("admin.stats.problems", unknown=f"{stats.unknown}{capped}", stuck=f"{stats.stuck}{capped}")
    )
    rows = [
        [
            _button(t("admin.button.chart"), AdminCb(screen="chart")),
            _button(t("admin.button.problems"), AdminCb(screen="problems")),
        ],
        [admin_menu_button()],
    ]
    return "\n".join(lines), InlineKeyboardMarkup(inline_keyboard=rows)


def chart_caption(days: int, orders: int, revenue: Decimal, currency: str) -> str:
    period = tn("admin.chart.caption", days, currency=currency)
    return f"{period}\n{tn('admin.chart.total', orders, revenue=money(revenue, currency, to_cent=True))}"


def chart_labels(days: int, currency: str) -> ChartLabels:
    """The chart's words in the admin's language (the picture itself: bot/services/admin/chart.py)."""
    return ChartLabels(
        title=tn("admin.chart.title", days),
        orders=t("admin.chart.orders"),
        revenue=t("admin.chart.revenue", currency=currency),
        days=t("admin.chart.days"),
        no_data=tn("admin.chart.no_data", days),
    )


def panel_screen(balance: Balance, threshold: Decimal, *, low: bool) -> tuple[str, InlineKeyboardMarkup]:
    currency = balance.currency or "?"
    lines = [
        t(
            "admin.panel.balance",
            balance=money(balance.amount, currency),
            threshold=money(threshold, currency),
        )
    ]
    if low:
        lines.append(t("admin.panel.low"))
    return "\n".join(lines), only_menu()


def panel_unavailable(reason: str) -> tuple[str, InlineKeyboardMarkup]:
    return t("admin.panel.unavailable", reason=clip(reason, 200)), only_menu()


# --- problems ----------------------------------------------------------------------------------------------


def problem_text(kind: str, order: Order, detail: str, upstream_id: str | None) -> str:
    """One finding of the problem list (bot/services/admin/problems.py) in the admin's language."""
    return t(
        f"admin.problem.{kind}",
        id=order.id,
        state=t(f"state.{order.state}"),
        upstream=clip(upstream_id or "—", 64),
        detail=clip(detail or "—", 300),
    )


def _order_actions(order: Order) -> list[InlineKeyboardButton]:
    if order.state == OrderState.REVIEW:
        return [
            _button(t("admin.button.refund_amount", id=order.id), ProblemCb(id=order.id, action="amount")),
            _button(t("admin.button.refund_all", id=order.id), ProblemCb(id=order.id, action="refund")),
        ]
    return [
        _button(t("admin.button.attach", id=order.id), ProblemCb(id=order.id, action="attach")),
        _button(t("admin.button.not_placed", id=order.id), ProblemCb(id=order.id, action="refund")),
    ]


def alert_keyboard(alert: str, order: Order | None) -> InlineKeyboardMarkup | None:
    """The settle-by-hand actions under an admin alert (the order's own, or the problem list)."""
    if (
        alert in ("unknown_order", "review_order")
        and order is not None
        and order.state
        in (
            OrderState.UNKNOWN,
            OrderState.REVIEW,
        )
    ):
        return InlineKeyboardMarkup(inline_keyboard=[_order_actions(order)])
    if alert == "order_problem":
        return InlineKeyboardMarkup(
            inline_keyboard=[[_button(t("admin.button.problems"), AdminCb(screen="problems"))]]
        )
    return None


def problems_screen(problems: Problems) -> tuple[str, InlineKeyboardMarkup]:
    if not problems.unknown and not problems.stuck and not problems.findings:
        return t("admin.problems.none"), only_menu()
    lines = [t("admin.problems.title")]
    rows: list[list[InlineKeyboardButton]] = []
    unknown = [order for order in problems.unknown if order.state != OrderState.REVIEW]
    review = [order for order in problems.unknown if order.state == OrderState.REVIEW]
    if unknown:
        lines.append("")
        lines.append(t("admin.problems.unknown_title"))
        for order in unknown:
            lines.append(
                t(
                    "admin.problems.unknown_line",
                    id=order.id,
                    user=order.user_id,
                    service=clip(order.service_name, 60),
                    price=money(order.price, order.currency),
                    when=when(order.created_at),
                )
            )
            rows.append(_order_actions(order))
    if review:
        lines.append("")
        lines.append(t("admin.problems.review_title"))
        for order in review:
            lines.append(
                t(
                    "admin.problems.review_line",
                    id=order.id,
                    user=order.user_id,
                    service=clip(order.service_name, 60),
                    price=money(order.price, order.currency),
                    status=clip(order.upstream_status or "—", 64),
                    upstream=clip(order.upstream_id or "—", 64),
                )
            )
            rows.append(_order_actions(order))
    if problems.findings:
        lines.append("")
        lines.append(t("admin.problems.findings_title"))
        for problem, order in problems.findings:
            lines.append(problem_text(problem.kind, order, problem.detail, problem.upstream_id))
            rows.append(
                [_button(t("admin.button.dismiss", id=order.id), ProblemCb(id=problem.id, action="dismiss"))]
            )
    if problems.stuck:
        lines.append("")
        lines.append(t("admin.problems.stuck_title"))
        for order in problems.stuck:
            lines.append(
                t(
                    "admin.problems.stuck_line",
                    id=order.id,
                    user=order.user_id,
                    service=clip(order.service_name, 60),
                    status=order.upstream_status or "—",
                    since=when(order.status_changed_at or order.placed_at or order.created_at),
                )
            )
    lines.append("")
    lines.append(t("admin.problems.hint"))
    rows.append([admin_menu_button()])
    return "\n".join(lines), InlineKeyboardMarkup(inline_keyboard=rows)


def refund_confirm(order: Order) -> tuple[str, InlineKeyboardMarkup]:
    review = order.state == OrderState.REVIEW
    text = t(
        "admin.problems.confirm_refund_all" if review else "admin.problems.confirm_refund",
        id=order.id,
        user=order.user_id,
        amount=money(order.price - order.refunded, order.currency),
    )
    rows = [
        [
            _button(t("admin.button.yes_refund"), ProblemCb(id=order.id, action="refund_yes")),
            _button(t("admin.button.no"), ProblemCb(id=order.id, action="list")),
        ]
    ]
    return text, InlineKeyboardMarkup(inline_keyboard=rows)


# --- catalog ---------------------------------------------------------------------------------------------


def _eye(hidden: bool) -> str:
    return "🙈" if hidden else "👁"


def markup_text(own: Decimal | None, inherited: Decimal) -> str:
    if own is not None:
        return f"{percent(own)}%"
    return t("admin.catalog.inherited", value=percent(inherited))


def platform_label(slug: str) -> str:
    """`YouTube (youtube)`: the name customers see and the word /platform takes."""
    return f"{platform_name(slug)} ({slug})"


def admin_categories(page: Page[AdminCategory], global_markup: Decimal) -> tuple[str, InlineKeyboardMarkup]:
    rows = [
        [
            _button(
                f"{_eye(item.hidden)} {item.shown_name} ({item.services})",
                AdminCatCb(action="cat", id=str(item.category_id)),
            )
        ]
        for item in page.items
    ]
    rows.append(nav_row(page.page, page.pages, lambda n: AdminCatCb(action="cats", page=n)))
    rows.append([admin_menu_button()])
    text = t(
        "admin.catalog.categories",
        page=page.page + 1,
        pages=page.pages,
        total=page.total,
        markup=percent(global_markup),
    )
    return text, InlineKeyboardMarkup(inline_keyboard=[r for r in rows if r])


def admin_category(
    category: AdminCategory, page: Page[AdminService], global_markup: Decimal, currency: str
) -> tuple[str, InlineKeyboardMarkup]:
    text = t(
        "admin.catalog.category",
        name=clip(category.shown_name, NAME_LIMIT),
        id=category.category_id,
        upstream=clip(category.name, NAME_LIMIT),
        visible=yes_no(not category.hidden),
        markup=markup_text(category.markup, global_markup),
        platform=t(
            "admin.catalog.platform_own" if category.platform_set else "admin.catalog.platform_detected",
            platform=platform_label(category.platform),
        ),
        services=page.total,
        page=page.page + 1,
        pages=page.pages,
    )
    cid = str(category.category_id)
    toggle = (
        _button(t("admin.button.show_category"), AdminCatCb(action="showcat", id=cid, page=page.page))
        if category.hidden
        else _button(t("admin.button.hide_category"), AdminCatCb(action="hidecat", id=cid, page=page.page))
    )
    rows = [[toggle]]
    rows.extend(
        [
            _button(
                f"{_eye(item.hidden)} #{item.service_id} {item.shown_name[:30]} · {_unit_price(item, currency)}",
                AdminCatCb(action="svc", id=item.service_id),
            )
        ]
        for item in page.items
    )
    rows.append(nav_row(page.page, page.pages, lambda n: AdminCatCb(action="cat", id=cid, page=n)))
    rows.append([_button(t("admin.button.back"), AdminCatCb(action="cats")), admin_menu_button()])
    return text, InlineKeyboardMarkup(inline_keyboard=[r for r in rows if r])


def _unit_price(item: AdminService, currency: str) -> str:
    """`1.08 USD/1000`, or `14.99 USD/package`: a package's price is never read as per 1000."""
    unit_key = "price.short_package" if item.per_package else "price.short_thousand"
    return t(unit_key, price=money(item.price_per_1000, currency))


def admin_service(item: AdminService, currency: str) -> tuple[str, InlineKeyboardMarkup]:
    inherited = item.category_markup if item.category_markup is not None else item.global_markup
    text = t(
        "admin.catalog.service",
        name=clip(item.shown_name, NAME_LIMIT),
        id=item.service_id,
        upstream=clip(item.name, NAME_LIMIT),
        category=clip(item.category, NAME_LIMIT),
        visible=yes_no(item.visible),
        rate=money(item.rate, currency),
        markup=markup_text(item.markup, inherited),
        price=money(item.price_per_1000, currency),
        unit=t("admin.catalog.per_package") if item.per_package else t("admin.catalog.per_thousand"),
    )
    toggle = (
        _button(t("admin.button.show"), AdminCatCb(action="show", id=item.service_id))
        if item.hidden
        else _button(t("admin.button.hide"), AdminCatCb(action="hide", id=item.service_id))
    )
    rows = [
        [toggle],
        [
            _button(t("admin.button.back"), AdminCatCb(action="cat", id=str(item.category_id))),
            admin_menu_button(),
        ],
    ]
    return text, InlineKeyboardMarkup(inline_keyboard=rows)


def sync_report(report: SyncReport) -> str:
    lines = [
        tn(
            "admin.sync.done",
            report.total,
            added=len(report.added),
            removed=len(report.removed),
            changed=len(report.changed),
        )
    ]

    def shown(ids: Sequence[str]) -> str:
        more = len(ids) - SYNC_IDS_SHOWN
        text = ", ".join(f"#{i}" for i in ids[:SYNC_IDS_SHOWN])
        return text + (f" (+{more})" if more > 0 else "")

    if report.added:
        lines.append(t("admin.sync.added", ids=shown(report.added)))
    if report.removed:
        lines.append(t("admin.sync.removed", ids=shown(report.removed)))
    if report.changed:
        lines.append(t("admin.sync.changed", ids=shown(report.changed)))
    return "\n".join(lines)


# --- settings and audit -------------------------------------------------------------------------------------


def shop_settings_screen(
    global_markup: Decimal, welcome: str | None, maintenance: str | None
) -> tuple[str, InlineKeyboardMarkup]:
    text = t(
        "admin.settings.title",
        markup=percent(global_markup),
        welcome=t("admin.settings.custom") if welcome else t("admin.settings.standard"),
        maintenance=(
            t("admin.settings.maintenance_on", text=clip(maintenance, 200))
            if maintenance
            else t("admin.settings.maintenance_off")
        ),
    )
    rows = [
        [_button(t("admin.button.markup"), AdminCb(screen="markup"))],
        [
            _button(t("admin.button.welcome"), AdminCb(screen="welcome")),
            _button(t("admin.button.welcome_reset"), AdminCb(screen="welcome_reset")),
        ],
        [
            _button(t("admin.button.maintenance_on"), AdminCb(screen="maintenance_on")),
            _button(t("admin.button.maintenance_off"), AdminCb(screen="maintenance_off")),
        ],
        [admin_menu_button()],
    ]
    return text, InlineKeyboardMarkup(inline_keyboard=rows)


def audit_action(action: str) -> str:
    """What an audit row's action means, in the admin's language; the raw key for an action this
    version has no words for (rows written by a newer or older version)."""
    key = f"admin.audit.action.{action}"
    label = t(key)
    return action if label == key else label


def audit_screen(rows: Sequence[AdminAudit]) -> tuple[str, InlineKeyboardMarkup]:
    if not rows:
        return t("admin.audit.empty"), only_menu()
    lines = [t("admin.audit.title")]
    for row in rows:
        args = ", ".join(f"{key}={value}" for key, value in (row.args or {}).items())
        lines.append(
            t(
                "admin.audit.line",
                when=when(row.created_at),
                admin=row.admin_id,
                action=audit_action(row.action),
                args=clip(args, 120),
            )
        )
    return "\n".join(lines), only_menu()


BROADCAST_SCREENS = BroadcastScreens(progress=broadcast_progress, report=broadcast_report)
