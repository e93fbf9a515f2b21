"""Terminal rendering of Telegram messages: entities (UTF-16 offsets) become styles, links stay visible."""

from __future__ import annotations

from sandbox.demo.chat import ChatSession
from sandbox.demo.render import ansi_theme, plain_theme, render_entities, strip_ansi, styled_runs
from sandbox.telegram_html import parse_html


def render(html: str, *, color: bool) -> str:
    parsed = parse_html(html)
    theme = ansi_theme() if color else plain_theme()
    return "\n".join(render_entities(parsed.text, parsed.entities, theme))


def test_styles_become_ansi_codes_and_plain_text_is_unchanged() -> None:
    html = "<b>Bold</b> and <i>italic</i>, <code>code</code>, <s>gone</s>"
    colored = render(html, color=True)
    assert "\x1b[1mBold\x1b[0m" in colored
    assert "\x1b[3mitalic\x1b[0m" in colored
    assert "\x1b[36mcode\x1b[0m" in colored
    assert "\x1b[9mgone\x1b[0m" in colored
    assert strip_ansi(colored) == "Bold and italic, code, gone"
    assert render(html, color=False) == "Bold and italic, code, gone"


def test_links_show_their_address() -> None:
    html = 'Read <a href="https://example.com/terms">the terms</a> or https://example.com'
    assert render(html, color=False) == "Read the terms (https://example.com/terms) or https://example.com"
    assert "\x1b[34;4mthe terms\x1b[0m" in render(html, color=True)


def test_utf16_offsets_after_emoji_and_nested_styles() -> None:
    # 👋 and 🛍 are two UTF-16 code units each: a naive str slice would cut the wrong letters.
    html = "👋 <b>Hello, <i>Ann</i></b>! 🛍 <u>Shop</u>"
    runs = styled_runs(*_parsed(html))
    assert [(r.text, sorted(r.styles)) for r in runs if r.styles] == [
        ("Hello, ", ["bold"]),
        ("Ann", ["bold", "italic"]),
        ("Shop", ["underline"]),
    ]
    assert render(html, color=False) == "👋 Hello, Ann! 🛍 Shop"


def test_multiline_styles_are_reapplied_per_line() -> None:
    lines = render_entities(*_parsed("<b>one\ntwo</b>"), ansi_theme())
    assert lines == ["\x1b[1mone\x1b[0m", "\x1b[1mtwo\x1b[0m"]


def test_bad_entities_do_not_crash() -> None:
    runs = styled_runs("abc", [{"type": "bold", "offset": 2, "length": 99}, {"type": "x", "offset": "?"}])
    assert "".join(r.text for r in runs) == "abc"


def test_a_message_with_buttons_and_edit_mark() -> None:
    parsed = parse_html("<b>Order #7</b> is placed.")
    session = ChatSession("http://127.0.0.1:1", 1, output=lambda _: None)
    message = {
        "message_id": 3,
        "kind": "text",
        "text": parsed.text,
        "entities": parsed.entities,
        "buttons": [
            [{"text": "🔄 Refresh", "callback_data": "r"}],
            [{"text": "Site", "url": "https://example.com"}, {"text": "🏠 Menu", "callback_data": "m"}],
        ],
    }
    assert session.render_message(message, edited=True).splitlines() == [
        "bot (edited): Order #7 is placed.",
        "  [1] 🔄 Refresh",
        "  [2] Site (https://example.com)   [3] 🏠 Menu",
    ]


def _parsed(html: str) -> tuple[str, list[dict[str, object]]]:
    parsed = parse_html(html)
    return parsed.text, parsed.entities
