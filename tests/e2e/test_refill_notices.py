"""Refill outcomes and the customer's notice settings; the refill limits an owner tunes (issue #15).

A refill outcome is the answer to a request the customer made: it counts as a completion, so a
customer who chose "Completion and refunds" still gets it, and the settings screen says so.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.config import ConfigError, load_settings
from bot.services.growth.notices import OUTCOME_KINDS, PROGRESS_KINDS, STAFF_KINDS
from storage.models import NotificationKind
from tests.e2e.conftest import Shop
from tests.e2e.test_order_cards import completed_card, refill_cycle


def test_every_notice_kind_has_a_category() -> None:
    """A new kind of notice cannot skip the customer's setting by being forgotten here."""
    groups = (PROGRESS_KINDS, OUTCOME_KINDS, STAFF_KINDS)
    for kind in NotificationKind:
        assert sum(kind in group for group in groups) == 1, kind
    assert NotificationKind.REFILL_REJECTED in OUTCOME_KINDS


async def test_completion_only_customer_is_told_the_refill_outcome_and_the_screen_says_so(
    shop: Shop,
) -> None:
    await shop.restart(refill_unconfirmed_checks=1)  # REFILL_UNCONFIRMED_CHECKS=1
    ann = shop.user(1001, "Ann")
    await shop.fund(1001, "50")
    await ann.send_text("/notices")
    screen = await ann.wait_for_message(contains="every status change")
    await ann.press("Completion and refunds", screen)
    chosen = await ann.wait_for_message(contains="only when an order completes", edited=True)
    assert "when a refill you asked for has its result" in chosen.text

    card = await completed_card(shop, ann)
    await ann.press("♻️ Refill", card)
    await ann.wait_for_message(contains="Refill requested.")
    await refill_cycle(shop)  # one check without news is the owner's limit here
    told = await ann.wait_for_message(contains="does not report how it goes")
    assert "support" in told.text
    await refill_cycle(shop)
    await ann.assert_no_new_messages(within=0.5)


async def test_russian_notice_screen_names_refills(shop: Shop) -> None:
    ivan = shop.user(1002, "Иван", language_code="ru")
    await ivan.send_text("/notices")
    screen = await ivan.wait_for_message(contains="Уведомления о заказах")
    await ivan.press("Завершение и возвраты", screen)
    chosen = await ivan.wait_for_message(contains="только когда заказ выполнен", edited=True)
    assert "докрутки" in chosen.text


async def test_refill_limits_and_interval_come_from_the_settings(shop: Shop) -> None:
    app = await shop.restart(
        refill_poll_seconds=90, refill_error_limit=2, refill_unconfirmed_checks=4, refill_max_open_days=3
    )
    poller = app.dispatcher.workflow_data["poller"]
    assert (poller.refill_error_limit, poller.idless_refill_checks) == (2, 4)
    assert poller.refill_max_open == timedelta(days=3)
    job = app.dispatcher.workflow_data["scheduler"].get_job("refill_tracking")
    assert job.trigger.interval == timedelta(seconds=90)  # max(POLL_INTERVAL_SECONDS=1, 90)


def settings_with(**values: str) -> None:
    load_settings(
        _env_file=None,
        bot_token="1:x",
        panel_api_url="https://panel.example/api",
        panel_api_key="k",
        **values,
    )


def test_refill_settings_keep_their_defaults() -> None:
    settings = load_settings(
        _env_file=None, bot_token="1:x", panel_api_url="https://panel.example/api", panel_api_key="k"
    )
    assert settings.refill_poll_seconds == 60
    assert (settings.refill_unconfirmed_checks, settings.refill_error_limit) == (3, 5)
    assert settings.refill_max_open_days == 7


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("refill_poll_seconds", "5"),
        ("refill_unconfirmed_checks", "0"),
        ("refill_error_limit", "101"),
        ("refill_max_open_days", "0.5"),
    ],
)
def test_refill_settings_out_of_bounds_are_named(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name.upper()):
        settings_with(**{name: value})
