"""What a new customer or owner trips over (issue #15): commands inside forms, finding services,
what the screens say. Everything through the fake Bot API and the panel simulator."""

from __future__ import annotations

import pytest

from bot.app import COMMANDS
from sandbox.telegram_server import FakeUser
from tests.e2e.conftest import ADMIN_ID, Shop


async def open_form_at_link(ann: FakeUser) -> None:
    await ann.send_text("/order 1")
    await ann.wait_for_message(contains="Send the link")


async def test_menu_commands_answer_inside_the_order_form_and_the_form_is_kept(shop: Shop) -> None:
    ann = shop.user(1001, "Ann")
    await shop.fund(1001, "10")
    await open_form_at_link(ann)

    await ann.send_text("/balance")  # waiting for the link
    await ann.wait_for_message(contains="10.00 USD")
    kept = await ann.wait_for_message(contains="order form is kept")
    assert "Link" in kept.text and "does not look like a link" not in kept.text
    await ann.send_text("https://instagram.com/ann")  # the next answer still fills the form
    await ann.wait_for_message(contains="How many")

    await ann.send_text("/orders")  # at the quantity
    await ann.wait_for_message(contains="no orders yet")
    kept = await ann.wait_for_message(contains="order form is kept")
    assert "Quantity" in kept.text
    await ann.send_text("/frobnicate")  # an unknown command is an unknown command, not a quantity
    await ann.wait_for_message(contains="do not know that command")
    await ann.wait_for_message(contains="order form is kept")
    await ann.send_text("300")
    await ann.wait_for_message(contains="Check your order")

    await ann.send_text("/services")  # at the summary
    await ann.wait_for_message(contains="Choose a platform")
    kept = await ann.wait_for_message(contains="waiting at its summary")
    await ann.press("Back to the form", kept)
    summary = await ann.wait_for_message(contains="Check your order", edited=True)
    await ann.press("Confirm", summary)
    await ann.wait_for_message(contains="is placed")
    assert shop.sim.state.count("add") == 1


@pytest.mark.parametrize("command", ["/help", "/settings", "/status 5", "/topup", "/balance"])
async def test_every_menu_command_is_answered_at_the_quantity(shop: Shop, command: str) -> None:
    ann = shop.user(1001, "Ann")
    await open_form_at_link(ann)
    await ann.send_text("https://instagram.com/ann")
    await ann.wait_for_message(contains="How many")
    await ann.send_text(command)
    reply = await ann.wait_for_message()
    assert "whole number" not in reply.text and "does not look like a link" not in reply.text


async def test_a_quantity_with_a_decimal_comma_is_refused_not_read_as_a_bigger_number(shop: Shop) -> None:
    ann = shop.user(1001, "Ann")
    await open_form_at_link(ann)
    await ann.send_text("https://instagram.com/ann")
    await ann.wait_for_message(contains="How many")
    await ann.send_text("100,5")  # 100.5 in many countries: never 1005
    refused = await ann.wait_for_message(contains="not a whole number")
    assert "Check your order" not in refused.text
    await ann.send_text("9" * 4000)  # told the service's range, not just "too large"
    await ann.wait_for_message(contains="The quantity must be between")
    await ann.send_text("1,000")
    summary = await ann.wait_for_message(contains="Check your order")
    assert "1000" in summary.text.replace(",", "").replace(" ", "")
    assert "1005" not in summary.text


async def test_a_link_with_markup_in_it_is_refused_and_an_encoded_one_is_taken(shop: Shop) -> None:
    ann = shop.user(1001, "Ann")
    await open_form_at_link(ann)
    await ann.send_text("https://instagram.com/<b>a</b>")
    refused = await ann.wait_for_message(contains="does not look like a link")
    assert "How many" not in refused.text
    await ann.send_text('https://instagram.com/ann"x')
    await ann.wait_for_message(contains="does not look like a link")
    await ann.send_text("https://instagram.com/%D0%B0nn")
    await ann.wait_for_message(contains="How many")


async def test_commands_inside_search_and_start_closes_the_form(shop: Shop) -> None:
    ann = shop.user(1001, "Ann")
    await shop.fund(1001, "3")
    await ann.send_text("/search")
    await ann.wait_for_message(contains="Send a few words")
    await ann.send_text("/balance")
    balance = await ann.wait_for_message(contains="3.00 USD")
    assert "Nothing found" not in balance.text
    await ann.wait_for_message(contains="search is still open")
    await ann.send_text("tiktok views")
    await ann.wait_for_message(contains="Results for")

    await open_form_at_link(ann)
    await ann.send_text("/start")
    await ann.wait_for_message(contains="Hello, Ann")
    await ann.wait_for_message(contains="order form is closed")
    await ann.send_text("https://instagram.com/ann")  # not a form answer now: pick a service first
    await ann.wait_for_message(contains="pick a service first")


async def test_a_number_opens_that_service_and_results_show_id_and_price(shop: Shop) -> None:
    ann = shop.user(1001, "Ann")
    for typed in ("5", "#5"):
        await ann.send_text(typed)
        card = await ann.wait_for_message(contains="Service #5")
        assert "Max 50K" not in card.text or "Service #5" in card.text
        assert "Results for" not in card.text
    await ann.send_text("/order #5")
    await ann.wait_for_message(contains="Send the link")
    await ann.send_text("/cancel")
    await ann.wait_for_message(contains="Cancelled")
    await ann.send_text("tiktok likes")
    found = await ann.wait_for_message(contains="Results for")
    labels = [row[0] for row in found.buttons if "USD" in row[0]]
    assert labels and all(label.startswith("#") and "USD/1000" in label for label in labels), labels


async def test_a_renamed_service_is_found_by_its_shop_name(shop: Shop) -> None:
    admin = shop.user(ADMIN_ID, "Owner")
    ann = shop.user(1001, "Ann")
    await admin.send_text("/rename 3 Sunflower Boost")
    await admin.wait_for_message()
    await ann.send_text("sunflower")
    found = await ann.wait_for_message(contains="Results for")
    assert any(row[0].startswith("#3 · Sunflower Boost") for row in found.buttons), found.buttons


async def test_edit_a_field_then_back_returns_to_the_summary(shop: Shop) -> None:
    ann = shop.user(1001, "Ann")
    await shop.fund(1001, "10")
    await open_form_at_link(ann)
    await ann.send_text("https://instagram.com/ann")
    await ann.wait_for_message(contains="How many")
    await ann.send_text("300")
    await ann.wait_for_message(contains="Check your order")
    await ann.press("Edit")
    await ann.wait_for_message(contains="What do you want to change")
    await ann.press("Link")
    await ann.wait_for_message(contains="Send the link")
    await ann.press("Back")
    summary = await ann.wait_for_message(contains="Check your order")
    assert "instagram.com/ann" in summary.text and "Quantity: 300" in summary.text


async def test_admins_see_an_admin_button_in_start_and_help(shop: Shop) -> None:
    admin, ann = shop.user(ADMIN_ID, "Owner"), shop.user(1001, "Ann")
    await admin.send_text("/start")
    menu = await admin.wait_for_message()
    assert "🛠 Admin" in menu.button_texts
    await admin.press("🛠 Admin", menu)
    await admin.wait_for_message(edited=True)
    await admin.send_text("/help")
    helped = await admin.wait_for_message()
    assert "🛠 Admin" in helped.button_texts and "/admin" in helped.text
    await ann.send_text("/start")
    assert "🛠 Admin" not in (await ann.wait_for_message()).button_texts
    await ann.send_text("/help")
    assert "/admin" not in (await ann.wait_for_message()).text


@pytest.mark.parametrize("language", ["en", "ru"])
async def test_help_explains_every_command_of_the_menu(shop: Shop, language: str) -> None:
    """/help is where a newcomer looks: every command Telegram's menu offers is explained there
    (it once left out /topup, /promo, /referrals and /support)."""
    ann = shop.user(1001, "Ann", language_code=language)
    await ann.send_text("/help")
    helped = await ann.wait_for_message(contains="/services")
    assert [
        name for name in COMMANDS if name not in ("start", "help") and f"/{name}" not in helped.text
    ] == []


async def test_forged_buttons_with_huge_numbers_are_stale_not_errors(shop: Shop) -> None:
    """Numbers in a button come from the client: one beyond what a database column holds used to
    overflow the query ("Something went wrong" and a traceback in the log)."""
    huge = "9" * 23
    admin, ann = shop.user(ADMIN_ID, "Owner"), shop.user(1001, "Ann")
    await ann.send_text("/start")
    menu = await ann.wait_for_message()
    await admin.send_text("/admin")
    console = await admin.wait_for_message(contains="Admin console")
    forged = {
        ann: [f"o:{huge}:view", f"c:{huge}:0", f"c:1:{huge}", f"cs:{huge}", f"os:{huge}", f"q:{huge}"],
        admin: [f"au:{huge}:view", f"apr:{huge}:refund", f"atu:{huge}:reject", f"tk:view:{huge}"],
    }
    for user, datas in forged.items():
        for data in datas:
            await user.press_data(data, menu if user is ann else console)
            answer = await user.wait_for_answer()
            assert answer.answer_text == "This button is no longer active.", data
    await ann.press_data("o:1:view", menu)  # an ordinary id still gets its own answer
    assert "not found among your orders" in ((await ann.wait_for_answer()).answer_text or "")


async def test_typed_ids_too_big_for_a_column_get_the_usage_line(shop: Shop) -> None:
    """Twelve digits passed the commands' checks and overflowed PostgreSQL's INTEGER ids."""
    admin, ann = shop.user(ADMIN_ID, "Owner"), shop.user(1001, "Ann")
    await ann.send_text("/status 999999999999")
    await ann.wait_for_message(contains="Send the order number like this: /status 123")
    for command, usage in [
        ("/attach 999999999999 5", "/attach"),
        ("/notplaced 999999999999", "/notplaced"),
        ("/refundtopup 999999999999", "/refundtopup"),
        ("/stopbroadcast 999999999999", "/stopbroadcast"),
    ]:
        await admin.send_text(command)
        reply = await admin.wait_for_message()
        assert usage in reply.text and "Something went wrong" not in reply.text, (command, reply.text)
    await ann.send_text("/status 123456789")  # nine digits are still an order number
    await ann.wait_for_message(contains="Order #123456789 not found")


async def test_digits_that_are_not_decimal_get_the_usage_line(shop: Shop) -> None:
    """ "²" and "⑦" are digits to str.isdigit() but not to int(): they crashed the commands that
    checked with the one and converted with the other."""
    admin, ann = shop.user(ADMIN_ID, "Owner"), shop.user(1001, "Ann")
    await ann.send_text("/status ²")
    await ann.wait_for_message(contains="Send the order number like this: /status 123")
    for command, usage in [
        ("/attach ⑦ 5", "/attach"),
        ("/notplaced ²", "/notplaced"),
        ("/refundtopup ²", "/refundtopup"),
        ("/stopbroadcast ²", "/stopbroadcast"),
    ]:
        await admin.send_text(command)
        reply = await admin.wait_for_message()
        assert usage in reply.text and "Something went wrong" not in reply.text, (command, reply.text)
    await ann.send_text("/status ١٢")  # Arabic-Indic digits are decimal: an order number
    await ann.wait_for_message(contains="not found among your orders")


async def test_the_owners_plain_welcome_text_keeps_ampersand_and_heart(shop: Shop) -> None:
    admin, ann = shop.user(ADMIN_ID, "Owner"), shop.user(1001, "Ann")
    await admin.send_text("/welcome Fast & cheap, made with <3")
    await admin.wait_for_message(contains="Saved")
    await ann.send_text("/start")
    await ann.wait_for_message(contains="Fast & cheap, made with <3")


async def test_russian_words_find_english_named_services(shop: Shop) -> None:
    ann = shop.user(1001, "Ann")
    await ann.send_text("лайки")
    found = await ann.wait_for_message(contains="Results for")
    assert any("Likes" in row[0] for row in found.buttons), found.buttons
    await ann.send_text("ИНСТАГРАМ Подписчиков")  # any case, any ending
    found = await ann.wait_for_message(contains="Results for")
    labels = [row[0] for row in found.buttons if "USD" in row[0]]
    assert labels and all("Followers" in label for label in labels), labels
    await ann.send_text("просмотры ютуб")
    found = await ann.wait_for_message(contains="Results for")
    assert any("Views" in row[0] for row in found.buttons), found.buttons
    await ann.send_text("вкусняшки")  # not a word we know: still nothing
    await ann.wait_for_message(contains="Nothing found")

    ivan = shop.user(1002, "Иван", language_code="ru")
    await ivan.send_text("/search")
    prompt = await ivan.wait_for_message(contains="Отправьте пару слов")
    example = prompt.text.split("например, ")[1].split(")")[0]
    await ivan.send_text(example)  # the prompt's own example finds something
    await ivan.wait_for_message(contains="Результаты по запросу")


async def test_a_link_outside_a_form_points_to_its_platform_not_an_empty_search(shop: Shop) -> None:
    ann = shop.user(1001, "Ann")
    await ann.send_text("https://www.instagram.com/p/abc123/")
    hint = await ann.wait_for_message(contains="pick a service first")
    assert "Nothing found" not in hint.text
    await ann.press("Instagram services", hint)
    await ann.wait_for_message(contains="Instagram", edited=True)

    await ann.send_text("https://example.org/page")  # a site we cannot place: the catalog only
    hint = await ann.wait_for_message(contains="pick a service first")
    labels = [label for row in hint.buttons for label in row]
    assert not any(label.startswith("📱") for label in labels), labels
    await ann.press("Services", hint)
    await ann.wait_for_message(contains="Choose a platform", edited=True)

    ivan = shop.user(1002, "Иван", language_code="ru")
    await ivan.send_text("t.me/somechannel")  # no scheme: still a link, in the customer's language
    hint = await ivan.wait_for_message(contains="сначала выберите услугу")
    assert any("Услуги Telegram" in label for row in hint.buttons for label in row), hint.buttons
