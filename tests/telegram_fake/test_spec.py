"""Validation of calls against the official Bot API spec JSON (no HTTP involved)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sandbox.telegram_spec import SpecError, TelegramSpec, UploadedFile, default_spec_path, load_spec


@pytest.fixture(scope="module")
def spec() -> TelegramSpec:
    return load_spec()


def test_spec_is_found_and_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    assert default_spec_path().is_file()
    assert load_spec() is load_spec(default_spec_path())
    monkeypatch.setenv("TELEGRAM_SPEC_PATH", "/nonexistent/spec.json")
    assert default_spec_path() == Path("/nonexistent/spec.json")


def test_load_from_custom_path(tmp_path: Path) -> None:
    doc = {
        "version": "Bot API 0.1",
        "methods": {"ping": {"name": "ping", "fields": [], "returns": ["Boolean"]}},
        "types": {},
    }
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(doc))
    small = load_spec(path)
    assert small.version == "Bot API 0.1"
    assert small.canonical_method("PING") == "ping"


def test_form_strings_are_coerced(spec: TelegramSpec) -> None:
    values = spec.validate_call(
        "sendMessage",
        {
            "chat_id": "42",
            "text": "hi",
            "disable_notification": "true",
            "reply_markup": json.dumps({"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]}),
            "entities": json.dumps([{"type": "bold", "offset": 0, "length": 2}]),
        },
    )
    assert values["chat_id"] == 42
    assert values["disable_notification"] is True
    assert values["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "a"
    assert values["entities"][0]["type"] == "bold"


def test_json_values_accepted(spec: TelegramSpec) -> None:
    values = spec.validate_call("sendMessage", {"chat_id": "@channel", "text": "x", "protect_content": False})
    assert values == {"chat_id": "@channel", "text": "x", "protect_content": False}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"chat_id": 1}, "message text is empty"),
        ({"text": "x"}, "chat_id is empty"),
        ({"chat_id": 1, "text": "x", "colour": "red"}, 'unknown parameter "colour"'),
        ({"chat_id": [1], "text": "x"}, 'field "chat_id" must be of type Integer or String'),
        ({"chat_id": 1, "text": "x", "disable_notification": "maybe"}, "must be of type Boolean"),
        ({"chat_id": 1, "text": "x", "reply_markup": "{not json"}, "can't parse reply_markup JSON object"),
        (
            {
                "chat_id": 1,
                "text": "x",
                "reply_markup": {"inline_keyboard": [[{"text": "a", "callback_data": 1}]]},
            },
            'can\'t parse InlineKeyboardButton: field "reply_markup.inline_keyboard[0][0].callback_data" '
            "must be of type String",
        ),
        (
            {"chat_id": 1, "text": "x", "reply_markup": {"inline_keyboard": [[{"callback_data": "a"}]]}},
            'can\'t find field "text"',
        ),
        (
            {"chat_id": 1, "text": "x", "reply_markup": {"inline_keyboard": [{"text": "a"}]}},
            "must be an Array of InlineKeyboardButton",
        ),
        (
            {
                "chat_id": 1,
                "text": "x",
                "reply_markup": {"keyboard": [[{"text": "a"}]], "resize_keyboard": "yes"},
            },
            'ReplyKeyboardMarkup: field "reply_markup.resize_keyboard" must be of type Boolean',
        ),
    ],
)
def test_send_message_errors(spec: TelegramSpec, params: dict[str, object], message: str) -> None:
    with pytest.raises(SpecError) as info:
        spec.validate_call("sendMessage", params)
    assert message in info.value.description


def test_union_types_pick_the_member_by_type(spec: TelegramSpec) -> None:
    ok = spec.validate_call("setMyCommands", {"commands": "[]", "scope": '{"type": "chat", "chat_id": 5}'})
    assert ok["scope"] == {"type": "chat", "chat_id": 5}
    with pytest.raises(SpecError, match='BotCommandScopeChat: can\'t find field "chat_id"'):
        spec.validate_call("setMyCommands", {"commands": "[]", "scope": '{"type": "chat"}'})
    with pytest.raises(SpecError, match='unsupported type "planet"'):
        spec.validate_call("setMyCommands", {"commands": "[]", "scope": '{"type": "planet"}'})


def test_input_file_and_attachments(spec: TelegramSpec) -> None:
    upload = UploadedFile("f1", "a.png", "image/png", b"\x89PNG")
    direct = spec.validate_call("sendPhoto", {"chat_id": "1"}, {"photo": upload})
    assert direct["photo"] is upload
    attached = spec.validate_call("sendPhoto", {"chat_id": "1", "photo": "attach://f1"}, {"f1": upload})
    assert attached["photo"] is upload
    by_id = spec.validate_call("sendPhoto", {"chat_id": "1", "photo": "AgACAgIAAxk"})
    assert by_id["photo"] == "AgACAgIAAxk"
    with pytest.raises(SpecError, match="was not uploaded"):
        spec.validate_call("sendPhoto", {"chat_id": "1", "photo": "attach://missing"})
    with pytest.raises(SpecError, match="unreferenced file part"):
        spec.validate_call("sendPhoto", {"chat_id": "1", "photo": "x"}, {"stray": upload})
    media = json.dumps([{"type": "photo", "media": "attach://f1"}, {"type": "video", "media": "BAAD"}])
    group = spec.validate_call("sendMediaGroup", {"chat_id": "1", "media": media}, {"f1": upload})
    assert [item["type"] for item in group["media"]] == ["photo", "video"]


def test_legacy_parameters_still_accepted(spec: TelegramSpec) -> None:
    values = spec.validate_call("sendMessage", {"chat_id": "1", "text": "x", "reply_to_message_id": "3"})
    assert values["reply_to_message_id"] == 3
    with pytest.raises(SpecError):
        spec.validate_call("getMe", {"reply_to_message_id": "3"})


def test_validate_object_checks_responses(spec: TelegramSpec) -> None:
    spec.validate_object("Message", {"message_id": 1, "date": 0, "chat": {"id": 1, "type": "private"}})
    with pytest.raises(SpecError):
        spec.validate_object("Message", {"message_id": 1, "chat": {"id": 1, "type": "private"}})


def test_bundled_spec_is_the_shared_one() -> None:
    """The package ships a copy of the official spec for machines without ../shared; keep it identical."""
    from sandbox.telegram_spec import BUNDLED_SPEC, SHARED_SPEC

    if not SHARED_SPEC.is_file():
        pytest.skip(f"no shared spec at {SHARED_SPEC} to compare with")
    assert BUNDLED_SPEC.read_bytes() == SHARED_SPEC.read_bytes()
