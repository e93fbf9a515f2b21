"""Manual top-ups: the owner adds a method in the admin console, a customer sends the amount and a
receipt, the admins approve or reject it; whoever presses first decides, and it is credited once."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from sandbox.telegram_server import FakeUser
from storage.models import TopUpStatus
from tests.admin.conftest import audit_rows, send_photo
from tests.topups.conftest import ADMIN_ID, PayShop, add_manual_method

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)
SECOND_ADMIN = 901


async def test_owner_adds_a_method_in_two_languages_from_the_console(pay_shop: PayShop) -> None:
    boss = pay_shop.user(ADMIN_ID, "Boss", username="boss")
    await boss.send_text("/admin")
    await boss.wait_for_message(contains="Admin")
    await boss.press("Payments")
    screen = await boss.wait_for_message(contains="Payment methods")
    assert "Telegram Stars: on" in screen.text and "Crypto Pay: on" in screen.text
    await boss.press("Add a payment method")
    await boss.wait_for_message(contains="name in English")
    await boss.send_text("Bank card")
    await boss.wait_for_message(contains="instructions in English")
    await boss.send_text("Pay to card 4242 4242 4242 4242 <Alfa>")
    await boss.wait_for_message(contains="name in Русский")
    await boss.send_text("Банковская карта")
    await boss.wait_for_message(contains="instructions in Русский")
    await boss.press("Same as English")
    added = await boss.wait_for_message(contains="added")
    assert "Bank card" in added.text
    assert any(row.action == "topup.method_add" for row in await audit_rows(pay_shop))

    ivan = await pay_shop.customer(1002, "Ivan", language_code="ru")
    await ivan.send_text("/topup")
    await ivan.wait_for_message(contains="Пополнение баланса")
    await ivan.send_text("20")
    methods = await ivan.wait_for_message(contains="Как хотите оплатить")
    assert "Банковская карта" in methods.button_texts
    await ivan.press("Банковская карта")
    instructions = await ivan.wait_for_message(contains="Банковская карта")
    assert "Pay to card 4242 4242 4242 4242 <Alfa>" in instructions.text  # the English text, kept as typed

    await boss.send_text("/paymethods")
    await boss.wait_for_message(contains="Bank card — shown")
    await boss.press("Hide Bank card")
    await boss.wait_for_message(contains="Bank card — hidden")
    await ivan.send_text("/topup")
    await ivan.wait_for_message(contains="Пополнение баланса")
    await ivan.send_text("20")
    methods = await ivan.wait_for_message(contains="Как хотите оплатить")
    assert "Банковская карта" not in methods.button_texts


async def request_top_up(shop: PayShop, user: FakeUser, amount: str = "25") -> None:
    await user.send_text("/topup")
    await user.wait_for_message(contains="Top up your balance")
    await user.send_text(amount)
    await user.wait_for_message(contains="How would you like to pay")
    await user.press("Bank card")
    await user.wait_for_message(contains="send here a photo of the receipt")


async def test_a_receipt_goes_to_every_admin_and_a_double_approve_credits_once(pay_shop: PayShop) -> None:
    await pay_shop.restart(admin_ids=[ADMIN_ID, SECOND_ADMIN])
    await add_manual_method(pay_shop)
    boss = pay_shop.user(ADMIN_ID, "Boss", username="boss")
    deputy = pay_shop.user(SECOND_ADMIN, "Deputy")
    ann = await pay_shop.customer()
    await request_top_up(pay_shop, ann)
    send_photo(pay_shop.tg, ann, PNG, caption="paid from card *1234")
    sent = await ann.wait_for_message(contains="is sent to the admins")
    assert "25.00 USD" in sent.text
    copies = [
        await boss.wait_for_message(contains="Top-up request #"),
        await deputy.wait_for_message(contains="Top-up request #"),
    ]
    for copy in copies:
        assert copy.kind == "photo"
        assert "25.00 USD" in copy.text and "paid from card *1234" in copy.text and "Ann" in copy.text
        assert copy.button_texts == ["✅ Approve", "❌ Reject"]

    # Both admins press Approve at the same moment.
    await asyncio.gather(boss.press("Approve", copies[0]), deputy.press("Approve", copies[1]))
    answers = [await boss.wait_for_answer(), await deputy.wait_for_answer()]
    texts = sorted(a.answer_text or "" for a in answers)
    assert sum("credited" in text for text in texts) == 1
    assert sum("approved already" in text for text in texts) == 1
    credited = await ann.wait_for_message(contains="credited")
    assert "+25.00 USD" in credited.text
    await ann.assert_no_new_messages(within=0.5)
    assert await pay_shop.balance(1001) == (Decimal("25.0000"), Decimal("25.0000"))

    # Every admin's copy now says who decided, without buttons.
    for admin in (boss, deputy):
        current = admin.messages[-1]
        assert "Approved by" in current.text and not current.keyboard
    topup = (await pay_shop.topups.history(1001))[0]
    assert topup.status == TopUpStatus.PAID and topup.decided_by in (ADMIN_ID, SECOND_ADMIN)


async def test_a_rejected_receipt_is_told_and_cannot_be_approved_later(pay_shop: PayShop) -> None:
    await add_manual_method(pay_shop)
    boss = pay_shop.user(ADMIN_ID, "Boss", username="boss")
    ann = await pay_shop.customer()
    await request_top_up(pay_shop, ann, "40")
    await ann.send_text("Transfer #998877 from Ann Smith")
    await ann.wait_for_message(contains="is sent to the admins")
    copy = await boss.wait_for_message(contains="Top-up request #")
    assert copy.kind == "text" and "Transfer #998877" in copy.text
    await boss.press("Reject", copy)
    answer = await boss.wait_for_answer()
    assert answer.answer_text is not None and "rejected" in answer.answer_text
    told = await ann.wait_for_message(contains="was declined")
    assert "40.00 USD" in told.text
    assert "Rejected by Boss" in boss.messages[-1].text
    await boss.press_data(f"atu:{(await pay_shop.topups.history(1001))[0].id}:approve", boss.messages[-1])
    late = await boss.wait_for_answer()
    assert late.answer_text is not None and "rejected already" in late.answer_text
    assert await pay_shop.balance(1001) == (Decimal("0.0000"), Decimal("0.0000"))


async def test_pending_requests_list_and_bad_receipts(pay_shop: PayShop) -> None:
    await add_manual_method(pay_shop)
    boss = pay_shop.user(ADMIN_ID, "Boss")
    ann = await pay_shop.customer()
    await request_top_up(pay_shop, ann, "15")
    pay_shop.tg.push_update(
        {
            "message": {
                "message_id": 999,
                "date": 1_700_000_000,
                "chat": {"id": 1001, "type": "private", "first_name": "Ann"},
                "from": ann.to_api(),
                "sticker": {
                    "file_id": "STK1",
                    "file_unique_id": "STK1u",
                    "type": "regular",
                    "width": 1,
                    "height": 1,
                    "is_animated": False,
                    "is_video": False,
                },
            }
        }
    )
    await ann.wait_for_message(contains="send a photo of the receipt")
    await ann.send_text("paid")
    await ann.wait_for_message(contains="is sent to the admins")
    await boss.send_text("/topups")
    listing = await boss.wait_for_message(contains="waiting for a decision")
    assert "15.00 USD" in listing.text and "Bank card" in listing.text
    topup_id = (await pay_shop.topups.history(1001))[0].id
    await boss.press(f"✅ #{topup_id}", listing)
    await ann.wait_for_message(contains="credited")
    assert await pay_shop.balance(1001) == (Decimal("15.0000"), Decimal("15.0000"))


async def test_cancel_a_manual_top_up_before_the_receipt(pay_shop: PayShop) -> None:
    await add_manual_method(pay_shop)
    ann = await pay_shop.customer()
    await request_top_up(pay_shop, ann)
    await ann.press("Cancel")
    await ann.wait_for_message(contains="Top-up cancelled")
    await ann.send_text("a receipt, too late")
    await ann.wait_for_message(contains="Nothing found")
    assert await pay_shop.topups.history(1001) == []
