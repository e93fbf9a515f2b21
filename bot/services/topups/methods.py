"""The owner's manual payment methods (bank card, local wallets, a crypto address): name and
instructions per language, added, switched off and removed from the admin console."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.i18n import DEFAULT_LOCALE
from bot.services.admin.audit import write_audit
from storage.models import ManualPaymentMethod
from storage.repositories.topups import ManualMethodRepository

NAME_LIMIT = 40
INSTRUCTIONS_LIMIT = 2000
METHODS_LIMIT = 20


def localized(texts: Mapping[str, Any] | None, locale: str) -> str:
    """The text for `locale`, else English, else any language there is."""
    texts = texts or {}
    for code in (locale, DEFAULT_LOCALE):
        value = texts.get(code)
        if isinstance(value, str) and value.strip():
            return value
    return next((str(v) for v in texts.values() if isinstance(v, str) and v.strip()), "")


class ManualMethods:
    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self.session_factory = session_factory

    async def listed(self, *, enabled_only: bool) -> list[ManualPaymentMethod]:
        async with self.session_factory() as session:
            return await ManualMethodRepository(session).listed(enabled_only=enabled_only)

    async def get(self, method_id: int, *, include_deleted: bool = False) -> ManualPaymentMethod | None:
        async with self.session_factory() as session:
            repo = ManualMethodRepository(session)
            return await (repo.get_any(method_id) if include_deleted else repo.get(method_id))

    async def add(
        self, admin_id: int, names: Mapping[str, str], instructions: Mapping[str, str]
    ) -> ManualPaymentMethod | None:
        """A new enabled method; None when there are METHODS_LIMIT already."""
        clean_names = {k: v.strip()[:NAME_LIMIT] for k, v in names.items() if v and v.strip()}
        clean_texts = {k: v.strip()[:INSTRUCTIONS_LIMIT] for k, v in instructions.items() if v and v.strip()}
        async with self.session_factory.begin() as session:
            repo = ManualMethodRepository(session)
            existing = await repo.listed(enabled_only=False)
            if len(existing) >= METHODS_LIMIT:
                return None
            method = await repo.add(
                ManualPaymentMethod(
                    names=clean_names,
                    instructions=clean_texts,
                    enabled=True,
                    deleted=False,
                    position=max((m.position for m in existing), default=0) + 1,
                    created_by=admin_id,
                )
            )
            await write_audit(session, admin_id, "topup.method_add", method_id=method.id, names=clean_names)
        return method

    async def set_enabled(self, admin_id: int, method_id: int, enabled: bool) -> bool:
        async with self.session_factory.begin() as session:
            done = await ManualMethodRepository(session).update(method_id, enabled=enabled)
            if done:
                await write_audit(
                    session, admin_id, "topup.method_toggle", method_id=method_id, enabled=enabled
                )
        return done

    async def delete(self, admin_id: int, method_id: int) -> bool:
        async with self.session_factory.begin() as session:
            done = await ManualMethodRepository(session).update(method_id, deleted=True, enabled=False)
            if done:
                await write_audit(session, admin_id, "topup.method_delete", method_id=method_id)
        return done
