"""Which social platform a catalog category sells for, and which links fit that platform.

Pure: no Telegram, no database. Big panels list hundreds of categories; grouping them by platform
first (Instagram, TikTok, …, Other) keeps any service within a few taps, and knowing the platform
lets the order form ask for (and check) the right kind of link. Detection reads the panel's
category name; the owner may override it per category (`/platform`), and `Other` means "unknown":
links stay lenient there.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlsplit

OTHER = "other"


@dataclass(frozen=True)
class Platform:
    """A platform customers recognise. `hosts`: the link hosts of its posts and profiles (a
    subdomain of one fits too); none means any web link (website traffic, Other)."""

    slug: str
    name: str  # a brand name, the same in every language; `label_key` when it must be translated
    keywords: tuple[str, ...]
    hosts: tuple[str, ...] = ()
    example: str = ""
    label_key: str | None = None

    @property
    def checks_links(self) -> bool:
        return bool(self.hosts)


PLATFORMS: tuple[Platform, ...] = (
    Platform(
        "instagram",
        "Instagram",
        ("instagram", "insta", "ig", "инстаграм", "инстаграмм", "инста"),
        ("instagram.com", "instagr.am"),
        "https://instagram.com/p/…",
    ),
    Platform(
        "tiktok",
        "TikTok",
        ("tiktok", "tik tok", "tt", "тикток", "тик ток"),
        ("tiktok.com",),
        "https://tiktok.com/@name/video/…",
    ),
    Platform(
        "telegram",
        "Telegram",
        ("telegram", "tg", "телеграм", "телеграмм", "телега"),
        ("t.me", "telegram.me", "telegram.dog"),
        "https://t.me/channel/123",
    ),
    Platform(
        "youtube",
        "YouTube",
        ("youtube", "you tube", "yt", "ютуб", "ютьюб", "youtube shorts"),
        ("youtube.com", "youtu.be"),
        "https://youtube.com/watch?v=…",
    ),
    Platform(
        "facebook",
        "Facebook",
        ("facebook", "fb", "фейсбук", "фэйсбук"),
        ("facebook.com", "fb.com", "fb.watch", "fb.me"),
        "https://facebook.com/page/posts/…",
    ),
    Platform(
        "twitter",
        "X (Twitter)",
        ("twitter", "tweet", "tweets", "retweets", "твиттер", "^x"),
        ("twitter.com", "x.com"),
        "https://x.com/name/status/…",
    ),
    Platform(
        "threads",
        "Threads",
        ("threads", "instagram threads", "threads.net"),
        ("threads.net", "threads.com"),
        "https://threads.net/@name/post/…",
    ),
    Platform(
        "spotify",
        "Spotify",
        ("spotify", "спотифай"),
        ("spotify.com", "spotify.link"),
        "https://open.spotify.com/track/…",
    ),
    Platform("twitch", "Twitch", ("twitch", "твич"), ("twitch.tv",), "https://twitch.tv/name"),
    Platform(
        "discord",
        "Discord",
        ("discord", "дискорд"),
        ("discord.gg", "discord.com", "discordapp.com"),
        "https://discord.gg/invite",
    ),
    Platform(
        "linkedin",
        "LinkedIn",
        ("linkedin", "linked in"),
        ("linkedin.com", "lnkd.in"),
        "https://linkedin.com/in/name",
    ),
    Platform(
        "soundcloud",
        "SoundCloud",
        ("soundcloud", "sound cloud"),
        ("soundcloud.com",),
        "https://soundcloud.com/artist/track",
    ),
    Platform(
        "vk",
        "VK",
        ("vk", "vkontakte", "вк", "вконтакте", "вконтакт"),
        ("vk.com", "vk.ru", "vkvideo.ru"),
        "https://vk.com/wall-1_2",
    ),
    Platform(
        "pinterest", "Pinterest", ("pinterest",), ("pinterest.com", "pin.it"), "https://pinterest.com/pin/…"
    ),
    Platform("reddit", "Reddit", ("reddit",), ("reddit.com", "redd.it"), "https://reddit.com/r/…/comments/…"),
    Platform(
        "snapchat", "Snapchat", ("snapchat", "snap chat"), ("snapchat.com",), "https://snapchat.com/add/name"
    ),
    Platform(
        "website",
        "Website traffic",
        ("website traffic", "web traffic", "website", "site traffic", "seo", "трафик на сайт"),
        label_key="platform.website",
    ),
    Platform(OTHER, "Other", (), label_key="platform.other"),
)
BY_SLUG: dict[str, Platform] = {p.slug: p for p in PLATFORMS}
ORDER: dict[str, int] = {p.slug: index for index, p in enumerate(PLATFORMS)}


def _pattern(keyword: str) -> str:
    """A keyword as a whole word or phrase: `tg` never matches inside `instagram`, `ig` never in
    `big`. `^x` matches an `X` only at the very start (`X Followers`), never a stray letter."""
    if keyword.startswith("^"):
        return r"^" + re.escape(keyword[1:]) + r"(?!\w)"
    words = [re.escape(word) for word in keyword.split()]
    return r"(?<!\w)" + r"[\s_\-]*".join(words) + r"(?!\w)"


_DETECTORS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (platform.slug, re.compile(_pattern(keyword), re.IGNORECASE))
    for platform in PLATFORMS
    for keyword in platform.keywords
)


def detect_platform(*names: str | None) -> str:
    """The platform the first name that names one sells for, else `other`.

    Within a name the platform named first wins (`YouTube views from Instagram ads` is YouTube);
    at the same place the longer phrase wins (`Instagram Threads` is Threads).
    """
    for name in names:
        if name:
            found = _detect_one(name)
            if found is not None:
                return found
    return OTHER


@lru_cache(maxsize=8192)
def _detect_one(name: str) -> str | None:
    """One name's platform; kept, as the same category names are read on every catalog build."""
    text = " ".join(name.split())
    best: tuple[int, int, str] | None = None
    for slug, pattern in _DETECTORS:
        match = pattern.search(text)
        if match is None:
            continue
        rank = (match.start(), -len(match.group(0)), slug)
        if best is None or rank < best:
            best = rank
    return None if best is None else best[2]


def platform_of(override: str | None, *names: str | None) -> str:
    """The owner's choice when it names a platform we know, else what the names say."""
    if override and override in BY_SLUG:
        return override
    return detect_platform(*names)


def parse_platform(text: str) -> str | None:
    """An owner's `/platform` argument: a slug (`youtube`), a name (`YouTube`) or a keyword (`yt`)."""
    value = " ".join(text.split()).casefold()
    if not value:
        return None
    if value in BY_SLUG:
        return value
    for platform in PLATFORMS:
        if value == platform.name.casefold():
            return platform.slug
    detected = detect_platform(value)
    return None if detected == OTHER and value != OTHER else detected


def sort_key(slug: str, first_position: int) -> tuple[int, int]:
    """Platforms in the panel's order, `Other` always last."""
    return (1 if slug == OTHER else 0, first_position)


def host_fits(host: str, hosts: Iterable[str]) -> bool:
    host = host.casefold().rstrip(".")
    return any(host == known or host.endswith("." + known) for known in hosts)


def platform_of_host(host: str) -> Platform | None:
    """The known platform whose link this host is, if any."""
    for platform in PLATFORMS:
        if platform.hosts and host_fits(host, platform.hosts):
            return platform
    return None


class LinkMismatch(ValueError):
    """A link that cannot be for this platform: another platform's link (`other` set), or a bare
    site address with nothing to deliver to (`other` None)."""

    def __init__(self, expected: Platform, other: Platform | None) -> None:
        super().__init__(expected.slug)
        self.expected = expected
        self.other = other


def check_link(url: str, slug: str) -> None:
    """Raise LinkMismatch when a well-formed `url` cannot be for platform `slug`.

    Lenient on purpose: an unknown platform takes any web link, and a host we do not know (a
    country domain, a new short link) is let through; the panel has the last word.
    """
    expected = BY_SLUG.get(slug)
    if expected is None or not expected.checks_links:
        return
    parts = urlsplit(url)
    host = (parts.hostname or "").casefold()
    other = platform_of_host(host)
    if other is not None and other.slug != expected.slug:
        raise LinkMismatch(expected, other)
    if parts.path.strip("/") == "" and not parts.query and not parts.fragment:
        raise LinkMismatch(expected, None)


def pasted_link(text: str) -> str | None:
    """The platform slug (`other` when unknown) of a message that is just a link, else None.

    A link is one word with a web scheme, a `www.` start, or a known platform's host
    (`t.me/channel`, `instagram.com/p/…`): `tiktok views` or `example` stay a search.
    """
    value = text.strip()
    if not value or any(ch.isspace() for ch in value) or len(value) > 2000:
        return None
    lowered = value.casefold()
    has_scheme = lowered.startswith(("http://", "https://"))
    try:
        host = (urlsplit(value if has_scheme else "https://" + value).hostname or "").rstrip(".")
    except ValueError:  # a malformed address (`http://[::1`): a link all the same when it says so
        host = ""
    platform = platform_of_host(host) if "." in host else None
    if has_scheme or lowered.startswith("www.") or platform is not None:
        return platform.slug if platform is not None else OTHER
    return None
