"""Referrals: a link with a random code, bound once on the first start and never to oneself; the
referrer earns on completed orders, and a refund takes the earning back pro rata."""

from __future__ import annotations

import re
from decimal import Decimal

from sandbox.telegram_server import BOT_USERNAME, FakeUser
from tests.e2e.flows import fill_followers_form
from tests.growth.conftest import ADMIN_ID, PayShop

LINK = re.compile(rf"https://t\.me/{BOT_USERNAME}\?start=(ref_[a-z0-9]+)")


async def referral_link(user: FakeUser) -> str:
    await user.send_text("/referrals")
    screen = await user.wait_for_message(contains="Your link")
    found = LINK.search(screen.text)
    assert found, screen.text
    return found.group(1)


async def test_a_referee_is_bound_once_on_the_first_start_and_never_to_themselves(pay_shop: PayShop) -> None:
    ann = await pay_shop.customer(1001, "Ann")
    payload = await referral_link(ann)
    assert payload.removeprefix("ref_") != "1001"  # not the Telegram id
    await ann.send_text(f"/start {payload}")
    await ann.wait_for_message(contains="your own invitation link")

    bob = pay_shop.user(1002, "Bob")
    await bob.send_text(f"/start {payload}")  # his very first message
    await bob.wait_for_message(contains="Bob")  # the usual welcome first
    await bob.wait_for_message(contains="joined through a friend's invitation")
    carol = await pay_shop.customer(1003, "Carol")  # used the bot before following the link
    await carol.send_text(f"/start {payload}")
    await carol.wait_for_message(contains="only for a first visit")
    bob_payload = await referral_link(bob)
    dan = pay_shop.user(1004, "Dan")
    await dan.send_text("/start ref_zzzzzzzz")  # an unknown code: just the welcome
    await dan.wait_for_message(contains="Dan")
    await dan.assert_no_new_messages(0.3)
    await bob.send_text(f"/start {bob_payload}")
    await bob.wait_for_message(contains="your own invitation link")

    await ann.send_text("/referrals")
    screen = await ann.wait_for_message(contains="Your link")
    assert "1 friend joined." in screen.text and "5%" in screen.text


async def test_earning_on_completion_is_reversed_pro_rata_by_a_partial_refund(pay_shop: PayShop) -> None:
    boss = pay_shop.user(ADMIN_ID, "Boss", username="boss")
    await boss.send_text("/refpercent 10")
    await boss.wait_for_message(contains="Referral reward: 10%")
    ann = await pay_shop.customer(1001, "Ann")
    payload = await referral_link(ann)
    bob = pay_shop.user(1002, "Bob")
    await bob.send_text(f"/start {payload}")
    await bob.wait_for_message(contains="joined through a friend's invitation")
    await pay_shop.fund(1002, "30", first_name="Bob")
    state = pay_shop.sim.state

    known = set(state.orders)
    await fill_followers_form(pay_shop, user_id=1002, quantity="10000")  # 10.80 USD
    await bob.press("Confirm")
    await bob.wait_for_message(contains="is placed")
    first = (set(state.orders) - known).pop()
    state.complete(first)
    await bob.wait_for_message(contains="is completed", timeout=10)
    assert await pay_shop.balance(1001) == (Decimal("1.0800"), Decimal("1.0800"))  # 10% of 10.80

    known = set(state.orders)
    await fill_followers_form(pay_shop, user_id=1002, quantity="10000")
    await bob.press("Confirm")
    await bob.wait_for_message(contains="is placed")
    second = (set(state.orders) - known).pop()
    state.make_partial(second, remains=2500)  # a quarter undelivered: 2.70 back to Bob
    partial = await bob.wait_for_message(contains="only partly delivered", timeout=10)
    assert "2.70 USD was returned" in partial.text
    # +1.08 earned on the order, −0.27 (a quarter of it) reversed with the refund
    assert await pay_shop.balance(1001) == (Decimal("1.8900"), Decimal("1.8900"))
    assert await pay_shop.balance(1002) == (Decimal("11.1000"), Decimal("11.1000"))

    await ann.send_text("/balance")
    wallet = await ann.wait_for_message(contains="Your balance")
    assert "Reward taken back (the friend's order was refunded): −0.27 USD" in wallet.text
    assert wallet.text.count("Reward for an invited friend's order: +1.08 USD") == 2
    await ann.send_text("/referrals")
    screen = await ann.wait_for_message(contains="Your link")
    assert "Earned: 1.89 USD" in screen.text

    await boss.send_text("/refpercent 0")  # the owner turns referral pay off
    await boss.wait_for_message(contains="Referral reward: 0%")
    known = set(state.orders)
    await fill_followers_form(pay_shop, user_id=1002, quantity="1000")
    await bob.press("Confirm")
    await bob.wait_for_message(contains="is placed")
    state.complete((set(state.orders) - known).pop())
    await bob.wait_for_message(contains="is completed", timeout=10)
    assert await pay_shop.balance(1001) == (Decimal("1.8900"), Decimal("1.8900"))
