"""Which platform a category name names, and which links fit a platform (bot/services/platforms.py)."""

from __future__ import annotations

from datetime import date

import pytest

from bot.services.forms import LINK as LINK_FIELD
from bot.services.forms import FieldError, ServiceRules, validate, validate_link
from bot.services.platforms import (
    OTHER,
    PLATFORMS,
    LinkMismatch,
    check_link,
    detect_platform,
    parse_platform,
    platform_of,
)
from sandbox.catalogs import realistic_catalog


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("Instagram Followers [Refill 30d]", "instagram"),
        ("🔥 IG Likes | Instant", "instagram"),
        ("Telegram Post Views", "telegram"),
        ("TG Members - Real", "telegram"),
        ("TikTok Views", "tiktok"),
        ("Tik Tok Likes", "tiktok"),
        ("TT Followers", "tiktok"),
        ("YouTube Views [Lifetime Refill]", "youtube"),
        ("YT Subscribers", "youtube"),
        ("X Followers", "twitter"),
        ("Twitter Retweets", "twitter"),
        ("Facebook Page Likes", "facebook"),
        ("FB Post Likes", "facebook"),
        ("Instagram Threads Followers", "threads"),
        ("Spotify Plays", "spotify"),
        ("Website Traffic Worldwide Visitors", "website"),
        ("Подписчики Телеграм", "telegram"),
        ("Инстаграм лайки", "instagram"),
        ("ВКонтакте друзья", "vk"),
        ("YouTube views from Instagram ads", "youtube"),  # the platform named first
        ("First Cateogry", OTHER),
        ("Big Likes", OTHER),  # `ig` only as a word
        ("Maximum Boost", OTHER),  # `x` only as the first word
        ("Fast Growth Tgx", OTHER),
        ("", OTHER),
    ],
)
def test_detection_from_a_category_name(name: str, slug: str) -> None:
    assert detect_platform(name) == slug


def test_telegram_is_never_read_into_instagram_and_back() -> None:
    assert detect_platform("Instagram") == "instagram"
    assert detect_platform("Telegram") == "telegram"
    assert detect_platform("InstaGram Telegram") == "instagram"


def test_every_demo_category_finds_its_platform() -> None:
    names = {entry["category"] for entry in realistic_catalog()}
    assert len(names) == 196
    assert all(detect_platform(name) != OTHER for name in names)


def test_the_owners_choice_wins_and_a_later_name_is_the_fallback() -> None:
    assert platform_of("youtube", "Telegram Members") == "youtube"
    assert platform_of(None, "Telegram Members") == "telegram"
    assert platform_of("no-such-platform", "Telegram Members") == "telegram"  # an old slug
    assert platform_of(None, "Mystery", "Instagram boost") == "instagram"  # the shop's own title


@pytest.mark.parametrize(
    ("typed", "slug"),
    [
        ("youtube", "youtube"),
        ("YouTube", "youtube"),
        ("yt", "youtube"),
        ("x (twitter)", "twitter"),
        ("other", OTHER),
        ("myspace", None),
        ("", None),
    ],
)
def test_parse_platform(typed: str, slug: str | None) -> None:
    assert parse_platform(typed) == slug


def test_every_platform_has_a_unique_slug_and_checked_ones_an_example() -> None:
    slugs = [p.slug for p in PLATFORMS]
    assert len(slugs) == len(set(slugs)) and slugs[-1] == OTHER
    for platform in PLATFORMS:
        if platform.checks_links:
            assert platform.example.startswith("https://")
            check_link(platform.example.replace("…", "x"), platform.slug)  # its own example fits


@pytest.mark.parametrize(
    "link",
    [
        "https://youtu.be/dQw4w9WgXcQ",
        "https://www.youtube.com/watch?v=dQw4w9WgXcQ",
        "https://m.youtube.com/@channel",
        "https://music.youtube.com/watch?v=1",
        "https://youtube.co.uk/watch?v=1",  # a host we do not know: the panel decides
    ],
)
def test_youtube_links_that_fit(link: str) -> None:
    check_link(link, "youtube")


@pytest.mark.parametrize(
    ("link", "other"),
    [
        ("https://instagram.com/p/abc", "instagram"),
        ("https://www.tiktok.com/@a/video/1", "tiktok"),
        ("https://t.me/channel/5", "telegram"),
        ("https://youtube.com", None),
        ("https://youtube.com/", None),
        ("https://example.com", None),
    ],
)
def test_youtube_refuses_other_platforms_and_bare_domains(link: str, other: str | None) -> None:
    with pytest.raises(LinkMismatch) as caught:
        check_link(link, "youtube")
    assert caught.value.expected.slug == "youtube"
    assert (caught.value.other.slug if caught.value.other else None) == other


def test_unknown_platforms_and_website_traffic_take_any_link() -> None:
    for slug in (OTHER, "website", "no-such-platform"):
        check_link("https://instagram.com", slug)
        check_link("https://example.com", slug)


def test_the_form_names_the_platform_it_expects() -> None:
    rules = ServiceRules("5", "default", 10, 1000, False, platform="youtube")
    with pytest.raises(FieldError) as caught:
        validate(rules, LINK_FIELD, "instagram.com/p/abc", {}, today=date(2026, 1, 1))
    assert caught.value.key == "form.error.link_platform"
    assert caught.value.values["platform"] == "YouTube" and caught.value.values["other"] == "Instagram"
    with pytest.raises(FieldError) as bare:
        validate_link("youtube.com", "youtube")
    assert bare.value.key == "form.error.link_bare"
    assert validate_link("youtu.be/x", "youtube") == "https://youtu.be/x"
    assert validate_link("instagram.com", OTHER) == "https://instagram.com"  # as before: lenient
