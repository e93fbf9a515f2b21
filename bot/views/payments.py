"""The owner's payment screens: manual requests with Approve / Reject, payment methods, the
payments report for /stats and the wallet reconciliation for /panel (callback prefixes distinct
from the shop's and bot/views/admin.py's)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.i18n import t, tn
from bot.services.topups.desk import DeskScreens
from bot.services.topups.methods import localized
from bot.services.topups.report import MethodKey, PaymentsReport
from bot.telegram.callbacks import AdminTopUpCb, PayMethodCb
from bot.telegram.render import clip, money
from bot.views.admin import admin_menu_button, only_menu, when
from bot.views.common import button_label
from storage.models import ManualPaymentMethod, TopUp, TopUpMethod, TopUpStatus, User
from storage.repositories.topups import WalletReconciliation

RECEIPT_SHOWN = 500


def _button(text: str, data: CallbackData) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=button_label(text), callback_data=data.pack())


def method_label(topup_method: str, manual_name: str | None) -> str:
    if topup_method == TopUpMethod.STARS:
        return t("topup.method.stars")
    if topup_method == TopUpMethod.CRYPTOPAY:
        return t("topup.method.crypto")
    return manual_name or t("topup.method.manual")


def status_label(status: str) -> str:
    return t(f"topup.status.{status}")


def person(user: User | None, user_id: int) -> str:
    if user is None:
        return str(user_id)
    name = clip(user.first_name or "—", 40)
    return f"{name} (@{user.username}, {user.id})" if user.username else f"{name} ({user.id})"


# --- manual requests ------------------------------------------------------------------------------


def request_card(
    topup: TopUp, customer: User | None, method_name: str, decider: str | None
) -> tuple[str, InlineKeyboardMarkup | None]:
    """What every admin gets for a manual top-up: the request, the receipt, then who decided."""
    lines = [
        t(
            "admin.topup.request",
            id=topup.id,
            user=person(customer, topup.user_id),
            amount=money(topup.amount, topup.currency),
            method=clip(method_name, 40),
            when=when(topup.created_at),
        )
    ]
    if topup.receipt_text:
        lines.append(t("admin.topup.receipt", text=clip(topup.receipt_text, RECEIPT_SHOWN)))
    if topup.status == TopUpStatus.PENDING:
        rows = [
            [
                _button(t("admin.button.approve"), AdminTopUpCb(id=topup.id, action="approve")),
                _button(t("admin.button.reject"), AdminTopUpCb(id=topup.id, action="reject")),
            ]
        ]
        return "\n".join(lines), InlineKeyboardMarkup(inline_keyboard=rows)
    key = (
        "admin.topup.approved_by"
        if topup.status
        in (
            TopUpStatus.PAID,
            TopUpStatus.REFUNDING,
            TopUpStatus.REFUNDED,
        )
        else "admin.topup.rejected_by"
    )
    lines.append(t(key, admin=decider or "?", when=when(topup.decided_at)))
    return "\n".join(lines), None


def pending_screen(items: Sequence[tuple[TopUp, str]], currency: str) -> tuple[str, InlineKeyboardMarkup]:
    if not items:
        text = t("admin.topup.no_pending")
    else:
        lines = [t("admin.topup.pending_title")]
        for topup, method_name in items:
            lines.append(
                t(
                    "admin.topup.pending_line",
                    id=topup.id,
                    user=topup.user_id,
                    amount=money(topup.amount, topup.currency),
                    method=clip(method_name, 40),
                    when=when(topup.created_at),
                )
            )
        text = "\n".join(lines)
    rows = [
        [
            _button(t("admin.topup.approve_id", id=topup.id), AdminTopUpCb(id=topup.id, action="approve")),
            _button(t("admin.topup.reject_id", id=topup.id), AdminTopUpCb(id=topup.id, action="reject")),
        ]
        for topup, _ in items
    ]
    rows.append([_button(t("admin.button.pay_methods"), PayMethodCb(action="list")), admin_menu_button()])
    return text, InlineKeyboardMarkup(inline_keyboard=rows)


# --- payment methods ------------------------------------------------------------------------------


def methods_screen(
    methods: Sequence[ManualPaymentMethod],
    *,
    locale: str,
    stars_rate: Decimal | None,
    cryptopay: str | None,
    currency: str,
) -> tuple[str, InlineKeyboardMarkup]:
    lines = [t("admin.paymethods.title")]
    if stars_rate is not None:
        lines.append(t("admin.paymethods.stars_on", rate=money(stars_rate, currency)))
    else:
        lines.append(t("admin.paymethods.stars_off"))
    lines.append(
        t("admin.paymethods.crypto_on", net=cryptopay) if cryptopay else t("admin.paymethods.crypto_off")
    )
    lines.append("")
    if methods:
        lines.append(t("admin.paymethods.manual_title"))
        for method in methods:
            state = t("admin.paymethods.on") if method.enabled else t("admin.paymethods.off")
            lines.append(
                t("admin.paymethods.line", id=method.id, name=localized(method.names, locale), state=state)
            )
    else:
        lines.append(t("admin.paymethods.none"))
    lines.append("")
    lines.append(t("admin.paymethods.hint"))
    rows: list[list[InlineKeyboardButton]] = []
    for method in methods:
        name = clip(localized(method.names, locale), 24)
        toggle = "admin.paymethods.disable" if method.enabled else "admin.paymethods.enable"
        rows.append(
            [
                _button(t(toggle, name=name), PayMethodCb(action="toggle", id=method.id)),
                _button(
                    t("admin.paymethods.delete", id=method.id), PayMethodCb(action="delete", id=method.id)
                ),
            ]
        )
    rows.append([_button(t("admin.button.add_method"), PayMethodCb(action="add"))])
    rows.append(
        [_button(t("admin.button.pending_topups"), PayMethodCb(action="pending")), admin_menu_button()]
    )
    return "\n".join(lines), InlineKeyboardMarkup(inline_keyboard=rows)


def delete_confirm(method: ManualPaymentMethod, locale: str) -> tuple[str, InlineKeyboardMarkup]:
    rows = [
        [
            _button(t("admin.button.yes_delete"), PayMethodCb(action="delete_yes", id=method.id)),
            _button(t("admin.button.no"), PayMethodCb(action="list")),
        ]
    ]
    text = t("admin.paymethods.confirm_delete", name=localized(method.names, locale))
    return text, InlineKeyboardMarkup(inline_keyboard=rows)


def skip_markup() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [_button(t("admin.button.same_as_english"), PayMethodCb(action="skip"))],
            [admin_menu_button()],
        ]
    )


# --- the report in /stats, the reconciliation in /panel ---------------------------------------------


def _report_name(key: MethodKey, names: Mapping[int, Mapping[str, str]], locale: str) -> str:
    if key.method == TopUpMethod.MANUAL:
        name = localized(names.get(key.manual_id or 0), locale)
        return clip(name, 24) if name else t("topup.method.manual")
    return method_label(key.method, None)


def payments_block(report: PaymentsReport, currency: str, locale: str) -> str:
    lines = [tn("admin.payments.title", len(report.days))]
    shown = False
    for day in reversed(report.days):
        tallies = report.per_day.get(day)
        if not tallies:
            continue
        shown = True
        parts = [
            t(
                "admin.payments.part",
                method=_report_name(key, report.manual_names, locale),
                count=tally.count,
                amount=money(tally.amount, currency, to_cent=True),
            )
            for key, tally in sorted(
                tallies.items(), key=lambda item: (item[0].method, item[0].manual_id or 0)
            )
        ]
        lines.append(t("admin.payments.day", day=day.strftime("%m-%d"), parts="; ".join(parts)))
    if not shown:
        lines.append(t("admin.payments.none"))
    total = sum((tally.amount for tally in report.totals.values()), start=Decimal(0))
    count = sum(tally.count for tally in report.totals.values())
    lines.append(
        tn(
            "admin.payments.total",
            count,
            amount=money(total, currency, to_cent=True),
            fees=money(report.fees, currency, to_cent=True),
        )
    )
    pending = ", ".join(
        f"{method_label(method, None)}: {count} ({money(amount, currency, to_cent=True)})"
        for method, (count, amount) in sorted(report.pending.items())
    )
    lines.append(t("admin.payments.pending", items=pending or "0"))
    refunded = ", ".join(
        f"{method_label(method, None)}: {count} ({money(amount, currency, to_cent=True)})"
        for method, (count, amount) in sorted(report.refunded.items())
    )
    lines.append(t("admin.payments.refunded", items=refunded or "0"))
    return "\n".join(lines)


def reconciliation_block(rec: WalletReconciliation, currency: str) -> str:
    wallets = tn(
        "admin.reconcile.wallets",
        rec.users,
        balances=money(rec.balances, currency),
        ledger=money(rec.ledger, currency),
    )
    if rec.ok:
        return f"{wallets} {t('admin.reconcile.ok')}"
    ids = ", ".join(str(i) for i in rec.mismatched)
    more = (
        f" (+{rec.mismatched_count - len(rec.mismatched)})"
        if rec.mismatched_count > len(rec.mismatched)
        else ""
    )
    return f"{wallets} {tn('admin.reconcile.mismatch', rec.mismatched_count, ids=ids + more)}"


def refund_text(outcome: str, topup_id: int, amount: str, balance: str, reason: str) -> str:
    return t(
        f"admin.topup.refund_{outcome}", id=topup_id, amount=amount, balance=balance, reason=clip(reason, 200)
    )


def only_admin_menu() -> InlineKeyboardMarkup:
    return only_menu()


DESK_SCREENS = DeskScreens(card=request_card, person=person)
