"""Users: registration, profile, flags."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Row, bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from storage.models import User, utcnow

PROFILE_COLUMNS = (
    User.id,
    User.username,
    User.first_name,
    User.language_code,
    User.locale,
    User.is_banned,
    User.blocked_bot,
    User.last_seen_at,
)
_PROFILE = select(*PROFILE_COLUMNS).where(User.id == bindparam("user_id"))


# id, username, first_name, language_code, locale, is_banned, blocked_bot, last_seen_at
ProfileRow = Row[int, str | None, str, str | None, str | None, bool, bool, datetime]


async def profile_row(connection: AsyncConnection, user_id: int) -> ProfileRow | None:
    """What every update needs to know of its sender (`PROFILE_COLUMNS`), over a plain connection."""
    return (await connection.execute(_PROFILE, {"user_id": user_id})).first()


class UserRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, user_id: int) -> User | None:
        return await self.session.get(User, user_id)

    async def get_by_username(self, username: str) -> User | None:
        """The account that holds @username now: names move between accounts, and a row keeps the
        name it was last seen with, so the most recently seen holder wins."""
        name = username.lstrip("@").lower()
        result = await self.session.execute(
            select(User)
            .where(func.lower(User.username) == name)
            .order_by(User.last_seen_at.desc(), User.id.desc())
            .limit(1)
        )
        return result.scalars().first()

    async def touch(
        self,
        user_id: int,
        *,
        username: str | None,
        first_name: str,
        language_code: str | None,
    ) -> tuple[User, bool]:
        """Create the user on first contact or refresh the profile; returns (user, created)."""
        user = await self.session.get(User, user_id)
        now = utcnow()
        if user is None:
            user = User(
                id=user_id,
                username=username,
                first_name=first_name,
                language_code=language_code,
                created_at=now,
                last_seen_at=now,
            )
            if username:
                await self.release_username(username, keep=user_id)
            self.session.add(user)
            await self.session.flush()
            return user, True
        if username and (user.username or "").lower() != username.lower():
            await self.release_username(username, keep=user_id)
        user.username = username
        user.first_name = first_name
        user.language_code = language_code
        user.last_seen_at = now
        if user.blocked_bot:
            user.blocked_bot = False  # they wrote to us, so they unblocked the bot
        return user, False

    async def release_username(self, username: str, *, keep: int) -> None:
        """A username now belongs to `keep`: older rows that still show it lose it (Telegram
        usernames are unique at any moment, so those rows are stale)."""
        await self.session.execute(
            update(User)
            .where(func.lower(User.username) == username.lstrip("@").lower(), User.id != keep)
            .values(username=None)
            .execution_options(synchronize_session=False)
        )

    async def set_locale(self, user_id: int, locale: str) -> None:
        await self.session.execute(update(User).where(User.id == user_id).values(locale=locale))

    async def set_banned(self, user_id: int, banned: bool) -> bool:
        result = await self.session.execute(update(User).where(User.id == user_id).values(is_banned=banned))
        return bool(getattr(result, "rowcount", 0))

    async def mark_blocked(self, user_id: int, blocked: bool = True) -> None:
        await self.session.execute(update(User).where(User.id == user_id).values(blocked_bot=blocked))

    async def count(self, *, since: datetime | None = None, active_since: datetime | None = None) -> int:
        query = select(func.count()).select_from(User)
        if since is not None:
            query = query.where(User.created_at >= since)
        if active_since is not None:
            query = query.where(User.last_seen_at >= active_since)
        return int((await self.session.execute(query)).scalar_one())
