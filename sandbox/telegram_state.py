"""In-memory world of the fake Telegram server: users, chats, messages, callback queries.

Tests read this state directly (no HTTP), so records are plain dataclasses with helpers
shaped around what an end-to-end test asks: "what did the bot show, which buttons are there,
wait for the reaction to what the user just did".
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sandbox.telegram_payments import PaymentOutcome
    from sandbox.telegram_server import FakeTelegramServer

__all__ = [
    "PNG_SIGNATURE",
    "CallbackQueryRecord",
    "ChatEvent",
    "FakeChat",
    "FakeMessage",
    "FakeUser",
    "MessageWaitTimeout",
    "Notifier",
    "ServerStats",
    "Violation",
    "is_png",
]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def is_png(data: bytes | None) -> bool:
    """True when ``data`` starts with the PNG signature (what a bot-rendered image should be)."""
    return data is not None and bytes(data[:8]) == PNG_SIGNATURE


class MessageWaitTimeout(AssertionError):
    """Raised by wait helpers; an AssertionError so pytest shows it as a plain test failure."""


@dataclass(frozen=True)
class Violation:
    """A call the fake rejected: the bot did something real Telegram would refuse."""

    method: str
    description: str
    params: dict[str, Any]
    error_code: int = 400

    def __str__(self) -> str:
        shown = {k: (v if len(repr(v)) < 200 else f"{repr(v)[:200]}...") for k, v in self.params.items()}
        return f"{self.method}: [{self.error_code}] {self.description} params={shown}"


@dataclass
class ServerStats:
    """Counters a test can assert on (rates, retries, handled failures)."""

    calls: Counter[str] = field(default_factory=Counter)
    retry_after_sent: int = 0  # every 429 answer (injected or rate limited)
    rate_limited: int = 0  # 429s caused by ``rate_limit_per_second``
    injected_errors: int = 0  # answers produced by inject_429 / inject_error
    blocked: int = 0  # 403 "bot was blocked by the user"
    not_modified: int = 0  # 400 "message is not modified"
    legacy_params: Counter[str] = field(default_factory=Counter)
    sends_per_chat: Counter[int] = field(default_factory=Counter)
    send_timestamps: list[float] = field(default_factory=list)  # time.monotonic() of successful sends
    webhook_deliveries: int = 0
    webhook_failures: int = 0

    def max_sends_in_window(self, window: float = 1.0) -> int:
        """Highest number of successful sends inside any ``window``-second span."""
        stamps = sorted(self.send_timestamps)
        best = 0
        start = 0
        for end, stamp in enumerate(stamps):
            while stamp - stamps[start] >= window:
                start += 1
            best = max(best, end - start + 1)
        return best


class Notifier:
    """Broadcast "something changed" to any number of async waiters."""

    def __init__(self) -> None:
        self._event = asyncio.Event()
        self.closed = False

    def notify(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    def close(self) -> None:
        self.closed = True
        self.notify()

    async def wait(self, timeout: float) -> bool:
        """Wait for the next change; False on timeout (or immediately if closed)."""
        if self.closed or timeout <= 0:
            return False
        event = self._event
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except TimeoutError:
            return False
        return not self.closed


@dataclass(frozen=True, eq=False)
class FakeMessage:
    """One message as it looked at ``version``; edits produce a new record with a higher version."""

    message_id: int
    chat: dict[str, Any]
    sender: dict[str, Any]
    from_bot: bool
    date: int
    version: int
    content_text: str | None = None
    caption: str | None = None
    entities: list[dict[str, Any]] = field(default_factory=list)
    html: str | None = None  # text/caption exactly as the bot sent it (before parsing)
    parse_mode: str | None = None
    reply_markup: dict[str, Any] | None = None  # inline keyboard attached to the message
    reply_keyboard: dict[str, Any] | None = None  # reply keyboard / remove / force reply sent with it
    photo_data: bytes | None = None
    photo_ref: str | None = None  # file_id or URL when the photo was not uploaded
    document_data: bytes | None = None
    document_name: str | None = None
    document_mime: str | None = None
    file_id: str | None = None
    sent_with: str | None = None  # Bot API method that produced an otherwise unmodelled message
    edited: int = 0
    edit_date: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # more Message fields (forward_origin, ...)

    @property
    def chat_id(self) -> int:
        return int(self.chat["id"])

    @property
    def text(self) -> str:
        """Visible plain text: the message text, or the caption of a media message ("" if none)."""
        return self.content_text if self.content_text is not None else (self.caption or "")

    @property
    def kind(self) -> str:
        """ "text", "photo", "document", or e.g. "sticker" for unmodelled send methods."""
        if self.photo_data is not None or self.photo_ref is not None:
            return "photo"
        if self.file_id is not None and self.document_name is not None:
            return "document"
        if self.content_text is not None:
            return "text"
        if self.sent_with and self.sent_with.startswith("send"):
            return self.sent_with[4:].lower() or "other"
        return "other"

    @property
    def photo(self) -> bytes | None:
        """Uploaded (or re-sent by file_id) photo bytes; None for URL photos and non-photos."""
        return self.photo_data

    @property
    def has_photo(self) -> bool:
        return self.kind == "photo"

    @property
    def photo_is_png(self) -> bool:
        return is_png(self.photo_data)

    @property
    def keyboard(self) -> list[list[dict[str, Any]]]:
        """Inline keyboard rows as Bot API button dicts ([] when there is none)."""
        if not self.reply_markup:
            return []
        rows: list[list[dict[str, Any]]] = self.reply_markup.get("inline_keyboard", [])
        return rows

    @property
    def buttons(self) -> list[list[str]]:
        """Rows of inline button texts."""
        return [[button.get("text", "") for button in row] for row in self.keyboard]

    @property
    def button_data(self) -> list[list[str | None]]:
        """Rows of callback_data (None for URL and other non-callback buttons)."""
        return [[button.get("callback_data") for button in row] for row in self.keyboard]

    @property
    def button_texts(self) -> list[str]:
        """All inline button texts, flattened."""
        return [text for row in self.buttons for text in row]

    def find_button(self, label: str | tuple[int, int]) -> dict[str, Any]:
        """Find a button by (row, col) or visible text: exact match first, then unique substring."""
        rows = self.keyboard
        if isinstance(label, tuple):
            row, col = label
            try:
                return rows[row][col]
            except IndexError:
                raise LookupError(
                    f"no button at {label} in message {self.message_id}; buttons: {self.buttons}"
                ) from None
        flat = [button for row in rows for button in row]
        exact = [button for button in flat if button.get("text") == label]
        matches = exact or [button for button in flat if label in button.get("text", "")]
        if len(matches) == 1:
            return matches[0]
        problem = "no button" if not matches else f"{len(matches)} buttons"
        raise LookupError(
            f"{problem} matching {label!r} in message {self.message_id} ({self.text[:60]!r}); "
            f"buttons: {self.buttons}"
        )

    def to_api(self) -> dict[str, Any]:
        """The Bot API ``Message`` object for this record."""
        data: dict[str, Any] = {
            "message_id": self.message_id,
            "from": self.sender,
            "chat": self.chat,
            "date": self.date,
        }
        if self.edit_date is not None:
            data["edit_date"] = self.edit_date
        data.update(self.extra)
        if self.content_text is not None:
            data["text"] = self.content_text
            if self.entities:
                data["entities"] = self.entities
        if self.photo_data is not None or self.photo_ref is not None:
            data["photo"] = self.extra.get("photo") or [
                {
                    "file_id": self.file_id or "",
                    "file_unique_id": (self.file_id or "")[-16:],
                    "width": 1,
                    "height": 1,
                }
            ]
        if self.caption is not None:
            data["caption"] = self.caption
            if self.entities:
                data["caption_entities"] = self.entities
        if self.reply_markup:
            data["reply_markup"] = self.reply_markup
        return data

    def evolve(self, **changes: Any) -> FakeMessage:
        """A copy with changes (records are immutable snapshots)."""
        return replace(self, **changes)

    def __repr__(self) -> str:
        who = "bot" if self.from_bot else "user"
        return (
            f"<FakeMessage #{self.message_id} v{self.version} {who} {self.kind} "
            f"{self.text[:50]!r} buttons={self.buttons}{' edited' if self.edited else ''}>"
        )


@dataclass(frozen=True)
class ChatEvent:
    """A change in a chat: ``kind`` is "new", "edit" or "delete"."""

    version: int
    kind: str
    message: FakeMessage


@dataclass
class CallbackQueryRecord:
    """A button press and whether/how the bot answered it."""

    id: str
    user_id: int
    chat_id: int
    message_id: int
    data: str
    version: int
    created_at: float = field(default_factory=time.monotonic)
    answered: bool = False
    answer_text: str | None = None
    show_alert: bool = False
    url: str | None = None
    answered_version: int | None = None


@dataclass
class FakeChat:
    """A chat the bot can write to: a user's private chat, or a registered group/channel."""

    id: int
    type: str = "private"
    title: str | None = None
    first_name: str | None = None
    username: str | None = None
    messages: dict[int, FakeMessage] = field(default_factory=dict)
    events: list[ChatEvent] = field(default_factory=list)
    next_message_id: int = 1
    last_action: str | None = None
    reply_keyboard: dict[str, Any] | None = None

    def to_api(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "type": self.type}
        if self.title is not None:
            data["title"] = self.title
        if self.first_name is not None:
            data["first_name"] = self.first_name
        if self.username is not None:
            data["username"] = self.username
        return data

    def allocate_message_id(self) -> int:
        message_id = self.next_message_id
        self.next_message_id += 1
        return message_id

    @property
    def bot_messages(self) -> list[FakeMessage]:
        """Current state of the bot's messages, oldest first (deleted ones gone)."""
        return [msg for _, msg in sorted(self.messages.items()) if msg.from_bot]


class FakeUser:
    """A Telegram user talking to the bot in a private chat, driven by the test."""

    def __init__(
        self,
        server: FakeTelegramServer,
        user_id: int,
        first_name: str = "Test",
        username: str | None = None,
        language_code: str | None = "en",
        *,
        last_name: str | None = None,
        started: bool = True,
    ) -> None:
        self.server = server
        self.id = user_id
        self.first_name = first_name
        self.last_name = last_name
        self.username = username
        self.language_code = language_code
        self.started = started  # False: never pressed Start, so the bot gets "chat not found"
        self.blocked = False
        self._cursor = 0  # global version at the user's last action
        self._consumed: set[int] = set()  # versions already returned by wait_for_message
        self.queries: list[CallbackQueryRecord] = []

    def __repr__(self) -> str:
        return f"<FakeUser {self.id} {self.first_name!r}{' blocked' if self.blocked else ''}>"

    def to_api(self) -> dict[str, Any]:
        """Bot API ``User`` object."""
        data: dict[str, Any] = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        if self.last_name:
            data["last_name"] = self.last_name
        if self.username:
            data["username"] = self.username
        if self.language_code:
            data["language_code"] = self.language_code
        return data

    @property
    def chat(self) -> FakeChat:
        return self.server.chat(self.id)

    # -- what the user sees ------------------------------------------------------------------------
    @property
    def messages(self) -> list[FakeMessage]:
        """The bot's messages in this chat, in order, as they look now (edits applied)."""
        return self.chat.bot_messages

    @property
    def last_message(self) -> FakeMessage | None:
        """The newest bot message still present in the chat."""
        messages = self.messages
        return messages[-1] if messages else None

    @property
    def history(self) -> list[FakeMessage]:
        """Both sides of the conversation, in message_id order."""
        return [msg for _, msg in sorted(self.chat.messages.items())]

    @property
    def reply_keyboard(self) -> dict[str, Any] | None:
        """The custom reply keyboard currently shown (None after ReplyKeyboardRemove)."""
        return self.chat.reply_keyboard

    @property
    def last_action(self) -> str | None:
        """Last sendChatAction action sent to this chat (e.g. "typing")."""
        return self.chat.last_action

    # -- what the user does --------------------------------------------------------------------------
    async def send_text(self, text: str) -> FakeMessage:
        """Type and send a text message; ``/command`` gets a bot_command entity like real clients."""
        self._mark_action()
        return self.server._user_sends_text(self, text)

    async def send_document(
        self, data: bytes, file_name: str, mime_type: str | None = None, caption: str | None = None
    ) -> FakeMessage:
        """Attach a file and send it, as a client does (the bot fetches it with getFile)."""
        self._mark_action()
        return self.server._user_sends_document(self, data, file_name, mime_type, caption)

    async def press(
        self, button: str | tuple[int, int], message: FakeMessage | None = None
    ) -> CallbackQueryRecord:
        """Press an inline button by visible text (exact, else unique substring) or (row, col).

        Uses ``message`` (its current state) or the newest bot message that has a keyboard.
        """
        target = self._keyboard_message(message)
        found = target.find_button(button)
        data = found.get("callback_data")
        if data is None:
            raise LookupError(f"button {found.get('text')!r} is not a callback button: {found}")
        self._mark_action()
        return self.server._user_presses(self, target, str(data))

    async def press_data(self, callback_data: str, message: FakeMessage | None = None) -> CallbackQueryRecord:
        """Send a callback query with arbitrary data (forged or stale buttons)."""
        target = self._current(message) if message is not None else self._keyboard_message(None)
        self._mark_action()
        return self.server._user_presses(self, target, callback_data)

    async def pay(
        self, invoice: FakeMessage | None = None, *, deliver: bool = True, answer_timeout: float = 10.0
    ) -> PaymentOutcome:
        """Pay a Stars invoice (default: the newest one in the chat), as a Telegram client does.

        The bot gets a pre_checkout_query and has `answer_timeout` seconds to answer; when it says
        ok, the payment is made and the successful_payment message delivered (`deliver=False`: the
        money moves but the bot never hears of it, see sandbox/telegram_payments.py).
        """
        if invoice is None:
            invoice = next((m for m in reversed(self.messages) if m.kind == "invoice"), None)
            if invoice is None:
                raise LookupError(f"no invoice in chat {self.id}; messages: {self.messages}")
        self._mark_action()
        return await self.server.payments.user_pays(
            self, self._current(invoice), deliver=deliver, answer_timeout=answer_timeout
        )

    def block_bot(self) -> None:
        """Block the bot: sends fail with 403 and the bot gets a my_chat_member update."""
        if not self.blocked:
            self.blocked = True
            self.server._member_status_changed(self, old="member", new="kicked")

    def unblock_bot(self) -> None:
        """Unblock (restart) the bot."""
        if self.blocked:
            self.blocked = False
            self.server._member_status_changed(self, old="kicked", new="member")

    def mark_seen(self) -> None:
        """Forget everything so far: the next wait only sees changes after this point."""
        self._mark_action()

    # -- waiting for the bot ----------------------------------------------------------------------------
    async def wait_for_message(
        self,
        predicate: Callable[[FakeMessage], bool] | None = None,
        *,
        contains: str | None = None,
        edited: bool | None = None,
        timeout: float = 5.0,
    ) -> FakeMessage:
        """Wait for the bot's reaction to the user's last action and return it.

        Every new bot message and every edit is an event with a global version. This returns the
        oldest event that happened after the user's last ``send_text``/``press`` (or
        ``mark_seen``), matches ``predicate``/``contains`` (substring of ``.text``) and was not
        returned before. ``edited=True`` only considers edits, ``False`` only new messages. The
        record is the message as it looked at that event. Raises MessageWaitTimeout (an
        AssertionError) listing what the bot did send.
        """
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            for event in self.chat.events:
                if event.version <= self._cursor or event.version in self._consumed:
                    continue
                if event.kind == "delete" or not event.message.from_bot:
                    continue
                if edited is not None and (event.kind == "edit") != edited:
                    continue
                msg = event.message
                if contains is not None and contains not in msg.text:
                    continue
                if predicate is not None and not predicate(msg):
                    continue
                self._consumed.add(event.version)
                return msg
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0 or self.server._notifier.closed:
                raise MessageWaitTimeout(self._describe_timeout(contains, predicate, edited, timeout))
            await self.server._notifier.wait(remaining)

    async def assert_no_new_messages(self, within: float = 0.3) -> None:
        """Fail if the bot sends or edits anything in this chat during ``within`` seconds."""
        start = self.server.version
        await asyncio.sleep(within)
        late = [
            e for e in self.chat.events if e.version > start and e.kind != "delete" and e.message.from_bot
        ]
        if late:
            raise AssertionError(f"unexpected bot activity: {[e.message for e in late]}")

    async def wait_for_answer(
        self, query: CallbackQueryRecord | None = None, timeout: float = 5.0
    ) -> CallbackQueryRecord:
        """Wait until the bot answers ``query`` (default: the user's latest press)."""
        if query is None:
            if not self.queries:
                raise LookupError("the user has not pressed anything yet")
            query = self.queries[-1]
        deadline = asyncio.get_running_loop().time() + timeout
        while not query.answered:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0 or self.server._notifier.closed:
                raise MessageWaitTimeout(
                    f"callback query {query.id} ({query.data!r}) not answered in {timeout}s"
                )
            await self.server._notifier.wait(remaining)
        return query

    # -- internals -------------------------------------------------------------------------------------
    def _mark_action(self) -> None:
        self._cursor = self.server.version
        self._consumed = {v for v in self._consumed if v > self._cursor}

    def _current(self, message: FakeMessage) -> FakeMessage:
        current = self.chat.messages.get(message.message_id)
        if current is None:
            raise LookupError(f"message {message.message_id} was deleted")
        return current

    def _keyboard_message(self, message: FakeMessage | None) -> FakeMessage:
        if message is not None:
            return self._current(message)
        for msg in reversed(self.messages):
            if msg.keyboard:
                return msg
        raise LookupError(
            f"no bot message with an inline keyboard in chat {self.id}; messages: {self.messages}"
        )

    def _describe_timeout(
        self,
        contains: str | None,
        predicate: Callable[[FakeMessage], bool] | None,
        edited: bool | None,
        timeout: float,
    ) -> str:
        wanted = []
        if contains is not None:
            wanted.append(f"containing {contains!r}")
        if predicate is not None:
            wanted.append("matching the predicate")
        if edited is not None:
            wanted.append("edited" if edited else "new")
        seen = [
            f"  v{e.version} {e.kind}: {e.message!r}"
            for e in self.chat.events
            if e.version > self._cursor and e.message.from_bot and e.kind != "delete"
        ]
        lines = "\n".join(seen) if seen else "  (nothing)"
        return (
            f"no bot message {' and '.join(wanted) or '(any)'} for user {self.id} within {timeout}s. "
            f"Bot activity since the user's last action:\n{lines}"
        )
