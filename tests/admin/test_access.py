"""Nobody but ADMIN_IDS reaches the admin console: its commands are unknown commands, its buttons stale.

One shop serves the whole module (starting one per case would take most of the suite's time);
every case checks that nothing changed and no audit row was written.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy import func, select

from bot.telegram.callbacks import AdminAdjustCb, AdminCatCb, AdminCb, AdminUserCb, BroadcastCb, ProblemCb
from sandbox.panel_simulator import PanelState, run_panel_simulator
from sandbox.telegram_server import FakeUser, run_fake_telegram
from storage.models import AdminAudit, AppSetting, Broadcast, LedgerEntry, Service, User
from tests.admin.conftest import admin_user
from tests.e2e.conftest import ADMIN_ID, SIM_KEY, Shop, e2e_database_url, shop_settings

pytestmark = pytest.mark.asyncio(loop_scope="module")

MALLORY = 666
VICTIM = 1001

ADMIN_COMMANDS = [
    "/admin",
    "/audit",
    "/broadcast Free money for everyone",
    "/broadcast",
    "/broadcasts",
    "/stopbroadcast 1",
    f"/user {VICTIM}",
    "/user @ann",
    f"/addbalance {MALLORY} 500 thanks",
    f"/takebalance {VICTIM} 5",
    "/stats",
    "/chart",
    "/panel",
    "/problems",
    "/attach 1 12345",
    "/notplaced 1",
    "/sync",
    "/admincatalog",
    "/hide 1",
    "/show 1",
    "/hidecat 1",
    "/showcat 1",
    "/rename 1 Hacked",
    "/renamecat 1 Hacked",
    "/platform 1 youtube",
    "/markup",
    "/markup 0",
    "/markup cat 1 0",
    "/markup svc 1 0",
    "/shopsettings",
    "/welcome <b>pwned</b>",
    "/welcome reset",
    "/maintenance closed forever",
    "/maintenance off",
]

SCREENS = [
    "menu",
    "broadcast",
    "broadcasts",
    "users",
    "stats",
    "chart",
    "panel",
    "problems",
    "catalog",
    "sync",
    "settings",
    "audit",
    "markup",
    "welcome",
    "welcome_reset",
    "maintenance_on",
    "maintenance_off",
]

FORGED_BUTTONS = [
    *(AdminCb(screen=screen).pack() for screen in SCREENS),
    BroadcastCb(action="aud", draft="00000000", value="all").pack(),
    BroadcastCb(action="send", draft="00000000").pack(),
    BroadcastCb(action="drop", draft="00000000").pack(),
    BroadcastCb(action="stop", id=1).pack(),
    AdminUserCb(id=VICTIM, action="view").pack(),
    AdminUserCb(id=VICTIM, action="ban").pack(),
    AdminUserCb(id=VICTIM, action="ban_yes").pack(),
    AdminAdjustCb(token="0123456789ab", msg=1, yes=True).pack(),
    AdminUserCb(id=MALLORY, action="unban").pack(),
    AdminUserCb(id=MALLORY, action="add").pack(),
    AdminUserCb(id=VICTIM, action="take").pack(),
    *(ProblemCb(id=1, action=action).pack() for action in ("attach", "refund", "refund_yes", "list")),
    *(AdminCatCb(action=action, id="1").pack() for action in ("cats", "cat", "hidecat", "showcat")),
    *(AdminCatCb(action=action, id="1").pack() for action in ("svc", "hide", "show")),
]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shop(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Shop]:
    tmp_path: Path = tmp_path_factory.mktemp("access")
    state = PanelState(api_key=SIM_KEY, partial_chance=0.0, refill_reject_chance=0.0)
    async with run_fake_telegram() as tg, run_panel_simulator(state) as sim:
        settings = shop_settings(tg, sim, await e2e_database_url(tmp_path))
        shop = Shop(tg, sim, settings)
        await shop.start()
        await shop.fund(VICTIM, "10")
        try:
            yield shop
        finally:
            await shop.stop()
        tg.assert_no_violations()
        tg.assert_all_callbacks_answered()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def mallory(shop: Shop) -> FakeUser:
    """A customer who knows the admin commands and how callback data looks."""
    user = shop.user(MALLORY, "Mallory", username="mallory")
    await user.send_text("/start")
    await user.wait_for_message(contains="Hello, Mallory")
    return user


async def assert_untouched(shop: Shop) -> None:
    assert shop.app is not None
    async with shop.app.session_factory() as session:

        async def count(*what: object) -> int:
            return int((await session.execute(select(func.count()).select_from(*what))).scalar_one())  # type: ignore[arg-type]

        assert await count(AdminAudit) == 0
        assert await count(Broadcast) == 0
        assert await count(LedgerEntry) == 1  # the victim's own deposit only
        settings = (await session.execute(select(AppSetting.key))).scalars().all()
        started = {
            "growth.referral_percent_default",
            "growth.alert_order_amount_default",
            "growth.alert_order_cursor",
        }
        assert [
            key for key in settings if key != "catalog_synced_at" and key not in started
        ] == []  # no markup, welcome, maintenance (start-up writes only the growth defaults)
        hidden = await session.execute(
            select(func.count()).where(Service.hidden.is_(True) | Service.title.is_not(None))
        )
        assert hidden.scalar_one() == 0
        banned = await session.execute(select(func.count()).where(User.is_banned.is_(True)))
        assert banned.scalar_one() == 0


@pytest.mark.parametrize("command", ADMIN_COMMANDS)
async def test_admin_commands_are_unknown_to_customers(shop: Shop, mallory: FakeUser, command: str) -> None:
    await mallory.send_text(command)
    reply = await mallory.wait_for_message()
    assert "do not know that command" in reply.text  # exactly what any unknown command gets
    assert "admin" not in reply.text.lower()
    await assert_untouched(shop)


@pytest.mark.parametrize("data", FORGED_BUTTONS)
async def test_forged_admin_buttons_are_stale_for_customers(shop: Shop, mallory: FakeUser, data: str) -> None:
    await mallory.press_data(data)
    answer = await mallory.wait_for_answer()
    assert answer.answer_text is not None and "no longer active" in answer.answer_text
    await assert_untouched(shop)


async def test_the_admin_gets_the_console(shop: Shop, mallory: FakeUser) -> None:
    """The same router answers the admin (so the refusals above are the filter, not a broken router)."""
    admin = admin_user(shop)
    await admin.send_text("/admin")
    menu = await admin.wait_for_message(contains="Admin console")
    assert "📊 Statistics" in menu.button_texts
    await admin.press("📊 Statistics", menu)
    await admin.wait_for_message(contains="Statistics", edited=True)
    assert shop.app is not None
    async with shop.app.session_factory() as session:
        actions = (await session.execute(select(AdminAudit.action, AdminAudit.admin_id))).all()
    assert [(a, who) for a, who in actions] == [("admin.menu", ADMIN_ID), ("report.stats", ADMIN_ID)]
