"""Telegram's MarkdownV2 and legacy Markdown parse modes, for the fake Bot API server.

MarkdownV2 is the parse mode bots most often get wrong: every ``. - ! ( ) #`` in dynamic text
must be escaped, and real Telegram rejects the whole message otherwise. The parser follows
TDLib's ``parse_markdown_v2`` (same reserved characters, nesting and error wording) and returns
the same ``ParsedText`` as the HTML parser, with UTF-16 entity offsets.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sandbox.telegram_html import HtmlParseError, ParsedText, utf16_len

__all__ = ["escape_markdown_v2", "parse_markdown", "parse_markdown_v2"]

RESERVED_V2 = frozenset("_*[]()~`>#+-=|{}.!")
_TYPE_NAMES = {
    "bold": "Bold",
    "italic": "Italic",
    "underline": "Underline",
    "strikethrough": "Strikethrough",
    "spoiler": "Spoiler",
    "code": "Code",
    "pre": "Pre",
    "text_link": "TextUrl",
    "custom_emoji": "CustomEmoji",
}
_EMOJI_URL_RE = re.compile(r"tg://emoji\?id=(\d+)")
_TIME_URL_RE = re.compile(r"tg://time\?unix=(-?\d+)(?:&format=(\w+))?")
_MENTION_RE = re.compile(r"tg://user\?id=(\d+)")


def escape_markdown_v2(text: str) -> str:
    """Escape plain text for parse_mode=MarkdownV2."""
    return "".join(f"\\{ch}" if ch in RESERVED_V2 or ch == "\\" else ch for ch in text)


@dataclass
class _Open:
    type: str
    start: int  # UTF-16 offset in the output
    byte_offset: int
    argument: str = ""


class _Output:
    """Plain text being built, with its UTF-16 length."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.length = 0
        self.entities: list[tuple[int, dict[str, Any]]] = []
        self.order = 0

    def emit(self, text: str) -> None:
        self.parts.append(text)
        self.length += utf16_len(text)

    def add(self, entity_type: str, start: int, *, end: int | None = None, **extra: Any) -> None:
        end = self.length if end is None else end
        if end > start:
            self.order += 1
            self.entities.append(
                (self.order, {"type": entity_type, "offset": start, "length": end - start, **extra})
            )

    def result(self) -> ParsedText:
        self.entities.sort(key=lambda item: (item[1]["offset"], -item[1]["length"], item[0]))
        return ParsedText("".join(self.parts), [entity for _, entity in self.entities])


def _language(language: str) -> dict[str, Any]:
    return {"language": language} if language else {}


def _link_entity(url: str, start: int, out: _Output) -> None:
    mention = _MENTION_RE.fullmatch(url)
    if mention:
        out.add("text_mention", start, user={"id": int(mention.group(1)), "is_bot": False, "first_name": ""})
    elif re.match(r"(?:https?|tg|ftp)://|[\w.-]+\.[a-z]{2,}", url, re.IGNORECASE):
        out.add("text_link", start, url=url)
    # TDLib silently drops links whose URL is not valid


def parse_markdown_v2(text: str) -> ParsedText:
    """Parse MarkdownV2 like Telegram, or raise HtmlParseError (same 'can't parse entities' family)."""
    out = _Output()
    stack: list[_Open] = []
    quote: _Open | None = None  # block quotation spans whole lines, outside the nesting stack
    n = len(text)
    i = 0

    def byte_offset(index: int) -> int:
        return len(text[:index].encode("utf-8"))

    def reserved(index: int) -> HtmlParseError:
        return HtmlParseError(
            f"Character '{text[index]}' is reserved and must be escaped with the preceding '\\'"
        )

    while i < n:
        ch = text[i]
        at_line_start = i == 0 or text[i - 1] == "\n"
        in_code = bool(stack) and stack[-1].type in ("code", "pre")
        if at_line_start and not in_code:
            expandable = text.startswith("**>", i)
            if ch == ">" or expandable:
                if quote is None:
                    quote = _Open(
                        "expandable_blockquote" if expandable else "blockquote", out.length, byte_offset(i)
                    )
                i += 3 if expandable else 1
                continue
            if quote is not None:  # the quotation ended with the previous line (not its newline)
                out.add(quote.type, quote.start, end=out.length - 1)
                quote = None
        if ch == "\\" and i + 1 < n and 1 <= ord(text[i + 1]) <= 126:
            out.emit(text[i + 1])
            i += 2
            continue
        if in_code:
            code = stack[-1]
            if ch == "`" and (code.type == "code" or text.startswith("```", i)):
                stack.pop()
                if code.type == "pre":
                    out.add("pre", code.start, **_language(code.argument))
                    i += 3
                else:
                    out.add("code", code.start)
                    i += 1
                continue
            if ch == "`":
                raise reserved(i)
            out.emit(ch)
            i += 1
            continue
        if (
            ch == "|"
            and text.startswith("||", i)
            and quote is not None
            and quote.type == "expandable_blockquote"
            and (i + 2 == n or text[i + 2] == "\n")
            and not (stack and stack[-1].type == "spoiler")
        ):
            out.add(quote.type, quote.start)
            quote = None
            i += 2
            continue
        if ch not in RESERVED_V2:
            out.emit(ch)
            i += 1
            continue

        top = stack[-1] if stack else None
        closing = top is not None and (
            (top.type == "bold" and ch == "*")
            or (top.type == "italic" and ch == "_" and not text.startswith("__", i))
            or (top.type == "underline" and text.startswith("__", i))
            or (top.type == "strikethrough" and ch == "~")
            or (top.type == "spoiler" and text.startswith("||", i))
            or (top.type in ("text_link", "custom_emoji") and ch == "]")
        )
        # "___" closing italic then underline: TDLib treats "__" greedily from the left.
        if top is not None and top.type == "italic" and text.startswith("__", i):
            closing = False
        if closing and top is not None:
            stack.pop()
            if top.type in ("text_link", "custom_emoji"):
                url = ""
                if i + 1 < n and text[i + 1] == "(":
                    j = i + 2
                    url_chars: list[str] = []
                    while j < n and text[j] != ")":
                        if text[j] == "\\" and j + 1 < n and 1 <= ord(text[j + 1]) <= 126:
                            url_chars.append(text[j + 1])
                            j += 2
                        else:
                            url_chars.append(text[j])
                            j += 1
                    if j >= n:
                        raise HtmlParseError(f"Can't find end of a URL at byte offset {byte_offset(i + 1)}")
                    url = "".join(url_chars)
                    i = j + 1
                else:
                    i += 1
                if top.type == "custom_emoji":
                    emoji = _EMOJI_URL_RE.fullmatch(url)
                    moment = _TIME_URL_RE.fullmatch(url)
                    if emoji:
                        out.add("custom_emoji", top.start, custom_emoji_id=emoji.group(1))
                    elif moment:
                        extra: dict[str, Any] = {"unix_time": int(moment.group(1))}
                        if moment.group(2):
                            extra["date_time_format"] = moment.group(2)
                        out.add("date_time", top.start, **extra)
                    else:
                        raise HtmlParseError(
                            f"Custom emoji entity must contain a tg://emoji URL at byte offset {top.byte_offset}"
                        )
                else:
                    _link_entity(url, top.start, out)
                continue
            out.add(top.type, top.start)
            i += 2 if top.type in ("underline", "spoiler") else 1
            continue

        begin = i
        if ch == "_":
            if text.startswith("__", i):
                entity, i = "underline", i + 2
            else:
                entity, i = "italic", i + 1
        elif ch == "*":
            entity, i = "bold", i + 1
        elif ch == "~":
            entity, i = "strikethrough", i + 1
        elif ch == "|" and text.startswith("||", i):
            entity, i = "spoiler", i + 2
        elif ch == "[":
            entity, i = "text_link", i + 1
        elif ch == "!" and text.startswith("![", i):
            entity, i = "custom_emoji", i + 2
        elif ch == "`":
            if text.startswith("```", i):
                i += 3
                newline = text.find("\n", i)
                closing_at = text.find("```", i)
                language = ""
                if newline != -1 and (closing_at == -1 or newline < closing_at):
                    language = text[i:newline]
                    if language and not re.fullmatch(r"[\w+#.-]+", language):
                        language = ""
                    else:
                        i = newline + 1
                stack.append(_Open("pre", out.length, byte_offset(begin), language))
                continue
            entity, i = "code", i + 1
        else:
            raise reserved(i)
        stack.append(_Open(entity, out.length, byte_offset(begin)))

    if stack:
        top = stack[-1]
        raise HtmlParseError(
            f"Can't find end of {_TYPE_NAMES[top.type]} entity at byte offset {top.byte_offset}"
        )
    if quote is not None:
        out.add(quote.type, quote.start)
    return out.result()


def parse_markdown(text: str) -> ParsedText:
    """Legacy Markdown: *bold*, _italic_, `code`, ```pre```, [text](url); no nesting, no escapes but '\\'."""
    out = _Output()
    n = len(text)
    i = 0
    while i < n:
        ch = text[i]
        if ch == "\\" and i + 1 < n and text[i + 1] in "_*`[":
            out.emit(text[i + 1])
            i += 2
            continue
        if ch not in "_*`[":
            out.emit(ch)
            i += 1
            continue
        begin = len(text[:i].encode("utf-8"))
        if ch == "[":
            end = text.find("]", i + 1)
            if end == -1:
                raise HtmlParseError(f"Can't find end of the entity starting at byte offset {begin}")
            start = out.length
            out.emit(text[i + 1 : end])
            if end + 1 < n and text[end + 1] == "(":
                close = text.find(")", end + 2)
                if close == -1:
                    raise HtmlParseError(f"Can't find end of the entity starting at byte offset {begin}")
                _link_entity(text[end + 2 : close], start, out)
                i = close + 1
            else:
                i = end + 1
            continue
        marker = "```" if text.startswith("```", i) else ch
        end = text.find(marker, i + len(marker))
        if end == -1:
            raise HtmlParseError(f"Can't find end of the entity starting at byte offset {begin}")
        body = text[i + len(marker) : end]
        start = out.length
        if marker == "```":
            language = ""
            if "\n" in body:
                first, rest = body.split("\n", 1)
                if re.fullmatch(r"[\w+#.-]+", first):
                    language, body = first, rest
            out.emit(body)
            out.add("pre", start, **_language(language))
        else:
            out.emit(body)
            out.add({"*": "bold", "_": "italic", "`": "code"}[ch], start)
        i = end + len(marker)
    return out.result()
