"""The customer's balance history: each ledger entry as a sentence in their language.

The entry's `note` is written for the admins ("#6 canceled: refund") and is never shown here; the
sentence is picked by the entry's kind and filled with the facts of the entry (its order, that
order's state, how a top-up was paid). A kind this module does not know still reads as a sentence.
"""

from __future__ import annotations

from bot.i18n import Html, t
from bot.services.users import StatementLine
from bot.telegram.render import money
from storage.models import LedgerKind

SENTENCE_KEYS: dict[str, str] = {
    LedgerKind.DEPOSIT: "ledger.sentence.deposit",
    LedgerKind.ADMIN_CREDIT: "ledger.sentence.admin_credit",
    LedgerKind.ADMIN_DEBIT: "ledger.sentence.admin_debit",
    LedgerKind.TOPUP: "ledger.sentence.topup",
    LedgerKind.TOPUP_REFUND: "ledger.sentence.topup_refund",
    LedgerKind.PROMO_CREDIT: "ledger.sentence.promo_credit",
    LedgerKind.PROMO_BONUS: "ledger.sentence.promo_bonus",
    LedgerKind.REFERRAL_EARNING: "ledger.sentence.referral_earning",
    LedgerKind.REFERRAL_REVERSAL: "ledger.sentence.referral_reversal",
}
METHOD_KEYS: dict[str, str] = {
    "stars": "ledger.method.stars",
    "cryptopay": "ledger.method.cryptopay",
    "manual": "ledger.method.manual",
}


def signed_amount(line: StatementLine, currency: str) -> str:
    """`+1.20 USD` / `−3.40 USD` (a real minus sign)."""
    return ("+" if line.amount > 0 else "−") + money(abs(line.amount), currency)


def sentence(line: StatementLine, currency: str) -> str:
    """What happened, with the amount: "Refund for order #6 (canceled): +1.20 USD"."""
    amount = signed_amount(line, currency)
    if line.kind == LedgerKind.ORDER_CHARGE and line.order_id is not None:
        return t("ledger.sentence.order_charge", id=line.order_id, amount=amount)
    if line.kind == LedgerKind.ORDER_REFUND:
        if line.order_id is None:
            return t("ledger.sentence.refund", amount=amount)
        if line.order_state is None:
            return t("ledger.sentence.order_refund_plain", id=line.order_id, amount=amount)
        state = Html(t(f"state.{line.order_state}"))
        return t("ledger.sentence.order_refund", id=line.order_id, state=state, amount=amount)
    if line.kind == LedgerKind.TOPUP and line.method in METHOD_KEYS:
        return t("ledger.sentence.topup_via", method=Html(t(METHOD_KEYS[line.method])), amount=amount)
    if line.kind in SENTENCE_KEYS:
        return t(SENTENCE_KEYS[line.kind], amount=amount)
    return t("ledger.sentence.other", amount=amount)


def statement_lines(lines: list[StatementLine], currency: str) -> list[str]:
    """One dated line per entry, newest first as given."""
    return [
        t("ledger.line", when=line.when.strftime("%Y-%m-%d"), text=Html(sentence(line, currency)))
        for line in lines
    ]
