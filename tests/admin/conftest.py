"""Admin console tests run the real bot against the fake Bot API and the panel simulator (tests/e2e's Shop).

Helpers here set the world up (many customers at once, a photo or a document sent by a user) and
read what the admins' actions left behind (audit rows); everything else is asserted on what users
see in their chats.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select

from sandbox.telegram_server import FakeMessage, FakeTelegramServer, FakeUser, StoredFile
from storage.models import AdminAudit, User, utcnow
from tests.e2e.conftest import ADMIN_ID, Shop, shop, shop_servers, sim_state

__all__ = [
    "ADMIN_ID",
    "Shop",
    "add_customers",
    "admin_user",
    "audit_rows",
    "send_document",
    "send_photo",
    "service",
    "shop",
    "shop_servers",
    "sim_state",
]


def admin_user(shop: Shop) -> FakeUser:
    """The admin (ADMIN_ID) as a Telegram user."""
    if ADMIN_ID in shop.tg.users:
        return shop.tg.user(ADMIN_ID)
    return shop.user(ADMIN_ID, "Boss", username="boss")


async def customer_card(shop: Shop) -> tuple[FakeUser, FakeUser, FakeMessage]:
    """Ann (1001, @ann) has started the bot; the admin opens her profile card with `/user @ann`."""
    ann = shop.user(1001, "Ann", username="ann")
    await ann.send_text("/start")
    await ann.wait_for_message()
    admin = admin_user(shop)
    await admin.send_text("/user @ann")
    return ann, admin, await admin.wait_for_message(contains="id 1001")


def service(shop: Shop, name: str) -> Any:
    """A long-lived object of the running bot (workflow data), e.g. "broadcasts"."""
    assert shop.app is not None
    return shop.app.dispatcher.workflow_data[name]


async def add_customers(
    shop: Shop,
    ids: Iterable[int],
    *,
    language_code: str = "en",
    blocked: Iterable[int] = (),
    not_started: Iterable[int] = (),
) -> dict[int, FakeUser]:
    """Customers who used the bot before: in Telegram (fake) and in our users table, in one go.

    `blocked` users blocked the bot since (we do not know it yet); `not_started` never opened the chat.
    """
    assert shop.app is not None
    ids = list(ids)
    blocked, not_started = set(blocked), set(not_started)
    users = {
        user_id: shop.tg.add_user(
            user_id, f"User{user_id}", language_code=language_code, started=user_id not in not_started
        )
        for user_id in ids
    }
    for user_id in blocked:
        users[user_id].blocked = True  # silently: the bot learns it from a 403 when it writes
    now = utcnow()
    async with shop.app.session_factory.begin() as session:
        session.add_all(
            User(
                id=user_id,
                first_name=f"User{user_id}",
                language_code=language_code,
                created_at=now,
                last_seen_at=now,
            )
            for user_id in ids
        )
    return users


async def audit_rows(shop: Shop) -> list[AdminAudit]:
    assert shop.app is not None
    async with shop.app.session_factory() as session:
        return list((await session.execute(select(AdminAudit).order_by(AdminAudit.id))).scalars())


def _user_message(tg: FakeTelegramServer, user: FakeUser, **fields: Any) -> FakeMessage:
    user.mark_seen()
    message = tg._store_message(tg.chats[user.id], from_bot=False, sender=user.to_api(), **fields)
    tg._push("message", message.to_api())
    return message


def send_photo(tg: FakeTelegramServer, user: FakeUser, png: bytes, caption: str | None = None) -> FakeMessage:
    """The user sends a photo (uploaded to the fake server first, like a real client does)."""
    file_id = f"PHO{secrets.token_hex(8)}"
    tg.files[file_id] = StoredFile(
        file_id=file_id,
        file_unique_id=secrets.token_hex(8),
        data=png,
        file_path=f"photos/{file_id}.png",
        kind="photo",
        width=8,
        height=8,
    )
    sizes = [
        {"file_id": file_id, "file_unique_id": file_id[-12:], "width": 8, "height": 8, "file_size": len(png)}
    ]
    return _user_message(
        tg, user, caption=caption, html=caption, photo_data=png, file_id=file_id, extra={"photo": sizes}
    )


def send_document(tg: FakeTelegramServer, user: FakeUser, data: bytes, name: str) -> FakeMessage:
    file_id = f"DOC{secrets.token_hex(8)}"
    tg.files[file_id] = StoredFile(
        file_id=file_id,
        file_unique_id=secrets.token_hex(8),
        data=data,
        file_path=f"documents/{name}",
        kind="document",
        file_name=name,
        mime_type="text/plain",
    )
    document = {
        "file_id": file_id,
        "file_unique_id": file_id[-12:],
        "file_name": name,
        "file_size": len(data),
    }
    return _user_message(
        tg,
        user,
        document_data=data,
        document_name=name,
        document_mime="text/plain",
        file_id=file_id,
        extra={"document": document},
    )
