"""MarkdownV2 / legacy Markdown parsing with Telegram's reserved-character rules."""

from __future__ import annotations

import pytest

from sandbox.telegram_html import HtmlParseError
from sandbox.telegram_markdown import escape_markdown_v2, parse_markdown, parse_markdown_v2


@pytest.mark.parametrize(
    ("source", "text", "entities"),
    [
        (r"*bold \*text*", "bold *text", [{"type": "bold", "offset": 0, "length": 10}]),
        (
            "_italic_ __under__",
            "italic under",
            [
                {"type": "italic", "offset": 0, "length": 6},
                {"type": "underline", "offset": 7, "length": 5},
            ],
        ),
        (
            "~s~ ||sp||",
            "s sp",
            [
                {"type": "strikethrough", "offset": 0, "length": 1},
                {"type": "spoiler", "offset": 2, "length": 2},
            ],
        ),
        (
            "[site](https://example.com/a_(b\\))",
            "site",
            [
                {"type": "text_link", "offset": 0, "length": 4, "url": "https://example.com/a_(b)"},
            ],
        ),
        (
            "![👍](tg://emoji?id=5368324170671202286)",
            "👍",
            [
                {"type": "custom_emoji", "offset": 0, "length": 2, "custom_emoji_id": "5368324170671202286"},
            ],
        ),
        ("`a.b-c!`", "a.b-c!", [{"type": "code", "offset": 0, "length": 6}]),
        (
            "```python\nx = 1.5\n```",
            "x = 1.5\n",
            [{"type": "pre", "offset": 0, "length": 8, "language": "python"}],
        ),
        (">q1\n>q2\nend", "q1\nq2\nend", [{"type": "blockquote", "offset": 0, "length": 5}]),
        (
            "**>hidden\n>more||\nend",
            "hidden\nmore\nend",
            [{"type": "expandable_blockquote", "offset": 0, "length": 11}],
        ),
        (
            "*b _bi_ b*",
            "b bi b",
            [
                {"type": "bold", "offset": 0, "length": 6},
                {"type": "italic", "offset": 2, "length": 2},
            ],
        ),
    ],
)
def test_markdown_v2(source: str, text: str, entities: list[dict[str, object]]) -> None:
    parsed = parse_markdown_v2(source)
    assert (parsed.text, parsed.entities) == (text, entities)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("Total: 10.50", "Character '.' is reserved"),
        ("Order #5", "Character '#' is reserved"),
        ("Thanks!", "Character '!' is reserved"),
        ("(note)", "Character '(' is reserved"),
        ("*bold", "Can't find end of Bold entity at byte offset 0"),
        ("`code", "Can't find end of Code entity"),
        ("[x](http://a", "Can't find end of a URL"),
    ],
)
def test_markdown_v2_errors(source: str, message: str) -> None:
    with pytest.raises(HtmlParseError) as info:
        parse_markdown_v2(source)
    assert message in str(info.value)


def test_escape_markdown_v2_round_trip() -> None:
    raw = r"Order #5 (x_y) costs 1.5$ - ok! [a]* \ `q`"
    assert parse_markdown_v2(escape_markdown_v2(raw)).text == raw


def test_legacy_markdown() -> None:
    parsed = parse_markdown("*bold* _it_ `c` [l](http://x.y) 1.5!")
    assert parsed.text == "bold it c l 1.5!"
    assert [e["type"] for e in parsed.entities] == ["bold", "italic", "code", "text_link"]
    with pytest.raises(HtmlParseError, match="Can't find end of the entity"):
        parse_markdown("*open")
