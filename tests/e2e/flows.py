"""Customer steps many tests take on the way to what they check: one copy of each."""

from __future__ import annotations

from sandbox.telegram_server import FakeMessage, FakeUser
from tests.e2e.conftest import Shop

LINK = "https://instagram.com/ann"


async def fill_order_form(user: FakeUser, link: str = LINK, quantity: str = "1000") -> FakeMessage:
    """`/order 1` (the simulator's Instagram followers), the link and the quantity: the summary."""
    await user.send_text("/order 1")
    await user.wait_for_message(contains="Send the link")
    await user.send_text(link)
    await user.wait_for_message(contains="How many")
    await user.send_text(quantity)
    return await user.wait_for_message(contains="Check your order")


async def place_order(
    user: FakeUser, link: str = LINK, quantity: str = "1000", *, expect: str = "is placed"
) -> FakeMessage:
    """The form filled in and confirmed: the message that says what became of the order."""
    await fill_order_form(user, link, quantity)
    await user.press("Confirm")
    return await user.wait_for_message(contains=expect)


async def fill_followers_form(shop: Shop, user_id: int = 1001, quantity: str = "1000") -> FakeMessage:
    """The form of customer `user_id` at its summary (Confirm is the test's own step)."""
    return await fill_order_form(shop.tg.user(user_id), quantity=quantity)
