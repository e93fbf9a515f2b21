"""Start-up failures as one line each (no traceback, no secret), for `smmbot run` and `smmbot check`.

The README promises that a bot which cannot start says why in one line and exits non-zero: an
unwritable or missing database folder, a driver that is not async, a token Telegram rejects, a
Telegram it cannot reach. The full traceback stays available at LOG_LEVEL=DEBUG.
"""

from __future__ import annotations

import os
from pathlib import Path

from bot.config import Settings

PREFIX = "Start-up error: "


def database_path_problem(settings: Settings) -> str | None:
    """Why the SQLite file of DATABASE_URL cannot be used for writing, or None (also for PostgreSQL).

    SQLite writes beside the file too (its WAL and shared-memory files), so the folder must be
    writable as well as the file.
    """
    path = settings.sqlite_path()
    if path is None:
        return None
    if path.exists():
        if path.is_dir():
            return f"the database path {path} is a folder, not a file"
        if not os.access(path, os.R_OK | os.W_OK):
            return f"the database file {path} is not writable by this user"
        if not os.access(path.parent, os.W_OK | os.X_OK):
            return f"the database folder {path.parent} is not writable (SQLite writes its journal there)"
        return None
    folder = next((p for p in [path.parent, *path.parent.parents] if p.exists()), Path("."))
    if not folder.is_dir():
        return f"cannot create {path}: {folder} is a file, not a folder"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"cannot create {path}: {folder} is not writable by this user"
    return None


def describe_failure(error: BaseException, settings: Settings) -> str:
    """One line naming what stopped the bot, with every secret of the settings masked."""
    from aiogram.exceptions import (
        ClientDecodeError,
        TelegramAPIError,
        TelegramNetworkError,
        TelegramUnauthorizedError,
    )
    from sqlalchemy.exc import SQLAlchemyError

    from bot.check import make_scrubber, mask_url, reason_of

    scrub = make_scrubber(settings)
    if isinstance(error, TelegramUnauthorizedError):
        line = "Telegram rejected BOT_TOKEN (401 Unauthorized); copy it again from @BotFather"
    elif isinstance(error, TelegramNetworkError | TimeoutError):
        line = f"cannot reach Telegram at TELEGRAM_API_URL {settings.telegram_api_url} ({reason_of(error, scrub)})"
    elif isinstance(error, TelegramAPIError):
        line = f"Telegram refused the bot ({reason_of(error, scrub)})"
    elif isinstance(error, ClientDecodeError):  # a web page, not JSON: a proxy's error, a wrong URL
        line = (
            f"TELEGRAM_API_URL {settings.telegram_api_url} does not answer like a Bot API "
            f"({reason_of(error, scrub)})"
        )
    elif isinstance(error, SQLAlchemyError | OSError) or type(error).__module__.startswith("asyncpg"):
        line = f"cannot use the database {mask_url(settings.database_url)} ({reason_of(error, scrub)})"
    else:
        line = f"the bot stopped: {reason_of(error, scrub)}"
    return scrub(PREFIX + line)
