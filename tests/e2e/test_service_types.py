"""Every service type's form asks what that type needs and places the order the panel expects."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import Shop

# (service id, answers, what the panel must have received). An answer starting with "press:" presses a button.
CASES: list[tuple[str, str, list[str], dict[str, Any]]] = [
    ("default", "1", ["https://instagram.com/a", "1000"], {"quantity": "1000"}),
    (
        "default with drip-feed",
        "2",
        ["https://instagram.com/a", "press:Yes, in runs", "100", "5", "30"],
        {"quantity": "100", "runs": "5", "interval": "30"},
    ),
    (
        "default drip-feed declined",
        "2",
        ["https://instagram.com/a", "press:No, all at once", "500"],
        {"quantity": "500"},
    ),
    (
        "custom comments",
        "41",
        ["https://instagram.com/p/1", "Great!\nLove it\n\nSo cool\nWow\nNice one"],
        {"comments": "Great!\nLove it\nSo cool\nWow\nNice one"},
    ),
    ("custom comments package", "43", ["https://instagram.com/p/1", "one\ntwo"], {"comments": "one\ntwo"}),
    (
        "mentions",
        "45",
        ["https://instagram.com/p/1", "100", "@alice\nbob"],
        {"usernames": "alice\nbob", "quantity": "100"},
    ),
    (
        "mentions with hashtags",
        "47",
        ["https://instagram.com/p/1", "100", "alice", "#sun\nsea"],
        {"usernames": "alice", "hashtags": "#sun\n#sea"},
    ),
    (
        "mentions custom list",
        "49",
        ["https://instagram.com/p/1", "\n".join(f"user{i}" for i in range(10))],
        {},
    ),
    ("mentions hashtag", "51", ["https://instagram.com/p/1", "100", "summer"], {"hashtag": "#summer"}),
    ("mentions user followers", "53", ["https://instagram.com/p/1", "100", "@nasa"], {"username": "nasa"}),
    (
        "mentions media likers",
        "55",
        ["https://instagram.com/p/1", "100", "https://instagram.com/p/2"],
        {"media": "https://instagram.com/p/2"},
    ),
    (
        "comment likes",
        "57",
        ["https://instagram.com/p/1", "20", "@owner"],
        {"username": "owner", "quantity": "20"},
    ),
    (
        "comment replies",
        "59",
        ["https://instagram.com/p/1", "@owner", "hi\nhello\nhey\nyo\nsup"],
        {"username": "owner", "comments": "hi\nhello\nhey\nyo\nsup"},
    ),
    (
        "subscriptions",
        "61",
        ["@brand", "50", "100", "4", "press:30 min", "press:Skip"],
        {"username": "brand", "min": "50", "max": "100", "posts": "4", "delay": "30"},
    ),
    ("package", "63", ["https://instagram.com/brand"], {"link": "https://instagram.com/brand"}),
    ("seo", "141", ["https://youtube.com/watch?v=x", "1000", "cats\ndogs"], {"keywords": "cats\ndogs"}),
    ("poll", "143", ["https://youtube.com/post/1", "100", "2"], {"answer_number": "2"}),
    (
        "invites from groups",
        "171",
        ["https://t.me/mygroup", "100", "@group1\n@group2"],
        {"groups": "@group1\n@group2"},
    ),
    (
        "web traffic",
        "267",
        ["https://example.com", "500", "US", "press:Android", "press:Google", "best shoes"],
        {"country": "US", "device": "2", "type_of_traffic": "1", "google_keyword": "best shoes"},
    ),
]


@pytest.mark.parametrize(("name", "service_id", "answers", "sent"), CASES, ids=[c[0] for c in CASES])
async def test_service_type_happy_path(
    shop: Shop, name: str, service_id: str, answers: list[str], sent: dict[str, Any]
) -> None:
    ann = shop.user(1001, "Ann")
    await shop.fund(1001, "1000")
    await ann.send_text(f"/order {service_id}")
    await ann.wait_for_message(contains=f"(#{service_id})")
    for answer in answers:
        if answer.startswith("press:"):
            await ann.press(answer.removeprefix("press:"))
        else:
            await ann.send_text(answer)
        reply = await ann.wait_for_message()
        assert "⚠️" not in reply.text, f"{name}: {answer!r} was refused: {reply.text}"
    assert "Check your order" in reply.text
    if "runs" in sent:
        assert f"Quantity: {sent['quantity']} per run" in reply.text
    await ann.press("Confirm")
    placed = await ann.wait_for_message(contains="is placed")
    assert f"#{service_id}" in placed.text
    assert shop.sim.state.count("add") == 1
    params = next(p for action, p in shop.sim.state.requests if action == "add")
    assert params["service"] == service_id
    for key, value in sent.items():
        assert params.get(key) == value, f"{name}: panel got {key}={params.get(key)!r}"
