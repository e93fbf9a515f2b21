"""The order card (issue #15): order again, a cancel that asks first, refill outcomes, and the
balance history in sentences. Everything through the fake Bot API and the panel simulator."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from bot.services.tracking import run_refill_cycle
from bot.telegram.callbacks import OrderCb
from sandbox.panel_simulator import _SimError
from sandbox.telegram_server import FakeMessage, FakeUser
from tests.e2e.conftest import Shop


async def place_order(
    ann: FakeUser, service: str, link: str, quantity: str, *, drip: bool = False
) -> FakeMessage:
    await ann.send_text(f"/order {service}")
    await ann.wait_for_message(contains="Send the link")
    await ann.send_text(link)
    if drip:
        await ann.wait_for_message()
        await ann.press("No, all at once")
    await ann.wait_for_message(contains="How many")
    await ann.send_text(quantity)
    await ann.wait_for_message(contains="Check your order")
    await ann.press("Confirm")
    return await ann.wait_for_message(contains="is placed")


def complete_upstream(shop: Shop) -> None:
    """The panel finishes every order (it refuses a second active order for the same link)."""
    for upstream_id in list(shop.sim.state.orders):
        shop.sim.state.complete(upstream_id)


async def refresh_catalog(shop: Shop) -> None:
    assert shop.app is not None
    await shop.app.dispatcher.workflow_data["catalog"].refresh()


async def test_order_again_goes_to_the_summary_and_places_the_same_order(shop: Shop) -> None:
    ann = shop.user(1001, "Ann")
    await shop.fund(1001, "20")
    placed = await place_order(ann, "1", "https://instagram.com/ann", "300")
    complete_upstream(shop)
    assert "Order again" in " ".join(placed.button_texts)

    await ann.press("Order again", placed)
    summary = await ann.wait_for_message(contains="Check your order")
    assert "Prefilled from order #1: check and confirm" in summary.text
    assert "https://instagram.com/ann" in summary.text and "300" in summary.text
    await ann.press("Confirm", summary)
    await ann.wait_for_message(contains="Order #2 is placed")

    assert shop.sim.state.count("add") == 2
    first, second = (shop.sim.state.orders[key] for key in sorted(shop.sim.state.orders, key=int)[:2])
    assert (second.link, second.quantity, second.service) == (first.link, first.quantity, first.service)


async def test_order_again_edit_works_as_usual(shop: Shop) -> None:
    ann = shop.user(1001, "Ann")
    await shop.fund(1001, "20")
    placed = await place_order(ann, "1", "https://instagram.com/ann", "300")
    complete_upstream(shop)
    await ann.press("Order again", placed)
    await ann.wait_for_message(contains="Prefilled from order #1")
    await ann.press("Edit")
    await ann.wait_for_message(contains="What do you want to change")
    await ann.press("Quantity")
    await ann.wait_for_message(contains="How many")
    await ann.send_text("400")
    summary = await ann.wait_for_message(contains="Check your order")
    assert "400" in summary.text
    await ann.press("Confirm", summary)
    await ann.wait_for_message(contains="Order #2 is placed")
    assert shop.sim.state.orders[max(shop.sim.state.orders, key=int)].quantity == 400


async def test_order_again_asks_for_a_quantity_now_out_of_range(shop: Shop) -> None:
    ann = shop.user(1001, "Ann")
    await shop.fund(1001, "20")
    placed = await place_order(ann, "1", "https://instagram.com/ann", "300")
    complete_upstream(shop)
    service = shop.sim.state.service("1")
    assert service is not None
    service["min"] = 500
    await refresh_catalog(shop)

    await ann.press("Order again", placed)
    asked = await ann.wait_for_message(contains="How many")
    assert "one answer no longer fits" in asked.text and "500" in asked.text
    await ann.send_text("600")
    summary = await ann.wait_for_message(contains="Check your order")
    assert "https://instagram.com/ann" in summary.text  # the link was kept
    await ann.press("Confirm", summary)
    await ann.wait_for_message(contains="Order #2 is placed")
    assert shop.sim.state.orders[max(shop.sim.state.orders, key=int)].quantity == 600


async def test_order_again_of_a_service_no_longer_sold(shop: Shop) -> None:
    ann = shop.user(1001, "Ann")
    await shop.fund(1001, "20")
    placed = await place_order(ann, "1", "https://instagram.com/ann", "300")
    complete_upstream(shop)
    shop.sim.state.catalog = [s for s in shop.sim.state.catalog if str(s.get("service")) != "1"]
    await refresh_catalog(shop)
    await ann.press("Order again", placed)
    gone = await ann.wait_for_message(contains="no longer sold")
    assert any("Services" in label for label in gone.button_texts), gone.button_texts  # to the catalog
    assert shop.sim.state.count("add") == 1


async def test_cancel_asks_first_no_keeps_the_order_yes_cancels(shop: Shop) -> None:
    ann = shop.user(1001, "Ann")
    await shop.fund(1001, "50")
    placed = await place_order(ann, "2", "https://instagram.com/ann", "100", drip=True)

    await ann.press("Cancel order", placed)
    asked = await ann.wait_for_message(contains="Cancel order #1?")
    assert shop.sim.state.count("cancel") == 0
    await ann.press("No, keep it", asked)
    card = await ann.wait_for_message(contains="Order #1")
    assert "Cancel order" in " ".join(card.button_texts)
    assert shop.sim.state.count("cancel") == 0

    await ann.press("Cancel order", card)
    asked = await ann.wait_for_message(contains="Cancel order #1?")
    await ann.press("Yes, cancel it", asked)
    await ann.wait_for_message(contains="Cancellation requested")
    assert shop.sim.state.count("cancel") == 1

    # The same Yes again (a second tap, another device): one clear line, nothing sent.
    await ann.press_data(OrderCb(id=1, action="cancel_yes").pack(), asked)
    again = await ann.wait_for_message(contains="already requested")
    assert "Order #1" in again.text
    assert shop.sim.state.count("cancel") == 1


async def test_a_stale_yes_on_a_completed_order_says_so(shop: Shop) -> None:
    ann = shop.user(1001, "Ann")
    await shop.fund(1001, "50")
    placed = await place_order(ann, "2", "https://instagram.com/ann", "100", drip=True)
    await ann.press("Cancel order", placed)
    asked = await ann.wait_for_message(contains="Cancel order #1?")
    upstream = next(iter(shop.sim.state.orders))
    shop.sim.state.complete(upstream)
    await ann.wait_for_message(contains="Order #1 is completed", timeout=10)  # the poller saw it
    await ann.press_data(OrderCb(id=1, action="cancel_yes").pack(), asked)
    line = await ann.wait_for_message(contains="nothing to cancel")
    assert "Order #1 is already completed" in line.text
    assert shop.sim.state.count("cancel") == 0
    assert await shop.balance(1001) == (Decimal("49.8200"), Decimal("49.8200"))


def panel_stops_offering(shop: Shop, flag: str) -> None:
    """The panel's catalog no longer has `flag` (refill or cancel) on any service."""
    shop.sim.state.catalog = [{**service, flag: False} for service in shop.sim.state.catalog]


async def test_a_panel_without_cancel_gets_no_cancel_button_and_an_old_one_says_why(shop: Shop) -> None:
    ann = shop.user(1001, "Ann")
    await shop.fund(1001, "50")
    placed = await place_order(ann, "2", "https://instagram.com/ann", "100", drip=True)
    assert "🛑 Cancel order" in placed.button_texts
    panel_stops_offering(shop, "cancel")
    await refresh_catalog(shop)  # the catalog tells the shop what its panel supports

    await ann.send_text("/status 1")
    card = await ann.wait_for_message(contains="Order #1")
    assert "🛑 Cancel order" not in card.button_texts and "🔄 Refresh" in " ".join(card.button_texts)
    await ann.press("Cancel order", placed)  # the button of the card shown before
    line = await ann.wait_for_message(contains="does not take cancellations any more")
    assert "🛑 Cancel order" not in line.button_texts
    await ann.press_data(OrderCb(id=1, action="cancel_yes").pack(), card)  # a Yes from before
    await ann.wait_for_message(contains="does not take cancellations any more")
    assert shop.sim.state.count("cancel") == 0


async def test_the_card_right_after_confirm_has_no_cancel_the_panel_stopped_taking(shop: Shop) -> None:
    """The catalog is refreshed while the order is on its way to the panel, and the panel no longer
    takes cancellations: the card Confirm turns into, and the one a repeated Confirm shows, offer
    no Cancel the panel would refuse."""
    ann = shop.user(1001, "Ann")
    await shop.fund(1001, "50")
    await ann.send_text("/order 2")
    await ann.wait_for_message(contains="Send the link")
    await ann.send_text("https://instagram.com/ann")
    await ann.wait_for_message()
    await ann.press("No, all at once")
    await ann.wait_for_message(contains="How many")
    await ann.send_text("100")
    summary = await ann.wait_for_message(contains="Check your order")
    confirm = summary.find_button("Confirm")["callback_data"]

    shop.sim.state.latency = 0.5  # the panel takes its time with the order...
    await ann.press("Confirm", summary)
    for _ in range(200):
        if shop.sim.state.count("add"):
            break
        await asyncio.sleep(0.01)
    shop.sim.state.latency = 0.0
    panel_stops_offering(shop, "cancel")  # ...and meanwhile the catalog says: no cancelling
    await refresh_catalog(shop)
    placed = await ann.wait_for_message(contains="is placed")
    assert "🛑 Cancel order" not in placed.button_texts and "🔄 Refresh" in " ".join(placed.button_texts)

    await ann.press_data(confirm, summary)  # a second tap on the old Confirm shows the card again
    answer = await ann.wait_for_answer()
    assert "already placed" in (answer.answer_text or "")
    again = await ann.wait_for_message(contains="Order #1")
    assert "🛑 Cancel order" not in again.button_texts and "🔄 Refresh" in " ".join(again.button_texts)
    assert shop.sim.state.count("cancel") == 0


async def test_a_panel_without_refill_gets_no_refill_button_and_an_old_one_says_why(shop: Shop) -> None:
    ann = shop.user(1001, "Ann")
    await shop.fund(1001, "50")
    card = await completed_card(shop, ann)
    assert "♻️ Refill" in card.button_texts
    panel_stops_offering(shop, "refill")
    await refresh_catalog(shop)

    await ann.send_text("/status 1")
    now = await ann.wait_for_message(contains="Order #1")
    assert "♻️ Refill" not in now.button_texts
    await ann.press("♻️ Refill", card)
    line = await ann.wait_for_message(contains="does not take refill requests any more")
    assert "♻️ Refill" not in line.button_texts
    assert shop.sim.state.count("refill") == 0


async def test_balance_history_reads_as_sentences_in_the_customers_language(shop: Shop) -> None:
    ann = shop.user(1001, "Ann")
    await shop.fund(1001, "50")
    placed = await place_order(ann, "2", "https://instagram.com/ann", "100", drip=True)
    await ann.press("Cancel order", placed)
    await ann.wait_for_message(contains="Cancel order #1?")
    await ann.press("Yes, cancel it")
    await ann.wait_for_message(contains="Cancellation requested")
    shop.sim.state.tick()  # the panel cancels it; the poller refunds
    await ann.wait_for_message(contains="was canceled by the supplier", timeout=10)

    await ann.send_text("/balance")
    wallet = await ann.wait_for_message(contains="Your balance")
    assert "Refund for order #1 (canceled): +0.18 USD" in wallet.text
    assert "Order #1: −0.18 USD" in wallet.text
    assert "Top-up: +50.00 USD" in wallet.text
    assert "refund" not in wallet.text and "canceled:" not in wallet.text  # no internal notes

    assert shop.app is not None
    await shop.app.dispatcher.workflow_data["users"].set_locale(1001, "ru")
    await ann.send_text("/balance")
    wallet = await ann.wait_for_message(contains="Ваш баланс")
    assert "Возврат за заказ #1 (отменён): +0.18 USD" in wallet.text
    assert "Заказ #1: −0.18 USD" in wallet.text
    assert "Пополнение: +50.00 USD" in wallet.text


async def refill_cycle(shop: Shop) -> None:
    """One run of the refill job (the scheduler's runs once a minute: too slow to wait for)."""
    assert shop.app is not None
    data = shop.app.dispatcher.workflow_data
    await run_refill_cycle(data["poller"], data["notifier"])


async def completed_card(shop: Shop, ann: FakeUser) -> FakeMessage:
    await place_order(ann, "2", "https://instagram.com/ann", "100", drip=True)
    complete_upstream(shop)
    await ann.wait_for_message(contains="Order #1 is completed", timeout=10)
    await ann.send_text("/status 1")
    return await ann.wait_for_message(contains="Order #1")


async def test_refill_hides_its_button_until_the_customer_is_told_the_outcome(shop: Shop) -> None:
    ann = shop.user(1001, "Ann")
    await shop.fund(1001, "50")
    card = await completed_card(shop, ann)
    assert "♻️ Refill" in card.button_texts

    await ann.press("♻️ Refill", card)
    asked = await ann.wait_for_message(contains="Refill requested.")
    assert "Refill requested 20" in asked.text and "status: requested" in asked.text
    assert "♻️ Refill" not in asked.button_texts  # one at a time
    await ann.send_text("/status 1")
    again = await ann.wait_for_message(contains="Order #1")
    assert "♻️ Refill" not in again.button_texts and "status: requested" in again.text

    upstream = next(iter(shop.sim.state.orders))
    shop.sim.state.advance(upstream, status="In progress")  # the panel runs the refill
    await refill_cycle(shop)
    await ann.send_text("/status 1")
    running = await ann.wait_for_message(contains="Order #1")
    assert "status: in progress" in running.text and "♻️ Refill" not in running.button_texts

    shop.sim.state.complete(upstream)
    await refill_cycle(shop)
    told = await ann.wait_for_message(contains="The refill of order #1 is done")
    assert "https://instagram.com/ann" in told.text
    await refill_cycle(shop)
    await ann.assert_no_new_messages(within=0.5)  # told once
    await ann.send_text("/status 1")
    after = await ann.wait_for_message(contains="Order #1")
    assert "Refill: done" in after.text and "♻️ Refill" in after.button_texts


async def test_a_long_refill_refusal_from_the_panel_is_clipped_and_escaped(shop: Shop) -> None:
    """The panel's words are shown, but a 7,000-character refusal once pushed the card past
    Telegram's 4096 characters: "Something went wrong" instead of the reason."""
    ann = shop.user(1001, "Ann")
    await shop.fund(1001, "50")
    card = await completed_card(shop, ann)

    def refuse(order_id: str) -> None:
        raise _SimError("<b>No</b> & " + "a very long reason " * 400)

    shop.sim.state._create_refill = refuse  # type: ignore[method-assign]
    await ann.press("♻️ Refill", card)
    note = await ann.wait_for_message(contains="The supplier refused the refill: <b>No</b> & a very long")
    assert len(note.text) < 1000 and "♻️ Refill" in note.button_texts  # refused: it may be asked again


async def test_refill_nobody_can_follow_gets_an_honest_outcome_within_a_few_cycles(shop: Shop) -> None:
    ann = shop.user(1001, "Ann")
    await shop.fund(1001, "50")
    card = await completed_card(shop, ann)
    await ann.press("♻️ Refill", card)
    await ann.wait_for_message(contains="Refill requested.")
    for _ in range(3):  # the order keeps showing Completed: nothing to follow
        await refill_cycle(shop)
    told = await ann.wait_for_message(contains="does not report how it goes")
    assert "support" in told.text
    await refill_cycle(shop)
    await ann.assert_no_new_messages(within=0.5)
    await ann.send_text("/status 1")
    after = await ann.wait_for_message(contains="Order #1")
    assert "Refill: not confirmed by the supplier" in after.text and "♻️ Refill" in after.button_texts
