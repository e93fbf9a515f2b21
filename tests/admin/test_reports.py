"""What admins look at: statistics, the chart (a real PNG), the panel balance, orders to settle."""

from __future__ import annotations

import io
from datetime import date, timedelta
from decimal import Decimal

from PIL import Image

from bot.services.admin.chart import BAR, HEIGHT, LINE, TEXT, WIDTH, ChartLabels, render_chart
from bot.services.admin.panel import run_panel_check
from tests.admin.conftest import Shop, admin_user, audit_rows, service
from tests.e2e.flows import place_order


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height of a PNG that Pillow reads in full."""
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "PNG"
        image.load()
        return image.size


def colours(data: bytes) -> set[tuple[int, int, int]]:
    with Image.open(io.BytesIO(data)) as image:
        return {colour for _count, colour in image.convert("RGB").getcolors(WIDTH * HEIGHT) or []}


LABELS = ChartLabels("Orders and revenue", "Orders", "Revenue, USD", "Day", "No orders")


def test_the_chart_draws_bars_a_line_and_words() -> None:
    days = [date(2026, 11, 1) + timedelta(days=i) for i in range(30)]
    orders = [i % 4 for i in range(30)]
    revenue = [Decimal(i % 7) / 3 for i in range(30)]
    png = render_chart(days, orders, revenue, LABELS)
    assert png_size(png) == (WIDTH, HEIGHT)
    found = colours(png)
    assert BAR in found and LINE in found and TEXT in found  # bars, the revenue line, the words
    blank = render_chart(days, [0] * 30, [Decimal(0)] * 30, LABELS)
    assert BAR not in colours(blank) and LINE not in colours(blank)  # the "no data" picture
    assert TEXT in colours(render_chart([], [], [], LABELS))  # at least its title


def test_the_chart_in_russian_uses_a_font_with_cyrillic() -> None:
    """Each word gets its own glyphs (DejaVu Sans): two different titles draw two different pictures."""
    days = [date(2026, 11, 1)]
    russian = ChartLabels("Заказы и выручка", "Заказы", "Выручка, RUB", "День", "Нет заказов")
    other = ChartLabels("Выручка и заказы", "Заказы", "Выручка, RUB", "День", "Нет заказов")
    first = render_chart(days, [1], [Decimal(1)], russian)
    assert png_size(first) == (WIDTH, HEIGHT)
    assert first != render_chart(days, [1], [Decimal(1)], other)


async def test_stats_and_chart_after_two_orders(shop: Shop) -> None:
    ann = shop.user(1001, "Ann")
    await shop.fund(1001, "10")
    await place_order(ann, "https://instagram.com/ann/1")
    await place_order(ann, "https://instagram.com/ann/2")
    admin = admin_user(shop)

    await admin.send_text("/stats")
    stats = await admin.wait_for_message(contains="Statistics")
    text = stats.text
    assert "👥 2 users" in text  # Ann and the admin
    assert "Today: 2 orders · revenue 2.16 USD · supplier cost 1.44 USD · profit 0.72 USD" in text
    assert "30 days: 2 orders" in text
    assert "1. Instagram Followers - Cheapest [No Refill] (#1) — 2 orders, 2.16 USD" in text
    assert "unknown outcome 0 · stuck 0" in text

    await admin.press("📈 Chart", stats)
    chart = await admin.wait_for_message(lambda m: m.has_photo)
    assert chart.photo_is_png
    assert chart.photo is not None and png_size(chart.photo) == (900, 460)
    assert shop.tg.stats.calls["sendPhoto"] == 1
    assert "last 30 days" in chart.text and "Total: 2 orders, 2.16 USD." in chart.text
    await admin.send_text("/chart")
    await admin.wait_for_message(lambda m: m.has_photo and m.photo_is_png)
    assert [row.action for row in await audit_rows(shop)] == ["report.stats", "report.chart", "report.chart"]


async def test_panel_balance_and_a_single_warning_per_drop(shop: Shop) -> None:
    admin = admin_user(shop)
    await admin.send_text("/panel")
    shown = await admin.wait_for_message(contains="Panel balance")
    assert "1000.00 USD" in shown.text and "Warning below: 10.00 USD" in shown.text

    monitor = service(shop, "panel_monitor")
    shop.sim.state.balance = Decimal("4.5")
    await run_panel_check(monitor)  # the scheduled job
    warning = await admin.wait_for_message(contains="The panel balance is low")
    assert "4.50 USD (warning below 10.00 USD)" in warning.text
    await run_panel_check(monitor)
    await admin.assert_no_new_messages(0.2)  # still low: no second warning

    shop.sim.state.balance = Decimal("50")
    await run_panel_check(monitor)
    await admin.assert_no_new_messages(0.2)
    shop.sim.state.balance = Decimal("2")
    await run_panel_check(monitor)
    await admin.wait_for_message(contains="2.00 USD (warning below")  # a new drop: warned again

    await admin.send_text("/panel")
    low = await admin.wait_for_message(contains="Panel balance")
    assert "below the threshold" in low.text


async def test_unknown_outcomes_attach_or_refund(shop: Shop) -> None:
    ann = shop.user(1001, "Ann")
    await shop.fund(1001, "10")
    state = shop.sim.state
    known = set(state.orders)
    state.inject_fault("add", "http500_after_commit")  # the order exists upstream, the reply is lost
    await place_order(ann, "https://instagram.com/ann/1", expect="being checked")
    upstream_id = (set(state.orders) - known).pop()
    state.inject_fault("add", "http500")  # never reached the panel's books
    await place_order(ann, "https://instagram.com/ann/2", expect="being checked")
    assert await shop.balance(1001) == (Decimal("7.8400"), Decimal("7.8400"))

    admin = admin_user(shop)
    await admin.send_text("/problems")
    listing = await admin.wait_for_message(contains="Orders to settle")
    assert "#1 · user 1001" in listing.text and "#2 · user 1001" in listing.text

    await admin.press("🔗 Attach #1", listing)
    await admin.wait_for_message(contains="Send the supplier's order id for order #1")
    await admin.send_text("999999")
    await admin.wait_for_message(contains="The panel does not know order 999999")
    await admin.send_text(upstream_id)
    await admin.wait_for_message(contains=f"Order #1 is now tracked as supplier order {upstream_id}")

    await admin.send_text("/problems")
    listing = await admin.wait_for_message(contains="Orders to settle")
    assert "#1 · user 1001" not in listing.text
    await admin.press("#2 not placed", listing)
    confirm = await admin.wait_for_message(
        contains="Mark order #2 as not placed and refund 1.08 USD", edited=True
    )
    await admin.press("✅ Yes, refund", confirm)
    await admin.wait_for_message(contains="Order #2 is marked as not placed; 1.08 USD refunded", edited=True)
    await ann.wait_for_message(contains="did not reach the supplier", timeout=10)
    assert await shop.balance(1001) == (Decimal("8.9200"), Decimal("8.9200"))

    await admin.send_text("/problems")
    await admin.wait_for_message(contains="Nothing to settle")
    actions = [(row.action, row.args.get("outcome")) for row in await audit_rows(shop)]
    assert ("order.attach", "upstream_not_found") in actions
    assert ("order.attach", "done") in actions
    assert ("order.not_placed", "done") in actions
