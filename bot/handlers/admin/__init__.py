"""The admin console's handlers.

Every handler sits under one parent router filtered by `IsAdmin` and `InPrivateChat` (never in a
group, where a card or ledger would reach everyone): for anyone else an update passes
straight on to the shop's routers, so an admin command is an unknown command and an admin button a
stale one (the fallback answers), and nothing hints that an admin console exists. Commands and
buttons come first, then the handlers that take free input in an admin state, so a command typed
mid-question still works.
"""

from __future__ import annotations

from aiogram import Router

from bot.handlers.admin import broadcast, catalog, growth, menu, payments, reports, settings, users
from bot.handlers.admin.common import InPrivateChat, IsAdmin


class AdminRoutes:
    """Builds a fresh admin Router per dispatcher, like `Routes.build` does for one table."""

    name = "admin"

    def build(self) -> Router:
        root = Router(name=self.name)
        root.message.filter(IsAdmin(), InPrivateChat())
        root.callback_query.filter(IsAdmin(), InPrivateChat())
        tables = [
            menu.router,
            broadcast.router,
            users.router,
            reports.router,
            catalog.router,
            settings.router,
            payments.router,
            growth.router,
            broadcast.inputs,
            users.inputs,
            reports.inputs,
            catalog.inputs,
            settings.inputs,
            payments.inputs,
            growth.inputs,
        ]
        root.include_routers(*(table.build() for table in tables))
        return root


router = AdminRoutes()
