"""The order in which feature routers see an update: errors first, catch-alls last."""

from __future__ import annotations

from aiogram import Router

from bot.handlers import balance, catalog, errors, fallback, order_form, orders, start


def feature_routers() -> list[Router]:
    return [
        errors.router.build(),
        start.router.build(),
        order_form.router.build(),
        catalog.router.build(),
        orders.router.build(),
        balance.router.build(),
        fallback.router.build(),
    ]
