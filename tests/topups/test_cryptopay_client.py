"""Our Crypto Pay client against the simulator: what the shop relies on, and how failures look."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from bot.payments.cryptopay import CryptoPayClient, CryptoPayRefused, CryptoPayUnavailable
from sandbox.cryptopay_simulator import CryptoPayHandle, CryptoPayState, run_cryptopay_simulator


@pytest.fixture
async def cryptopay() -> AsyncIterator[CryptoPayHandle]:
    async with run_cryptopay_simulator(CryptoPayState()) as handle:
        yield handle


@pytest.fixture
async def client(cryptopay: CryptoPayHandle) -> AsyncIterator[CryptoPayClient]:
    client = CryptoPayClient(cryptopay.url, cryptopay.token, timeout=2, retry_backoff=0.01)
    try:
        yield client
    finally:
        await client.close()


async def test_invoice_life_cycle(cryptopay: CryptoPayHandle, client: CryptoPayClient) -> None:
    app = await client.get_me()
    assert app.app_id == 4242 and app.name
    invoice = await client.create_invoice(
        amount=Decimal("12.50"), fiat="EUR", description="Top-up", payload="topup:1:00aa11bb", expires_in=600
    )
    assert (invoice.status, invoice.fiat, invoice.amount, invoice.currency_type) == (
        "active",
        "EUR",
        Decimal("12.50"),
        "fiat",
    )
    assert invoice.pay_url is not None
    await cryptopay.state.pay(invoice.invoice_id, asset="BTC")
    found, problems = await client.get_invoices([invoice.invoice_id, "999999", "not-a-number"])
    assert problems == [] and [i.invoice_id for i in found] == [invoice.invoice_id]
    paid = found[0]
    assert paid.paid and paid.paid_asset == "BTC" and paid.paid_amount is not None
    assert paid.fee_in("EUR") == (paid.fee_amount or 0) * (paid.paid_fiat_rate or 0)
    with pytest.raises(CryptoPayRefused, match="INVOICE_PAID"):
        await client.delete_invoice(invoice.invoice_id)
    other = await client.create_invoice(
        amount=Decimal("1"), fiat="USD", description="x", payload="y", expires_in=60
    )
    assert await client.delete_invoice(other.invoice_id)


async def test_refusals_and_outages(cryptopay: CryptoPayHandle, client: CryptoPayClient) -> None:
    with pytest.raises(CryptoPayRefused, match="FIAT_INVALID"):
        await client.create_invoice(
            amount=Decimal("1"), fiat="XYZ", description="x", payload="y", expires_in=60
        )
    wrong = CryptoPayClient(cryptopay.url, "1:wrong", timeout=2)
    try:
        with pytest.raises(CryptoPayRefused) as refused:
            await wrong.get_me()
        assert refused.value.unauthorized and "1:wrong" not in str(refused.value)
    finally:
        await wrong.close()
    cryptopay.state.fail("getMe", count=2)  # reads are retried: two failures, then the answer
    assert (await client.get_me()).app_id == 4242
    cryptopay.state.fail("getMe", count=3)
    with pytest.raises(CryptoPayUnavailable, match="HTTP 500"):
        await client.get_me()
    cryptopay.state.fail("createInvoice")  # writes are never retried (no duplicate invoices)
    with pytest.raises(CryptoPayUnavailable):
        await client.create_invoice(
            amount=Decimal("1"), fiat="USD", description="x", payload="y", expires_in=60
        )
    assert cryptopay.state.count("createInvoice") == 2  # the refused one and the failed one
    gone = CryptoPayClient("http://127.0.0.1:9/api", cryptopay.token, timeout=1, read_retries=0)
    try:
        with pytest.raises(CryptoPayUnavailable, match="connection failed"):
            await gone.get_me()
    finally:
        await gone.close()
