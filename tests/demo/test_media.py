"""Photos and documents in the terminal chat: saved to numbered files, their paths printed (issue #15)."""

from __future__ import annotations

from pathlib import Path

from aiogram.types import BufferedInputFile

from sandbox.demo.chat import ChatSession
from sandbox.demo.environment import demo_environment

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def saved_path(text: str) -> Path:
    return Path(text.split("saved to ", 1)[1].strip())


async def test_the_chart_photo_and_a_document_are_saved_to_files(tmp_path: Path) -> None:
    media = tmp_path / "media"
    shown: list[str] = []
    async with (
        demo_environment(as_admin=True, tick_seconds=None) as env,
        ChatSession(env.telegram.base_url, env.user.id, output=shown.append, media_dir=media) as chat,
    ):
        await chat.handle_input("/chart")
        await chat.wait_for("[photo] 📈 Orders per day")
        notice = await chat.wait_for("[photo] saved to")
        path = saved_path(notice.text)
        assert path == media / "photo-1.png"
        data = path.read_bytes()
        assert data.startswith(PNG_MAGIC)
        sent = [m for m in env.telegram.chat(env.user.id).messages.values() if m.kind == "photo"]
        assert [m.photo_data for m in sent] == [data]  # exactly the bytes the bot uploaded

        mark = len(chat.transcript)
        await env.app.bot.send_document(
            env.user.id, BufferedInputFile(b"day,orders\n2026-01-01,3\n", filename="../orders 1.csv")
        )
        await chat.wait_for("orders 1.csv]", since=mark)
        notice = await chat.wait_for("[document] saved to", since=mark)
        path = saved_path(notice.text)
        assert path == media / "document-2-orders_1.csv"  # numbered, no path from the name kept
        assert path.read_bytes() == b"day,orders\n2026-01-01,3\n"

        mark = len(chat.transcript)
        await env.app.bot.edit_message_caption(
            chat_id=env.user.id, message_id=sent[0].message_id, caption="Chart, again"
        )
        await chat.wait_for("Chart, again", since=mark)
        await chat.settle(quiet=0.3)
        assert chat.saved_media == [media / "photo-1.png", path]  # an edited caption saves nothing new
    assert any("saved to" in line for line in shown)
