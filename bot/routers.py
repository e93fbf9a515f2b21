"""The order in which feature routers see an update: errors first, catch-alls last."""

from __future__ import annotations

from aiogram import Router

from bot.handlers import admin, balance, catalog, errors, fallback, growth, order_form, orders, start, topup


def feature_routers() -> list[Router]:
    return [
        errors.router.build(),
        growth.router.build(),  # before start: a referral deep link is a /start with a payload
        start.router.build(),
        topup.router.build(),  # payment updates in any state, so before every form
        admin.router.build(),  # only for ADMIN_IDS; anyone else's update passes through untouched
        order_form.router.build(),
        catalog.router.build(),
        orders.router.build(),
        balance.router.build(),
        fallback.router.build(),
    ]
