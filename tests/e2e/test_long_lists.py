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
    assert "В сообщении 1 строка," in one.text
    await ivan.send_text("первый\nвторой")
    two = await ivan.wait_for_message(contains="от 5 до 1000")
    assert "В сообщении 2 строки," in two.text
    await ivan.send_text("\n".join(["x"] * 1005))
    many = await ivan.wait_for_message(contains="от 5 до 1000")
    assert "В сообщении 1005 строк," in many.text
    await ivan.send_text("\n".join(["x"] * 1001))
    again_one = await ivan.wait_for_message(contains="от 5 до 1000")
    assert "В сообщении 1001 строка," in again_one.text
