"""Render Telegram messages (text + entities) for a terminal.

Entities use UTF-16 offsets, as in the Bot API. Styles become ANSI escape codes when colour is
on; links always stay visible as ``text (url)`` so nothing is lost on a plain terminal.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Run",
    "Theme",
    "ansi_theme",
    "plain_theme",
    "render_entities",
    "strip_ansi",
    "styled_runs",
]

# Entity type -> style names (a style is a key of Theme.codes).
_ENTITY_STYLES: dict[str, tuple[str, ...]] = {
    "bold": ("bold",),
    "italic": ("italic",),
    "underline": ("underline",),
    "strikethrough": ("strike",),
    "spoiler": ("spoiler",),
    "code": ("code",),
    "pre": ("code",),
    "blockquote": ("quote",),
    "expandable_blockquote": ("quote",),
    "text_link": ("link",),
    "url": ("link",),
    "email": ("link",),
    "text_mention": ("link",),
    "mention": ("accent",),
    "hashtag": ("accent",),
    "cashtag": ("accent",),
    "bot_command": ("accent",),
    "phone_number": ("accent",),
}

_ANSI_CODES: dict[str, str] = {
    "bold": "1",
    "dim": "2",
    "italic": "3",
    "underline": "4",
    "strike": "9",
    "spoiler": "2",
    "code": "36",
    "quote": "3",
    "link": "34;4",
    "accent": "34",
    "hint": "2",
    "button": "1;36",
    "bot": "1;32",
    "notice": "2",
    "toast": "33",
    "error": "1;31",
}

_ANSI_RE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def strip_ansi(text: str) -> str:
    """The text without ANSI escape sequences."""
    return _ANSI_RE.sub("", text)


@dataclass(frozen=True)
class Run:
    """A piece of text with the styles active on all of it."""

    text: str
    styles: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Theme:
    """How styles look: ANSI codes per style, or nothing at all (plain)."""

    codes: Mapping[str, str]

    @property
    def color(self) -> bool:
        return bool(self.codes)

    def style(self, text: str, *styles: str) -> str:
        """``text`` in the given styles (unchanged in a plain theme)."""
        return self.apply(text, frozenset(styles))

    def apply(self, text: str, styles: Iterable[str]) -> str:
        codes = [self.codes[name] for name in sorted(set(styles)) if name in self.codes]
        if not codes or not text:
            return text
        return f"\x1b[{';'.join(codes)}m{text}\x1b[0m"


def ansi_theme() -> Theme:
    return Theme(_ANSI_CODES)


def plain_theme() -> Theme:
    return Theme({})


def _clamp(value: Any, low: int, high: int) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return low
    return max(low, min(high, number))


def styled_runs(text: str, entities: Sequence[Mapping[str, Any]] | None) -> list[Run]:
    """Split ``text`` into runs of equal style; a text_link is followed by a `` (url)`` hint run."""
    units = text.encode("utf-16-le")
    total = len(units) // 2
    spans: list[tuple[int, int, Mapping[str, Any]]] = []
    for entity in entities or ():
        start = _clamp(entity.get("offset"), 0, total)
        end = _clamp(start + _clamp(entity.get("length"), 0, total), start, total)
        if end > start:
            spans.append((start, end, entity))
    points = sorted({0, total, *(s for s, _, _ in spans), *(e for _, e, _ in spans)})
    runs: list[Run] = []
    for start, end in itertools.pairwise(points):
        piece = units[2 * start : 2 * end].decode("utf-16-le", errors="replace")
        styles: set[str] = set()
        for span_start, span_end, entity in spans:
            if span_start <= start and end <= span_end:
                styles.update(_ENTITY_STYLES.get(str(entity.get("type")), ()))
        runs.append(Run(piece, frozenset(styles)))
        for span_start, span_end, entity in spans:
            if span_end != end:
                continue
            hint = _link_hint(entity, units[2 * span_start : 2 * span_end].decode("utf-16-le", "replace"))
            if hint:
                runs.append(Run(hint, frozenset({"hint"})))
    return runs


def _link_hint(entity: Mapping[str, Any], shown: str) -> str | None:
    kind = entity.get("type")
    if kind == "text_link":
        url = str(entity.get("url") or "")
        return f" ({url})" if url and url != shown.strip() else None
    if kind == "text_mention":
        user = entity.get("user")
        if isinstance(user, Mapping) and user.get("id") is not None:
            return f" (user {user['id']})"
    return None


def render_entities(text: str, entities: Sequence[Mapping[str, Any]] | None, theme: Theme) -> list[str]:
    """The message as terminal lines (styles re-applied on each line, so lines can be indented)."""
    lines: list[str] = [""]
    for run in styled_runs(text, entities):
        parts = run.text.split("\n")
        for index, part in enumerate(parts):
            if index:
                lines.append("")
            lines[-1] += theme.apply(part, run.styles)
    return lines
