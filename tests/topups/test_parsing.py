"""Pure rules of top-ups, and nothing from a provider trusted: amounts, Stars prices, payloads,
Crypto Pay invoices and signatures, Stars transactions."""

from __future__ import annotations

import hashlib
import hmac
from decimal import Decimal
from typing import Any

import pytest

from bot.payments.cryptopay import parse_invoice, sign_body, signature_matches
from bot.payments.stars import parse_star_transaction
from bot.services.topups.amounts import AmountError, make_payload, parse_amount, parse_payload, stars_price

LOW, HIGH = Decimal("1"), Decimal("500")


@pytest.mark.parametrize(
    ("text", "amount"),
    [
        ("10", "10.00"),
        ("12.5", "12.50"),
        ("12,50", "12.50"),
        (" $7 ", "7.00"),
        ("25 USD", "25.00"),
        ("500", "500.00"),
    ],
)
def test_amounts_people_type(text: str, amount: str) -> None:
    assert parse_amount(text, minimum=LOW, maximum=HIGH) == Decimal(amount)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("ten", "topup.error.amount_format"),
        ("1.2345", "topup.error.amount_format"),
        ("1.234", "topup.error.amount_ambiguous"),
        ("1,000", "topup.error.amount_ambiguous"),
        ("-5", "topup.error.amount_range"),
        ("0", "topup.error.amount_range"),
        ("Infinity", "topup.error.amount_format"),
        ("1e3", "topup.error.amount_format"),
        ("NaN", "topup.error.amount_format"),
        ("", "topup.error.amount_format"),
        ("9" * 41, "topup.error.amount_format"),
        ("9" * 40, "topup.error.amount_range"),
        ("0.99", "topup.error.amount_range"),
        ("500.01", "topup.error.amount_range"),
    ],
)
def test_amounts_refused_with_a_reason(text: str, key: str) -> None:
    with pytest.raises(AmountError) as caught:
        parse_amount(text, minimum=LOW, maximum=HIGH)
    assert caught.value.key == key


def test_stars_price_rounds_up_never_down() -> None:
    assert stars_price(Decimal("10"), Decimal("0.013")) == 770  # 769.23…
    assert stars_price(Decimal("13"), Decimal("0.013")) == 1000  # exact
    assert stars_price(Decimal("0.01"), Decimal("0.013")) == 1


def test_payloads_name_a_top_up_or_nothing() -> None:
    ref = parse_payload(make_payload(42, "00aa11bb22cc33dd"))
    assert ref is not None and (ref.topup_id, ref.token) == (42, "00aa11bb22cc33dd")
    for junk in (
        "",
        "topup:x:00aa11bb",
        "topup:1:SHOUT",
        "topup:1:00aa11bb:extra",
        None,
        7,
        "topup:" + "1" * 20 + ":00aa11bb",
    ):
        assert parse_payload(junk) is None


def invoice(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "invoice_id": 1001,
        "status": "paid",
        "currency_type": "fiat",
        "fiat": "USD",
        "amount": "10.00",
        "payload": "topup:1:00aa11bb22cc33dd",
        "bot_invoice_url": "https://t.me/CryptoBot?start=IVabc",
        "paid_asset": "USDT",
        "paid_amount": "10.00",
        "paid_fiat_rate": "1.00",
        "fee_asset": "USDT",
        "fee_amount": "0.3",
        "fee_in_usd": "0.30",
        "paid_at": "2026-12-01T10:00:00.000Z",
    }
    data.update(changes)
    return data


def test_a_good_invoice_is_read_exactly() -> None:
    parsed = parse_invoice(invoice())
    assert parsed.invoice_id == "1001" and parsed.paid
    assert parsed.amount == Decimal("10.00") and parsed.fee_in("USD") == Decimal("0.30")
    assert parse_invoice(invoice(fee_in_usd=None)).fee_in("EUR") == Decimal("0.3")  # fee × paid_fiat_rate


@pytest.mark.parametrize(
    "changes",
    [
        {"invoice_id": True},
        {"invoice_id": -3},
        {"invoice_id": "12a"},
        {"status": "refunded"},
        {"amount": "ten"},
        {"amount": "-1"},
        {"amount": "0"},
        {"amount": "1e400"},
        {"amount": float("nan")},
        {"fiat": "US DOLLARS"},
        {"paid_amount": {"x": 1}},
        {"payload": "x" * 5000},
        {"currency_type": "barter"},
    ],
)
def test_a_bad_invoice_is_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        parse_invoice(invoice(**changes))


def test_webhook_signature_is_hmac_of_the_raw_body_keyed_with_sha256_of_the_token() -> None:
    token, body = "1234:AAsecret", b'{"update_id":1}'
    expected = hmac.new(hashlib.sha256(token.encode()).digest(), body, hashlib.sha256).hexdigest()
    assert sign_body(token, body) == expected
    assert signature_matches(token, body, expected)
    assert signature_matches(token, body, expected.upper())
    assert not signature_matches(token, body + b" ", expected)
    assert not signature_matches(token, body, None)
    assert not signature_matches(token, body, "")
    assert not signature_matches(token, body, "é" * 64)  # non-ASCII: a plain mismatch, no error


def test_star_transactions_only_user_invoice_payments() -> None:
    user = {"id": 1001, "is_bot": False, "first_name": "Ann"}
    partner = {
        "type": "user",
        "transaction_type": "invoice_payment",
        "user": user,
        "invoice_payload": "topup:1:aa",
    }
    paid = parse_star_transaction({"id": "stx1", "amount": 50, "date": 1, "source": partner})
    assert paid is not None and paid.incoming and (paid.user_id, paid.stars) == (1001, 50)
    refund = parse_star_transaction({"id": "stx1", "amount": 50, "date": 2, "receiver": partner})
    assert refund is not None and not refund.incoming
    for junk in (
        {"id": "stx2", "amount": 50, "date": 1, "source": {"type": "fragment"}},
        {"id": "stx3", "amount": -5, "date": 1, "source": partner},
        {"id": "", "amount": 5, "date": 1, "source": partner},
        {"id": "s" * 300, "amount": 5, "date": 1, "source": partner},
        {"id": "stx4", "amount": "5", "date": 1, "source": partner},
        {"id": "stx5", "amount": 5, "date": 1, "source": {**partner, "transaction_type": "gift_purchase"}},
        {"id": "stx6", "amount": 5, "date": 1, "source": {**partner, "user": {"id": "me"}}},
        {"id": "stx7", "amount": 5, "date": 1},
        "not an object",
    ):
        assert parse_star_transaction(junk) is None
