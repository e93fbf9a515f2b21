"""Line-list answers (custom comments, usernames…) and the counts the bot says about them (issue #15):
plural forms in English and Russian. Through the fake Bot API and the panel simulator."""

from __future__ import annotations

from sandbox.telegram_server import FakeUser
from tests.e2e.conftest import Shop

COMMENTS_SERVICE = "41"  # Instagram Custom Comments: 5 to 1000 lines


async def open_comments_form(user: FakeUser, prompt: str = "Send the comments") -> None:
    await user.send_text(f"/order {COMMENTS_SERVICE}")
    await user.wait_for_message(contains=f"(#{COMMENTS_SERVICE})")
    await user.send_text("https://instagram.com/p/1")
    await user.wait_for_message(contains=prompt)


async def test_line_counts_use_the_english_plural(shop: Shop) -> None:
    ann = shop.user(1001, "Ann")
    await open_comments_form(ann)
    await ann.send_text("just one")
    one = await ann.wait_for_message(contains="between 5 and 1000")
    assert "You sent 1 line;" in one.text
    await ann.send_text("first\nsecond")
    two = await ann.wait_for_message(contains="between 5 and 1000")
    assert "You sent 2 lines;" in two.text


async def test_line_counts_use_the_three_russian_plural_forms(shop: Shop) -> None:
    ivan = shop.user(1002, "Иван", language_code="ru")
    await open_comments_form(ivan, prompt="Отправьте комментарии")
    await ivan.send_text("один")
    one = await ivan.wait_for_message(contains="от 5 до 1000")
    assert "В ответе 1 строка," in one.text
    await ivan.send_text("первый\nвторой")
    two = await ivan.wait_for_message(contains="от 5 до 1000")
    assert "В ответе 2 строки," in two.text
    await ivan.send_text("\n".join(["x"] * 1005))
    many = await ivan.wait_for_message(contains="от 5 до 1000")
    assert "В ответе 1005 строк," in many.text
    await ivan.send_text("\n".join(["x"] * 1001))
    again_one = await ivan.wait_for_message(contains="от 5 до 1000")
    assert "В ответе 1001 строка," in again_one.text


async def test_a_txt_file_of_1000_comments_fills_the_field(shop: Shop) -> None:
    """1000 comments are ~20 KB: far over a message's 4096 characters, one document."""
    ann = shop.user(1001, "Ann")
    await shop.fund(1001, "50")
    await ann.send_text(f"/order {COMMENTS_SERVICE}")
    await ann.wait_for_message(contains=f"(#{COMMENTS_SERVICE})")
    await ann.send_text("https://instagram.com/p/1")
    prompt = await ann.wait_for_message(contains="Send the comments")
    assert ".txt file" in prompt.text
    comments = [f"Great post number {i}, love it!" for i in range(1, 1001)]
    body = ("\ufeff" + "\r\n".join(comments) + "\r\n").encode()  # as Notepad saves it
    assert len(body) > 4096 * 4
    await ann.send_document(body, "comments.txt", "text/plain")
    summary = await ann.wait_for_message(contains="Check your order")
    assert "Great post number 1, love it!" in summary.text and "and 995 more" in summary.text
    assert "Price: 18.00 USD" in summary.text  # 1000 lines at 18.00 per 1000
    await ann.press("Confirm", summary)
    await ann.wait_for_message(contains="is placed")
    (order,) = shop.sim.state.orders.values()
    sent = order.params["comments"].split("\n")
    assert sent == comments  # no byte-order mark, no \r, every line


async def test_a_wrong_file_gets_a_clear_message_and_the_form_goes_on(shop: Shop) -> None:
    ann = shop.user(1001, "Ann")
    await shop.fund(1001, "50")
    await ann.send_text(f"/order {COMMENTS_SERVICE}")
    await ann.wait_for_message(contains=f"(#{COMMENTS_SERVICE})")
    await ann.send_document(b"first\nsecond\n", "links.txt", "text/plain")  # at the link question
    refused = await ann.wait_for_message(contains="can only answer a list question")
    assert "Send the link" in refused.text
    await ann.send_text("https://instagram.com/p/1")
    await ann.wait_for_message(contains="Send the comments")

    await ann.send_document(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "comments.pdf", "application/pdf")
    refused = await ann.wait_for_message(contains="Only a plain-text .txt file")
    assert "Send the comments" in refused.text  # the same question again
    await ann.send_document(b"nice\n" * 60_000, "huge.txt", "text/plain")  # 300 KB
    await ann.wait_for_message(contains="too big: at most 256 KB")
    await ann.send_document("café\nbon\n".encode("latin-1"), "latin.txt", "text/plain")
    await ann.wait_for_message(contains="Could not read the file as text")
    await ann.send_document(b"\x00\x01\x02binary", "data.txt", None)
    await ann.wait_for_message(contains="Could not read the file as text")

    await ann.send_text("one\ntwo\nthree\nfour\nfive")
    summary = await ann.wait_for_message(contains="Check your order")
    assert "Price: 0.09 USD" in summary.text
    assert shop.sim.state.count("add") == 0
