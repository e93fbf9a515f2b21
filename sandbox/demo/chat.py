"""The chat engine of the terminal demo, with no terminal in it.

A `ChatSession` is one user talking to the bot through the fake Bot API server's HTTP control
endpoints (`/_fake/users/{id}/send`, `/press`, `/messages?after_version=N` long poll), so it works
against the in-process demo and against a separate `smmbot sandbox` alike. Input lines go in
through `handle_input`; everything to show comes out through the `output` callable as ready
rendered text. Tests use the same class with a list as the output.

Input rules (see `INPUT_RULES`):

* ``#N`` presses button N of the last message shown with buttons; ``#`` alone lists them again;
* ``\\text`` sends ``text`` as it is (``\\#1`` sends "#1", ``\\/quit`` sends "/quit");
* ``/quit`` (or ``/exit``) leaves;
* a line ending in ``\\`` goes on on the next line: the lines are sent as one message, without
  the backslashes (a few comments typed by hand);
* a line ``\"\"\"`` opens a block, the next ``\"\"\"`` closes it: everything between is one message, as
  typed (a pasted list of comments, nothing in it taken for a rule);
* anything else is sent to the bot as a text message (so ``5`` answers "How many?").

Photos and documents the bot sends (the admin's stats chart, an export) cannot be shown in a
terminal: their bytes are saved to numbered files in ``media_dir`` (a temporary directory when
none is given) and the path is printed under the message.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import aiohttp

from sandbox.demo.render import Theme, plain_theme, render_entities, strip_ansi

__all__ = ["INPUT_RULES", "ChatSession", "Shown"]

INPUT_RULES = (
    ("text + Enter", "send a message to the bot (try /start, /help, or 5 to answer “How many?”)"),
    ("#N", "press button N of the last message shown with buttons (# alone lists them again)"),
    ("\\text", "send text exactly as typed (\\#1 sends “#1”, \\/quit sends “/quit”)"),
    ("line\\", "a line ending in \\ goes on on the next line: several lines, one message"),
    ('"""', 'opens a block of lines sent as one message (paste a list), the next """ sends it'),
    ("/quit", "leave (Ctrl-C and Ctrl-D work too)"),
)

_PRESS = re.compile(r"^#\s*(\d+)$")
SIMULATED_PAY_PAGE = "/_sim/pay/"  # sandbox/cryptopay_simulator.py: an invoice's page
_QUIT = frozenset({"/quit", "/exit"})
_BLOCK = '"""'
_CONTINUE = "\\"
_INDENT = "  "
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
_NAME_LIMIT = 60


@dataclass(frozen=True)
class Shown:
    """One block the session printed, in plain text (for tests and `wait_for`)."""

    kind: str  # "message", "edit", "answer", "notice", "press"
    text: str
    message_id: int | None = None


class ChatSession:
    """One user of the fake Bot API server, driven line by line."""

    def __init__(
        self,
        telegram_url: str,
        user_id: int,
        *,
        output: Callable[[str], None],
        theme: Theme | None = None,
        first_name: str = "Demo",
        language_code: str = "en",
        poll_timeout: float = 25.0,
        media_dir: Path | None = None,
    ) -> None:
        self.base_url = telegram_url.rstrip("/")
        self.user_id = user_id
        self.output = output
        self.theme = theme or plain_theme()
        self.first_name = first_name
        self.language_code = language_code
        self.poll_timeout = poll_timeout
        self.media_dir = media_dir  # created on the first photo or document
        self.saved_media: list[Path] = []
        self._media_seen: set[tuple[int, str]] = set()  # (message id, file id) already saved
        self.version = 0
        self.messages: dict[int, dict[str, Any]] = {}  # bot messages as last shown
        self.transcript: list[Shown] = []
        self.quit_requested = False
        self._lines: list[str] | None = None  # a multi-line message being typed
        self._block = False  # ...between two triple-quote lines (else: lines ending in a backslash)
        self._shown_order: list[int] = []  # message ids, least recently shown first
        self._http: aiohttp.ClientSession | None = None
        self._poller: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()
        self._input_mark = 0
        self._first_poll = asyncio.Event()  # the server answered once
        self._first_attempt = asyncio.Event()  # ...or at least we tried once

    # -- lifecycle --------------------------------------------------------------------------------
    async def start(self) -> None:
        """Open the HTTP session and start following the chat (returns after the first poll)."""
        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15))
        if self._poller is None:
            self._poller = asyncio.create_task(self._poll_loop(), name="chat-session-poll")
            waiter = asyncio.create_task(self._first_attempt.wait())
            await asyncio.wait({waiter, self._poller}, timeout=20, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()

    @property
    def connected(self) -> bool:
        """True once the server answered the first poll."""
        return self._first_poll.is_set()

    async def close(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._poller
            self._poller = None
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- input ------------------------------------------------------------------------------------
    @property
    def collecting(self) -> bool:
        """A multi-line message is being typed: the next line belongs to it (no answer is due)."""
        return self._lines is not None

    async def handle_input(self, line: str) -> None:
        """Act on one typed line (see the module docstring for the rules)."""
        text = line.rstrip("\r\n")
        if self._lines is not None:
            await self._collect(text)
            return
        command = text.strip()
        self._input_mark = len(self.transcript)
        if command == _BLOCK:
            self._lines, self._block = [], True
            return
        if text.endswith(_CONTINUE) and command != _CONTINUE:
            self._lines, self._block = [text[: -len(_CONTINUE)]], False
            return
        if not command:
            return
        if command.lower() in _QUIT:
            self.quit_requested = True
            return
        if command == "#":
            self._list_buttons()
            return
        pressed = _PRESS.match(command)
        if pressed:
            await self.press(int(pressed.group(1)))
            return
        if text.startswith("\\"):
            text = text[1:]
            if not text.strip():
                return
        await self.send(text)

    async def _collect(self, text: str) -> None:
        """One more line of a multi-line message; the message goes out when it is complete."""
        assert self._lines is not None
        if self._block and text.strip() != _BLOCK:
            self._lines.append(text)
            return
        if not self._block and text.endswith(_CONTINUE):
            self._lines.append(text[: -len(_CONTINUE)])
            return
        if not self._block:
            self._lines.append(text)
        message, self._lines, self._block = "\n".join(self._lines), None, False
        self._input_mark = len(self.transcript)
        if message.strip():
            await self.send(message)

    async def send(self, text: str) -> None:
        """Send ``text`` to the bot as the user."""
        body = {"text": text, "first_name": self.first_name, "language_code": self.language_code}
        await self._post("send", body)

    async def press(self, number: int) -> None:
        """Press button ``number`` (1-based) of the last message shown with buttons."""
        message = self.active_message()
        if message is None:
            self._notice("There are no buttons to press yet.")
            return
        buttons = [button for row in message.get("buttons", []) for button in row]
        if not 1 <= number <= len(buttons):
            self._notice(f"There is no button {number} here; pick 1–{len(buttons)}.")
            return
        button = buttons[number - 1]
        label = str(button.get("text", ""))
        if button.get("pay"):  # an invoice's Pay button: pay it with (simulated) Telegram Stars
            self._emit("press", self.theme.style(f"→ [{number}] {label}", "notice"))
            await self._pay_invoice(message)
            return
        if button.get("callback_data") is None:
            url = button.get("url")
            if isinstance(url, str) and SIMULATED_PAY_PAGE in url:
                self._emit("press", self.theme.style(f"→ [{number}] {label}", "notice"))
                await self._pay_page(url)
                return
            self._notice(f"“{label}” opens {url}" if url else f"“{label}” does nothing here.")
            return
        self._emit("press", self.theme.style(f"→ [{number}] {label}", "notice"))
        body = {
            "message_id": message["message_id"],
            "callback_data": button["callback_data"],
            "first_name": self.first_name,
            "language_code": self.language_code,
        }
        await self._post("press", body)

    async def _pay_invoice(self, message: Mapping[str, Any]) -> None:
        """Telegram's payment sheet, simulated: the bot is asked (pre-checkout), then charged."""
        result = await self._post("pay", {"message_id": message["message_id"], "first_name": self.first_name})
        if result is None:
            return
        if result.get("paid"):
            stars = (message.get("invoice") or {}).get("total_amount", "?")
            self._notice(f"Paid {stars} ⭐ with Telegram Stars (simulated).")
        else:
            self._notice(f"Telegram did not take the payment: {result.get('error') or 'refused'}", "error")

    async def _pay_page(self, url: str) -> None:
        """A Crypto Pay invoice page of the local simulator: paying there is one request."""
        if self._http is None:
            raise RuntimeError("ChatSession.start() was not called")
        try:
            async with self._http.post(url) as response:
                data = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as error:
            self._notice(f"The Crypto Pay simulator is not answering ({type(error).__name__}).", "error")
            return
        if isinstance(data, dict) and data.get("ok"):
            self._notice(
                f"Paid {data.get('paid')} in the Crypto Pay simulator; the shop sees it within seconds."
            )
        else:
            reason = data.get("error") if isinstance(data, dict) else None
            self._notice(f"The Crypto Pay simulator refused: {reason or 'unknown error'}", "error")

    # -- what is on screen ------------------------------------------------------------------------
    def active_message(self) -> dict[str, Any] | None:
        """The message ``#N`` refers to: the last one shown that (still) has buttons."""
        for message_id in reversed(self._shown_order):
            message = self.messages.get(message_id)
            if message is not None and message.get("buttons"):
                return message
        return None

    @property
    def buttons(self) -> list[str]:
        """Labels of the buttons ``#1``, ``#2``... press right now."""
        message = self.active_message()
        if message is None:
            return []
        return [str(button.get("text", "")) for row in message.get("buttons", []) for button in row]

    def button_number(self, label: str) -> int:
        """The number to type for the button whose label contains ``label`` (must be unique)."""
        labels = self.buttons
        exact = [i for i, text in enumerate(labels, 1) if text == label]
        found = exact or [i for i, text in enumerate(labels, 1) if label in text]
        if len(found) != 1:
            raise LookupError(f"{len(found)} buttons match {label!r}: {labels}")
        return found[0]

    async def wait_for(self, contains: str, *, timeout: float = 10.0, since: int | None = None) -> Shown:
        """The first block shown since the last input (or index ``since``) containing ``contains``."""
        start = self._input_mark if since is None else since
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            for shown in self.transcript[start:]:
                if shown.kind != "press" and contains in shown.text:
                    return shown
            remaining = deadline - loop.time()
            if remaining <= 0:
                recent = "\n".join(f"  [{s.kind}] {s.text[:120]!r}" for s in self.transcript[start:])
                raise TimeoutError(f"nothing containing {contains!r} within {timeout}s; shown:\n{recent}")
            await self._wait_change(remaining)

    async def wait_for_reply(self, first: float = 5.0, quiet: float = 0.5) -> None:
        """After an input: wait for the first thing shown (up to ``first`` s), then for quiet.

        Used when lines come from a script, so each line acts on the bot's answer to the last one.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + first
        while not any(shown.kind != "press" for shown in self.transcript[self._input_mark :]):
            if not await self._wait_change(deadline - loop.time()):
                return
        await self.settle(quiet=quiet, limit=first)

    async def settle(self, quiet: float = 1.0, limit: float = 5.0) -> None:
        """Wait until nothing new was shown for ``quiet`` seconds (at most ``limit`` seconds)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        while loop.time() < deadline:
            if not await self._wait_change(min(quiet, deadline - loop.time())):
                return

    # -- rendering --------------------------------------------------------------------------------
    def render_message(self, message: Mapping[str, Any], *, edited: bool) -> str:
        """A bot message as terminal text: header, text with styles, numbered buttons."""
        theme = self.theme
        lines = render_entities(str(message.get("text") or ""), message.get("entities") or [], theme)
        kind = message.get("kind")
        invoice = message.get("invoice")
        if isinstance(invoice, Mapping):
            lines = [
                f"{invoice.get('title', '')} — {invoice.get('description', '')}",
                f"{invoice.get('total_amount', '?')} ⭐ (press the Pay button to pay with Telegram Stars)",
            ]
        if kind == "photo":
            lines[0] = theme.style("[photo] ", "notice") + lines[0]
        elif kind == "document":
            name = message.get("document_name") or "file"
            lines[0] = theme.style(f"[document: {name}] ", "notice") + lines[0]
        elif kind not in (None, "text"):
            lines[0] = theme.style(f"[{kind}] ", "notice") + lines[0]
        header = theme.style("bot", "bot")
        if edited:
            header += " " + theme.style("(edited)", "notice")
        out = [f"{header}: {lines[0]}", *(f"{_INDENT}{line}" if line else "" for line in lines[1:])]
        number = 0
        for row in message.get("buttons") or []:
            cells = []
            for button in row:
                number += 1
                cell = theme.style(f"[{number}]", "button") + " " + str(button.get("text", ""))
                if button.get("callback_data") is None and button.get("url"):
                    cell += theme.style(f" ({button['url']})", "hint")
                cells.append(cell)
            out.append(_INDENT + "   ".join(cells))
        keyboard = message.get("reply_keyboard")
        if isinstance(keyboard, Mapping) and keyboard.get("keyboard"):
            labels = [
                str(b.get("text", b) if isinstance(b, Mapping) else b)
                for row in keyboard["keyboard"]
                for b in row
            ]
            out.append(_INDENT + theme.style("keyboard: " + " | ".join(labels), "hint"))
        return "\n".join(out)

    def _list_buttons(self) -> None:
        message = self.active_message()
        if message is None:
            self._notice("There are no buttons to press yet.")
            return
        self._emit("notice", self.render_message(message, edited=False), message_id=message["message_id"])

    def _notice(self, text: str, style: str = "notice") -> None:
        self._emit("notice", self.theme.style(text, style))

    def _emit(self, kind: str, rendered: str, *, message_id: int | None = None) -> None:
        self.transcript.append(Shown(kind, strip_ansi(rendered), message_id))
        self.output(rendered)
        self._changed.set()
        self._changed = asyncio.Event()

    async def _wait_change(self, timeout: float) -> bool:
        if timeout <= 0:
            return False
        event = self._changed
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except TimeoutError:
            return False
        return True

    # -- HTTP -------------------------------------------------------------------------------------
    def _url(self, action: str) -> str:
        return f"{self.base_url}/_fake/users/{self.user_id}/{action}"

    async def _post(self, action: str, body: dict[str, Any]) -> dict[str, Any] | None:
        """POST a control request; its JSON answer, or None (the problem shown as a notice)."""
        if self._http is None:
            raise RuntimeError("ChatSession.start() was not called")
        try:
            async with self._http.post(self._url(action), json=body) as response:
                if response.status >= 400:
                    reason = (await response.text()).strip() or response.reason
                    self._notice(f"The Telegram server refused that: {reason}", "error")
                    return None
                data = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as error:
            self._notice(
                f"Cannot reach the Telegram server at {self.base_url} ({type(error).__name__}).", "error"
            )
            return None
        return data if isinstance(data, dict) else None

    async def _poll_loop(self) -> None:
        failures = 0
        while True:
            assert self._http is not None
            # The first request answers at once, so start() knows the chat's state right away.
            timeout = self.poll_timeout if self._first_poll.is_set() else 0.0
            try:
                async with self._http.get(
                    self._url("messages"),
                    params={"after_version": str(self.version), "timeout": str(timeout)},
                    timeout=aiohttp.ClientTimeout(total=self.poll_timeout + 15),
                ) as response:
                    response.raise_for_status()
                    data = await response.json()
            except (aiohttp.ClientError, TimeoutError, ValueError) as error:
                self._first_attempt.set()
                failures += 1
                if failures == 3:
                    self._notice(
                        f"Lost the Telegram server at {self.base_url} ({type(error).__name__}); retrying…",
                        "error",
                    )
                await asyncio.sleep(min(2.0, 0.25 * failures))
                continue
            if failures >= 3:
                self._notice("Connected again.")
            failures = 0
            await self._save_media(self._apply(data))
            self._first_poll.set()
            self._first_attempt.set()

    def _apply(self, data: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Show the changes; returns the photo and document messages whose files to save."""
        media: list[dict[str, Any]] = []
        for message in data.get("messages", []):
            message_id = int(message["message_id"])
            if message.get("deleted"):
                self.messages.pop(message_id, None)
                continue
            edited = message_id in self.messages or bool(message.get("edited"))
            self.messages[message_id] = dict(message)
            with contextlib.suppress(ValueError):
                self._shown_order.remove(message_id)
            self._shown_order.append(message_id)
            self._emit(
                "edit" if edited else "message",
                self.render_message(message, edited=edited),
                message_id=message_id,
            )
            seen = (message_id, str(message.get("file_id") or ""))
            if message.get("kind") in ("photo", "document") and seen not in self._media_seen:
                self._media_seen.add(seen)
                media.append(dict(message))
        for answer in data.get("callback_answers", []):
            text = answer.get("text")
            if text:
                label = "alert" if answer.get("show_alert") else "ⓘ"
                self._emit("answer", _INDENT + self.theme.style(f"{label} {text}", "toast"))
            elif answer.get("url"):
                self._emit("answer", _INDENT + self.theme.style(f"opens {answer['url']}", "toast"))
        version = data.get("version")
        if isinstance(version, int) and version > self.version:
            self.version = version
        return media

    # -- photos and documents ---------------------------------------------------------------------
    async def _save_media(self, messages: list[dict[str, Any]]) -> None:
        for message in messages:
            kind = str(message.get("kind"))
            data = await self._fetch_media(int(message["message_id"]))
            if data is None:
                self._emit(
                    "notice",
                    _INDENT + self.theme.style(f"[{kind}] not saved: the server has no file for it", "hint"),
                    message_id=int(message["message_id"]),
                )
                continue
            path = self._media_path(kind, data, str(message.get("document_name") or ""))
            path.write_bytes(data)
            self.saved_media.append(path)
            self._emit(
                "notice",
                _INDENT + self.theme.style(f"[{kind}] saved to {path}", "notice"),
                message_id=int(message["message_id"]),
            )

    async def _fetch_media(self, message_id: int) -> bytes | None:
        assert self._http is not None
        try:
            async with self._http.get(self._url(f"media/{message_id}")) as response:
                if response.status != 200:
                    return None
                return await response.read()
        except (aiohttp.ClientError, TimeoutError):
            return None

    def _media_path(self, kind: str, data: bytes, name: str) -> Path:
        """`photo-1.png`, `document-2-report.csv`: numbered in the order they arrived."""
        if self.media_dir is None:
            self.media_dir = Path(tempfile.mkdtemp(prefix="smmbot-chat-media-"))
        self.media_dir.mkdir(parents=True, exist_ok=True)
        number = len(self.saved_media) + 1
        if kind == "photo":
            suffix = ".png" if data.startswith(b"\x89PNG\r\n\x1a\n") else ".jpg"
            return self.media_dir / f"photo-{number}{suffix}"
        safe = _UNSAFE_NAME.sub("_", Path(name).name).strip("._")[-_NAME_LIMIT:]
        return self.media_dir / (f"{kind}-{number}-{safe}" if safe else f"{kind}-{number}")
