"""Fixtures for the fake Telegram server's own tests: a server, a real aiogram Bot, polling."""

from __future__ import annotations

import html
import struct
import zlib
from collections.abc import AsyncIterator

import pytest
from aiogram import Bot, Dispatcher, F, Router
from aiogram.filters import CommandStart
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from sandbox.telegram_server import FakeTelegramServer, run_fake_telegram


def make_png(width: int = 2, height: int = 1) -> bytes:
    """A valid RGB PNG (what a bot-rendered image looks like), built without Pillow."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def keyboard(*rows: list[tuple[str, str]]) -> InlineKeyboardMarkup:
    """Inline keyboard from rows of (text, callback_data)."""
    return InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text=t, callback_data=d) for t, d in row] for row in rows]
    )


def demo_router() -> Router:
    """A tiny bot: /start menu with paging buttons, an echo, a callback left unanswered."""
    router = Router()

    @router.message(CommandStart())
    async def start(message: Message) -> None:
        await message.answer(
            "<b>Welcome</b>, friend! Pick a page:",
            parse_mode="HTML",
            reply_markup=keyboard([("Next ▶", "page:2")], [("Silent", "silent"), ("Alert", "alert")]),
        )

    @router.callback_query(F.data.startswith("page:"))
    async def page(callback: CallbackQuery) -> None:
        number = int((callback.data or "page:1").split(":")[1])
        assert isinstance(callback.message, Message)
        await callback.message.edit_text(
            f"Page {number}", reply_markup=keyboard([("Next ▶", f"page:{number + 1}")])
        )
        await callback.answer()

    @router.callback_query(F.data == "alert")
    async def alert(callback: CallbackQuery) -> None:
        await callback.answer("Out of stock", show_alert=True)

    @router.callback_query(F.data == "silent")
    async def silent(callback: CallbackQuery) -> None:
        """Deliberately never answers, so the fake must report it."""

    @router.message(F.text)
    async def echo(message: Message) -> None:
        await message.answer(f"Echo: <i>{html.escape(message.text or '')}</i>", parse_mode="HTML")

    return router


@pytest.fixture
async def tg() -> AsyncIterator[FakeTelegramServer]:
    async with run_fake_telegram() as server:
        yield server
        # Every result the fake produced matched the spec's return types.
        assert server.internal_errors == []


@pytest.fixture
async def bot(tg: FakeTelegramServer) -> AsyncIterator[Bot]:
    bot = tg.create_bot()
    try:
        yield bot
    finally:
        await bot.session.close()


@pytest.fixture
async def polling(tg: FakeTelegramServer, bot: Bot) -> AsyncIterator[Dispatcher]:
    """Run a real aiogram Dispatcher in polling mode against the fake."""
    dp = Dispatcher()
    dp.include_router(demo_router())
    async with tg.polling(dp, bot):
        yield dp
