"""A fake Telegram Bot API server for end-to-end tests and the offline demo.

Telegram cannot be reached from tests, and mocking aiogram would hide exactly the mistakes
that break a bot in production (wrong parameters, unescaped HTML, 65-byte callback_data,
"message is not modified", unanswered callback queries). So the bot under test keeps its real
aiogram HTTP session and talks to this server over HTTP on 127.0.0.1; the server validates
every call against the official spec and Telegram's limits, keeps a model of users, chats and
messages, and lets tests act as users (send text, press buttons) and wait for the reaction.

Typical use::

    async with run_fake_telegram() as tg:
        user = tg.add_user(1001, "Ann")
        async with tg.polling(build_dispatcher()):      # real aiogram polling against the fake
            await user.send_text("/start")
            menu = await user.wait_for_message(contains="Welcome")
            await user.press("Catalog")
            page = await user.wait_for_message(contains="Page 1")
        tg.assert_no_violations()

Accounting of rejected calls: spec, limit and markup errors, unknown chats, edits of missing
messages and callback-query misuse are *violations* (``server.violations``, unless inside
``server.expect_errors()``); "bot was blocked", "message is not modified", injected faults and
rate limiting are conditions a good bot handles, so they are only counted in ``server.stats``.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import json
import logging
import secrets
import struct
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp import web

from sandbox.telegram_limits import (
    LimitError,
    check_callback_answer,
    check_chat_action,
    check_commands,
    check_reply_markup,
    format_text,
)
from sandbox.telegram_payments import StarsPayments
from sandbox.telegram_spec import SpecError, TelegramSpec, UploadedFile, load_spec
from sandbox.telegram_state import (
    CallbackQueryRecord,
    ChatEvent,
    FakeChat,
    FakeMessage,
    FakeUser,
    MessageWaitTimeout,
    Notifier,
    ServerStats,
    Violation,
    is_png,
)

if TYPE_CHECKING:
    from aiogram import Bot, Dispatcher

__all__ = [
    "DEFAULT_TOKEN",
    "CallbackQueryRecord",
    "FakeChat",
    "FakeMessage",
    "FakeTelegramServer",
    "FakeUser",
    "MessageWaitTimeout",
    "ServerStats",
    "TelegramError",
    "Violation",
    "is_png",
    "run_fake_telegram",
]

log = logging.getLogger(__name__)

DEFAULT_TOKEN = "123456:TEST-TOKEN"  # noqa: S105 - a fake token for a fake server
BOT_FIRST_NAME = "Storefront Test Bot"
BOT_USERNAME = "storefront_test_bot"
PHOTO_MAX_BYTES = 10 * 1024 * 1024
DOCUMENT_MAX_BYTES = 50 * 1024 * 1024
BOT_DOWNLOAD_MAX_BYTES = 20 * 1024 * 1024  # getFile: "bots can download files of up to 20MB"
# Update types Telegram sends when allowed_updates is empty / never set.
DEFAULT_EXCLUDED_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
CONTROL_POLL_MAX = 60.0

_request_alive: contextvars.ContextVar[Callable[[], bool] | None] = contextvars.ContextVar(
    "_request_alive", default=None
)


class TelegramError(Exception):
    """An error answer. ``kind`` says how it is accounted for.

    ``violation``: the bot misbehaved (recorded unless expected). ``blocked``, ``not_modified``:
    normal conditions a good bot handles (only counted). ``injected``, ``rate_limited``: produced
    by fault injection / rate limiting (only counted).
    """

    def __init__(
        self,
        error_code: int,
        description: str,
        *,
        kind: str = "violation",
        parameters: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(description)
        self.error_code = error_code
        self.description = description
        self.kind = kind
        self.parameters = parameters

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"ok": False, "error_code": self.error_code, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def _bad_request(description: str) -> TelegramError:
    return TelegramError(400, f"Bad Request: {description}")


@dataclass
class _Fault:
    methods: frozenset[str] | None  # None: every method except getUpdates
    remaining: int
    error: Callable[[], TelegramError]

    def matches(self, method: str) -> bool:
        if self.remaining <= 0:
            return False
        if self.methods is None:
            return method != "getUpdates"
        return method.lower() in self.methods


@dataclass
class _Expectation:
    patterns: tuple[str, ...]
    errors: list[Violation]

    def accepts(self, violation: Violation) -> bool:
        return not self.patterns or any(p in violation.description for p in self.patterns)


@dataclass
class WebhookConfig:
    """What setWebhook configured."""

    url: str
    secret_token: str | None = None
    max_connections: int = 40
    ip_address: str | None = None
    has_custom_certificate: bool = False
    last_error_date: int | None = None
    last_error_message: str | None = None


MAX_WEBHOOK_CONNECTIONS = 100  # setWebhook's upper bound for max_connections


def _update_chat(update: dict[str, Any]) -> Any:
    """The chat an update belongs to (its delivery order is kept per chat), else its sender."""
    for kind, payload in update.items():
        if kind == "update_id" or not isinstance(payload, dict):
            continue
        chat = payload.get("chat")
        if isinstance(chat, dict) and "id" in chat:
            return chat["id"]
        sender = payload.get("from")
        if isinstance(sender, dict) and "id" in sender:
            return sender["id"]
    return ("update", update["update_id"])


@dataclass
class StoredFile:
    """An uploaded file, addressable by file_id like on Telegram's servers."""

    file_id: str
    file_unique_id: str
    data: bytes
    file_path: str
    kind: str
    file_name: str | None = None
    mime_type: str | None = None
    width: int = 0
    height: int = 0


@dataclass
class ApiCall:
    """One handled Bot API request (for debugging failing tests)."""

    method: str
    params: dict[str, Any]
    ok: bool
    error: str | None = None
    at: float = field(default_factory=time.monotonic)


@dataclass
class _CallContext:
    method: str
    raw: dict[str, Any]
    files: Mapping[str, UploadedFile]


Handler = Callable[[dict[str, Any], _CallContext], Awaitable[Any]]


def _image_size(data: bytes) -> tuple[int, int] | None:
    """Width/height of PNG, GIF, JPEG or WebP bytes; None if not an image Telegram accepts."""
    if is_png(data) and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return int(width), int(height)
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        width, height = struct.unpack("<HH", data[6:10])
        return int(width), int(height)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return 1, 1
    if data[:2] == b"\xff\xd8":
        i = 2
        while i + 9 < len(data):
            if data[i] != 0xFF:
                i += 1
                continue
            marker = data[i + 1]
            length = struct.unpack(">H", data[i + 2 : i + 4])[0]
            if marker in (0xC0, 0xC1, 0xC2):
                height, width = struct.unpack(">HH", data[i + 5 : i + 9])
                return int(width), int(height)
            i += 2 + length
        return 1, 1
    return None


async def _read_multipart(
    reader: aiohttp.MultipartReader, params: dict[str, Any], files: dict[str, UploadedFile]
) -> None:
    """Form fields into ``params``, file parts into ``files`` (requests and webhook replies)."""
    while True:
        part = await reader.next()
        if part is None:
            return
        if not isinstance(part, aiohttp.BodyPartReader) or part.name is None:
            continue
        if part.filename is not None:
            files[part.name] = UploadedFile(
                name=part.name,
                filename=part.filename,
                content_type=part.headers.get("Content-Type", "application/octet-stream"),
                data=bytes(await part.read()),
            )
        else:
            params[part.name] = await part.text()


class FakeTelegramServer:
    """In-process fake of api.telegram.org (see module docstring); Stars payments in telegram_payments.py."""

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        *,
        spec_path: Path | None = None,
        rate_limit_per_second: float | None = None,
        webhook_max_attempts: int = 3,
        webhook_retry_delay: float = 0.05,
        check_responses: bool = True,
    ) -> None:
        self.token = token
        self.spec: TelegramSpec = load_spec(spec_path)
        self.rate_limit_per_second = rate_limit_per_second
        self.webhook_max_attempts = webhook_max_attempts
        self.webhook_retry_delay = webhook_retry_delay
        self.check_responses = check_responses
        # Bugs of the fake itself (crashes, results that do not match the spec): never the bot's fault.
        self.internal_errors: list[str] = []
        prefix = token.split(":", 1)[0]
        self.bot_id = int(prefix) if prefix.isdigit() else 123456
        self.bot_user: dict[str, Any] = {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": BOT_FIRST_NAME,
            "username": BOT_USERNAME,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }
        self.users: dict[int, FakeUser] = {}
        self.chats: dict[int, FakeChat] = {}
        self.version = 0
        self.violations: list[Violation] = []
        self.expected_errors: list[Violation] = []
        self.stats = ServerStats()
        self.calls: list[ApiCall] = []
        self.commands: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.callback_queries: dict[str, CallbackQueryRecord] = {}
        self.files: dict[str, StoredFile] = {}
        self.updates: list[dict[str, Any]] = []
        self.allowed_updates: list[str] | None = None
        self.webhook: WebhookConfig | None = None
        # Like Telegram's, ids keep growing across restarts of the server, so a bot that keeps its
        # database (and its record of processed update ids) does not mistake new updates for old.
        self._next_update_id = int(time.time() * 10) % 1_000_000_000 + 1
        self._faults: list[_Fault] = []
        self._expectations: list[_Expectation] = []
        self._notifier = Notifier()
        self._send_window: deque[float] = deque()
        self._poll_generation = 0
        self._runner: web.AppRunner | None = None
        self._webhook_task: asyncio.Task[None] | None = None
        self.host = "127.0.0.1"
        self.port = 0
        self._handlers: dict[str, Handler] = {
            "getMe": self._get_me,
            "getUpdates": self._get_updates,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "sendMessage": self._send_message,
            "editMessageText": self._edit_message_text,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "editMessageCaption": self._edit_message_caption,
            "deleteMessage": self._delete_message,
            "deleteMessages": self._delete_messages,
            "answerCallbackQuery": self._answer_callback_query,
            "sendPhoto": self._send_photo,
            "sendDocument": self._send_document,
            "sendMediaGroup": self._send_media_group,
            "copyMessage": self._copy_message,
            "forwardMessage": self._forward_message,
            "sendChatAction": self._send_chat_action,
            "getChat": self._get_chat,
            "getFile": self._get_file,
            "close": self._true,
            "logOut": self._true,
        }
        self.payments = StarsPayments(self)
        self._handlers.update(self.payments.handlers())
        self.send_methods = frozenset(
            name
            for name, spec in self.spec.methods.items()
            if name in ("copyMessage", "forwardMessage", "copyMessages", "forwardMessages")
            or (name.startswith("send") and name != "sendChatAction" and "chat_id" in spec.fields)
        )

    # ------------------------------------------------------------------------------------------
    # lifecycle
    # ------------------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        """Where to point aiogram: ``TelegramAPIServer.from_base(server.base_url)``."""
        return f"http://{self.host}:{self.port}"

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Listen on ``host:port`` (0 picks a free port; read it back from ``base_url``)."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/_fake/users/{user_id}/send", self._control_send)
        app.router.add_post("/_fake/users/{user_id}/press", self._control_press)
        app.router.add_post("/_fake/users/{user_id}/block", self._control_block)
        app.router.add_post("/_fake/users/{user_id}/unblock", self._control_unblock)
        app.router.add_post("/_fake/users/{user_id}/pay", self.payments.control_pay)
        app.router.add_get("/_fake/users/{user_id}/messages", self._control_messages)
        app.router.add_get("/_fake/users/{user_id}/media/{message_id}", self._control_media)
        app.router.add_get("/_fake/violations", self._control_violations)
        app.router.add_route("*", "/bot{token}/{method}", self._http_api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._http_file)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        server = site._server
        assert server is not None
        sockets = getattr(server, "sockets", None) or []
        self.host = host
        self.port = int(sockets[0].getsockname()[1]) if sockets else port
        log.debug("fake Telegram listening on %s", self.base_url)

    async def stop(self) -> None:
        """Release long polls and waiters, stop webhook delivery, close the listener."""
        self._notifier.close()
        if self._webhook_task is not None:
            self._webhook_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._webhook_task
            self._webhook_task = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeTelegramServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def create_bot(self, **bot_kwargs: Any) -> Bot:
        """An aiogram Bot whose real HTTP session talks to this server (caller closes it)."""
        from aiogram import Bot
        from aiogram.client.session.aiohttp import AiohttpSession
        from aiogram.client.telegram import TelegramAPIServer

        class LocalSession(AiohttpSession):
            """aiogram's session without the 250 ms SSL-shutdown pause on close (plain local HTTP)."""

            async def close(self) -> None:
                if self._session is not None and not self._session.closed:
                    await self._session.close()

        session = LocalSession(api=TelegramAPIServer.from_base(self.base_url))
        return Bot(self.token, session=session, **bot_kwargs)

    @contextlib.asynccontextmanager
    async def polling(
        self, dispatcher: Dispatcher, bot: Bot | None = None, **polling_kwargs: Any
    ) -> AsyncIterator[Bot]:
        """Run ``dispatcher.start_polling`` against this server for the block; yields the Bot.

        Waits until the first getUpdates arrived, so user actions right after entering are seen.
        A bot created here (``bot=None``) is closed on exit.
        """
        own_bot = bot is None
        active = bot if bot is not None else self.create_bot()
        polling_kwargs.setdefault("handle_signals", False)
        polling_kwargs.setdefault("close_bot_session", False)
        before = self.stats.calls["getUpdates"]
        task = asyncio.create_task(
            dispatcher.start_polling(active, **polling_kwargs), name="fake-telegram-polling"
        )
        try:
            for _ in range(500):
                if self.stats.calls["getUpdates"] > before or task.done():
                    break
                await asyncio.sleep(0.01)
            if task.done():
                task.result()  # surface a startup failure
            yield active
        finally:
            if not task.done():
                with contextlib.suppress(RuntimeError):  # "Polling is not started"
                    await dispatcher.stop_polling()
                await asyncio.wait_for(task, 5)
            if own_bot:
                await active.session.close()

    # ------------------------------------------------------------------------------------------
    # test-facing world setup
    # ------------------------------------------------------------------------------------------
    def add_user(
        self,
        user_id: int,
        first_name: str = "Test",
        username: str | None = None,
        language_code: str | None = "en",
        *,
        last_name: str | None = None,
        started: bool = True,
    ) -> FakeUser:
        """Register a user with a private chat. ``started=False``: the bot gets "chat not found"."""
        if user_id in self.users:
            raise ValueError(f"user {user_id} already exists")
        user = FakeUser(
            self, user_id, first_name, username, language_code, last_name=last_name, started=started
        )
        user._cursor = self.version
        self.users[user_id] = user
        self.chats[user_id] = FakeChat(id=user_id, type="private", first_name=first_name, username=username)
        return user

    def user(self, user_id: int) -> FakeUser:
        """The registered user (KeyError if unknown)."""
        return self.users[user_id]

    def add_chat(
        self,
        chat_id: int,
        chat_type: str = "supergroup",
        title: str = "Test chat",
        username: str | None = None,
    ) -> FakeChat:
        """Register a group/supergroup/channel the bot is a member of (e.g. an admin channel)."""
        if chat_id in self.chats:
            raise ValueError(f"chat {chat_id} already exists")
        chat = FakeChat(id=chat_id, type=chat_type, title=title, username=username)
        self.chats[chat_id] = chat
        return chat

    def chat(self, chat_id: int) -> FakeChat:
        """The chat with this id (KeyError if unknown)."""
        return self.chats[chat_id]

    def push_update(self, update: Mapping[str, Any]) -> int:
        """Queue an arbitrary update (without update_id); returns its update_id."""
        kinds = [key for key in update if key != "update_id"]
        if len(kinds) != 1:
            raise ValueError(f"an update has exactly one payload field, got {kinds}")
        update_id = self._push(kinds[0], update[kinds[0]])
        if update_id is None:
            raise ValueError(
                f"update type {kinds[0]!r} is excluded by allowed_updates={self.allowed_updates}"
            )
        return update_id

    async def wait_for_chat_message(
        self,
        chat_id: int,
        predicate: Callable[[FakeMessage], bool] | None = None,
        *,
        contains: str | None = None,
        after_version: int = 0,
        timeout: float = 5.0,
    ) -> FakeMessage:
        """Wait for a new or edited bot message in any chat (e.g. an admin group).

        Users have ``FakeUser.wait_for_message``; for other chats take ``server.version``
        before the action and pass it as ``after_version``.
        """
        deadline = time.monotonic() + timeout
        while True:
            chat = self.chats.get(chat_id)
            for event in chat.events if chat is not None else []:
                msg = event.message
                if event.version <= after_version or event.kind == "delete" or not msg.from_bot:
                    continue
                if (contains is None or contains in msg.text) and (predicate is None or predicate(msg)):
                    return msg
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._notifier.closed:
                seen = [e.message for e in (chat.events if chat else []) if e.version > after_version]
                raise MessageWaitTimeout(
                    f"no bot message{f' containing {contains!r}' if contains else ''} in chat {chat_id} "
                    f"after version {after_version} within {timeout}s; seen: {seen}"
                )
            await self._notifier.wait(remaining)

    def unanswered_callback_queries(self) -> list[CallbackQueryRecord]:
        """Presses the bot never answered (a spinning button for the user)."""
        return [query for query in self.callback_queries.values() if not query.answered]

    # ------------------------------------------------------------------------------------------
    # fault injection, expectations, assertions
    # ------------------------------------------------------------------------------------------
    def inject_429(self, count: int = 1, retry_after: int = 1, methods: list[str] | None = None) -> None:
        """Answer the next ``count`` matching calls with 429 Too Many Requests.

        ``methods=None`` matches every method except getUpdates (name getUpdates explicitly to
        disturb polling).
        """

        def make() -> TelegramError:
            return TelegramError(
                429,
                f"Too Many Requests: retry after {retry_after}",
                kind="injected",
                parameters={"retry_after": retry_after},
            )

        self._add_fault(methods, count, make)

    def inject_error(
        self,
        method: str | list[str] | None,
        error_code: int,
        description: str,
        count: int = 1,
        parameters: dict[str, Any] | None = None,
    ) -> None:
        """Answer the next ``count`` calls of ``method`` with this error (full description text)."""
        methods = [method] if isinstance(method, str) else method
        self._add_fault(
            methods,
            count,
            lambda: TelegramError(error_code, description, kind="injected", parameters=parameters),
        )

    def _add_fault(self, methods: list[str] | None, count: int, make: Callable[[], TelegramError]) -> None:
        names = frozenset(m.lower() for m in methods) if methods is not None else None
        self._faults.append(_Fault(names, count, make))

    def clear_faults(self) -> None:
        self._faults.clear()

    @contextlib.contextmanager
    def expect_errors(self, *patterns: str) -> Iterator[list[Violation]]:
        """Within the block, rejected calls are expected rather than violations.

        With ``patterns``, only errors whose description contains one of them are expected,
        and leaving the block asserts that each pattern was seen. Yields the list of expected
        errors caught in the block.
        """
        expectation = _Expectation(patterns, [])
        self._expectations.append(expectation)
        try:
            yield expectation.errors
        except BaseException:
            self._expectations.remove(expectation)
            raise
        self._expectations.remove(expectation)
        missing = [p for p in patterns if not any(p in e.description for e in expectation.errors)]
        if missing:
            raise AssertionError(f"expected Telegram errors not seen: {missing}; got {expectation.errors}")

    def assert_no_violations(self) -> None:
        """Fail the test when the bot made any call real Telegram would have rejected."""
        if self.violations:
            lines = "\n".join(f"  - {v}" for v in self.violations)
            raise AssertionError(f"{len(self.violations)} Telegram API violation(s):\n{lines}")

    def assert_all_callbacks_answered(self) -> None:
        """Fail when a button press was never answered with answerCallbackQuery."""
        pending = self.unanswered_callback_queries()
        if pending:
            raise AssertionError(f"unanswered callback queries: {pending}")

    # ------------------------------------------------------------------------------------------
    # HTTP layer
    # ------------------------------------------------------------------------------------------
    async def _http_api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        try:
            params, files = await self._read_params(request)
        except ValueError as err:
            params, files = {}, {}
            error: TelegramError | None = _bad_request(str(err))
        else:
            error = None
        if request.match_info["token"] != self.token:
            error = TelegramError(401, "Unauthorized")
        if error is not None:
            self._account(method, error, params, files)
            return web.json_response(error.to_json(), status=error.error_code)

        def alive() -> bool:
            transport = request.transport
            return transport is not None and not transport.is_closing()

        _request_alive.set(alive)
        status, body = await self.call(method, params, files)
        return web.json_response(body, status=status)

    @staticmethod
    async def _read_params(request: web.Request) -> tuple[dict[str, Any], dict[str, UploadedFile]]:
        """Query string + body in any encoding Telegram accepts."""
        params: dict[str, Any] = dict(request.query)
        files: dict[str, UploadedFile] = {}
        if not request.body_exists:
            return params, files
        content_type = request.content_type
        if content_type == "multipart/form-data":
            await _read_multipart(await request.multipart(), params, files)
        elif content_type == "application/json":
            try:
                body = await request.json()
            except ValueError:
                raise ValueError("can't parse JSON body") from None
            if not isinstance(body, dict):
                raise ValueError("JSON body must be an object")
            params.update(body)
        elif content_type == "application/x-www-form-urlencoded":
            form = await request.post()
            params.update({key: value for key, value in form.items() if isinstance(value, str)})
        return params, files

    async def _http_file(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return web.json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401
            )
        path = request.match_info["path"]
        for stored in self.files.values():
            if stored.file_path == path:
                return web.Response(
                    body=stored.data, content_type=stored.mime_type or "application/octet-stream"
                )
        return web.json_response({"ok": False, "error_code": 404, "description": "Not Found"}, status=404)

    async def call(
        self,
        method: str,
        params: Mapping[str, Any],
        files: Mapping[str, UploadedFile] | None = None,
    ) -> tuple[int, dict[str, Any]]:
        """Run one Bot API call as if it came over HTTP; returns (status, JSON body)."""
        files = files or {}
        canonical = self.spec.canonical_method(method)
        name = canonical or method
        self.stats.calls[name] += 1
        try:
            if canonical is None:
                raise TelegramError(404, "Not Found")
            self._apply_faults(canonical)
            try:
                values = self.spec.validate_call(canonical, params, files)
            except SpecError as err:
                raise _bad_request(err.description) from None
            for legacy in ("reply_to_message_id", "allow_sending_without_reply", "disable_web_page_preview"):
                if legacy in values and legacy not in self.spec.methods[canonical].fields:
                    self.stats.legacy_params[legacy] += 1
            is_send = canonical in self.send_methods
            if is_send:
                self._apply_rate_limit()
            handler = self._handlers.get(canonical, self._generic)
            try:
                result = await handler(values, _CallContext(canonical, dict(params), files))
            except LimitError as err:
                raise _bad_request(str(err)) from None
            if is_send:
                self._count_send(values.get("chat_id"))
        except TelegramError as err:
            self._account(name, err, params, files)
            return err.error_code, err.to_json()
        except Exception as err:  # a bug in the fake: report it loudly, answer like a broken server
            log.exception("fake Telegram crashed in %s", name)
            self.internal_errors.append(f"{name}: {err.__class__.__name__}: {err}")
            return 500, {"ok": False, "error_code": 500, "description": f"Internal Server Error: {err}"}
        self.calls.append(ApiCall(name, self._loggable(params, files), ok=True))
        if self.check_responses:
            try:
                self.spec.validate_result(name, result)
            except SpecError as err:
                log.error("fake Telegram returned an off-spec %s result: %s", name, err.description)
                self.internal_errors.append(f"{name} result: {err.description}")
        return 200, {"ok": True, "result": result}

    def _account(
        self, method: str, err: TelegramError, params: Mapping[str, Any], files: Mapping[str, UploadedFile]
    ) -> None:
        """Route a rejection to the violation list or the counter it belongs to."""
        shown = self._loggable(params, files)
        self.calls.append(ApiCall(method, shown, ok=False, error=err.description))
        if err.error_code == 429:
            self.stats.retry_after_sent += 1
        if err.kind == "injected":
            self.stats.injected_errors += 1
        elif err.kind == "rate_limited":
            self.stats.rate_limited += 1
        elif err.kind == "blocked":
            self.stats.blocked += 1
        elif err.kind == "not_modified":
            self.stats.not_modified += 1
        elif err.kind == "violation":
            self._record_violation(Violation(method, err.description, shown, err.error_code))

    def _record_violation(self, violation: Violation) -> None:
        for expectation in reversed(self._expectations):
            if expectation.accepts(violation):
                expectation.errors.append(violation)
                self.expected_errors.append(violation)
                return
        log.warning("Telegram API violation: %s", violation)
        self.violations.append(violation)

    @staticmethod
    def _loggable(params: Mapping[str, Any], files: Mapping[str, UploadedFile]) -> dict[str, Any]:
        shown = dict(params)
        for name, upload in files.items():
            shown[name] = f"<file {upload.filename!r} {len(upload.data)} bytes>"
        return shown

    def _apply_faults(self, method: str) -> None:
        for fault in self._faults:
            if fault.matches(method):
                fault.remaining -= 1
                raise fault.error()
        self._faults = [fault for fault in self._faults if fault.remaining > 0]

    def _apply_rate_limit(self) -> None:
        if self.rate_limit_per_second is None:
            return
        now = time.monotonic()
        while self._send_window and now - self._send_window[0] >= 1.0:
            self._send_window.popleft()
        if len(self._send_window) >= self.rate_limit_per_second:
            raise TelegramError(
                429, "Too Many Requests: retry after 1", kind="rate_limited", parameters={"retry_after": 1}
            )

    def _count_send(self, chat_id: Any) -> None:
        now = time.monotonic()
        self._send_window.append(now)
        self.stats.send_timestamps.append(now)
        if isinstance(chat_id, int):
            self.stats.sends_per_chat[chat_id] += 1

    # ------------------------------------------------------------------------------------------
    # model helpers
    # ------------------------------------------------------------------------------------------
    def _bump(self) -> int:
        self.version += 1
        return self.version

    def _target_chat(self, chat_id: Any) -> FakeChat:
        """Resolve a chat the bot acts in: "chat not found" / "bot was blocked" like Telegram."""
        chat: FakeChat | None = None
        if isinstance(chat_id, int):
            chat = self.chats.get(chat_id)
        elif isinstance(chat_id, str) and chat_id.startswith("@"):
            chat = next((c for c in self.chats.values() if c.username and f"@{c.username}" == chat_id), None)
        if chat is None:
            raise _bad_request("chat not found")
        user = self.users.get(chat.id) if chat.type == "private" else None
        if user is not None:
            if not user.started:
                raise _bad_request("chat not found")
            if user.blocked:
                raise TelegramError(403, "Forbidden: bot was blocked by the user", kind="blocked")
        return chat

    def _store_message(self, chat: FakeChat, *, from_bot: bool = True, **fields: Any) -> FakeMessage:
        sender = fields.pop("sender", None) or self.bot_user
        msg = FakeMessage(
            message_id=chat.allocate_message_id(),
            chat=chat.to_api(),
            sender=sender,
            from_bot=from_bot,
            date=int(time.time()),
            version=self._bump(),
            **fields,
        )
        chat.messages[msg.message_id] = msg
        chat.events.append(ChatEvent(msg.version, "new", msg))
        self._notifier.notify()
        return msg

    def _replace_message(self, chat: FakeChat, msg: FakeMessage, **changes: Any) -> FakeMessage:
        new = msg.evolve(version=self._bump(), edited=msg.edited + 1, edit_date=int(time.time()), **changes)
        chat.messages[new.message_id] = new
        chat.events.append(ChatEvent(new.version, "edit", new))
        self._notifier.notify()
        return new

    def _remove_message(self, chat: FakeChat, msg: FakeMessage) -> None:
        del chat.messages[msg.message_id]
        chat.events.append(ChatEvent(self._bump(), "delete", msg))
        self._notifier.notify()

    def _push(self, kind: str, payload: Any) -> int | None:
        """Queue an update unless allowed_updates excludes its type (Telegram never creates it)."""
        if self.allowed_updates:
            if kind not in self.allowed_updates:
                return None
        elif kind in DEFAULT_EXCLUDED_UPDATES:
            return None
        update_id = self._next_update_id
        self._next_update_id += 1
        self.updates.append({"update_id": update_id, kind: payload})
        self._notifier.notify()
        return update_id

    def _user_sends_text(self, user: FakeUser, text: str) -> FakeMessage:
        user.started = True
        chat = self.chats[user.id]
        entities: list[dict[str, Any]] = []
        if text.startswith("/"):
            command = text.split(maxsplit=1)[0]
            entities.append(
                {"type": "bot_command", "offset": 0, "length": len(command.encode("utf-16-le")) // 2}
            )
        msg = self._store_message(
            chat, from_bot=False, sender=user.to_api(), content_text=text, entities=entities, html=text
        )
        self._push("message", msg.to_api())
        return msg

    def _user_sends_document(
        self, user: FakeUser, data: bytes, file_name: str, mime_type: str | None, caption: str | None
    ) -> FakeMessage:
        """A file the user attached: stored like an upload, so getFile and the download serve it."""
        user.started = True
        chat = self.chats[user.id]
        upload = UploadedFile(name="document", filename=file_name, content_type=mime_type or "", data=data)
        stored = self._store_upload(upload, "document")
        stored.mime_type = mime_type  # Telegram omits mime_type when the client sent none
        fields = self._media_fields(stored, "document")
        msg = self._store_message(chat, from_bot=False, sender=user.to_api(), caption=caption, **fields)
        self._push("message", msg.to_api())
        return msg

    def _user_presses(self, user: FakeUser, message: FakeMessage, data: str) -> CallbackQueryRecord:
        query_id = str(secrets.randbits(63))
        record = CallbackQueryRecord(
            id=query_id,
            user_id=user.id,
            chat_id=message.chat_id,
            message_id=message.message_id,
            data=data,
            version=self.version,
        )
        self.callback_queries[query_id] = record
        user.queries.append(record)
        payload = {
            "id": query_id,
            "from": user.to_api(),
            "message": message.to_api(),
            "chat_instance": str(abs(hash((self.bot_id, message.chat_id))) % 10**18),
            "data": data,
        }
        self._push("callback_query", payload)
        return record

    def _member_status_changed(self, user: FakeUser, old: str, new: str) -> None:
        def member(status: str) -> dict[str, Any]:
            data: dict[str, Any] = {"status": status, "user": self.bot_user}
            if status == "kicked":
                data["until_date"] = 0
            return data

        self._push(
            "my_chat_member",
            {
                "chat": self.chats[user.id].to_api(),
                "from": user.to_api(),
                "date": int(time.time()),
                "old_chat_member": member(old),
                "new_chat_member": member(new),
            },
        )

    def _split_markup(self, chat: FakeChat, markup: dict[str, Any] | None) -> dict[str, Any] | None:
        """Check a reply_markup; inline keyboards go on the message, others change the chat."""
        if not markup:
            return None
        check_reply_markup(markup)
        if "inline_keyboard" in markup:
            return markup
        if "keyboard" in markup:
            chat.reply_keyboard = markup
        elif markup.get("remove_keyboard"):
            chat.reply_keyboard = None
        return None

    def _reply_extra(self, chat: FakeChat, values: Mapping[str, Any]) -> dict[str, Any]:
        params = values.get("reply_parameters") or {}
        message_id = params.get("message_id", values.get("reply_to_message_id"))
        if message_id is None:
            return {}
        allow_missing = params.get("allow_sending_without_reply", values.get("allow_sending_without_reply"))
        source_chat = chat
        if "chat_id" in params and params["chat_id"] != chat.id:
            source_chat = self.chats.get(params["chat_id"]) or chat
        replied = source_chat.messages.get(int(message_id))
        if replied is None:
            if allow_missing:
                return {}
            raise _bad_request("message to be replied not found")
        return {"reply_to_message": replied.to_api()}

    def _editable(self, values: Mapping[str, Any]) -> tuple[FakeChat, FakeMessage]:
        if values.get("inline_message_id"):
            raise _bad_request("message to edit not found")
        if values.get("chat_id") is None:
            raise _bad_request("chat_id is empty")
        if values.get("message_id") is None:
            raise _bad_request("message identifier is not specified")
        chat = self._target_chat(values["chat_id"])
        msg = chat.messages.get(int(values["message_id"]))
        if msg is None or not msg.from_bot:
            raise _bad_request("message to edit not found")
        return chat, msg

    @staticmethod
    def _not_modified() -> TelegramError:
        return TelegramError(
            400,
            "Bad Request: message is not modified: specified new message content and reply markup are "
            "exactly the same as a current content and reply markup of the message",
            kind="not_modified",
        )

    def _store_upload(self, upload: UploadedFile, kind: str) -> StoredFile:
        if kind == "photo":
            if len(upload.data) > PHOTO_MAX_BYTES:
                raise TelegramError(413, "Request Entity Too Large")
            size = _image_size(upload.data)
            if size is None:
                raise _bad_request("IMAGE_PROCESS_FAILED")
        else:
            if len(upload.data) > DOCUMENT_MAX_BYTES:
                raise TelegramError(413, "Request Entity Too Large")
            size = (0, 0)
        number = len(self.files) + 1
        file_id = f"{kind[:3].upper()}{number:06d}{secrets.token_hex(8)}"
        suffix = Path(upload.filename).suffix if upload.filename else ""
        stored = StoredFile(
            file_id=file_id,
            file_unique_id=secrets.token_hex(8),
            data=upload.data,
            file_path=f"{kind}s/file_{number}{suffix}",
            kind=kind,
            file_name=upload.filename,
            mime_type=upload.content_type,
            width=size[0],
            height=size[1],
        )
        self.files[file_id] = stored
        return stored

    def _resolve_file(self, value: Any, kind: str, files: Mapping[str, UploadedFile]) -> StoredFile | str:
        """Upload -> StoredFile; known file_id -> StoredFile; URL -> the URL string."""
        if isinstance(value, str) and value.startswith("attach://"):
            value = files[value[len("attach://") :]]
        if isinstance(value, UploadedFile):
            return self._store_upload(value, kind)
        text = str(value)
        if text in self.files:
            return self.files[text]
        if text.startswith(("http://", "https://")):
            return text
        raise _bad_request("wrong file identifier/HTTP URL specified")

    def _media_fields(self, source: StoredFile | str, kind: str) -> dict[str, Any]:
        if isinstance(source, str):
            file_id = f"URL{secrets.token_hex(8)}"
            if kind == "photo":
                sizes = [{"file_id": file_id, "file_unique_id": file_id[-12:], "width": 1, "height": 1}]
                return {"photo_ref": source, "file_id": file_id, "extra": {"photo": sizes}}
            document: dict[str, Any] = {
                "file_id": file_id,
                "file_unique_id": file_id[-12:],
                "file_name": source.rsplit("/", 1)[-1],
            }
            return {
                "file_id": file_id,
                "document_name": document["file_name"],
                "extra": {"document": document},
            }
        if kind == "photo":
            sizes = [
                {
                    "file_id": source.file_id,
                    "file_unique_id": source.file_unique_id,
                    "width": source.width or 1,
                    "height": source.height or 1,
                    "file_size": len(source.data),
                }
            ]
            return {"photo_data": source.data, "file_id": source.file_id, "extra": {"photo": sizes}}
        document = {
            "file_id": source.file_id,
            "file_unique_id": source.file_unique_id,
            "file_size": len(source.data),
        }
        if source.file_name:
            document["file_name"] = source.file_name
        if source.mime_type:
            document["mime_type"] = source.mime_type
        return {
            "document_data": source.data,
            "document_name": source.file_name or "",
            "document_mime": source.mime_type,
            "file_id": source.file_id,
            "extra": {"document": document},
        }

    # ------------------------------------------------------------------------------------------
    # Bot API methods
    # ------------------------------------------------------------------------------------------
    async def _true(self, values: dict[str, Any], ctx: _CallContext) -> Any:
        return True

    async def _generic(self, values: dict[str, Any], ctx: _CallContext) -> Any:
        """Validated but unmodelled methods: send-like ones still produce a message."""
        spec = self.spec.methods[ctx.method]
        if "chat_id" in values and spec.returns == ("Message",) and ctx.method in self.send_methods:
            chat = self._target_chat(values["chat_id"])
            inline = self._split_markup(chat, values.get("reply_markup"))
            msg = self._store_message(chat, reply_markup=inline, sent_with=ctx.method)
            return self._message_json(msg)
        if "chat_id" in values and ctx.method in self.send_methods:
            self._target_chat(values["chat_id"])
        return True

    @staticmethod
    def _message_json(msg: FakeMessage) -> dict[str, Any]:
        return msg.to_api()

    async def _get_me(self, values: dict[str, Any], ctx: _CallContext) -> Any:
        return self.bot_user

    async def _get_updates(self, values: dict[str, Any], ctx: _CallContext) -> Any:
        if self.webhook is not None:
            raise TelegramError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = values.get("offset")
        limit = min(max(int(values.get("limit", 100)), 1), 100)
        timeout = max(int(values.get("timeout", 0)), 0)
        if "allowed_updates" in values:
            self.allowed_updates = list(values["allowed_updates"])
        if offset is not None:
            if offset < 0:
                self.updates = self.updates[offset:]
            else:
                self.updates = [u for u in self.updates if u["update_id"] >= offset]
        self._poll_generation += 1
        generation = self._poll_generation
        self._notifier.notify()  # terminates an older long poll, like Telegram does
        alive = _request_alive.get()
        deadline = time.monotonic() + timeout
        while True:
            if self.updates:
                return self.updates[:limit]
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._notifier.closed or self.webhook is not None:
                return []
            await self._notifier.wait(remaining)
            if generation != self._poll_generation:
                if alive is not None and not alive():
                    return []  # the client went away already; nobody to tell
                raise TelegramError(
                    409,
                    "Conflict: terminated by other getUpdates request; "
                    "make sure that only one bot instance is running",
                )

    async def _set_webhook(self, values: dict[str, Any], ctx: _CallContext) -> Any:
        url = str(values.get("url", ""))
        if values.get("drop_pending_updates"):
            self.updates.clear()
        if not url:
            self.webhook = None
            return True
        if not url.startswith(("http://", "https://")):
            raise _bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        secret = values.get("secret_token")
        if secret is not None and not (
            1 <= len(secret) <= 256 and all(c.isascii() and (c.isalnum() or c in "_-") for c in secret)
        ):
            raise _bad_request("secret token contains unallowed characters")
        if "allowed_updates" in values:
            self.allowed_updates = list(values["allowed_updates"])
        self.webhook = WebhookConfig(
            url=url,
            secret_token=secret,
            max_connections=int(values.get("max_connections", 40)),
            ip_address=values.get("ip_address"),
            has_custom_certificate="certificate" in values,
        )
        self._notifier.notify()
        if self._webhook_task is None or self._webhook_task.done():
            self._webhook_task = asyncio.create_task(self._webhook_loop(), name="fake-telegram-webhook")
        return True

    async def _delete_webhook(self, values: dict[str, Any], ctx: _CallContext) -> Any:
        if values.get("drop_pending_updates"):
            self.updates.clear()
        self.webhook = None
        self._notifier.notify()
        return True

    async def _get_webhook_info(self, values: dict[str, Any], ctx: _CallContext) -> Any:
        info: dict[str, Any] = {
            "url": self.webhook.url if self.webhook else "",
            "has_custom_certificate": bool(self.webhook and self.webhook.has_custom_certificate),
            "pending_update_count": len(self.updates),
        }
        if self.webhook is not None:
            info["max_connections"] = self.webhook.max_connections
            if self.webhook.ip_address:
                info["ip_address"] = self.webhook.ip_address
            if self.webhook.last_error_date is not None:
                info["last_error_date"] = self.webhook.last_error_date
                info["last_error_message"] = self.webhook.last_error_message
        if self.allowed_updates:
            info["allowed_updates"] = self.allowed_updates
        return info

    @staticmethod
    def _commands_key(values: Mapping[str, Any]) -> tuple[str, str]:
        scope = values.get("scope") or {"type": "default"}
        return json.dumps(scope, sort_keys=True), str(values.get("language_code") or "")

    async def _set_my_commands(self, values: dict[str, Any], ctx: _CallContext) -> Any:
        check_commands(values["commands"])
        self.commands[self._commands_key(values)] = list(values["commands"])
        return True

    async def _get_my_commands(self, values: dict[str, Any], ctx: _CallContext) -> Any:
        return self.commands.get(self._commands_key(values), [])

    async def _delete_my_commands(self, values: dict[str, Any], ctx: _CallContext) -> Any:
        self.commands.pop(self._commands_key(values), None)
        return True

    def bot_commands(
        self, scope: Mapping[str, Any] | None = None, language_code: str = ""
    ) -> list[dict[str, Any]]:
        """Commands set with setMyCommands for a scope (default scope) and language."""
        return self.commands.get(self._commands_key({"scope": scope, "language_code": language_code}), [])

    async def _send_message(self, values: dict[str, Any], ctx: _CallContext) -> Any:
        chat = self._target_chat(values["chat_id"])
        parsed = format_text(values.get("text"), values.get("parse_mode"), values.get("entities"))
        inline = self._split_markup(chat, values.get("reply_markup"))
        extra = self._reply_extra(chat, values)
        msg = self._store_message(
            chat,
            content_text=parsed.text,
            entities=parsed.entities,
            html=values.get("text"),
            parse_mode=values.get("parse_mode"),
            reply_markup=inline,
            reply_keyboard=values.get("reply_markup") if inline is None else None,
            extra=extra,
        )
        return self._message_json(msg)

    async def _edit_message_text(self, values: dict[str, Any], ctx: _CallContext) -> Any:
        chat, msg = self._editable(values)
        if "text" not in values:
            raise _bad_request("message text is empty")
        if msg.content_text is None:
            raise _bad_request("there is no text in the message to edit")
        parsed = format_text(values["text"], values.get("parse_mode"), values.get("entities"))
        markup = values.get("reply_markup") or None
        check_reply_markup(markup)
        if parsed.text == msg.content_text and parsed.entities == msg.entities and markup == msg.reply_markup:
            raise self._not_modified()
        new = self._replace_message(
            chat,
            msg,
            content_text=parsed.text,
            entities=parsed.entities,
            html=values["text"],
            parse_mode=values.get("parse_mode"),
            reply_markup=markup,
        )
        self._push_edited(chat, new)
        return self._message_json(new)

    async def _edit_message_reply_markup(self, values: dict[str, Any], ctx: _CallContext) -> Any:
        chat, msg = self._editable(values)
        markup = values.get("reply_markup") or None
        check_reply_markup(markup)
        if markup == msg.reply_markup:
            raise self._not_modified()
        new = self._replace_message(chat, msg, reply_markup=markup)
        return self._message_json(new)

    async def _edit_message_caption(self, values: dict[str, Any], ctx: _CallContext) -> Any:
        chat, msg = self._editable(values)
        if msg.content_text is not None or msg.kind not in ("photo", "document"):
            raise _bad_request("there is no caption in the message to edit")
        caption = values.get("caption")
        parsed = format_text(caption, values.get("parse_mode"), values.get("caption_entities"), caption=True)
        markup = values.get("reply_markup") or None
        check_reply_markup(markup)
        new_caption = parsed.text or None
        if new_caption == msg.caption and parsed.entities == msg.entities and markup == msg.reply_markup:
            raise self._not_modified()
        new = self._replace_message(
            chat,
            msg,
            caption=new_caption,
            entities=parsed.entities,
            html=caption,
            parse_mode=values.get("parse_mode"),
            reply_markup=markup,
        )
        self._push_edited(chat, new)
        return self._message_json(new)

    def _push_edited(self, chat: FakeChat, msg: FakeMessage) -> None:
        """Real clients get no update for the bot's own edits; nothing to queue (hook for groups)."""

    async def _delete_message(self, values: dict[str, Any], ctx: _CallContext) -> Any:
        chat = self._target_chat(values["chat_id"])
        msg = chat.messages.get(int(values["message_id"]))
        if msg is None:
            raise _bad_request("message to delete not found")
        self._remove_message(chat, msg)
        return True

    async def _delete_messages(self, values: dict[str, Any], ctx: _CallContext) -> Any:
        chat = self._target_chat(values["chat_id"])
        ids = [int(i) for i in values["message_ids"]]
        if not 1 <= len(ids) <= 100:
            raise _bad_request("message_ids must contain 1-100 identifiers")
        for message_id in ids:
            msg = chat.messages.get(message_id)
            if msg is not None:
                self._remove_message(chat, msg)
        return True

    async def _answer_callback_query(self, values: dict[str, Any], ctx: _CallContext) -> Any:
        query = self.callback_queries.get(str(values["callback_query_id"]))
        if query is None or query.answered:
            raise _bad_request("query is too old and response timeout expired or query ID is invalid")
        check_callback_answer(values.get("text"))
        query.answered = True
        query.answer_text = values.get("text")
        query.show_alert = bool(values.get("show_alert", False))
        query.url = values.get("url")
        query.answered_version = self._bump()
        self._notifier.notify()
        return True

    async def _send_photo(self, values: dict[str, Any], ctx: _CallContext) -> Any:
        return await self._send_media(values, ctx, "photo")

    async def _send_document(self, values: dict[str, Any], ctx: _CallContext) -> Any:
        return await self._send_media(values, ctx, "document")

    async def _send_media(self, values: dict[str, Any], ctx: _CallContext, kind: str) -> Any:
        chat = self._target_chat(values["chat_id"])
        caption = values.get("caption")
        parsed = format_text(caption, values.get("parse_mode"), values.get("caption_entities"), caption=True)
        inline = self._split_markup(chat, values.get("reply_markup"))
        extra = self._reply_extra(chat, values)
        media = self._media_fields(self._resolve_file(values[kind], kind, ctx.files), kind)
        media["extra"] = {**extra, **media["extra"]}
        msg = self._store_message(
            chat,
            caption=parsed.text or None,
            entities=parsed.entities,
            html=caption,
            parse_mode=values.get("parse_mode"),
            reply_markup=inline,
            **media,
        )
        return self._message_json(msg)

    async def _send_media_group(self, values: dict[str, Any], ctx: _CallContext) -> Any:
        chat = self._target_chat(values["chat_id"])
        items = values["media"]
        if not 2 <= len(items) <= 10:
            raise _bad_request("media group must include 2-10 items")
        prepared = []
        for item in items:
            kind = "photo" if item["type"] == "photo" else "document"
            parsed = format_text(
                item.get("caption"), item.get("parse_mode"), item.get("caption_entities"), caption=True
            )
            media = self._media_fields(self._resolve_file(item["media"], kind, ctx.files), kind)
            prepared.append((item, parsed, media))
        group_id = str(secrets.randbits(60))
        results = []
        for item, parsed, media in prepared:
            media["extra"] = {**media["extra"], "media_group_id": group_id}
            msg = self._store_message(
                chat,
                caption=parsed.text or None,
                entities=parsed.entities,
                html=item.get("caption"),
                parse_mode=item.get("parse_mode"),
                **media,
            )
            results.append(self._message_json(msg))
        return results

    def _source_message(self, values: Mapping[str, Any], what: str) -> FakeMessage:
        from_chat = values["from_chat_id"]
        source_chat = self.chats.get(from_chat) if isinstance(from_chat, int) else None
        if source_chat is None:
            raise _bad_request("chat not found")
        msg = source_chat.messages.get(int(values["message_id"]))
        if msg is None:
            raise _bad_request(f"message to {what} not found")
        return msg

    @staticmethod
    def _content_of(msg: FakeMessage) -> dict[str, Any]:
        """Content fields a copy/forward carries over."""
        keep_extra = {k: v for k, v in msg.extra.items() if k in ("photo", "document")}
        return {
            "content_text": msg.content_text,
            "caption": msg.caption,
            "entities": list(msg.entities),
            "html": msg.html,
            "parse_mode": msg.parse_mode,
            "photo_data": msg.photo_data,
            "photo_ref": msg.photo_ref,
            "document_data": msg.document_data,
            "document_name": msg.document_name,
            "document_mime": msg.document_mime,
            "file_id": msg.file_id,
            "extra": keep_extra,
        }

    async def _copy_message(self, values: dict[str, Any], ctx: _CallContext) -> Any:
        source = self._source_message(values, "copy")
        chat = self._target_chat(values["chat_id"])
        content = self._content_of(source)
        if "caption" in values and source.content_text is None:
            parsed = format_text(
                values["caption"], values.get("parse_mode"), values.get("caption_entities"), caption=True
            )
            content.update(caption=parsed.text or None, entities=parsed.entities, html=values["caption"])
        content["extra"] = {**self._reply_extra(chat, values), **content["extra"]}
        inline = self._split_markup(chat, values.get("reply_markup"))
        msg = self._store_message(chat, reply_markup=inline, **content)
        return {"message_id": msg.message_id}

    async def _forward_message(self, values: dict[str, Any], ctx: _CallContext) -> Any:
        source = self._source_message(values, "forward")
        chat = self._target_chat(values["chat_id"])
        content = self._content_of(source)
        content["extra"] = {
            **content["extra"],
            "forward_origin": {"type": "user", "date": source.date, "sender_user": source.sender},
        }
        msg = self._store_message(chat, **content)
        return self._message_json(msg)

    async def _send_chat_action(self, values: dict[str, Any], ctx: _CallContext) -> Any:
        chat = self._target_chat(values["chat_id"])
        check_chat_action(str(values["action"]))
        chat.last_action = str(values["action"])
        return True

    async def _get_chat(self, values: dict[str, Any], ctx: _CallContext) -> Any:
        chat_id = values["chat_id"]
        chat = self.chats.get(chat_id) if isinstance(chat_id, int) else None
        if chat is None:
            raise _bad_request("chat not found")
        info = chat.to_api()
        info.update(
            accent_color_id=0,
            max_reaction_count=11,
            accepted_gift_types={
                "unlimited_gifts": True,
                "limited_gifts": True,
                "unique_gifts": True,
                "premium_subscription": True,
                "gifts_from_channels": True,
            },
        )
        return info

    async def _get_file(self, values: dict[str, Any], ctx: _CallContext) -> Any:
        stored = self.files.get(str(values["file_id"]))
        if stored is None:
            raise _bad_request("wrong file_id or the file is temporarily unavailable")
        if len(stored.data) > BOT_DOWNLOAD_MAX_BYTES:
            raise _bad_request("file is too big")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.data),
            "file_path": stored.file_path,
        }

    # ------------------------------------------------------------------------------------------
    # webhook delivery
    # ------------------------------------------------------------------------------------------
    async def _webhook_loop(self) -> None:
        """Deliver queued updates while a webhook is set, the way Telegram does.

        Up to the webhook's ``max_connections`` (setWebhook's parameter, 40 by default) updates
        are in flight at once; the updates of one chat go one at a time and in order: a chat's
        next update waits until the bot has answered the request carrying the previous one.
        """
        in_flight: dict[int, asyncio.Task[bool]] = {}
        busy: set[Any] = set()  # chats with an update in flight
        connector = aiohttp.TCPConnector(limit=MAX_WEBHOOK_CONNECTIONS)
        async with aiohttp.ClientSession(connector=connector) as session:
            try:
                while self.webhook is not None and not self._notifier.closed:
                    hook = self.webhook
                    waiting: set[Any] = set()  # chats whose older update is still queued
                    for update in self.updates:
                        if len(in_flight) >= hook.max_connections:
                            break
                        chat = _update_chat(update)
                        if update["update_id"] in in_flight or chat in busy or chat in waiting:
                            waiting.add(chat)
                            continue
                        busy.add(chat)
                        task = asyncio.create_task(self._deliver(session, hook, update))
                        in_flight[update["update_id"]] = task
                        task.add_done_callback(
                            functools.partial(self._delivered, in_flight, busy, update, chat)
                        )
                    await self._notifier.wait(1.0)
            finally:
                for task in in_flight.values():
                    task.cancel()
                if in_flight:
                    await asyncio.gather(*in_flight.values(), return_exceptions=True)

    def _delivered(
        self,
        in_flight: dict[int, asyncio.Task[bool]],
        busy: set[Any],
        update: dict[str, Any],
        chat: Any,
        _task: asyncio.Task[bool],
    ) -> None:
        in_flight.pop(update["update_id"], None)
        busy.discard(chat)
        for index, queued in enumerate(self.updates):
            if queued is update:
                del self.updates[index]
                break
        self._notifier.notify()

    async def _deliver(
        self, session: aiohttp.ClientSession, hook: WebhookConfig, update: dict[str, Any]
    ) -> bool:
        headers = {"Content-Type": "application/json"}
        if hook.secret_token:
            headers["X-Telegram-Bot-Api-Secret-Token"] = hook.secret_token
        last_error = ""
        for attempt in range(self.webhook_max_attempts):
            try:
                async with session.post(
                    hook.url,
                    data=json.dumps(update),
                    headers=headers,
                    timeout=aiohttp.ClientTimeout(total=10),
                ) as response:
                    if 200 <= response.status < 300:
                        self.stats.webhook_deliveries += 1
                        await self._webhook_reply(response)
                        return True
                    last_error = f"Wrong response from the webhook: {response.status} {response.reason}"
            except (aiohttp.ClientError, TimeoutError) as err:
                last_error = f"Connection failed: {err.__class__.__name__}: {err}"
            hook.last_error_date = int(time.time())
            hook.last_error_message = last_error
            if attempt + 1 < self.webhook_max_attempts:
                await asyncio.sleep(self.webhook_retry_delay * 2**attempt)
        self.stats.webhook_failures += 1
        self._record_violation(
            Violation(
                "webhook", f"update {update['update_id']} not delivered: {last_error}", {"url": hook.url}, 0
            )
        )
        return False

    async def _webhook_reply(self, response: aiohttp.ClientResponse) -> None:
        """Telegram executes a method returned in the webhook response (JSON or form-data)."""
        params: dict[str, Any] = {}
        files: dict[str, UploadedFile] = {}
        if response.content_type == "multipart/form-data":
            await _read_multipart(aiohttp.MultipartReader(response.headers, response.content), params, files)
        elif response.content_type == "application/json":
            try:
                payload = json.loads(await response.read() or b"null")
            except ValueError:
                return
            if isinstance(payload, dict):
                params = payload
        method = params.pop("method", None)
        if isinstance(method, str) and method:
            await self.call(method, params, files)

    # ------------------------------------------------------------------------------------------
    # control endpoints for an out-of-process client (offline demo)
    # ------------------------------------------------------------------------------------------
    def _control_user(self, request: web.Request, body: Mapping[str, Any] | None = None) -> FakeUser:
        try:
            user_id = int(request.match_info["user_id"])
        except ValueError:
            raise web.HTTPBadRequest(text="user_id must be an integer") from None
        user = self.users.get(user_id)
        if user is None:
            body = body or {}
            user = self.add_user(
                user_id,
                str(body.get("first_name") or "Demo"),
                body.get("username"),
                body.get("language_code") or "en",
            )
        return user

    @staticmethod
    async def _json_body(request: web.Request) -> dict[str, Any]:
        try:
            body = await request.json()
        except ValueError:
            raise web.HTTPBadRequest(text="JSON body expected") from None
        if not isinstance(body, dict):
            raise web.HTTPBadRequest(text="JSON object expected")
        return body

    async def _control_send(self, request: web.Request) -> web.Response:
        body = await self._json_body(request)
        user = self._control_user(request, body)
        text = body.get("text")
        if not isinstance(text, str) or not text:
            raise web.HTTPBadRequest(text='"text" must be a non-empty string')
        msg = await user.send_text(text)
        return web.json_response({"ok": True, "message": msg.to_api(), "version": self.version})

    async def _control_press(self, request: web.Request) -> web.Response:
        body = await self._json_body(request)
        user = self._control_user(request, body)
        msg = user.chat.messages.get(int(body.get("message_id", 0)))
        if msg is None:
            raise web.HTTPNotFound(text="message not found")
        data = body.get("callback_data")
        if not isinstance(data, str):
            raise web.HTTPBadRequest(text='"callback_data" must be a string')
        query = await user.press_data(data, msg)
        return web.json_response({"ok": True, "callback_query_id": query.id, "version": self.version})

    async def _control_media(self, request: web.Request) -> web.Response:
        """The bytes of a photo or document the bot sent to this user (as uploaded or re-sent)."""
        user = self._control_user(request)
        try:
            message_id = int(request.match_info["message_id"])
        except ValueError:
            raise web.HTTPBadRequest(text="message_id must be an integer") from None
        msg = user.chat.messages.get(message_id)
        if msg is None or not msg.from_bot:
            raise web.HTTPNotFound(text="message not found")
        if msg.photo_data is not None:
            return web.Response(
                body=msg.photo_data,
                content_type="image/png" if msg.photo_is_png else "application/octet-stream",
            )
        if msg.document_data is not None:
            return web.Response(
                body=msg.document_data, content_type=msg.document_mime or "application/octet-stream"
            )
        raise web.HTTPNotFound(text="the message has no uploaded photo or document")

    async def _control_block(self, request: web.Request) -> web.Response:
        self._control_user(request).block_bot()
        return web.json_response({"ok": True})

    async def _control_unblock(self, request: web.Request) -> web.Response:
        self._control_user(request).unblock_bot()
        return web.json_response({"ok": True})

    async def _control_messages(self, request: web.Request) -> web.Response:
        user = self._control_user(request)
        try:
            after = int(request.query.get("after_version", "0"))
            timeout = min(float(request.query.get("timeout", "0")), CONTROL_POLL_MAX)
        except ValueError:
            raise web.HTTPBadRequest(text="after_version and timeout must be numbers") from None
        deadline = time.monotonic() + timeout
        while True:
            changes = self._changes_since(user, after)
            remaining = deadline - time.monotonic()
            if changes["messages"] or changes["callback_answers"] or remaining <= 0 or self._notifier.closed:
                return web.json_response({"ok": True, "version": self.version, **changes})
            await self._notifier.wait(remaining)

    def _changes_since(self, user: FakeUser, after: int) -> dict[str, list[dict[str, Any]]]:
        latest: dict[int, ChatEvent] = {}
        for event in user.chat.events:
            if event.version > after and event.message.from_bot:
                latest[event.message.message_id] = event
        messages = []
        for event in sorted(latest.values(), key=lambda e: e.version):
            if event.kind == "delete":
                messages.append(
                    {"message_id": event.message.message_id, "version": event.version, "deleted": True}
                )
            else:
                messages.append(self._control_message(event.message))
        answers = [
            {
                "callback_query_id": q.id,
                "message_id": q.message_id,
                "text": q.answer_text,
                "show_alert": q.show_alert,
                "url": q.url,
                "version": q.answered_version,
            }
            for q in user.queries
            if q.answered_version is not None and q.answered_version > after
        ]
        return {"messages": messages, "callback_answers": answers}

    @staticmethod
    def _control_message(msg: FakeMessage) -> dict[str, Any]:
        return {
            "message_id": msg.message_id,
            "version": msg.version,
            "kind": msg.kind,
            "text": msg.text,
            "html": msg.html,
            "entities": msg.entities,
            "buttons": [
                [
                    {key: button[key] for key in ("text", "callback_data", "url", "pay") if key in button}
                    for button in row
                ]
                for row in msg.keyboard
            ],
            "reply_keyboard": msg.reply_keyboard,
            "edited": msg.edited,
            "photo": msg.has_photo,
            "file_id": msg.file_id,
            "document_name": msg.document_name,
            "date": msg.date,
            "invoice": msg.extra.get("invoice"),
        }

    async def _control_violations(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "ok": True,
                "violations": [
                    {"method": v.method, "description": v.description, "error_code": v.error_code}
                    for v in self.violations
                ],
            }
        )


@contextlib.asynccontextmanager
async def run_fake_telegram(
    token: str = DEFAULT_TOKEN,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    **kwargs: Any,
) -> AsyncIterator[FakeTelegramServer]:
    """Start a FakeTelegramServer for the duration of the block."""
    server = FakeTelegramServer(token, **kwargs)
    await server.start(host, port)
    try:
        yield server
    finally:
        await server.stop()
