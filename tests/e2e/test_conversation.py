"""The conversation around an order: navigation, bad input, languages, access, own orders only."""

from __future__ import annotations

from decimal import Decimal

from sandbox.catalogs import generate_catalog
from sandbox.telegram_server import FakeMessage
from tests.e2e.conftest import Shop


async def test_back_edit_and_cancel_in_the_form(shop: Shop) -> None:
    ann = shop.user(1001, "Ann")
    await shop.fund(1001, "10")
    await ann.send_text("/order 1")
    first = await ann.wait_for_message(contains="Send the link")
    assert "Back" not in " ".join(first.button_texts)  # nothing to go back to
    await ann.send_text("https://instagram.com/one")
    await ann.wait_for_message(contains="How many")
    await ann.press("Back")
    await ann.wait_for_message(contains="Send the link")
    await ann.send_text("https://instagram.com/two")
    await ann.wait_for_message(contains="How many")
    await ann.send_text("300")
    await ann.wait_for_message(contains="Check your order")
    await ann.press("Edit")
    await ann.wait_for_message(contains="What do you want to change")
    await ann.press("Quantity")
    await ann.wait_for_message(contains="How many")
    await ann.send_text("400")
    summary = await ann.wait_for_message(contains="Check your order")
    assert "instagram.com/two" in summary.text and "Quantity: 400" in summary.text
    await ann.press("Cancel")
    await ann.wait_for_message(contains="Order cancelled")
    await ann.press_data(summary.find_button("Confirm")["callback_data"], summary)  # stale now
    answer = await ann.wait_for_answer()
    assert "no longer active" in (answer.answer_text or "")
    assert shop.sim.state.count("add") == 0


async def test_junk_input_gets_a_clear_message_and_the_form_goes_on(shop: Shop) -> None:
    ann = shop.user(1001, "Ann")
    await ann.send_text("/order 41")  # custom comments, 5..1000 lines
    await ann.wait_for_message(contains="Send the link")
    await ann.send_text("<script>alert(1)</script>")
    await ann.wait_for_message(contains="does not look like a link")
    await ann.send_text("https://instagram.com/p/1")
    await ann.wait_for_message(contains="Send the comments")
    await ann.send_text("just one")
    bad = await ann.wait_for_message(contains="You sent 1 line;")
    assert "between 5 and 1000" in bad.text
    await ann.send_text("/cancel")
    await ann.wait_for_message(contains="Cancelled")


async def test_unknown_service_and_unknown_command(shop: Shop) -> None:
    ann = shop.user(1001, "Ann")
    await ann.send_text("/order 999999")
    await ann.wait_for_message(contains="There is no service #999999")
    await ann.send_text("/frobnicate")
    await ann.wait_for_message(contains="do not know that command")
    await ann.send_text("/status abc")
    await ann.wait_for_message(contains="/status 123")


async def test_search_by_words_and_by_id(shop: Shop) -> None:
    ann = shop.user(1001, "Ann")
    await ann.send_text("tiktok views")
    found = await ann.wait_for_message(contains="Results for")
    services = [row[0] for row in found.buttons if "USD" in row[0]]
    assert services and all("TikTok" in label and "Views" in label for label in services), found.buttons
    assert all(label.startswith("#") and "USD/1000" in label for label in services), found.buttons
    await ann.send_text("1")
    by_id = await ann.wait_for_message(contains="Service #1")
    assert by_id.text.startswith("Instagram Followers - Cheapest")
    await ann.send_text("zzzz nothing like this")
    await ann.wait_for_message(contains="Nothing found")


async def test_russian_from_telegram_language_and_switch_in_settings(shop: Shop) -> None:
    ivan = shop.user(1002, "Иван", language_code="ru")
    await ivan.send_text("/start")
    await ivan.wait_for_message(contains="Привет, Иван")
    await ivan.press((2, 0))  # settings
    await ivan.wait_for_message()
    await ivan.press("English")
    await ivan.wait_for_message(contains="Language saved")
    await ivan.send_text("/start")
    await ivan.wait_for_message(contains="Hello, Иван")


async def test_orders_of_others_are_never_shown(shop: Shop) -> None:
    ann, bob = shop.user(1001, "Ann"), shop.user(1002, "Bob")
    await shop.fund(1001, "10")
    await ann.send_text("/order 1")
    await ann.wait_for_message(contains="Send the link")
    await ann.send_text("https://instagram.com/ann")
    await ann.wait_for_message()
    await ann.send_text("100")
    await ann.wait_for_message(contains="Check your order")
    await ann.press("Confirm")
    placed = await ann.wait_for_message(contains="is placed")
    refresh = placed.find_button("Refresh")["callback_data"]

    await bob.send_text("/start")
    menu = await bob.wait_for_message()
    await bob.press_data(refresh, menu)  # Bob forges Ann's order button
    answer = await bob.wait_for_answer()
    assert "not found" in (answer.answer_text or "")
    await bob.send_text("/status 1")
    await bob.wait_for_message(contains="not found among your orders")
    await bob.press_data("garbage:data", menu)
    await bob.wait_for_answer()

    await ann.send_text("/orders")
    await ann.wait_for_message(contains="Your orders")
    await ann.press("#1")
    detail = await ann.wait_for_message(contains="Order #1")
    assert "in progress" in detail.text and "Charge: 0.11 USD" in detail.text


async def test_refill_and_cancel_buttons_follow_the_service(shop: Shop) -> None:
    ann = shop.user(1001, "Ann")
    await shop.fund(1001, "50")
    await ann.send_text("/order 2")  # refill and cancel allowed
    await ann.wait_for_message(contains="Send the link")
    await ann.send_text("https://instagram.com/ann")
    await ann.wait_for_message()
    await ann.press("No, all at once")
    await ann.wait_for_message(contains="How many")
    await ann.send_text("100")
    await ann.wait_for_message(contains="Check your order")
    await ann.press("Confirm")
    placed = await ann.wait_for_message(contains="is placed")
    assert "Cancel order" in " ".join(placed.button_texts)
    assert "Refill" not in " ".join(placed.button_texts)  # not completed yet
    await ann.press("Cancel order")
    await ann.wait_for_message(contains="Cancel order #1?")
    await ann.press("Yes, cancel it")
    asked = await ann.wait_for_message(contains="Cancellation requested")
    assert "Cancel order" not in " ".join(asked.button_texts)
    assert await shop.balance(1001) == (Decimal("49.8200"), Decimal("49.8200"))  # nothing back until canceled


async def test_banned_user_gets_one_polite_line(shop: Shop) -> None:
    eve = shop.user(1003, "Eve")
    await eve.send_text("/start")
    await eve.wait_for_message()
    assert shop.app is not None
    # what the admin console's ban does; the bot knew Eve a moment ago and must not keep serving her
    assert await shop.app.dispatcher.workflow_data["admin_users"].set_banned(1, 1003, True)
    menu = eve.last_message
    await eve.send_text("/start")
    line = await eve.wait_for_message()
    assert line.text == "Sorry, this shop is not available to you." and not line.buttons
    await eve.assert_no_new_messages(within=0.3)
    assert menu is not None
    await eve.press("Services", menu)
    answer = await eve.wait_for_answer()  # the same line as a toast, nothing shown
    assert answer.answer_text == line.text
    await eve.assert_no_new_messages(within=0.3)


async def test_allow_list_and_wallet_off(shop: Shop) -> None:
    await shop.restart(allowed_user_ids=[1001], wallet_enabled=False)
    ann, stranger = shop.user(1001, "Ann"), shop.user(1004, "Stranger")
    await stranger.send_text("/start")
    await stranger.assert_no_new_messages(within=0.5)
    await ann.send_text("/balance")
    await ann.wait_for_message(contains="does not use a balance")
    await ann.send_text("/order 1")
    await ann.wait_for_message(contains="Send the link")
    await ann.send_text("https://instagram.com/ann")
    await ann.wait_for_message()
    await ann.send_text("100")
    summary = await ann.wait_for_message(contains="Check your order")
    assert "nothing is charged" in summary.text
    await ann.press("Confirm")
    await ann.wait_for_message(contains="is placed")


async def test_huge_hostile_catalog_stays_usable(shop: Shop) -> None:
    shop.sim.state.catalog = generate_catalog(3000, 60, hostile=True, seed=7)
    assert shop.app is not None
    catalog = shop.app.dispatcher.workflow_data["catalog"]
    await catalog.refresh()
    ann = shop.user(1001, "Ann")
    await ann.send_text("/services")
    page: FakeMessage = await ann.wait_for_message(contains="Choose a platform")
    await ann.press((0, 0))  # the first platform
    page = await ann.wait_for_message(contains="Choose a category", edited=True)
    assert "page 1/1" in page.text
    await ann.press((0, 0))
    services = await ann.wait_for_message(edited=True)
    await ann.press((0, 0))
    card = await ann.wait_for_message(edited=True)
    assert "Service #" in card.text
    assert len(card.text) <= 4096
    await ann.send_text('<Fast> & "Cheap"')
    await ann.wait_for_message(contains="Results for")
    del services
