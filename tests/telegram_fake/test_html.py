"""Telegram-flavoured HTML parsing: plain text, UTF-16 entity offsets, Telegram's errors."""

from __future__ import annotations

import pytest

from sandbox.telegram_html import HtmlParseError, escape_html, parse_html, utf16_len


def test_plain_text_and_entities() -> None:
    parsed = parse_html("<b>Bold</b> and <i>italic</i> &lt;tag&gt; &amp; &quot;q&quot; &#65;&#x42;")
    assert parsed.text == 'Bold and italic <tag> & "q" AB'
    assert parsed.entities == [
        {"type": "bold", "offset": 0, "length": 4},
        {"type": "italic", "offset": 9, "length": 6},
    ]


def test_offsets_are_utf16_code_units() -> None:
    parsed = parse_html("😀 <u>x</u>")
    assert utf16_len("😀 ") == 3
    assert parsed.entities == [{"type": "underline", "offset": 3, "length": 1}]


@pytest.mark.parametrize(
    ("source", "entity"),
    [
        ("<strong>x</strong>", {"type": "bold"}),
        ("<em>x</em>", {"type": "italic"}),
        ("<ins>x</ins>", {"type": "underline"}),
        ("<s>x</s>", {"type": "strikethrough"}),
        ("<strike>x</strike>", {"type": "strikethrough"}),
        ("<del>x</del>", {"type": "strikethrough"}),
        ('<span class="tg-spoiler">x</span>', {"type": "spoiler"}),
        ("<tg-spoiler>x</tg-spoiler>", {"type": "spoiler"}),
        ("<code>x</code>", {"type": "code"}),
        ("<pre>x</pre>", {"type": "pre"}),
        ('<pre><code class="language-python">x</code></pre>', {"type": "pre", "language": "python"}),
        ("<blockquote>x</blockquote>", {"type": "blockquote"}),
        ("<blockquote expandable>x</blockquote>", {"type": "expandable_blockquote"}),
        (
            '<a href="https://example.com/?a=1&amp;b=2">x</a>',
            {"type": "text_link", "url": "https://example.com/?a=1&b=2"},
        ),
        (
            '<tg-emoji emoji-id="5368324170671202286">x</tg-emoji>',
            {"type": "custom_emoji", "custom_emoji_id": "5368324170671202286"},
        ),
        ("<B>x</B>", {"type": "bold"}),
    ],
)
def test_supported_tags(source: str, entity: dict[str, str]) -> None:
    parsed = parse_html(source)
    assert parsed.text == "x"
    assert parsed.entities == [{**entity, "offset": 0, "length": 1}]


def test_nested_entities_sorted_outer_first() -> None:
    parsed = parse_html("<b>a<i>b</i></b>")
    assert parsed.entities == [
        {"type": "bold", "offset": 0, "length": 2},
        {"type": "italic", "offset": 1, "length": 1},
    ]


def test_empty_entities_are_dropped() -> None:
    assert parse_html("a<b></b>").entities == []


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("1 < 2", 'Unsupported start tag ""'),
        ("Tom & Jerry", 'Character "&"'),
        ("<br>", 'Unsupported start tag "br"'),
        ("<div>x</div>", 'Unsupported start tag "div"'),
        ("<b>open", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<b><i>x</b></i>", 'Unmatched end tag at byte offset 7, expected "</i>", found "</b>"'),
        ("x</b>", "Unexpected end tag"),
        ("<b", "Unclosed start tag"),
        ("<b>x</b", "Unclosed end tag"),
        ("<span>x</span>", 'Tag "span" must have class "tg-spoiler"'),
        ("&nbsp;", "Unsupported HTML entity"),
        ("&#0;", "Invalid numeric entity"),
        ("<blockquote><blockquote>x</blockquote></blockquote>", "can't be nested"),
    ],
)
def test_malformed_html_is_rejected(source: str, message: str) -> None:
    with pytest.raises(HtmlParseError, match=None) as info:
        parse_html(source)
    assert message in str(info.value)


def test_escape_roundtrip() -> None:
    raw = "<script> & \"quotes\" 'apostrophes'"
    assert parse_html(escape_html(raw)).text == raw
