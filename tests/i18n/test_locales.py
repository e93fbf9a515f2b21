"""The translation catalogs agree with each other, with Telegram's HTML mode and with the code.

Every key the code asks for must exist (in every language), every translation must keep the
placeholders of the English text, and every text must be markup Telegram accepts.
"""

from __future__ import annotations

import ast
import re
import string
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

from bot.services.forms import DRIPFEED_CHOICE, DRIPFEED_RUNS, FIELDS_BY_TYPE, FormField

ROOT = Path(__file__).resolve().parents[2]
BOT_DIR = ROOT / "bot"
LOCALES_DIR = BOT_DIR / "locales"
LANGS = ("en", "ru")
RU_PLURAL_FORMS = (
    "nplurals=3; plural=(n%10==1 && n%100!=11 ? 0 : n%10>=2 && n%10<=4 && (n%100<10 || n%100>=20) ? 1 : 2);"
)

# Families of keys the code builds at run time from a value (order state, ledger kind...).
DYNAMIC_FAMILIES: dict[str, tuple[str, ...]] = {
    "state": ("placing", "unknown", "review", "refused", "active", "completed", "partial", "canceled"),
    "refill": ("requested", "running", "completed", "rejected", "unconfirmed"),
    "ledger": (
        "deposit",
        "admin_credit",
        "admin_debit",
        "order_charge",
        "order_refund",
        "topup",
        "topup_refund",
        "promo_credit",
        "promo_bonus",
        "referral_earning",
        "referral_reversal",
    ),
    "topup.status": ("pending", "paid", "expired", "rejected", "cancelled", "refunding", "refunded"),
    # every action the code writes to the audit log (bot/services/admin/audit.py callers)
    "admin.audit.action": (
        "admin.menu",
        "admin.audit",
        "user.view",
        "user.ban",
        "user.unban",
        "balance.credit",
        "balance.debit",
        "settings.view",
        "settings.welcome",
        "settings.maintenance",
        "catalog.view",
        "catalog.sync",
        "catalog.hide",
        "catalog.show",
        "catalog.hide_category",
        "catalog.show_category",
        "catalog.rename",
        "catalog.rename_category",
        "catalog.platform",
        "catalog.markup_service",
        "catalog.markup_category",
        "catalog.markup_global",
        "broadcast.compose",
        "broadcast.list",
        "broadcast.discard",
        "broadcast.start",
        "broadcast.cancel",
        "promo.list",
        "promo.create",
        "promo.enable",
        "promo.disable",
        "support.list",
        "alerts.view",
        "alerts.switch",
        "alerts.order_amount",
        "referral.percent",
        "report.stats",
        "report.chart",
        "report.panel",
        "report.problems",
        "order.attach",
        "order.not_placed",
        "order.refund_amount",
        "problem.dismiss",
        "topup.approve",
        "topup.reject",
        "topup.refund",
        "topup.method_add",
        "topup.method_toggle",
        "topup.method_delete",
    ),
}

BUTTON_PREFIXES = ("button.", "choice.")
BUTTON_MAX_CHARS = 24
COMMAND_MIN_CHARS, COMMAND_MAX_CHARS = 3, 256

# --- catalogs -----------------------------------------------------------------------------------


@cache
def load_catalog(lang: str) -> Catalog:
    path = LOCALES_DIR / lang / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as source:
        return read_po(source, locale=lang)


@cache
def messages(lang: str) -> dict[str, str]:
    """msgid -> msgstr, without the header; a plural entry by its msgid, with its first form."""
    found: dict[str, str] = {}
    for message in load_catalog(lang):
        if not message.id:
            continue
        if isinstance(message.id, tuple):
            assert isinstance(message.string, tuple)
            found[message.id[0]] = message.string[0]
        else:
            assert isinstance(message.string, str)
            found[message.id] = message.string
    return found


@cache
def plurals(lang: str) -> dict[str, tuple[str, ...]]:
    """msgid -> every form of the plural entries (`msgid`/`msgid_plural` read by `tn`)."""
    found: dict[str, tuple[str, ...]] = {}
    for message in load_catalog(lang):
        if isinstance(message.id, tuple):
            assert isinstance(message.string, tuple)
            found[message.id[0]] = tuple(message.string)
    return found


def all_strings() -> Iterator[tuple[str, str, str]]:
    """(language, key, text) for every text, each form of a plural entry as `key[form]`."""
    for lang in LANGS:
        forms = plurals(lang)
        for key, text in messages(lang).items():
            if key in forms:
                for index, form in enumerate(forms[key]):
                    yield lang, f"{key}[{index}]", form
            else:
                yield lang, key, text


def placeholders(text: str) -> set[str]:
    """Names of the `{...}` fields of a str.format template."""
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


# --- Telegram HTML --------------------------------------------------------------------------------

ALLOWED_TAGS = frozenset({"b", "i", "u", "s", "code", "pre", "a"})
_TAG_RE = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)((?:\s+[a-zA-Z-]+=\"[^\"<>]*\")*)\s*>")
_ENTITY_RE = re.compile(r"&(?:amp|lt|gt|quot|#[0-9]{1,7}|#x[0-9a-fA-F]{1,6});")


def html_problems(text: str) -> list[str]:
    """Why Telegram (parse_mode=HTML) would refuse `text` or show it wrongly; empty if it is fine."""
    problems: list[str] = []
    stack: list[str] = []
    pos = 0
    while pos < len(text):
        char = text[pos]
        if char == "<":
            match = _TAG_RE.match(text, pos)
            if match is None:
                problems.append(f"bare '<' at {pos}")
                pos += 1
                continue
            closing, name, attrs = match.group(1), match.group(2).lower(), match.group(3)
            if name not in ALLOWED_TAGS:
                problems.append(f"tag <{name}> is not allowed")
            elif closing:
                if attrs:
                    problems.append(f"closing tag </{name}> has attributes")
                if not stack or stack[-1] != name:
                    expected = f"</{stack[-1]}>" if stack else "no closing tag"
                    problems.append(f"</{name}> at {pos}, expected {expected}")
                else:
                    stack.pop()
            else:
                if attrs and name not in ("a", "pre", "code"):
                    problems.append(f"tag <{name}> takes no attributes")
                if name == "a" and "href=" not in attrs:
                    problems.append("<a> without href")
                stack.append(name)
            pos = match.end()
        elif char == ">":
            problems.append(f"bare '>' at {pos}")
            pos += 1
        elif char == "&":
            match = _ENTITY_RE.match(text, pos)
            if match is None:
                problems.append(f"bare '&' at {pos}")
                pos += 1
            else:
                pos = match.end()
        else:
            pos += 1
    problems.extend(f"<{name}> is never closed" for name in stack)
    return problems


def test_html_checker_catches_bad_markup() -> None:
    assert html_problems('<b>ok</b> <i>{name}</i> &amp; &lt;x&gt; <a href="https://x.y/?a=1">l</a>') == []
    assert html_problems("<b>open")
    assert html_problems("<b><i>crossed</b></i>")
    assert html_problems("a < b")
    assert html_problems("a > b")
    assert html_problems("Tom & Jerry")
    assert html_problems("<br>")
    assert html_problems("<span>x</span>")
    assert html_problems("</b>")


# --- scanning the code ------------------------------------------------------------------------------


@dataclass(frozen=True)
class KeyUse:
    """A translation looked up by the code: exact `key`, or a family `prefix` built at run time."""

    where: str
    key: str | None = None
    prefix: str | None = None
    kwargs: frozenset[str] = frozenset()
    any_kwargs: bool = False
    plural: bool = False  # looked up with tn()


def _python_files() -> list[Path]:
    return sorted(p for p in BOT_DIR.rglob("*.py") if "__pycache__" not in p.parts)


def _str_constants(node: ast.AST) -> list[str]:
    return [n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)]


def _looks_like_key(value: str) -> bool:
    return re.fullmatch(r"[a-z_]+(\.[a-z0-9_]+)+", value) is not None


def _assigned_values(tree: ast.Module, name: str) -> list[ast.expr]:
    values: list[ast.expr] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AnnAssign):
            targets = [node.target]
        else:
            continue
        if node.value is not None and any(isinstance(t, ast.Name) and t.id == name for t in targets):
            values.append(node.value)
    return values


def _keys_of_expression(tree: ast.Module, node: ast.expr) -> tuple[list[str], list[str]]:
    """(exact keys, family prefixes) an argument of t()/t_in() can take, as far as we can tell."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value], []
    if isinstance(node, ast.JoinedStr):
        prefix = ""
        for part in node.values:
            if isinstance(part, ast.Constant) and isinstance(part.value, str):
                prefix += part.value
            else:
                return [], [prefix]
        return [prefix], []
    if isinstance(node, ast.Name):  # key = "a.b" if ... else "c.d"
        keys = [v for value in _assigned_values(tree, node.id) for v in _str_constants(value)]
        return [k for k in keys if _looks_like_key(k)], []
    if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name):  # KEYS[...]
        keys = []
        for value in _assigned_values(tree, node.value.id):
            if isinstance(value, ast.Dict):
                keys.extend(v for item in value.values for v in _str_constants(item))
        return [k for k in keys if _looks_like_key(k)], []
    return [], []  # e.g. `error.key` of a FieldError: checked by test_form_error_keys_exist


@cache
def key_uses() -> tuple[KeyUse, ...]:
    """Every `t(KEY, ...)`, `tn(KEY, COUNT, ...)` and `t_in(LOCALE, KEY, ...)` call in bot/**/*.py."""
    uses: list[KeyUse] = []
    for path in _python_files():
        if path == BOT_DIR / "i18n.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
                continue
            position = {"t": 0, "t_in": 1, "tn": 0}.get(node.func.id)
            if position is None or len(node.args) <= position:
                continue
            where = f"{path.relative_to(ROOT)}:{node.lineno}"
            kwargs = frozenset(k.arg for k in node.keywords if k.arg is not None)
            plural = node.func.id == "tn"
            if plural:
                kwargs |= {"count"}  # tn fills {count} from its second argument
            any_kwargs = any(k.arg is None for k in node.keywords)
            keys, prefixes = _keys_of_expression(tree, node.args[position])
            uses.extend(
                KeyUse(where, key=k, kwargs=kwargs, any_kwargs=any_kwargs, plural=plural) for k in keys
            )
            uses.extend(
                KeyUse(where, prefix=p, kwargs=kwargs, any_kwargs=any_kwargs, plural=plural) for p in prefixes
            )
    return tuple(uses)


@cache
def field_error_uses() -> tuple[KeyUse, ...]:
    """Every `FieldError("form.error.…", **values)` raised in the code."""
    uses: list[KeyUse] = []
    for path in _python_files():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "FieldError"
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                uses.append(
                    KeyUse(
                        f"{path.relative_to(ROOT)}:{node.lineno}",
                        key=node.args[0].value,
                        kwargs=frozenset(k.arg for k in node.keywords if k.arg is not None),
                        any_kwargs=any(k.arg is None for k in node.keywords),
                    )
                )
    return tuple(uses)


def bot_commands() -> tuple[str, ...]:
    """`COMMANDS` of bot/app.py: each gets a `command.<name>` description in every language."""
    tree = ast.parse((BOT_DIR / "app.py").read_text(encoding="utf-8"))
    for value in _assigned_values(tree, "COMMANDS"):
        return tuple(_str_constants(value))
    pytest.fail("bot/app.py defines no COMMANDS")


def all_form_fields() -> list[FormField]:
    fields = [item for group in FIELDS_BY_TYPE.values() for item in group]
    return [DRIPFEED_CHOICE, *DRIPFEED_RUNS, *fields]


def family_members(prefix: str) -> list[str]:
    """The keys a run-time family `prefix…` can produce (`refill.` states, not `refill.accepted`)."""
    family = prefix.rstrip(".")
    if family in DYNAMIC_FAMILIES:
        return [f"{prefix}{name}" for name in DYNAMIC_FAMILIES[family]]
    if family in ("field", "label"):
        return sorted({f"{prefix}{item.name}" for item in all_form_fields()})
    if family == "choice":
        return sorted({f"{prefix}{item.name}.{c}" for item in all_form_fields() for c in item.choices})
    if family == "command":
        return [f"{prefix}{name}" for name in bot_commands()]
    return [key for key in messages("en") if key.startswith(prefix)]


# --- the catalogs themselves -------------------------------------------------------------------------


def test_catalogs_have_the_same_keys() -> None:
    english, russian = set(messages("en")), set(messages("ru"))
    assert english, "the English catalog is empty"
    assert sorted(english - russian) == [], "keys missing in Russian"
    assert sorted(russian - english) == [], "keys in Russian that English does not have"


@pytest.mark.parametrize("lang", LANGS)
def test_no_empty_or_fuzzy_translation(lang: str) -> None:
    catalog = load_catalog(lang)
    empty = [m.id for m in catalog if m.id and not m.string]
    fuzzy = [m.id for m in catalog if m.id and m.fuzzy]  # the loader (write_mo) drops fuzzy entries
    assert empty == []
    assert fuzzy == []


def test_russian_header() -> None:
    catalog = load_catalog("ru")
    assert not catalog.fuzzy, "the Russian header is marked fuzzy"
    headers = dict(catalog.mime_headers)
    assert headers.get("Language") == "ru"
    assert headers.get("Plural-Forms", "").replace(" ", "") == RU_PLURAL_FORMS.replace(" ", "")
    assert catalog.num_plurals == 3


@pytest.mark.parametrize("lang", LANGS)
def test_templates_are_valid_format_strings(lang: str) -> None:
    broken = {}
    for key, text in ((key, text) for language, key, text in all_strings() if language == lang):
        try:
            names = placeholders(text)
            text.format(**dict.fromkeys(names, "x"))
        except (ValueError, KeyError, IndexError) as error:
            broken[key] = str(error)
            continue
        if any(not name.isidentifier() for name in names):
            broken[key] = f"placeholders must be plain names: {sorted(names)}"
    assert broken == {}


def test_russian_placeholders_match_english() -> None:
    english = {key: text for lang, key, text in all_strings() if lang == "en"}
    english |= {key: forms[-1] for key, forms in plurals("en").items()}  # every form has the other's
    different = {
        key: (sorted(placeholders(english[base])), sorted(placeholders(text)))
        for lang, key, text in all_strings()
        if lang == "ru"
        and (base := key.split("[")[0]) in english
        and placeholders(text) != placeholders(english[base])
    }
    assert different == {}, "key: (English placeholders, Russian placeholders)"


@pytest.mark.parametrize("lang", LANGS)
def test_plural_entries_have_every_form_with_the_count(lang: str) -> None:
    """en has one/other, ru one/few/many (the header's nplurals); each form shows `{count}`, and
    the msgid_plural is `key.plural` (what `tn` asks gettext for)."""
    catalog = load_catalog(lang)
    assert plurals("en"), "no plural entries at all"
    assert set(plurals(lang)) == set(plurals("en")), "a key is plural in one language only"
    for message in catalog:
        if not isinstance(message.id, tuple):
            continue
        key, plural_id = message.id
        assert plural_id == f"{key}.plural"
        forms = plurals(lang)[key]
        assert len(forms) == catalog.num_plurals, key
        assert all(forms) and all("{count}" in form for form in forms), key
        other = placeholders(forms[-1])
        assert all(placeholders(form) == other for form in forms), key


def test_every_string_is_valid_telegram_html() -> None:
    problems = {f"{lang}:{key}": html_problems(text) for lang, key, text in all_strings()}
    assert {where: found for where, found in problems.items() if found} == {}


def test_every_string_parses_like_telegram() -> None:
    """The fake Bot API's parser (a copy of Telegram's) accepts every text with values filled in."""
    telegram_html = pytest.importorskip("sandbox.telegram_html")
    refused = {}
    for lang, key, text in all_strings():
        filled = text.format(**dict.fromkeys(placeholders(text), "1 &lt;x&gt;"))
        try:
            telegram_html.parse_html(filled)
        except telegram_html.HtmlParseError as error:
            refused[f"{lang}:{key}"] = str(error)
    assert refused == {}


def test_button_labels_are_short() -> None:
    too_long = {
        f"{lang}:{key}": len(text)
        for lang, key, text in all_strings()
        if key.startswith(BUTTON_PREFIXES) and len(text) > BUTTON_MAX_CHARS
    }
    assert too_long == {}, f"button labels must fit {BUTTON_MAX_CHARS} characters"


def test_command_descriptions_fit_telegram_limits() -> None:
    bad = {
        f"{lang}:{key}": text
        for lang, key, text in all_strings()
        if key.startswith("command.") and not COMMAND_MIN_CHARS <= len(text.strip()) <= COMMAND_MAX_CHARS
    }
    assert bad == {}


def test_russian_is_actually_translated() -> None:
    """Words, not just symbols: every Russian text with letters has Cyrillic or is a proper name."""
    english = messages("en")
    untranslated = [
        key
        for key, text in messages("ru").items()
        if re.search(r"[A-Za-z]{3}", re.sub(r"\{[^{}]*\}|<[^<>]*>", "", text))
        and not re.search(r"[А-Яа-яЁё]", text)
        and text == english[key]
        and key not in ("choice.device.2", "choice.device.3", "choice.type_of_traffic.1")
    ]
    assert untranslated == []


# --- the catalogs against the code --------------------------------------------------------------------


def test_code_scan_finds_the_lookups() -> None:
    """Guards the scan itself: if it found nothing, the tests below would pass for nothing."""
    uses = key_uses()
    assert len([u for u in uses if u.key]) >= 50
    prefixes = {u.prefix for u in uses if u.prefix}
    assert {"state.", "refill.", "ledger.", "label.", "field.", "choice.", "command."} <= prefixes
    assert len(field_error_uses()) >= 10


@pytest.mark.parametrize("lang", LANGS)
def test_every_key_used_in_code_exists(lang: str) -> None:
    known = messages(lang)
    missing = sorted({f"{u.key} ({u.where})" for u in key_uses() if u.key and u.key not in known})
    assert missing == []


@pytest.mark.parametrize("lang", LANGS)
def test_every_key_family_used_in_code_exists(lang: str) -> None:
    known = messages(lang)
    missing = sorted(
        {
            f"{u.prefix}* ({u.where})"
            for u in key_uses()
            if u.prefix is not None and not any(key.startswith(u.prefix) for key in known)
        }
    )
    assert missing == []


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("family", sorted(DYNAMIC_FAMILIES))
def test_dynamic_families_are_complete(lang: str, family: str) -> None:
    known = messages(lang)
    missing = [f"{family}.{name}" for name in DYNAMIC_FAMILIES[family] if f"{family}.{name}" not in known]
    assert missing == []


@pytest.mark.parametrize("lang", LANGS)
def test_every_bot_command_has_a_description(lang: str) -> None:
    known = messages(lang)
    commands = bot_commands()
    assert commands
    assert [name for name in commands if f"command.{name}" not in known] == []


@pytest.mark.parametrize("lang", LANGS)
def test_every_form_field_has_a_prompt_label_and_choices(lang: str) -> None:
    known = messages(lang)
    fields = all_form_fields()
    assert fields
    wanted = set()
    for item in fields:
        wanted |= {f"field.{item.name}", f"label.{item.name}"}
        wanted |= {f"choice.{item.name}.{choice}" for choice in item.choices}
    assert sorted(wanted - set(known)) == []


@pytest.mark.parametrize("lang", LANGS)
def test_form_error_keys_exist(lang: str) -> None:
    known = messages(lang)
    uses = field_error_uses()
    assert uses
    missing = sorted({f"{u.key} ({u.where})" for u in uses if u.key not in known})
    assert missing == []


def test_plural_keys_are_asked_for_with_a_count() -> None:
    """`tn` only for plural entries; `t` of a plural entry only with a `count` to pick the form by
    (a FieldError's values carry it)."""
    plural_keys = set(plurals("en"))
    uses = (*key_uses(), *field_error_uses())
    assert any(u.plural for u in uses)
    wrong = sorted(
        f"{u.key} ({u.where})"
        for u in uses
        if u.key is not None
        and (
            (u.plural and u.key not in plural_keys)
            or (not u.plural and u.key in plural_keys and "count" not in u.kwargs)
        )
    )
    assert wrong == []


def test_code_passes_every_placeholder() -> None:
    """A template asking for a value the call does not pass would show `{name}` or raise KeyError."""
    english = messages("en")
    lacking: dict[str, list[str]] = {}
    for use in (*key_uses(), *field_error_uses()):
        if use.any_kwargs:
            continue
        if use.key is not None:
            keys = [use.key] if use.key in english else []
        else:
            assert use.prefix is not None
            keys = [key for key in family_members(use.prefix) if key in english]
        for key in keys:
            needed = placeholders(english[key]) - use.kwargs
            if needed:
                lacking[f"{key} ({use.where})"] = sorted(needed)
    assert lacking == {}


# --- the app's loader ---------------------------------------------------------------------------------


def test_loader_translates_and_escapes_values() -> None:
    from bot.i18n import create_i18n, t

    i18n = create_i18n()
    with i18n.context(), i18n.use_locale("ru"):
        text = t("start.welcome", name="<b>")
    assert "&lt;b&gt;" in text
    assert "<b>" not in text
    assert re.search(r"[А-Яа-яЁё]", text), text
    assert text == messages("ru")["start.welcome"].format(name="&lt;b&gt;")

    with i18n.context(), i18n.use_locale("en"):
        english = t("start.welcome", name="<b>")
    assert english == messages("en")["start.welcome"].format(name="&lt;b&gt;")
    assert english != text


@pytest.mark.parametrize("lang", LANGS)
def test_loader_serves_every_key(lang: str) -> None:
    """What the bot shows is what the .po says, for every key (nothing silently falls back)."""
    from bot.i18n import create_i18n, t, t_in

    i18n = create_i18n()
    expected = messages(lang)
    with i18n.context(), i18n.use_locale(lang):
        served = {key: t(key) for key in expected if key not in plurals(lang)}
        assert t_in(lang, "command.start") == expected["command.start"]
    assert {k: v for k, v in served.items() if v != expected[k]} == {}


@pytest.mark.parametrize(
    ("lang", "counts"),
    [("en", {1: 0, 2: 1, 5: 1, 11: 1, 21: 1}), ("ru", {1: 0, 2: 1, 5: 2, 11: 2, 21: 0, 22: 1, 112: 2})],
)
def test_loader_serves_the_plural_form_for_each_count(lang: str, counts: dict[int, int]) -> None:
    """`tn` (and `t` with a count) picks the form by the language's rule: 1 line / 2 lines;
    1 строка / 2 строки / 5 строк / 21 строка."""
    from bot.i18n import create_i18n, t, tn

    i18n = create_i18n()
    with i18n.context(), i18n.use_locale(lang):
        for key, forms in plurals(lang).items():
            for count, form in counts.items():
                values = dict.fromkeys(placeholders(forms[form]) - {"count"}, "x")
                wanted = forms[form].format(count=count, **values)
                assert tn(key, count, **values) == wanted, (key, count)
                assert t(key, count=count, **values) == wanted, (key, count)
