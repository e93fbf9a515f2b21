"""Where customers meet top-ups: the balance screen, the order form that lacks money, bad amounts,
a shop without methods; and what the owner sees: the payments report in /stats and the wallet
reconciliation in /panel."""

from __future__ import annotations

from decimal import Decimal

from tests.e2e.conftest import Shop, shop
from tests.e2e.flows import fill_followers_form
from tests.topups.conftest import ADMIN_ID, PayShop, add_manual_method

__all__ = ["shop"]


async def test_short_order_tops_up_with_stars_and_then_confirms(pay_shop: PayShop) -> None:
    ann = await pay_shop.customer()
    await pay_shop.fund(1001, "0.50")
    await fill_followers_form(pay_shop)
    await ann.press("Confirm")
    short = await ann.wait_for_message(contains="Not enough balance")
    assert "💳 Top up" in short.button_texts
    await ann.press("💳 Top up", short)
    menu = await ann.wait_for_message(contains="Top up your balance")
    assert "Your balance: 0.50 USD" in menu.text
    suggested = menu.find_button("what the order lacks")
    assert "1.00 USD" in suggested["text"]  # the 0.58 shortfall, raised to TOPUP_MIN
    await ann.press("what the order lacks", menu)
    await ann.wait_for_message(contains="How would you like to pay")
    await ann.press("Telegram Stars")
    invoice = await ann.wait_for_message(lambda m: m.kind == "invoice")
    assert invoice.extra["invoice"]["total_amount"] == 77  # ceil(1 / 0.013)
    assert (await ann.pay(invoice)).paid
    await ann.wait_for_message(contains="Your balance: 1.50 USD")
    await ann.press("Confirm", short)  # the order form is still there
    await ann.wait_for_message(contains="is placed")
    assert pay_shop.sim.state.count("add") == 1
    assert await pay_shop.balance(1001) == (Decimal("0.4200"), Decimal("0.4200"))


async def test_balance_screen_has_a_top_up_button_and_bad_amounts_are_explained(pay_shop: PayShop) -> None:
    ann = await pay_shop.customer()
    await ann.press("Balance")
    balance = await ann.wait_for_message(contains="Press 💳 Top up")
    await ann.press("💳 Top up", balance)
    await ann.wait_for_message(contains="from 1.00 USD to 500.00 USD")
    await ann.send_text("5 bucks")
    await ann.wait_for_message(contains="That is not an amount")
    await ann.send_text("0.5")
    await ann.wait_for_message(contains="must be from 1.00 USD to 500.00 USD")
    await ann.send_text("501")
    await ann.wait_for_message(contains="must be from 1.00 USD to 500.00 USD")
    await ann.send_text("1,000")  # one thousand or one? Neither is guessed
    await ann.wait_for_message(contains="That amount can be read two ways")
    await ann.assert_no_new_messages(0.2)
    await ann.send_text("3,75")
    methods = await ann.wait_for_message(contains="Top up by 3.75 USD")
    assert {"⭐ Telegram Stars (289 ⭐)", "💎 Crypto (CryptoBot)"} <= set(methods.button_texts)
    await ann.press_data("tu:pay:stars:99999", methods)  # a forged amount above TOPUP_MAX
    answer = await ann.wait_for_answer()
    assert answer.answer_text == "This button is no longer active."
    assert await pay_shop.topups.history(1001) == []
    await ann.send_text("instagram followers")  # not an amount at all: the top-up menu is left
    await ann.wait_for_message(contains="Here is the menu")
    await ann.send_text("instagram")
    await ann.wait_for_message(contains="Results for “instagram”")  # a catalog search again


async def test_commands_at_the_amount_prompt_say_it_is_kept_once(pay_shop: PayShop) -> None:
    ann = await pay_shop.customer()

    def kept() -> int:
        return sum("What you were doing is kept" in message.text for message in ann.messages)

    await ann.send_text("/topup")
    await ann.wait_for_message(contains="from 1.00 USD to 500.00 USD")
    await ann.send_text("/help")
    await ann.wait_for_message(contains="What you were doing is kept")
    for command in ("/balance", "/orders", "/nosuchcommand"):
        await ann.send_text(command)
        await ann.wait_for_message(lambda m: "What you were doing is kept" not in m.text)
    await ann.send_text("3,75")  # the prompt still takes the amount
    await ann.wait_for_message(contains="Top up by 3.75 USD")
    assert kept() == 1  # not under every reply

    await ann.send_text("instagram followers")  # the top-up is left behind
    await ann.wait_for_message(contains="Here is the menu")
    await ann.send_text("/topup")  # a new prompt: said once again
    await ann.wait_for_message(contains="from 1.00 USD to 500.00 USD")
    await ann.send_text("/orders")
    await ann.wait_for_message(contains="What you were doing is kept")
    assert kept() == 2


async def test_a_shop_without_methods_says_so(shop: Shop) -> None:
    ann = shop.user(1001, "Ann")
    await ann.send_text("/topup")
    await ann.wait_for_message(contains="not available in this shop yet")
    await ann.send_text("/balance")
    balance = await ann.wait_for_message(contains="Your balance")
    assert "💳 Top up" not in balance.button_texts
    assert "contact the shop's support" in balance.text


async def test_stats_report_payments_and_panel_reconciles_wallets(pay_shop: PayShop) -> None:
    method_id = await add_manual_method(pay_shop, "Bank card")
    ann = await pay_shop.customer()
    topup = await pay_shop.topups.start_manual(
        1001, Decimal("20"), method_id, receipt_kind="text", receipt_text="paid", receipt_file_id=None
    )
    await pay_shop.topups.approve(topup.id, ADMIN_ID)
    crypto = await pay_shop.topups.start_cryptopay(1001, Decimal("8"), "Top-up")
    await pay_shop.cryptopay.state.pay(crypto.invoice_id or 0)
    await pay_shop.topups.poll_cryptopay()
    await pay_shop.topups.start_stars(1001, Decimal("4"))  # pending
    boss = pay_shop.user(ADMIN_ID, "Boss")
    await boss.send_text("/stats")
    stats = await boss.wait_for_message(contains="Top-ups, last 7 days")
    assert "Bank card 1 × 20.00 USD" in stats.text
    assert "Crypto (CryptoBot) 1 × 8.00 USD" in stats.text
    assert "Total: 2 top-ups for 28.00 USD; provider fees 0.24 USD" in stats.text
    assert "Pending: ⭐ Telegram Stars: 1 (4.00 USD)" in stats.text
    await boss.send_text("/panel")
    panel = await boss.wait_for_message(contains="Wallets:")
    assert "28.00 USD" in panel.text and "Every balance matches its ledger" in panel.text
    assert pay_shop.app is not None
    async with pay_shop.app.session_factory.begin() as session:  # a balance edited behind the ledger's back
        from sqlalchemy import update

        from storage.models import User

        await session.execute(update(User).where(User.id == 1001).values(balance=Decimal("99")))
    await boss.send_text("/panel")
    broken = await boss.wait_for_message(contains="Wallets:")
    assert "1 balance differs from its ledger: 1001" in broken.text
    async with pay_shop.app.session_factory.begin() as session:  # put it back for the final check
        await session.execute(update(User).where(User.id == 1001).values(balance=Decimal("28")))
    del ann
