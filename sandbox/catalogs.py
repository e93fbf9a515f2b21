"""Service catalogs for the panel simulator.

Each function returns service dicts *exactly as a panel's ``services`` action
returns them* (strings for numbers, PP-style booleans, optional
``description``/``average_time``), so the same data exercises the client's
tolerant parsing and the bot's catalog import.  All output is deterministic.
"""

from __future__ import annotations

import random
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

__all__ = [
    "ALL_SERVICE_TYPES",
    "doc_example_catalog",
    "generate_catalog",
    "realistic_catalog",
]

ALL_SERVICE_TYPES: tuple[str, ...] = (
    "Default",
    "Package",
    "SEO",
    "Custom Comments",
    "Custom Comments Package",
    "Mentions",
    "Mentions with Hashtags",
    "Mentions Custom List",
    "Mentions Hashtag",
    "Mentions User Followers",
    "Mentions Media Likers",
    "Comment Likes",
    "Comment Replies",
    "Poll",
    "Invites from Groups",
    "Subscriptions",
    "Web Traffic",
)
"""Every service type of family doc §2, in Perfect Panel spelling."""


def doc_example_catalog() -> list[dict[str, Any]]:
    """The two services of panel-api-v3.txt, verbatim (typo "First Cateogry" included)."""
    return [
        {
            "service": "30",
            "category": "First Cateogry",
            "name": "First Service",
            "description": "First Description",
            "rate": "0.8000",
            "min": "100",
            "max": "2000000",
            "type": "default",
            "dripfeed": "0",
            "refill": "0",
            "cancel": "0",
            "average_time": "0",
        },
        {
            "service": "2",
            "category": "Second Category",
            "name": "Second Service",
            "description": "Second Description",
            "rate": "0.8400",
            "min": "100",
            "max": "100000000",
            "type": "default",
            "dripfeed": "0",
            "refill": "0",
            "cancel": "0",
            "average_time": "0",
        },
    ]


# (product, type, base rate per 1000, min, max, dripfeed capable)
_Product = tuple[str, str, str, int, int, bool]

_PLATFORMS: dict[str, list[_Product]] = {
    "Instagram": [
        ("Followers", "Default", "1.20", 50, 100_000, True),
        ("Likes", "Default", "0.35", 20, 50_000, True),
        ("Views", "Default", "0.05", 100, 10_000_000, True),
        ("Story Views", "Default", "0.20", 100, 100_000, False),
        ("Reels Views", "Default", "0.04", 500, 10_000_000, True),
        ("Custom Comments", "Custom Comments", "12.00", 5, 1_000, False),
        ("Comments Package", "Custom Comments Package", "3.50", 1, 1, False),
        ("Mentions", "Mentions", "6.00", 100, 50_000, False),
        ("Mentions with Hashtags", "Mentions with Hashtags", "7.50", 100, 50_000, False),
        ("Mentions Custom List", "Mentions Custom List", "9.00", 10, 5_000, False),
        ("Mentions Hashtag", "Mentions Hashtag", "6.50", 100, 50_000, False),
        ("Mentions User Followers", "Mentions User Followers", "6.50", 100, 50_000, False),
        ("Mentions Media Likers", "Mentions Media Likers", "6.50", 100, 50_000, False),
        ("Comment Likes", "Comment Likes", "4.00", 20, 10_000, False),
        ("Comment Replies", "Comment Replies", "15.00", 5, 500, False),
        ("Auto Likes", "Subscriptions", "0.40", 50, 5_000, False),
        ("Profile Starter Package", "Package", "9.99", 1, 1, False),
    ],
    "TikTok": [
        ("Followers", "Default", "2.10", 100, 200_000, True),
        ("Likes", "Default", "0.60", 50, 100_000, True),
        ("Views", "Default", "0.02", 100, 50_000_000, True),
        ("Shares", "Default", "0.50", 100, 1_000_000, False),
        ("Saves", "Default", "0.45", 100, 1_000_000, False),
        ("Custom Comments", "Custom Comments", "14.00", 5, 1_000, False),
        ("Auto Views", "Subscriptions", "0.03", 500, 100_000, False),
    ],
    "YouTube": [
        ("Subscribers", "Default", "18.00", 50, 50_000, True),
        ("Views", "Default", "1.40", 500, 1_000_000, True),
        ("Likes", "Default", "1.10", 20, 100_000, True),
        ("Watch Time 4000h", "Package", "89.00", 1, 1, False),
        ("Custom Comments", "Custom Comments", "20.00", 5, 500, False),
        ("Comments Package", "Custom Comments Package", "15.00", 1, 1, False),
        ("Comment Likes", "Comment Likes", "3.50", 20, 10_000, False),
        ("Keyword Ranking", "SEO", "4.00", 1_000, 100_000, False),
        ("Community Poll Votes", "Poll", "2.50", 100, 100_000, False),
    ],
    "Telegram": [
        ("Members", "Default", "0.90", 100, 100_000, True),
        ("Post Views", "Default", "0.02", 100, 1_000_000, True),
        ("Reactions", "Default", "0.15", 10, 100_000, False),
        ("Poll Votes", "Poll", "0.80", 100, 50_000, False),
        ("Members from Groups", "Invites from Groups", "5.00", 100, 20_000, False),
        ("Auto Post Views", "Subscriptions", "0.03", 100, 50_000, False),
    ],
    "Twitter": [
        ("Followers", "Default", "4.20", 100, 100_000, True),
        ("Likes", "Default", "1.60", 20, 50_000, True),
        ("Retweets", "Default", "2.20", 20, 50_000, True),
        ("Poll Votes", "Poll", "1.20", 100, 100_000, False),
        ("Mentions", "Mentions", "5.00", 100, 20_000, False),
    ],
    "Facebook": [
        ("Page Likes", "Default", "2.80", 100, 100_000, True),
        ("Followers", "Default", "2.40", 100, 100_000, True),
        ("Post Likes", "Default", "1.00", 50, 50_000, True),
        ("Group Members", "Invites from Groups", "6.00", 100, 20_000, False),
        ("Custom Comments", "Custom Comments", "16.00", 5, 1_000, False),
        ("Page Boost Package", "Package", "19.00", 1, 1, False),
    ],
    "Spotify": [
        ("Plays", "Default", "0.70", 1_000, 10_000_000, True),
        ("Followers", "Default", "1.50", 100, 100_000, True),
        ("Monthly Listeners", "Default", "2.00", 500, 1_000_000, False),
        ("Playlist Followers", "Default", "1.80", 100, 100_000, False),
        ("Artist Promo Package", "Package", "49.00", 1, 1, False),
    ],
    "Website Traffic": [
        ("Worldwide Visitors", "Web Traffic", "0.60", 500, 1_000_000, True),
        ("Visitors from Google", "Web Traffic", "0.90", 500, 1_000_000, True),
        ("Backlinks", "SEO", "8.00", 100, 10_000, False),
        ("Mobile Traffic", "Web Traffic", "0.75", 500, 1_000_000, True),
    ],
}

# (label, rate multiplier, refill label or None, refill, cancel, average time)
_Tier = tuple[str, str, str | None, bool, bool, str | None]

_DEFAULT_TIERS: tuple[_Tier, ...] = (
    ("Cheapest [No Refill]", "0.6", None, False, False, None),
    ("Real [Refill 30d]", "1.0", "Refill 30d", True, True, "2 hours 15 minutes"),
    ("HQ [Refill 60d]", "1.3", "Refill 60d", True, True, "5 hours"),
    ("Premium [Refill 365d]", "2.2", "Refill 365d", True, False, "1 day"),
    ("Instant [Max 10K]", "0.9", None, False, True, "12 minutes"),
    ("Slow Drip [Max 50K]", "0.8", None, False, True, None),
    ("Targeted USA", "3.5", "Refill 30d", True, True, "8 hours"),
    ("Non Drop [Lifetime]", "2.8", "Lifetime Refill", True, False, None),
)

_SPECIAL_TIERS: tuple[_Tier, ...] = (
    ("Standard", "1.0", None, False, False, "1 hour"),
    ("Premium [Refill 30d]", "1.6", "Refill 30d", True, True, None),
)


def _money(value: Decimal) -> str:
    return str(value.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP))


def realistic_catalog() -> list[dict[str, Any]]:
    """A few hundred services across eight platforms covering every §2 type."""
    services: list[dict[str, Any]] = []
    next_id = 1
    for platform, products in _PLATFORMS.items():
        for product, service_type, base_rate, min_qty, max_qty, drip in products:
            tiers = _DEFAULT_TIERS if service_type == "Default" else _SPECIAL_TIERS
            for tier_index, (label, mult, refill_label, refill, cancel, avg) in enumerate(tiers):
                category = f"{platform} {product}"
                if refill_label:
                    category = f"{category} [{refill_label}]"
                rate = Decimal(base_rate) * Decimal(mult)
                tier_max = max_qty
                if "[Max 10K]" in label:
                    tier_max = min(max_qty, 10_000)
                elif "[Max 50K]" in label:
                    tier_max = min(max_qty, 50_000)
                flat = service_type in ("Package", "Custom Comments Package")
                entry: dict[str, Any] = {
                    "service": str(next_id),
                    "name": f"{platform} {product} - {label}",
                    "type": service_type,
                    "category": category,
                    "rate": _money(rate),
                    "min": str(1 if flat else min_qty),
                    "max": str(1 if flat else tier_max),
                    "dripfeed": bool(drip and tier_index % 2 == 1),
                    "refill": refill,
                    "cancel": cancel,
                }
                if tier_index % 3 != 2:
                    entry["description"] = (
                        f"{product} for {platform}. Start: 0-6 hours. Speed: up to "
                        f"{max(1, tier_max // 100)}/day. Link format: profile or post URL."
                    )
                if avg is not None:
                    entry["average_time"] = avg
                services.append(entry)
                next_id += 1
    return services


_HOSTILE_FRAGMENTS: tuple[str, ...] = (
    '<Fast> & "Cheap"',
    "</b><script>alert(1)</script>",
    "🔥🚀 Instant 💯 Followers ✅",
    "متابعين انستقرام حقيقيين",
    "עוקבים אמיתיים",
    "Followers\u200b\u200fhidden\u202e",
    "*bold* _italic_ [link](http://x) `code` ~strike~",
    "&amp; &lt;b&gt; &#39;quoted&#39;",
    "Line one\nLine two\r\nLine three",
    "Tab\tseparated\tname",
    "Ünïcödé Ñames — “quotes” «guillemets»",
    "{{template}} ${var} %s %d",
    "' OR 1=1; DROP TABLE services; --",
    "\\backslash\\ and /slash/",
)

_TYPE_SPELLINGS: dict[str, tuple[str, ...]] = {
    "Default": ("Default", "default", "DEFAULT"),
    "Custom Comments": ("Custom Comments", "custom_comments"),
    "Custom Comments Package": ("Custom Comments Package", "custom_comments_package"),
    "Subscriptions": ("Subscriptions", "subscriptions"),
    "Mentions Hashtag": ("Mentions Hashtag", "mentions hastag"),
    "Mentions User Followers": ("Mentions User Followers", "Mentions Users Followers"),
    "Comment Replies": ("Comment Replies", "Custom Replies"),
    "SEO": ("SEO", "SEO2"),
    "Invites from Groups": ("Invites from Groups", "Invites From Groups"),
}

_TRUE_FORMS: tuple[Any, ...] = (True, 1, "1", "true", "yes", "True")
_FALSE_FORMS: tuple[Any, ...] = (False, 0, "0", "false", "no", None)


def _hostile_text(rng: random.Random, base: str) -> str:
    pick = rng.randrange(6)
    if pick == 0:
        return f"{base} {rng.choice(_HOSTILE_FRAGMENTS)}"
    if pick == 1:
        return f"{rng.choice(_HOSTILE_FRAGMENTS)} {base} {rng.choice(_HOSTILE_FRAGMENTS)}"
    if pick == 2:
        return (f"{base} " + "Very long name " * 25).strip()  # 300+ characters
    return base


def _number_form(rng: random.Random, value: int | Decimal, hostile: bool) -> Any:
    if not hostile:
        return str(value)
    pick = rng.randrange(3)
    if pick == 0:
        return str(value)
    if pick == 1:
        return int(value) if isinstance(value, int) else float(value)
    return f" {value} " if isinstance(value, int) else str(value)


def generate_catalog(
    n_services: int, n_categories: int, *, hostile: bool = True, seed: int = 0
) -> list[dict[str, Any]]:
    """Thousands of services for load and escaping tests.

    With ``hostile`` the names, categories and descriptions carry HTML, script
    tags, Markdown, emoji, RTL/zero-width text and 300+ character names; ids,
    rates and limits arrive as strings or numbers; booleans in every form; type
    names in the variant spellings panels use. Every §2 type appears as long
    as ``n_services >= len(ALL_SERVICE_TYPES)``.
    """
    rng = random.Random(seed)
    n_categories = max(1, n_categories)
    platforms = list(_PLATFORMS)
    categories: list[str] = []
    for index in range(n_categories):
        base = f"{platforms[index % len(platforms)]} Category {index + 1}"
        categories.append(_hostile_text(rng, base) if hostile else base)
    services: list[dict[str, Any]] = []
    for index in range(n_services):
        canonical = ALL_SERVICE_TYPES[index % len(ALL_SERVICE_TYPES)]
        service_type = rng.choice(_TYPE_SPELLINGS.get(canonical, (canonical,))) if hostile else canonical
        flat = canonical in ("Package", "Custom Comments Package")
        min_qty = 1 if flat else rng.choice((10, 50, 100, 500, 1000))
        max_qty = 1 if flat else min_qty * rng.choice((10, 100, 1000, 10000))
        rate = (Decimal(rng.randint(1, 500_000)) / Decimal(10_000)).quantize(Decimal("0.0001"))
        name = f"Service {index + 1} {canonical}"
        service_id: Any = index + 1
        if not hostile or rng.random() < 0.5:
            service_id = str(service_id)
        entry: dict[str, Any] = {
            "service": service_id,
            "name": _hostile_text(rng, name) if hostile else name,
            "type": service_type,
            "category": categories[index % n_categories],
            "rate": _number_form(rng, rate, hostile),
            "min": _number_form(rng, min_qty, hostile),
            "max": _number_form(rng, max_qty, hostile),
        }
        drip_capable = canonical in ("Default", "Web Traffic")
        for flag, probability in (
            ("dripfeed", 0.4 if drip_capable else 0.0),
            ("refill", 0.3),
            ("cancel", 0.3),
        ):
            on = rng.random() < probability
            if hostile:
                entry[flag] = rng.choice(_TRUE_FORMS if on else _FALSE_FORMS)
            else:
                entry[flag] = on
        if rng.random() < 0.6:
            description = f"Description of service {index + 1}"
            key = "desc" if rng.random() < 0.3 else "description"
            entry[key] = _hostile_text(rng, description) if hostile else description
        if rng.random() < 0.3:
            entry["average_time"] = rng.choice(("0", "", "15 minutes", "3 hours 5 minutes", "2 days"))
        services.append(entry)
    return services
