"""Telegram's HTML parse mode, re-implemented for the fake Bot API server.

Telegram measures message limits *after* entity parsing and rejects malformed markup with
``can't parse entities``. A bot that forgets to escape user input only fails on real Telegram,
so the fake parses exactly like Telegram does (tags, attributes, entity references, nesting)
and is deliberately strict about stray ``<`` and ``&``.

Offsets and lengths of the produced entities are in UTF-16 code units, as in the Bot API.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "HtmlParseError",
    "ParsedText",
    "escape_html",
    "parse_html",
    "utf16_len",
]

# Tag name -> entity type. Tags that need attributes are resolved in ``_entity_for``.
_SIMPLE_TAGS: dict[str, str] = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "code": "code",
    "pre": "pre",
}
_SUPPORTED_TAGS = frozenset({*_SIMPLE_TAGS, "span", "a", "blockquote", "tg-emoji", "tg-time"})
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_ENTITY_RE = re.compile(r"&(#[0-9]{1,8}|#[xX][0-9a-fA-F]{1,8}|[a-zA-Z][a-zA-Z0-9]{0,31});")
_TAG_NAME_RE = re.compile(r"[a-zA-Z0-9-]*")
_ATTR_NAME_RE = re.compile(r"[a-zA-Z0-9_-]+")


class HtmlParseError(ValueError):
    """Markup Telegram would refuse; ``str(err)`` is the text after ``can't parse entities: ``."""


@dataclass(frozen=True)
class ParsedText:
    """Plain text plus Bot API ``MessageEntity`` dicts, as Telegram would store the message."""

    text: str
    entities: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _OpenTag:
    name: str
    attrs: dict[str, str]
    start: int  # UTF-16 offset in the output text
    byte_offset: int
    order: int
    language: str | None = None


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units: the unit of Bot API entity offsets."""
    return len(text.encode("utf-16-le")) // 2


def escape_html(text: str) -> str:
    """Escape text for parse_mode=HTML (the three characters Telegram requires)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def parse_html(source: str) -> ParsedText:
    """Parse Telegram-flavoured HTML into plain text and entities, or raise HtmlParseError."""
    return _HtmlParser(source).parse()


class _HtmlParser:
    """Single-pass scanner modelled on TDLib's ``parse_html``."""

    def __init__(self, source: str) -> None:
        self.src = source
        self.pos = 0
        self.out: list[str] = []
        self.out_len = 0  # UTF-16 units emitted so far
        self.stack: list[_OpenTag] = []
        self.found: list[tuple[int, dict[str, Any]]] = []
        self.order = 0

    # -- helpers -------------------------------------------------------------------------------
    def _byte_offset(self, index: int) -> int:
        return len(self.src[:index].encode("utf-8"))

    def _emit(self, text: str) -> None:
        self.out.append(text)
        self.out_len += utf16_len(text)

    def _decode_entity(self, index: int) -> tuple[str, int]:
        """Decode the character reference starting at ``index`` ('&'); returns (char, new index)."""
        match = _ENTITY_RE.match(self.src, index)
        if match is None:
            raise HtmlParseError(
                f'Character "&" at byte offset {self._byte_offset(index)} must be escaped as "&amp;"'
            )
        body = match.group(1)
        if body.startswith("#"):
            code = int(body[2:], 16) if body[1:2] in ("x", "X") else int(body[1:])
            if code == 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
                raise HtmlParseError(
                    f'Invalid numeric entity "&{body};" at byte offset {self._byte_offset(index)}'
                )
            return chr(code), match.end()
        char = _NAMED_ENTITIES.get(body)
        if char is None:
            raise HtmlParseError(
                f'Unsupported HTML entity "&{body};" at byte offset {self._byte_offset(index)}'
            )
        return char, match.end()

    def _decode_text(self, text: str, base: int) -> str:
        """Decode references inside an attribute value (``base`` is its index in the source).

        URLs with raw ``&`` in ``href`` work on real Telegram, so they are accepted here too.
        """
        parts: list[str] = []
        i = 0
        while i < len(text):
            if text[i] == "&" and _ENTITY_RE.match(self.src, base + i):
                char, end = self._decode_entity(base + i)
                parts.append(char)
                i = end - base
            else:  # like TDLib, a bare '&' inside an attribute value is kept literally
                parts.append(text[i])
                i += 1
        return "".join(parts)

    # -- main loop -----------------------------------------------------------------------------
    def parse(self) -> ParsedText:
        src = self.src
        n = len(src)
        while self.pos < n:
            ch = src[self.pos]
            if ch == "&":
                char, self.pos = self._decode_entity(self.pos)
                self._emit(char)
            elif ch == "<":
                if self.pos + 1 < n and src[self.pos + 1] == "/":
                    self._end_tag()
                else:
                    self._start_tag()
            else:
                nxt = self._next_special(self.pos)
                self._emit(src[self.pos : nxt])
                self.pos = nxt
        if self.stack:
            raise HtmlParseError(f'Can\'t find end tag corresponding to start tag "{self.stack[-1].name}"')
        self.found.sort(key=lambda item: (item[1]["offset"], -item[1]["length"], item[0]))
        return ParsedText("".join(self.out), [entity for _, entity in self.found])

    def _next_special(self, start: int) -> int:
        indexes = [i for i in (self.src.find("<", start), self.src.find("&", start)) if i != -1]
        return min(indexes) if indexes else len(self.src)

    def _start_tag(self) -> None:
        src = self.src
        begin = self.pos
        name_match = _TAG_NAME_RE.match(src, begin + 1)
        assert name_match is not None
        name = name_match.group(0).lower()
        if name not in _SUPPORTED_TAGS:
            raise HtmlParseError(f'Unsupported start tag "{name}" at byte offset {self._byte_offset(begin)}')
        i = name_match.end()
        attrs: dict[str, str] = {}
        while True:
            while i < len(src) and src[i] in " \t\r\n":
                i += 1
            if i >= len(src):
                raise HtmlParseError(f"Unclosed start tag at byte offset {self._byte_offset(begin)}")
            if src[i] == ">":
                i += 1
                break
            attr_match = _ATTR_NAME_RE.match(src, i)
            if attr_match is None:
                raise HtmlParseError(
                    f'Empty attribute name in the tag "{name}" at byte offset {self._byte_offset(begin)}'
                )
            attr = attr_match.group(0).lower()
            i = attr_match.end()
            while i < len(src) and src[i] in " \t\r\n":
                i += 1
            if i >= len(src) or src[i] != "=":
                attrs[attr] = ""  # boolean attribute, e.g. <blockquote expandable>
                continue
            i += 1
            while i < len(src) and src[i] in " \t\r\n":
                i += 1
            if i >= len(src):
                raise HtmlParseError(f"Unclosed start tag at byte offset {self._byte_offset(begin)}")
            quote = src[i]
            if quote in "\"'":
                end = src.find(quote, i + 1)
                if end == -1:
                    raise HtmlParseError(
                        f'Unclosed value of the attribute "{attr}" of the tag "{name}" '
                        f"at byte offset {self._byte_offset(begin)}"
                    )
                attrs[attr] = self._decode_text(src[i + 1 : end], i + 1)
                i = end + 1
            else:
                end = i
                while end < len(src) and src[end] not in " \t\r\n>":
                    end += 1
                attrs[attr] = self._decode_text(src[i:end], i)
                i = end
        self._validate_start(name, attrs, begin)
        self.order += 1
        self.stack.append(_OpenTag(name, attrs, self.out_len, self._byte_offset(begin), self.order))
        self.pos = i

    def _validate_start(self, name: str, attrs: dict[str, str], begin: int) -> None:
        if name == "span" and attrs.get("class") != "tg-spoiler":
            raise HtmlParseError(
                f'Tag "span" must have class "tg-spoiler" at byte offset {self._byte_offset(begin)}'
            )
        if name == "tg-emoji" and not attrs.get("emoji-id", "").isdigit():
            raise HtmlParseError(
                f'Tag "tg-emoji" must have a numeric attribute "emoji-id" at byte offset {self._byte_offset(begin)}'
            )
        if name == "tg-time" and not attrs.get("unix", "").lstrip("-").isdigit():
            raise HtmlParseError(
                f'Tag "tg-time" must have a numeric attribute "unix" at byte offset {self._byte_offset(begin)}'
            )
        if name == "blockquote" and any(tag.name == "blockquote" for tag in self.stack):
            raise HtmlParseError(f"Blockquote can't be nested at byte offset {self._byte_offset(begin)}")

    def _end_tag(self) -> None:
        src = self.src
        begin = self.pos
        name_match = _TAG_NAME_RE.match(src, begin + 2)
        assert name_match is not None
        name = name_match.group(0).lower()
        i = name_match.end()
        while i < len(src) and src[i] in " \t\r\n":
            i += 1
        if i >= len(src) or src[i] != ">":
            raise HtmlParseError(f"Unclosed end tag at byte offset {self._byte_offset(begin)}")
        if not self.stack:
            raise HtmlParseError(f'Unexpected end tag "{name}" at byte offset {self._byte_offset(begin)}')
        top = self.stack[-1]
        if top.name != name:
            raise HtmlParseError(
                f'Unmatched end tag at byte offset {self._byte_offset(begin)}, expected "</{top.name}>", '
                f'found "</{name}>"'
            )
        self.stack.pop()
        self.pos = i + 1
        self._close(top)

    def _close(self, tag: _OpenTag) -> None:
        length = self.out_len - tag.start
        language = tag.attrs.get("class", "")
        parent = self.stack[-1] if self.stack else None
        if (
            tag.name == "code"
            and parent is not None
            and parent.name == "pre"
            and language.startswith("language-")
            and tag.start == parent.start
        ):
            parent.language = language[len("language-") :]
            return
        if length == 0:
            return  # Telegram drops empty entities
        entity: dict[str, Any] = {"offset": tag.start, "length": length}
        if tag.name in _SIMPLE_TAGS:
            entity["type"] = _SIMPLE_TAGS[tag.name]
            if tag.name == "pre" and tag.language:
                entity["language"] = tag.language
        elif tag.name == "span":
            entity["type"] = "spoiler"
        elif tag.name == "blockquote":
            entity["type"] = "expandable_blockquote" if "expandable" in tag.attrs else "blockquote"
        elif tag.name == "tg-emoji":
            entity["type"] = "custom_emoji"
            entity["custom_emoji_id"] = tag.attrs["emoji-id"]
        elif tag.name == "tg-time":
            entity["type"] = "date_time"
            entity["unix_time"] = int(tag.attrs["unix"])
            if tag.attrs.get("format"):
                entity["date_time_format"] = tag.attrs["format"]
        elif tag.name == "a":
            href = tag.attrs.get("href", "")
            if not href:
                return  # TDLib ignores links without a target
            mention = re.fullmatch(r"tg://user\?id=(\d+)", href)
            if mention:
                entity["type"] = "text_mention"
                entity["user"] = {"id": int(mention.group(1)), "is_bot": False, "first_name": ""}
            else:
                entity["type"] = "text_link"
                entity["url"] = href
        self.found.append((tag.order, {"type": entity.pop("type"), **entity}))
