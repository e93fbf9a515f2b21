"""Settings changed from the admin menu take effect at once: welcome message, maintenance, markup."""

from __future__ import annotations

from tests.admin.conftest import ADMIN_ID, Shop, admin_user, audit_rows, service
from tests.e2e.flows import fill_order_form


async def test_welcome_message_is_checked_then_shown_on_start(shop: Shop) -> None:
    ann = shop.user(1001, "Ann")
    admin = admin_user(shop)
    with shop.tg.expect_errors("can't parse entities"):
        await admin.send_text("/welcome <b>Welcome to the shop")
        refused = await admin.wait_for_message(contains="Telegram cannot show this text")
    assert "can't parse entities" in refused.text
    await ann.send_text("/start")
    await ann.wait_for_message(contains="Hello, Ann")  # still the standard one

    await admin.send_text('<b>Welcome</b> to <a href="https://example.com">our shop</a>!')
    preview = await admin.wait_for_message(contains="Welcome to our shop!")
    assert [e["type"] for e in preview.entities] == ["bold", "text_link"]
    await admin.wait_for_message(contains="Saved")
    await ann.send_text("/start")
    custom = await ann.wait_for_message(contains="Welcome to our shop!")
    assert "Services" in " ".join(custom.button_texts)

    await admin.send_text("/welcome reset")
    await admin.wait_for_message(contains="standard welcome message again")
    await ann.send_text("/start")
    await ann.wait_for_message(contains="Hello, Ann")
    values = [(row.action, row.args.get("value")) for row in await audit_rows(shop)]
    assert values == [
        ("settings.welcome", '<b>Welcome</b> to <a href="https://example.com">our shop</a>!'),
        ("settings.welcome", None),
    ]


async def test_maintenance_pauses_new_orders_with_the_admins_message(shop: Shop) -> None:
    ann = shop.user(1001, "Ann")
    admin = admin_user(shop)
    await admin.send_text("/admin")
    menu = await admin.wait_for_message(contains="Admin console")
    await admin.press("⚙️ Settings", menu)
    settings = await admin.wait_for_message(contains="Shop settings", edited=True)
    assert "Maintenance: off" in settings.text
    await admin.press("🚧 Pause orders", settings)
    await admin.wait_for_message(contains="Send the message customers will see")
    await admin.send_text("Back at 18:00 <promise>")
    await admin.wait_for_message(contains="Maintenance is on")

    await ann.send_text("/order 1")
    paused = await ann.wait_for_message(contains="Back at 18:00 <promise>")
    assert "Send the link" not in paused.text

    await admin.send_text("/maintenance")  # where it stands, and how to change it
    status = await admin.wait_for_message(contains="Maintenance: 🚧 on — new orders are paused")
    assert "Back at 18:00 <promise>" in status.text and "/maintenance off" in status.text
    await admin.send_text("/maintenance off")
    await admin.wait_for_message(contains="Maintenance is off")
    await ann.send_text("/order 1")
    await ann.wait_for_message(contains="Send the link")
    assert [row.action for row in await audit_rows(shop)] == [
        "admin.menu",
        "settings.view",
        "settings.maintenance",
        "settings.maintenance",
    ]


async def test_markup_from_the_menu(shop: Shop) -> None:
    ann = shop.user(1001, "Ann")
    admin = admin_user(shop)
    await admin.send_text("/shopsettings")
    settings = await admin.wait_for_message(contains="Shop settings")
    assert "Shop-wide markup: 50%" in settings.text
    await admin.press("💹 Shop-wide markup", settings)
    await admin.wait_for_message(contains="The shop-wide markup is 50%")
    await admin.send_text("a lot")
    await admin.wait_for_message(contains="“a lot” is not a markup")
    await admin.send_text("0")
    await admin.wait_for_message(contains="Shop-wide markup is now 0%")
    summary = await fill_order_form(ann)
    assert "0.72 USD" in summary.text  # the panel's rate, no markup


async def test_the_audit_log_says_what_each_action_was_in_the_admins_language(shop: Shop) -> None:
    admin = admin_user(shop)
    await admin.send_text("/services")
    await admin.wait_for_message(contains="Choose a platform")
    await admin.send_text("/admin")
    await admin.wait_for_message(contains="Admin console")
    await service(shop, "audit").record(ADMIN_ID, "future.thing", n=1)  # one this version has no words for
    await admin.send_text("/audit")
    log = await admin.wait_for_message(contains="Recent admin actions")
    assert "opened the admin console" in log.text and "admin.menu" not in log.text
    assert "future.thing n=1" in log.text  # the raw key rather than nothing

    await admin.send_text("/settings")
    await admin.press("Русский", await admin.wait_for_message(lambda m: "Русский" in m.button_texts))
    await admin.wait_for_message(edited=None)
    await admin.send_text("/audit")
    log = await admin.wait_for_message(lambda m: "посмотрел журнал действий" in m.text)
    assert "открыл админ-панель" in log.text and "admin.audit" not in log.text
