"""Telegram's content limits that are not expressed in the spec JSON.

Each check raises ``LimitError`` whose text is what Telegram answers after ``Bad Request: ``,
so a bot that works against the fake does not hit them for the first time in production.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from sandbox.telegram_html import HtmlParseError, ParsedText, parse_html, utf16_len
from sandbox.telegram_markdown import parse_markdown, parse_markdown_v2

__all__ = [
    "CALLBACK_ANSWER_MAX",
    "CAPTION_MAX",
    "TEXT_MAX",
    "LimitError",
    "check_callback_answer",
    "check_chat_action",
    "check_commands",
    "check_reply_markup",
    "format_text",
]

TEXT_MAX = 4096
CAPTION_MAX = 1024
CALLBACK_ANSWER_MAX = 200
CALLBACK_DATA_MAX_BYTES = 64
INLINE_BUTTONS_MAX = 100
INLINE_ROW_MAX = 8
REPLY_BUTTONS_MAX = 300
COMMANDS_MAX = 100
COMMAND_RE = re.compile(r"[a-z0-9_]{1,32}")
COMMAND_DESCRIPTION_MAX = 256
CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
# Fields of InlineKeyboardButton that are decoration, not the button's action.
_BUTTON_DECORATION = frozenset({"text", "icon_custom_emoji_id", "style"})
_URL_RE = re.compile(r"(?:https?|tg)://\S+", re.IGNORECASE)
_ENTITY_TYPES = frozenset(
    {
        "mention",
        "hashtag",
        "cashtag",
        "bot_command",
        "url",
        "email",
        "phone_number",
        "bold",
        "italic",
        "underline",
        "strikethrough",
        "spoiler",
        "blockquote",
        "expandable_blockquote",
        "code",
        "pre",
        "text_link",
        "text_mention",
        "custom_emoji",
        "date_time",
    }
)


class LimitError(ValueError):
    """Telegram would answer 400 with ``Bad Request: <str(self)>``."""


def format_text(
    text: str | None,
    parse_mode: str | None,
    entities: Sequence[Mapping[str, Any]] | None,
    *,
    caption: bool = False,
) -> ParsedText:
    """Apply parse_mode / explicit entities and Telegram's length rules to text or a caption."""
    raw = text or ""
    if entities is not None:
        parsed = ParsedText(raw, [dict(entity) for entity in entities])
        _check_entities(parsed)
    elif parse_mode:
        mode = parse_mode.strip().lower()
        if mode == "html":
            try:
                parsed = parse_html(raw)
            except HtmlParseError as err:
                raise LimitError(f"can't parse entities: {err}") from None
        elif mode in ("markdown", "markdownv2"):
            parser = parse_markdown_v2 if mode == "markdownv2" else parse_markdown
            try:
                parsed = parser(raw)
            except HtmlParseError as err:
                raise LimitError(f"can't parse entities: {err}") from None
        else:
            raise LimitError("unsupported parse_mode")
    else:
        parsed = ParsedText(raw, [])
    if caption:
        if len(parsed.text) > CAPTION_MAX:
            raise LimitError("message caption is too long")
    else:
        if not parsed.text.strip():
            raise LimitError("message text is empty")
        if len(parsed.text) > TEXT_MAX:
            raise LimitError("message is too long")
    return parsed


def _check_entities(parsed: ParsedText) -> None:
    size = utf16_len(parsed.text)
    for entity in parsed.entities:
        if entity.get("type") not in _ENTITY_TYPES:
            raise LimitError(f'can\'t parse entities: unsupported entity type "{entity.get("type")}"')
        offset, length = int(entity.get("offset", -1)), int(entity.get("length", 0))
        if offset < 0 or length <= 0 or offset + length > size:
            raise LimitError(
                f"can't parse entities: entity {entity.get('type')} at offset {offset} with length {length} "
                f"is outside the text (length {size} in UTF-16 code units)"
            )
        if entity.get("type") == "text_link" and not entity.get("url"):
            raise LimitError("can't parse entities: text_link entity without url")


def check_reply_markup(markup: Mapping[str, Any] | None) -> None:
    """Inline keyboards: button count, row width, action fields, callback_data bytes, URLs."""
    if not markup:
        return
    if "inline_keyboard" in markup:
        rows = markup["inline_keyboard"]
        total = sum(len(row) for row in rows)
        if total > INLINE_BUTTONS_MAX:
            raise LimitError("reply markup is too long")
        for r, row in enumerate(rows):
            if len(row) > INLINE_ROW_MAX:
                raise LimitError(
                    f"too many buttons in inline keyboard row {r}: {len(row)} > {INLINE_ROW_MAX}"
                )
            for button in row:
                _check_inline_button(button)
    elif "keyboard" in markup:
        rows = markup["keyboard"]
        if sum(len(row) for row in rows) > REPLY_BUTTONS_MAX:
            raise LimitError("reply markup is too long")
        for row in rows:
            for button in row:
                if not str(button.get("text", "")).strip():
                    raise LimitError("can't parse keyboard button: text must be non-empty")


def _check_inline_button(button: Mapping[str, Any]) -> None:
    if not str(button.get("text", "")).strip():
        raise LimitError("can't parse inline keyboard button: text must be non-empty")
    actions = [key for key in button if key not in _BUTTON_DECORATION]
    if not actions:
        raise LimitError(
            "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"
        )
    if len(actions) > 1:
        raise LimitError(
            f"can't parse inline keyboard button: exactly one of the optional fields must be used, got {actions}"
        )
    if "callback_data" in button:
        size = len(str(button["callback_data"]).encode("utf-8"))
        if not 1 <= size <= CALLBACK_DATA_MAX_BYTES:
            raise LimitError("BUTTON_DATA_INVALID")
    if "url" in button and not _URL_RE.fullmatch(str(button["url"])):
        raise LimitError("BUTTON_URL_INVALID")


def check_callback_answer(text: str | None) -> None:
    if text is not None and len(text) > CALLBACK_ANSWER_MAX:
        raise LimitError("MESSAGE_TOO_LONG")


def check_chat_action(action: str) -> None:
    if action not in CHAT_ACTIONS:
        raise LimitError("wrong parameter action in request")


def check_commands(commands: Sequence[Mapping[str, Any]]) -> None:
    """setMyCommands: at most 100 commands, names [a-z0-9_]{1,32}, descriptions 1-256 chars."""
    if len(commands) > COMMANDS_MAX:
        raise LimitError("too many commands")
    for command in commands:
        if not COMMAND_RE.fullmatch(str(command.get("command", ""))):
            raise LimitError("BOT_COMMAND_INVALID")
        description = str(command.get("description", ""))
        if not 1 <= len(description) <= COMMAND_DESCRIPTION_MAX:
            raise LimitError("BOT_COMMAND_DESCRIPTION_INVALID")
