"""The order form asks what each service type needs and checks every answer."""

from __future__ import annotations

from datetime import date

import pytest

from bot.services.forms import (
    FieldError,
    FormField,
    ServiceRules,
    build_request,
    check_complete,
    check_list_file,
    decode_list_file,
    form_fields,
    next_field,
    validate,
)

TODAY = date(2026, 11, 26)


def rules(
    type_key: str = "default", *, dripfeed: bool = False, low: int = 100, high: int = 10_000
) -> ServiceRules:
    return ServiceRules(
        service_id="1", type_key=type_key, min_quantity=low, max_quantity=high, dripfeed=dripfeed
    )


def names(r: ServiceRules) -> list[str]:
    return [f.name for f in form_fields(r)]


@pytest.mark.parametrize(
    ("type_key", "expected"),
    [
        ("default", ["link", "quantity"]),
        ("package", ["link"]),
        ("custom comments", ["link", "comments"]),
        ("mentions with hashtags", ["link", "quantity", "usernames", "hashtags"]),
        ("mentions hashtag", ["link", "quantity", "hashtag"]),
        ("poll", ["link", "quantity", "answer_number"]),
        ("subscriptions", ["username", "min", "max", "posts", "delay", "expiry"]),
        ("something new", ["link", "quantity"]),  # unknown types fall back to the basic order
    ],
)
def test_fields_per_type(type_key: str, expected: list[str]) -> None:
    assert names(rules(type_key)) == expected


def test_dripfeed_services_ask_runs_and_interval_only_when_chosen() -> None:
    r = rules(dripfeed=True)
    assert names(r) == ["link", "dripfeed", "quantity", "runs", "interval"]
    values: dict[str, object] = {"link": "https://x.com/a", "dripfeed": "no", "quantity": 500}
    assert next_field(r, values) is None
    values["dripfeed"] = "yes"
    item = next_field(r, values)
    assert item is not None and item.name == "runs"


@pytest.mark.parametrize(
    "text",
    [
        "hello",
        "http://",
        "ftp://x.com/a",
        "https://localhost",
        "https://exa mple.com",
        "",
        "https://instagram.com/<b>a</b>",
        'https://instagram.com/a"onclick',
        "https://instagram.com/a\tb",
        "https://instagram.com/a\x00b",
        "https://instagram.com/a\u200bb",  # zero-width space
        "https://instagram.com/a\u202eb",  # right-to-left override
        "https://evil.example\\@instagram.com/a",
        "https://пример",  # a national name without a top-level domain
        "https://пр..рф/a",
    ],
)
def test_junk_links_are_rejected(text: str) -> None:
    field = form_fields(rules())[0]
    with pytest.raises(FieldError) as caught:
        validate(rules(), field, text, {}, today=TODAY)
    assert caught.value.key == "form.error.link"


@pytest.mark.parametrize(
    "text",
    [
        "https://ru.wikipedia.org/wiki/Тест",
        "https://ru.wikipedia.org/wiki/%D0%A2%D0%B5%D1%81%D1%82",
        "https://example.com/a?b=1&c=2#top",
        "https://пример.рф/страница",  # a national domain name (IDNA)
        "https://магазин.москва/",
    ],
)
def test_non_ascii_and_percent_encoded_links_stay_valid(text: str) -> None:
    field = form_fields(rules())[0]
    assert validate(rules(), field, text, {}, today=TODAY) == text


def test_bare_domain_links_get_https() -> None:
    field = form_fields(rules())[0]
    assert validate(rules(), field, "instagram.com/p/xyz", {}, today=TODAY) == "https://instagram.com/p/xyz"


@pytest.mark.parametrize(
    ("text", "ok"), [("99", False), ("100", True), ("10 000", True), ("10001", False), ("1e3", False)]
)
def test_quantity_range(text: str, ok: bool) -> None:
    field = form_fields(rules())[1]
    if ok:
        assert validate(rules(), field, text, {}, today=TODAY) == int(text.replace(" ", ""))
    else:
        with pytest.raises(FieldError):
            validate(rules(), field, text, {}, today=TODAY)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1000", 1000),
        ("1,000", 1000),
        ("1 000", 1000),
        ("1\u00a0000", 1000),
        ("1 000 000", 1_000_000),
        ("+500", 500),
        ("100,5", "form.error.not_a_number"),  # a decimal comma, not 1005
        ("1,00", "form.error.not_a_number"),  # not a group of three
        ("1.5", "form.error.not_a_number"),
        ("1,000 000", "form.error.not_a_number"),  # two kinds of separator
        ("1,0000", "form.error.not_a_number"),
        ("²", "form.error.not_a_number"),  # int() takes it; a quantity does not
        ("9" * 5000, "form.error.quantity_range"),  # says the range, without int() of 5000 digits
        ("1" + " 000" * 1500, "form.error.quantity_range"),
    ],
)
def test_only_unambiguous_whole_numbers_are_read(text: str, expected: int | str) -> None:
    field = form_fields(rules(high=10**9))[1]
    if isinstance(expected, int):
        assert validate(rules(high=10**9), field, text, {}, today=TODAY) == expected
    else:
        with pytest.raises(FieldError) as caught:
            validate(rules(high=10**9), field, text, {}, today=TODAY)
        assert caught.value.key == expected


def test_custom_comments_count_must_fit_min_max() -> None:
    r = rules("custom comments", low=2, high=3)
    field = form_fields(r)[1]
    assert validate(r, field, "nice\n\n  great  \r\n", {}, today=TODAY) == ["nice", "great"]
    with pytest.raises(FieldError) as caught:
        validate(r, field, "a\nb\nc\nd", {}, today=TODAY)
    assert caught.value.values["count"] == 4


def test_dripfeed_total_must_fit_min_max() -> None:
    r = rules(dripfeed=True, low=100, high=1000)
    with pytest.raises(FieldError) as caught:
        check_complete(
            r, {"link": "https://a.io/x", "dripfeed": "yes", "quantity": 300, "runs": 4, "interval": 5}
        )
    assert caught.value.key == "form.error.total_range"
    check_complete(r, {"link": "https://a.io/x", "dripfeed": "yes", "quantity": 50, "runs": 4, "interval": 5})


def test_subscription_expiry_must_be_a_future_date() -> None:
    r = rules("subscriptions")
    expiry = form_fields(r)[-1]
    assert validate(r, expiry, "31/12/2027", {}, today=TODAY) == "31/12/2027"
    for text, key in [("2027-12-31", "form.error.date"), ("26/11/2026", "form.error.date_past")]:
        with pytest.raises(FieldError) as caught:
            validate(r, expiry, text, {}, today=TODAY)
        assert caught.value.key == key


def test_subscription_max_not_below_min_and_delay_from_the_set() -> None:
    r = rules("subscriptions")
    fields = {f.name: f for f in form_fields(r)}
    with pytest.raises(FieldError):
        validate(r, fields["max"], "150", {"min": 200}, today=TODAY)
    with pytest.raises(FieldError):
        validate(r, fields["delay"], "7", {}, today=TODAY)
    assert validate(r, fields["delay"], "30", {}, today=TODAY) == "30"


def test_request_for_the_panel() -> None:
    r = rules("mentions with hashtags")
    request = build_request(
        r, {"link": "https://x.com/p", "quantity": 200, "usernames": ["a", "b"], "hashtags": ["#x", "#y"]}
    )
    assert request.params == {
        "link": "https://x.com/p",
        "quantity": 200,
        "usernames": "a\nb",
        "hashtags": "#x\n#y",
    }
    sub = build_request(
        rules("subscriptions"),
        {"username": "bob", "min": 100, "max": 200, "posts": 3, "delay": "30", "expiry": None},
    )
    assert sub.params == {"username": "bob", "min": 100, "max": 200, "posts": 3, "delay": 30}
    assert sub.link is None and sub.quantity == 600  # charged upfront for max × posts


@pytest.mark.parametrize(
    ("file_name", "mime_type", "size", "error"),
    [
        ("comments.txt", "text/plain", 100, None),
        ("COMMENTS.TXT", None, 100, None),  # the name alone is enough
        ("comments", "text/plain; charset=utf-8", 100, None),  # and so is the type
        ("comments.pdf", "application/pdf", 100, "form.error.file_type"),
        ("comments.txt", "text/plain", 256 * 1024 + 1, "form.error.file_too_big"),
        ("comments.txt", "text/plain", None, None),  # size unknown: checked after the download
    ],
)
def test_which_files_may_answer_a_list(
    file_name: str, mime_type: str | None, size: int | None, error: str | None
) -> None:
    comments = FormField("comments", "counted_lines")
    if error is None:
        check_list_file(comments, file_name=file_name, mime_type=mime_type, size=size)
    else:
        with pytest.raises(FieldError) as raised:
            check_list_file(comments, file_name=file_name, mime_type=mime_type, size=size)
        assert raised.value.key == error


def test_only_list_fields_take_a_file() -> None:
    with pytest.raises(FieldError) as raised:
        check_list_file(FormField("link", "link"), file_name="a.txt", mime_type="text/plain", size=10)
    assert raised.value.key == "form.error.file_not_list"


def test_a_list_file_is_utf8_text() -> None:
    assert decode_list_file("\ufeffодин\r\nдва".encode()) == "один\r\nдва"
    for data in ("café".encode("latin-1"), b"a\x00b", b"x" * (256 * 1024 + 1)):
        with pytest.raises(FieldError):
            decode_list_file(data)
