"""TopUpService without the Telegram front end, on SQLite and PostgreSQL: races between settlers,
repeat charges, the settle hook, bad provider records. The wallets reconcile after every test."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.payments.cryptopay import CryptoPayClient
from bot.services.topups import SettleOutcome, TopUpService
from bot.services.topups.service import stars_key
from sandbox.cryptopay_simulator import CryptoPayHandle, CryptoPayState, run_cryptopay_simulator
from sandbox.telegram_server import FakeTelegramServer, run_fake_telegram
from storage.models import LedgerKind, ManualPaymentMethod, TopUp, TopUpMethod, TopUpStatus
from storage.repositories.ledger import LedgerRepository
from storage.repositories.topups import ManualMethodRepository, TopUpRepository, wallet_reconciliation
from storage.repositories.users import UserRepository

USER = 1001


@dataclass
class World:
    topups: TopUpService
    tg: FakeTelegramServer
    cryptopay: CryptoPayHandle
    session_factory: async_sessionmaker[AsyncSession]

    async def balance(self) -> tuple[Decimal, Decimal]:
        async with self.session_factory() as session:
            ledger = LedgerRepository(session)
            return await ledger.balance(USER), await ledger.sum_entries(USER)


@pytest.fixture
async def world(session_factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[World]:
    async with run_fake_telegram() as tg, run_cryptopay_simulator(CryptoPayState()) as cryptopay:
        tg.add_user(USER, "Ann")
        bot = tg.create_bot()
        client = CryptoPayClient(cryptopay.url, cryptopay.token, timeout=2, retry_backoff=0.01)
        topups = TopUpService(
            session_factory,
            bot,
            currency="USD",
            minimum=Decimal("1"),
            maximum=Decimal("500"),
            stars_rate=Decimal("0.01"),
            cryptopay=client,
            expire_after=timedelta(minutes=30),
        )
        async with session_factory.begin() as session:
            await UserRepository(session).touch(USER, username=None, first_name="Ann", language_code="en")
        try:
            yield World(topups, tg, cryptopay, session_factory)
            async with session_factory() as session:
                reconciliation = await wallet_reconciliation(session)
            assert reconciliation.ok, reconciliation
        finally:
            await client.close()
            await bot.session.close()


async def manual_topup(world: World, amount: str = "30") -> TopUp:
    async with world.session_factory.begin() as session:
        method = await ManualMethodRepository(session).add(
            ManualPaymentMethod(
                names={"en": "Card"}, instructions={"en": "Pay"}, enabled=True, deleted=False, position=1
            )
        )
    return await world.topups.start_manual(
        USER, Decimal(amount), method.id, receipt_kind="text", receipt_text="paid", receipt_file_id=None
    )


async def test_many_admins_approving_at_once_credit_once(world: World) -> None:
    topup = await manual_topup(world)
    decisions = await asyncio.gather(*(world.topups.approve(topup.id, 900 + i) for i in range(5)))
    assert sorted(d.outcome for d in decisions) == ["already"] * 4 + ["done"]
    assert await world.balance() == (Decimal("30.0000"), Decimal("30.0000"))
    rejected = await world.topups.reject(topup.id, 900)
    assert rejected.outcome == "already" and rejected.approved


async def test_the_same_charge_settled_by_many_at_once_credits_once(world: World) -> None:
    topup = await world.topups.start_stars(USER, Decimal("5"))
    payload = world.topups.payload_of(topup)

    async def settle() -> SettleOutcome:
        settlement = await world.topups.settle_stars(
            user_id=USER, payload=payload, currency="XTR", total_amount=500, charge_id="stxRACE", notify=False
        )
        return settlement.outcome

    outcomes = await asyncio.gather(*(settle() for _ in range(5)))
    assert sorted(outcomes) == ["already"] * 4 + ["credited"]
    assert await world.balance() == (Decimal("5.0000"), Decimal("5.0000"))


async def test_an_invoice_paid_twice_is_two_top_ups_each_credited_once(world: World) -> None:
    topup = await world.topups.start_stars(USER, Decimal("5"))
    payload = world.topups.payload_of(topup)
    for charge in ("stxONE", "stxTWO", "stxTWO", "stxONE"):
        await world.topups.settle_stars(
            user_id=USER, payload=payload, currency="XTR", total_amount=500, charge_id=charge, notify=False
        )
    assert await world.balance() == (Decimal("10.0000"), Decimal("10.0000"))
    async with world.session_factory() as session:
        repo = TopUpRepository(session)
        first, second = await repo.by_charge("stxONE"), await repo.by_charge("stxTWO")
        assert first is not None and second is not None
        assert first.id == topup.id and second.parent_id == topup.id
        assert (await LedgerRepository(session).by_key(stars_key("stxTWO"))) is not None


async def test_a_payment_for_another_amount_or_payer_is_not_credited(world: World) -> None:
    topup = await world.topups.start_stars(USER, Decimal("5"))
    payload = world.topups.payload_of(topup)
    wrong_amount = await world.topups.settle_stars(
        user_id=USER, payload=payload, currency="XTR", total_amount=1, charge_id="stxA", notify=False
    )
    wrong_payer = await world.topups.settle_stars(
        user_id=4242, payload=payload, currency="XTR", total_amount=500, charge_id="stxB", notify=False
    )
    forged = await world.topups.settle_stars(
        user_id=USER,
        payload=payload[:-4] + "0000",
        currency="XTR",
        total_amount=500,
        charge_id="stxC",
        notify=False,
    )
    assert [s.outcome for s in (wrong_amount, wrong_payer, forged)] == ["mismatch"] * 3
    assert await world.balance() == (Decimal("0.0000"), Decimal("0.0000"))


async def test_settle_hook_runs_in_the_credit_transaction(world: World) -> None:
    async def bonus(session: AsyncSession, topup: TopUp) -> None:
        await LedgerRepository(session).apply(
            user_id=topup.user_id,
            amount=topup.amount / 10,
            kind=LedgerKind.ADMIN_CREDIT,
            key=f"bonus:{topup.id}",
        )

    world.topups.add_settle_hook(bonus)
    topup = await manual_topup(world, "20")
    decision = await world.topups.approve(topup.id, 900)
    assert decision.balance == Decimal("22.0000")
    assert await world.balance() == (Decimal("22.0000"), Decimal("22.0000"))

    async def broken(session: AsyncSession, topup: TopUp) -> None:
        raise RuntimeError("bonus service down")

    world.topups.hooks[:] = [broken]
    second = await manual_topup(world, "10")
    with pytest.raises(RuntimeError):
        await world.topups.approve(second.id, 900)
    assert (await world.topups.get(second.id)).status == TopUpStatus.PENDING  # type: ignore[union-attr]
    assert await world.balance() == (Decimal("22.0000"), Decimal("22.0000"))


async def test_one_bad_invoice_record_does_not_stop_the_others(world: World) -> None:
    good = await world.topups.start_cryptopay(USER, Decimal("10"), "Top-up")
    bad = await world.topups.start_cryptopay(USER, Decimal("20"), "Top-up")
    state = world.cryptopay.state
    await state.pay(good.invoice_id or 0)
    await state.pay(bad.invoice_id or 0)
    state.invoice(bad.invoice_id or 0).amount = Decimal("-20")  # the provider sends nonsense for this one
    report = await world.topups.poll_cryptopay()
    assert report.settled == 1 and len(report.problems) == 1
    assert await world.balance() == (Decimal("10.0000"), Decimal("10.0000"))


async def test_an_invoice_whose_id_was_never_stored_is_matched_by_its_payload(world: World) -> None:
    """The bot crashed between Crypto Pay's answer to createInvoice and storing the invoice id:
    the payment still names the top-up and is credited (webhook path: settle_invoice)."""
    topup = await world.topups.start_cryptopay(USER, Decimal("15"), "Top-up")
    async with world.session_factory.begin() as session:
        await TopUpRepository(session).set_fields(topup.id, invoice_id=None)
    invoice = await world.cryptopay.state.pay(topup.invoice_id or 0)
    parsed = (await world.topups.cryptopay.get_invoices([str(invoice.invoice_id)]))[0][0]  # type: ignore[union-attr]
    settlement = await world.topups.settle_invoice(parsed, notify=False)
    assert settlement.outcome == "credited"
    assert settlement.topup is not None and settlement.topup.invoice_id == str(invoice.invoice_id)
    assert await world.balance() == (Decimal("15.0000"), Decimal("15.0000"))


async def test_top_ups_of_unknown_users_and_switched_off_methods_are_refused(world: World) -> None:
    from bot.services.topups import TopUpUnavailable

    with pytest.raises(TopUpUnavailable):
        await world.topups.start_stars(4242, Decimal("5"))
    topup = await manual_topup(world)
    async with world.session_factory.begin() as session:
        await ManualMethodRepository(session).update(topup.manual_method_id or 0, enabled=False)
    with pytest.raises(TopUpUnavailable):
        await world.topups.start_manual(
            USER,
            Decimal("5"),
            topup.manual_method_id or 0,
            receipt_kind="text",
            receipt_text="x",
            receipt_file_id=None,
        )
    assert topup.method == TopUpMethod.MANUAL
