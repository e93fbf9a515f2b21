"""Who is writing: profiles are read at most every few seconds, and bans and language changes
still apply — at once through our services, within the profile's lifetime otherwise."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.services.admin.users import AdminUsers
from bot.services.users import PROFILE_TTL, UserProfile, UserService
from storage.repositories.users import UserRepository


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def register(users: UserService, user_id: int = 1001, first_name: str = "Ann") -> UserProfile:
    return await users.register(user_id, username="ann", first_name=first_name, language_code="en")


async def test_a_ban_straight_in_the_database_applies_within_the_profile_lifetime(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    clock = Clock()
    users = UserService(session_factory, clock=clock)
    assert (await register(users)).created
    async with session_factory.begin() as session:  # e.g. another instance's admin console
        await UserRepository(session).set_banned(1001, True)
    clock.now += PROFILE_TTL / 2
    assert not (await register(users)).is_banned  # remembered for a few seconds
    clock.now += PROFILE_TTL
    assert (await register(users)).is_banned


async def test_a_ban_from_the_admin_console_applies_at_once(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    users = UserService(session_factory, clock=Clock())
    await register(users)
    assert await AdminUsers(session_factory, users).set_banned(1, 1001, True)
    assert (await register(users)).is_banned
    assert await AdminUsers(session_factory, users).set_banned(1, 1001, False)
    assert not (await register(users)).is_banned


async def test_language_choice_and_new_name_are_seen_at_once(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    users = UserService(session_factory, clock=Clock())
    await register(users)
    await users.set_locale(1001, "ru")
    assert (await register(users)).locale == "ru"
    renamed = await register(users, first_name="Anna")
    assert renamed.first_name == "Anna"
    async with session_factory() as session:
        stored = await UserRepository(session).get(1001)
    assert stored is not None and stored.first_name == "Anna"


async def test_writing_again_after_blocking_the_bot_clears_the_flag(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    users = UserService(session_factory, clock=Clock())
    await register(users)
    await users.mark_blocked(1001)
    await register(users)
    async with session_factory() as session:
        stored = await UserRepository(session).get(1001)
    assert stored is not None and stored.blocked_bot is False
