"""Support conversations: customers' messages reach every admin with a Reply button; the first admin
to reply takes the ticket, the others see who did; a reply reaches that ticket's customer only."""

from __future__ import annotations

from tests.admin.conftest import send_photo
from tests.growth.conftest import ADMIN_ID, PayShop

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)
DEPUTY = 901


async def test_a_reply_reaches_the_right_customer_with_two_tickets_open(pay_shop: PayShop) -> None:
    await pay_shop.restart(admin_ids=[ADMIN_ID, DEPUTY])
    boss = pay_shop.user(ADMIN_ID, "Boss", username="boss")
    deputy = pay_shop.user(DEPUTY, "Deputy")
    ann = await pay_shop.customer(1001, "Ann")
    bob = await pay_shop.customer(1002, "Bob", username="bobby")

    await ann.send_text("/support")
    await ann.wait_for_message(contains="Write your question")
    await ann.send_text("My order <b>#5</b> is late")
    sent = await ann.wait_for_message(contains="Sent to support")
    assert "ticket #1" in sent.text
    boss_ann = await boss.wait_for_message(contains="Ticket #1")
    deputy_ann = await deputy.wait_for_message(contains="Ticket #1")
    assert "Ann (1001)" in boss_ann.text and "My order <b>#5</b> is late" in boss_ann.text
    assert {"↩️ Reply", "✅ Close"} <= set(boss_ann.button_texts)

    await bob.send_text("/start")
    menu = await bob.wait_for_message(contains="Bob")
    await bob.press("🆘 Contact support", menu)
    await bob.wait_for_message(contains="Write your question")
    send_photo(pay_shop.tg, bob, PNG, caption="see the screenshot")
    await bob.wait_for_message(contains="ticket #2")
    boss_bob = await boss.wait_for_message(contains="Ticket #2")
    deputy_bob = await deputy.wait_for_message(contains="Ticket #2")
    assert (
        boss_bob.has_photo and "Bob (@bobby, 1002)" in boss_bob.text and "see the screenshot" in boss_bob.text
    )

    await boss.press("↩️ Reply", boss_bob)  # the boss takes Bob's ticket first
    await boss.wait_for_message(contains="Write your reply to ticket #2")
    taken = await deputy.wait_for_message(lambda m: m.message_id == deputy_bob.message_id, edited=True)
    assert "Boss (@boss, 900) is answering" in taken.text and "↩️ Reply" not in taken.button_texts
    await deputy.press_data("tk:reply:2", deputy_bob)  # a Reply pressed on a stale copy
    answer = await deputy.wait_for_answer()
    assert answer.answer_text is not None and "Boss (@boss, 900) is already answering" in answer.answer_text
    await deputy.press("↩️ Reply", deputy_ann)
    await deputy.wait_for_message(contains="Write your reply to ticket #1")

    await boss.send_text("Refunded, <b>sorry</b>!")
    done = await boss.wait_for_message(contains="Reply sent")
    assert "Bob" in done.text and "ticket #2" in done.text
    reply = await bob.wait_for_message(contains="Support")
    assert "(ticket #2)" in reply.text and "Refunded, <b>sorry</b>!" in reply.text  # as typed
    await ann.assert_no_new_messages(0.3)  # nothing of Bob's ticket reaches Ann
    await deputy.send_text("Ann, it starts in an hour")
    await deputy.wait_for_message(contains="Reply sent")
    to_ann = await ann.wait_for_message(contains="Support")
    assert "(ticket #1)" in to_ann.text and "starts in an hour" in to_ann.text

    await boss.send_text("/tickets")
    listing = await boss.wait_for_message(contains="Support tickets")
    assert "#1 · Ann (1001)" in listing.text and "Answered by Deputy (901)" in listing.text
    assert "#2 · Bob (@bobby, 1002)" in listing.text

    await ann.send_text("Thanks! One more thing")  # still writing to support: the same ticket
    await ann.wait_for_message(contains="ticket #1")
    reopened = await deputy.wait_for_message(contains="One more thing")
    assert "Deputy (901) is answering" in reopened.text
    await boss.press("✅ Close", boss_bob)
    await boss.wait_for_answer()
    closed = await bob.wait_for_message(contains="is closed")
    assert "#2" in closed.text
    await bob.press("✅ Done")
    await bob.wait_for_message(contains="answer will come in this chat")
    await bob.send_text("/support")
    await bob.wait_for_message(contains="Write your question")
    await bob.send_text("A new question")
    await bob.wait_for_message(contains="ticket #3")  # a closed ticket is not reopened


async def test_support_refuses_stickers_and_works_without_admins(pay_shop: PayShop) -> None:
    await pay_shop.restart(admin_ids=[])
    ann = await pay_shop.customer()
    await ann.send_text("/support")
    await ann.wait_for_message(contains="Write your question")
    await ann.send_text("   ")
    await ann.wait_for_message(contains="send text, a photo or a document")
    await ann.send_text("Anybody there?")
    await ann.wait_for_message(contains="Saved in ticket #1")
