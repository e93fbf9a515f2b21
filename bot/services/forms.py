"""What an order form asks for each service type, and how each answer is checked.

Pure functions: no Telegram, no database. The handler shows the prompt of the current field,
feeds the user's text to `validate`, and moves on. A failed check raises `FieldError` with a
locale key and values for the message; the conversation stays on the same field.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from urllib.parse import urlsplit

from bot.services.platforms import OTHER, LinkMismatch, check_link

MAX_LIST_LINES = 10_000
MAX_LINE_LENGTH = 500
MAX_RUNS = 1000
MAX_INTERVAL_MINUTES = 1440
SUBSCRIPTION_DELAYS = (0, 5, 10, 15, 30, 60, 90)
# A list answer may come as a .txt document: Telegram cuts a message at 4096 characters, and
# 1000 comments do not fit. 256 KB holds MAX_LIST_LINES lines of ordinary length.
LIST_KINDS = frozenset({"lines", "counted_lines", "usernames", "counted_usernames", "hashtags"})
MAX_LIST_FILE_BYTES = 256 * 1024
TEXT_FILE_SUFFIX = ".txt"
TEXT_FILE_MIME = "text/plain"

_HOST_RE = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{1,62}$", re.I)
_LINK_FORBIDDEN = frozenset('<>"`\\')
_USERNAME_RE = re.compile(r"^@?[A-Za-z0-9_.]{1,64}$")
_HASHTAG_RE = re.compile(r"^#?[\w]{1,100}$", re.UNICODE)
# Digits are ASCII only: `\d` and int() also take other scripts' digits ("²", "٣").
_SEPARATORS = ", _\u00a0\u202f"
_NUMBER_RE = re.compile(r"\+?(?:[0-9]+|[0-9]{1,3}(?:[, _\u00a0\u202f][0-9]{3})+)")
MAX_DIGITS = 15


class FieldError(ValueError):
    """A user's answer failed a check; `key` names the locale message, `values` fill it."""

    def __init__(self, key: str, **values: Any) -> None:
        super().__init__(key)
        self.key = key
        self.values = values


@dataclass(frozen=True)
class ServiceRules:
    """What the form needs to know of a service."""

    service_id: str
    type_key: str
    min_quantity: int
    max_quantity: int
    dripfeed: bool
    platform: str = OTHER  # bot.services.platforms: which links fit the order's `link`


@dataclass(frozen=True)
class FormField:
    """One question of the form. `kind` picks the validator and the prompt's locale key."""

    name: str
    kind: str
    optional: bool = False
    choices: tuple[str, ...] = ()
    when: Callable[[Mapping[str, Any]], bool] | None = field(default=None, compare=False)

    def applies(self, values: Mapping[str, Any]) -> bool:
        return self.when is None or self.when(values)


def _dripfeed_on(values: Mapping[str, Any]) -> bool:
    return values.get("dripfeed") == "yes"


LINK = FormField("link", "link")
QUANTITY = FormField("quantity", "quantity")
DRIPFEED_CHOICE = FormField("dripfeed", "choice", choices=("no", "yes"))
DRIPFEED_RUNS = (
    FormField("runs", "runs", when=_dripfeed_on),
    FormField("interval", "interval", when=_dripfeed_on),
)

# Family doc §2; keys are normalised type names (bot.panel.normalize_service_type).
FIELDS_BY_TYPE: dict[str, tuple[FormField, ...]] = {
    "default": (LINK, QUANTITY),
    "package": (LINK,),
    "seo": (LINK, QUANTITY, FormField("keywords", "lines")),
    "custom comments": (LINK, FormField("comments", "counted_lines")),
    "custom comments package": (LINK, FormField("comments", "lines")),
    "mentions": (LINK, QUANTITY, FormField("usernames", "usernames")),
    "mentions with hashtags": (
        LINK,
        QUANTITY,
        FormField("usernames", "usernames"),
        FormField("hashtags", "hashtags"),
    ),
    "mentions custom list": (LINK, FormField("usernames", "counted_usernames")),
    "mentions hashtag": (LINK, QUANTITY, FormField("hashtag", "hashtag")),
    "mentions user followers": (LINK, QUANTITY, FormField("username", "username")),
    "mentions media likers": (LINK, QUANTITY, FormField("media", "link")),
    "comment likes": (LINK, QUANTITY, FormField("username", "username")),
    "comment replies": (LINK, FormField("username", "username"), FormField("comments", "counted_lines")),
    "poll": (LINK, QUANTITY, FormField("answer_number", "positive_int")),
    "invites from groups": (LINK, QUANTITY, FormField("groups", "lines")),
    "subscriptions": (
        FormField("username", "username"),
        FormField("min", "sub_min"),
        FormField("max", "sub_max"),
        # Required: the price is taken upfront for `max` on each of `posts` posts.
        FormField("posts", "positive_int"),
        FormField("delay", "choice", choices=tuple(str(d) for d in SUBSCRIPTION_DELAYS)),
        FormField("expiry", "future_date", optional=True),
    ),
    "web traffic": (
        LINK,
        QUANTITY,
        FormField("country", "text"),
        FormField("device", "choice", choices=("1", "2", "3", "4", "5")),
        FormField("type_of_traffic", "choice", choices=("1", "2", "3")),
        FormField("google_keyword", "text", when=lambda v: v.get("type_of_traffic") == "1"),
        FormField("referring_url", "link", when=lambda v: v.get("type_of_traffic") == "2"),
    ),
}
DRIPFEED_TYPES = frozenset({"default", "web traffic"})


def form_fields(rules: ServiceRules) -> tuple[FormField, ...]:
    """The questions for this service; unknown types ask what the doc's basic order names."""
    base = FIELDS_BY_TYPE.get(rules.type_key, FIELDS_BY_TYPE["default"])
    drips = rules.type_key in DRIPFEED_TYPES or rules.type_key not in FIELDS_BY_TYPE
    if rules.dripfeed and drips and QUANTITY in base:
        # Asked before the quantity: with drip-feed the quantity is per run and min/max apply to the total.
        index = base.index(QUANTITY)
        base = (*base[:index], DRIPFEED_CHOICE, QUANTITY, *DRIPFEED_RUNS, *base[index + 1 :])
    return base


def applicable_fields(rules: ServiceRules, values: Mapping[str, Any]) -> list[FormField]:
    return [f for f in form_fields(rules) if f.applies(values)]


def next_field(rules: ServiceRules, values: Mapping[str, Any]) -> FormField | None:
    """The first applicable question not answered yet, or None when the form is complete."""
    for item in applicable_fields(rules, values):
        if item.name not in values:
            return item
    return None


def previous_field(rules: ServiceRules, values: Mapping[str, Any], current: str | None) -> FormField | None:
    """The question before `current` (or the last one when the form is complete)."""
    fields = applicable_fields(rules, values)
    names = [f.name for f in fields]
    if current is None:
        return fields[-1] if fields else None
    if current not in names:
        return None
    index = names.index(current)
    return fields[index - 1] if index > 0 else None


# --- validators ---------------------------------------------------------------------------------


def parse_int(text: str) -> int:
    """A whole number as people type it: plain digits, or groups of three digits split by one kind
    of separator ("1,000", "10 000"). "100,5" or "1,00" could mean a fraction, so they are refused
    rather than read as 1005 or 100. A number of more than MAX_DIGITS digits is "too large" without
    being converted (bounded work on a pasted wall of digits)."""
    value = text.strip()
    match = _NUMBER_RE.fullmatch(value)
    if match is None or len({sep for sep in _SEPARATORS if sep in value}) > 1:
        raise FieldError("form.error.not_a_number")
    digits = re.sub(r"[^0-9]", "", value).lstrip("0") or "0"
    if len(digits) > MAX_DIGITS:
        raise FieldError("form.error.too_large")
    return int(digits)


def _not_in_links(ch: str) -> bool:
    """A character no real link carries: markup and quotes (`<b>`, `"`), a backslash or backtick,
    whitespace, control and invisible format characters (a zero-width space, a bidi override).
    Letters of any script and %-escapes stay: browsers show and send links with them."""
    return ch in _LINK_FORBIDDEN or ch.isspace() or unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn")


def ascii_host(host: str) -> str:
    """`пример.рф` -> `xn--e1afmkfd.xn--p1ai` (IDNA), so a national domain is checked like any
    other; "" when it cannot be a domain name at all."""
    if host.isascii():
        return host
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        return ""


def validate_link(text: str, platform: str = OTHER) -> str:
    """A web link with a real-looking host; `instagram.com/x` gets https:// added.

    For a known platform the link must not be another platform's nor a bare site address
    (bot.services.platforms.check_link); any web link fits an unknown one.
    """
    value = text.strip()
    if not value or len(value) > 2000 or any(_not_in_links(ch) for ch in value):
        raise FieldError("form.error.link")
    if "://" not in value:
        value = "https://" + value
    parts = urlsplit(value)
    host = (parts.hostname or "").rstrip(".")
    if parts.scheme not in ("http", "https") or not _HOST_RE.match(ascii_host(host)):
        raise FieldError("form.error.link")
    try:
        check_link(value, platform)
    except LinkMismatch as error:
        expected = error.expected
        if error.other is not None:
            raise FieldError(
                "form.error.link_platform",
                platform=expected.name,
                other=error.other.name,
                example=expected.example,
            ) from None
        raise FieldError("form.error.link_bare", platform=expected.name, example=expected.example) from None
    return value


def validate_quantity(text: str, low: int, high: int) -> int:
    try:
        value = parse_int(text)
    except FieldError as error:
        if error.key == "form.error.too_large":  # a huge number is out of this service's range too
            raise FieldError("form.error.quantity_range", min=low, max=high) from None
        raise
    if not low <= value <= high:
        raise FieldError("form.error.quantity_range", min=low, max=high)
    return value


def split_lines(text: str) -> list[str]:
    # Telegram clients send \n, but pasted text may carry \r\n or a bare \r: each is a line break.
    lines = [line.strip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    lines = [line for line in lines if line]
    if not lines:
        raise FieldError("form.error.empty_list")
    if len(lines) > MAX_LIST_LINES:
        raise FieldError("form.error.too_many_lines", max=MAX_LIST_LINES)
    if any(len(line) > MAX_LINE_LENGTH for line in lines):
        raise FieldError("form.error.line_too_long", max=MAX_LINE_LENGTH)
    return lines


def takes_list_file(item: FormField) -> bool:
    """The field is a list, one item per line: a .txt document may answer it."""
    return item.kind in LIST_KINDS


def check_list_file(
    item: FormField, *, file_name: str | None, mime_type: str | None, size: int | None
) -> None:
    """Before downloading: the field takes a list, the file is plain text (by its name or its type:
    clients differ in which they send) and small enough. Raises FieldError."""
    if not takes_list_file(item):
        raise FieldError("form.error.file_not_list")
    name_ok = (file_name or "").lower().endswith(TEXT_FILE_SUFFIX)
    type_ok = (mime_type or "").split(";")[0].strip().lower() == TEXT_FILE_MIME
    if not (name_ok or type_ok):
        raise FieldError("form.error.file_type")
    if size is not None and size > MAX_LIST_FILE_BYTES:
        raise FieldError("form.error.file_too_big", max=MAX_LIST_FILE_BYTES // 1024)


def decode_list_file(data: bytes) -> str:
    """The downloaded file as text: UTF-8 (a byte-order mark dropped); anything else is refused
    rather than guessed, and so is a binary file that only calls itself text."""
    if len(data) > MAX_LIST_FILE_BYTES:
        raise FieldError("form.error.file_too_big", max=MAX_LIST_FILE_BYTES // 1024)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise FieldError("form.error.file_encoding") from None
    if "\x00" in text:
        raise FieldError("form.error.file_encoding")
    return text


def validate_username(text: str) -> str:
    value = text.strip()
    if value.startswith(("http://", "https://")):
        return validate_link(value)
    if not _USERNAME_RE.match(value):
        raise FieldError("form.error.username")
    return value.lstrip("@")


def validate_hashtag(text: str) -> str:
    value = text.strip()
    if not _HASHTAG_RE.match(value):
        raise FieldError("form.error.hashtag")
    return value if value.startswith("#") else "#" + value


def validate_future_date(text: str, today: date) -> str:
    value = text.strip()
    try:
        parsed = datetime.strptime(value, "%d/%m/%Y").date()
    except ValueError:
        raise FieldError("form.error.date") from None
    if parsed <= today:
        raise FieldError("form.error.date_past")
    return parsed.strftime("%d/%m/%Y")


def validate(
    rules: ServiceRules, item: FormField, text: str, values: Mapping[str, Any], *, today: date
) -> Any:
    """Check one answer; returns the value to keep (str, int or list of lines)."""
    kind = item.kind
    if kind == "link":
        # The order's own link fits the service's platform; other links (a referrer) are any link.
        return validate_link(text, rules.platform if item.name == "link" else OTHER)
    if kind == "quantity":
        runs_known = values.get("dripfeed") == "yes"
        return (
            validate_quantity(text, rules.min_quantity, rules.max_quantity)
            if not runs_known
            else parse_int(text)
        )
    if kind == "lines":
        return split_lines(text)
    if kind == "counted_lines":
        lines = split_lines(text)
        if not rules.min_quantity <= len(lines) <= rules.max_quantity:
            raise FieldError(
                "form.error.count_range", count=len(lines), min=rules.min_quantity, max=rules.max_quantity
            )
        return lines
    if kind in ("usernames", "counted_usernames"):
        names = [validate_username(line) for line in split_lines(text)]
        if kind == "counted_usernames" and not rules.min_quantity <= len(names) <= rules.max_quantity:
            raise FieldError(
                "form.error.count_range", count=len(names), min=rules.min_quantity, max=rules.max_quantity
            )
        return names
    if kind == "hashtags":
        return [validate_hashtag(line) for line in split_lines(text)]
    if kind == "hashtag":
        return validate_hashtag(text)
    if kind == "username":
        return validate_username(text)
    if kind == "positive_int":
        number = parse_int(text)
        if number < 1:
            raise FieldError("form.error.positive")
        return number
    if kind == "runs":
        runs = parse_int(text)
        if not 2 <= runs <= MAX_RUNS:
            raise FieldError("form.error.runs", max=MAX_RUNS)
        total = int(values.get("quantity", 0)) * runs
        if not rules.min_quantity <= total <= rules.max_quantity:
            raise FieldError(
                "form.error.total_range", total=total, min=rules.min_quantity, max=rules.max_quantity
            )
        return runs
    if kind == "interval":
        minutes = parse_int(text)
        if not 1 <= minutes <= MAX_INTERVAL_MINUTES:
            raise FieldError("form.error.interval", max=MAX_INTERVAL_MINUTES)
        return minutes
    if kind == "sub_min":
        return validate_quantity(text, rules.min_quantity, rules.max_quantity)
    if kind == "sub_max":
        number = validate_quantity(text, rules.min_quantity, rules.max_quantity)
        if number < int(values.get("min", 0)):
            raise FieldError("form.error.max_below_min", min=values.get("min"))
        return number
    if kind == "choice":
        value = text.strip().lower()
        aliases = {"да": "yes", "нет": "no", "y": "yes", "n": "no"}
        value = aliases.get(value, value)
        if value not in item.choices:
            raise FieldError("form.error.choice", choices=", ".join(item.choices))
        return value
    if kind == "future_date":
        return validate_future_date(text, today)
    if kind == "text":
        value = text.strip()
        if not value or len(value) > MAX_LINE_LENGTH:
            raise FieldError("form.error.text")
        return value
    raise FieldError("form.error.text")


def check_complete(rules: ServiceRules, values: Mapping[str, Any]) -> None:
    """Cross-field checks before the summary (drip-feed total within min/max)."""
    if values.get("dripfeed") == "yes" and "runs" in values:
        total = int(values["quantity"]) * int(values["runs"])
        if not rules.min_quantity <= total <= rules.max_quantity:
            raise FieldError(
                "form.error.total_range", total=total, min=rules.min_quantity, max=rules.max_quantity
            )
    elif "quantity" in values and not rules.min_quantity <= int(values["quantity"]) <= rules.max_quantity:
        raise FieldError("form.error.quantity_range", min=rules.min_quantity, max=rules.max_quantity)


@dataclass(frozen=True)
class OrderRequest:
    """A completed form turned into what the panel's `add` takes, plus what pricing needs."""

    link: str | None
    quantity: int | None  # units per run for drip-feed
    runs: int | None
    lines: int | None  # list length where the price depends on it
    params: dict[str, Any]  # AddOrder keyword arguments (without service_id)
    comment_lines: int | None = None  # Custom Comments Package: billed per line on some panels

    @property
    def total_quantity(self) -> int | None:
        if self.quantity is None:
            return self.lines
        return self.quantity * (self.runs or 1)


def build_request(rules: ServiceRules, values: Mapping[str, Any]) -> OrderRequest:
    params: dict[str, Any] = {}
    lines: int | None = None
    comment_lines: int | None = None
    for item in applicable_fields(rules, values):
        if item.name == "dripfeed" or item.name not in values or values[item.name] in (None, ""):
            continue
        value = values[item.name]
        if isinstance(value, list):
            if item.kind in ("counted_lines", "counted_usernames"):
                lines = len(value)
            if item.name == "comments":
                comment_lines = len(value)
            value = "\n".join(value)
        elif item.kind in ("choice",) and item.name in ("delay", "device", "type_of_traffic"):
            value = int(value)
        params[item.name] = value
    if rules.type_key == "custom comments package":
        lines = None
    quantity = params.get("quantity")
    if rules.type_key == "subscriptions" and "max" in params and "posts" in params:
        quantity = int(params["max"]) * int(params["posts"])  # the most the subscription can deliver
    return OrderRequest(
        link=params.get("link"),
        quantity=int(quantity) if quantity is not None else None,
        runs=params.get("runs"),
        lines=lines,
        params=params,
        comment_lines=comment_lines,
    )
