"""Translations: every customer-visible string is a key in `bot/locales/<lang>/LC_MESSAGES/messages.po`.

The `.po` files are compiled in memory at start-up (no binary `.mo` files to keep in sync).
`t("key", name=value)` looks a key up in the current user's language and fills the placeholders,
escaping every value for Telegram HTML unless it is wrapped in `Html`.
"""

from __future__ import annotations

import gettext
import html
import io
from pathlib import Path
from typing import Any

from aiogram.utils.i18n import I18n
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALES_DIR = Path(__file__).resolve().parent / "locales"
DOMAIN = "messages"
LANGUAGES = {"en": "English", "ru": "Русский"}
DEFAULT_LOCALE = "en"


class Html(str):
    """A string that is already valid Telegram HTML and must not be escaped again."""

    __slots__ = ()


class PoI18n(I18n):
    """aiogram's I18n reading `.po` sources directly."""

    def find_locales(self) -> dict[str, gettext.GNUTranslations]:
        translations: dict[str, gettext.GNUTranslations] = {}
        for folder in sorted(self.path.iterdir()):
            po_path = folder / "LC_MESSAGES" / f"{self.domain}.po"
            if not po_path.is_file():
                continue
            with po_path.open("rb") as source:
                catalog = read_po(source, locale=folder.name, domain=self.domain)
            buffer = io.BytesIO()
            write_mo(buffer, catalog)
            buffer.seek(0)
            translations[folder.name] = gettext.GNUTranslations(buffer)
        return translations


def create_i18n(default_locale: str = DEFAULT_LOCALE) -> PoI18n:
    return PoI18n(path=LOCALES_DIR, default_locale=default_locale, domain=DOMAIN)


def pick_locale(*candidates: str | None, available: tuple[str, ...] = tuple(LANGUAGES)) -> str:
    """The first candidate we have a translation for (`ru-RU` -> `ru`), else the default."""
    for candidate in candidates:
        if not candidate:
            continue
        code = candidate.lower().replace("_", "-").split("-")[0]
        if code in available:
            return code
    return DEFAULT_LOCALE


def _escape(value: Any) -> Any:
    if isinstance(value, Html):
        return value
    if isinstance(value, str):
        return html.escape(value, quote=False)
    return value


def t(key: str, /, **values: Any) -> str:
    """The translated text for `key` in the current locale, placeholders filled and escaped.

    A plural entry asked for by `t` with an int `count` gets the form for that count, as `tn` would:
    errors raised by services (FieldError) carry their count among their values, so whoever
    renders one gets "1 line" / "5 lines" without knowing which keys are plural."""
    i18n = PoI18n.get_current(no_error=True)
    text = i18n.gettext(key) if i18n is not None else key
    count = values.get("count")
    if i18n is not None and isinstance(count, int) and not isinstance(count, bool):
        # ngettext of a key without plural forms falls back to the msgids themselves.
        plural = i18n.gettext(key, f"{key}.plural", count)
        if plural not in (key, f"{key}.plural"):
            text = plural
    if not values:
        return text
    return text.format(**{name: _escape(value) for name, value in values.items()})


def tn(key: str, count: int, /, **values: Any) -> str:
    """A plural entry (`msgid`/`msgid_plural` in the .po): the form for `count` in the current
    language (gettext's ngettext: 1 line / 2 lines; 1 строка / 2 строки / 5 строк), `{count}` filled."""
    i18n = PoI18n.get_current(no_error=True)
    text = i18n.gettext(key, f"{key}.plural", count) if i18n is not None else key
    return text.format(count=count, **{name: _escape(value) for name, value in values.items()})


def t_in(locale: str, key: str, /, **values: Any) -> str:
    """Like `t`, for a given locale (notifications are sent outside any update's context)."""
    i18n = PoI18n.get_current(no_error=True)
    if i18n is None:
        return t(key, **values)
    with i18n.use_locale(locale):
        return t(key, **values)
