"""Validation of Bot API calls against the official machine-readable spec.

The fake server must reject exactly what Telegram would reject, and a hand-written list of
methods drifts from reality. So every call is checked against the published spec JSON
(``bot-api-*.min.json``): method names, required / unknown parameters and the type of every
value, recursively through nested objects, arrays and union types.

Form and query-string bodies carry everything as strings, so top-level values are coerced the
way Telegram does it (``"123"`` -> Integer, ``"true"`` -> Boolean, JSON text -> objects/arrays);
values nested inside JSON objects must have the proper JSON type.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

__all__ = [
    "SPEC_FILENAME",
    "FieldSpec",
    "MethodSpec",
    "SpecError",
    "TelegramSpec",
    "TypeSpec",
    "UploadedFile",
    "default_spec_path",
    "load_spec",
]

SPEC_FILENAME = "bot-api-10.1.min.json"
SPEC_ENV_VAR = "TELEGRAM_SPEC_PATH"

# Parameters dropped from the docs but still accepted by Telegram (and still sent by aiogram
# when a bot uses them). Keyed by a field whose presence in the method makes them legal.
LEGACY_PARAMS: dict[str, tuple[str, tuple[str, ...]]] = {
    "reply_to_message_id": ("reply_parameters", ("Integer",)),
    "allow_sending_without_reply": ("reply_parameters", ("Boolean",)),
    "disable_web_page_preview": ("link_preview_options", ("Boolean",)),
}

_INT_RE = re.compile(r"-?[0-9]+")
_FLOAT_RE = re.compile(r"-?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")
_CONST_RE = re.compile(r'(?:always "([^"]+)"|always “([^”]+)”|must be ([a-z_]+)\b)')
# Telegram's own words for a few missing parameters; the rest follow its "<name> is empty" style.
_MISSING_WORDING = {
    "text": "message text is empty",
    "callback_query_id": "query is too old and response timeout expired or query ID is invalid",
}
_PRIMITIVES = frozenset({"Integer", "Float", "String", "Boolean", "InputFile"})


@dataclass(frozen=True)
class UploadedFile:
    """A multipart file part: Telegram's ``InputFile``."""

    name: str
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class FieldSpec:
    """One parameter of a method or field of a type."""

    name: str
    types: tuple[str, ...]
    required: bool
    description: str = ""


@dataclass(frozen=True)
class MethodSpec:
    """A Bot API method: its parameters and declared return types."""

    name: str
    fields: dict[str, FieldSpec]
    returns: tuple[str, ...]


@dataclass(frozen=True)
class TypeSpec:
    """A Bot API object type, or a union type when ``subtypes`` is non-empty."""

    name: str
    fields: dict[str, FieldSpec]
    subtypes: tuple[str, ...] = ()
    # Discriminator, e.g. ("type", "photo") for InputMediaPhoto: fixes the chosen union member.
    const: tuple[str, str] | None = None


class SpecError(ValueError):
    """A call that does not match the spec; ``description`` omits the ``Bad Request: `` prefix."""

    def __init__(self, description: str, *, score: int = 0) -> None:
        super().__init__(description)
        self.description = description
        self.score = score


@dataclass
class _Ctx:
    files: Mapping[str, UploadedFile]
    referenced: set[str] = field(default_factory=set)


SHARED_SPEC = Path(__file__).resolve().parents[2].parent / "shared" / "telegram" / SPEC_FILENAME
BUNDLED_SPEC = Path(__file__).resolve().parent / "data" / SPEC_FILENAME


def default_spec_path() -> Path:
    """``$TELEGRAM_SPEC_PATH``, else the project's shared copy beside the checkout, else the copy
    shipped in the package (so the demo works on a machine that has only the package)."""
    env = os.environ.get(SPEC_ENV_VAR)
    if env:
        return Path(env)
    return SHARED_SPEC if SHARED_SPEC.is_file() else BUNDLED_SPEC


def load_spec(path: Path | str | None = None) -> TelegramSpec:
    """Load (once per path) and return the spec; the JSON is ~650 KB, so it is cached."""
    resolved = Path(path) if path is not None else default_spec_path()
    if not resolved.is_file():
        raise FileNotFoundError(
            f"Bot API spec not found at {resolved}; pass spec_path or set ${SPEC_ENV_VAR} to {SPEC_FILENAME}"
        )
    return _load_cached(str(resolved.resolve()))


@lru_cache(maxsize=8)
def _load_cached(path: str) -> TelegramSpec:
    with open(path, encoding="utf-8") as fh:
        return TelegramSpec.from_json(json.load(fh))


def _fields(raw: Mapping[str, Any]) -> dict[str, FieldSpec]:
    result: dict[str, FieldSpec] = {}
    for item in raw.get("fields", []):
        description = item.get("description", "")
        if isinstance(description, list):
            description = " ".join(description)
        result[item["name"]] = FieldSpec(
            name=item["name"],
            types=tuple(item["types"]),
            required=bool(item.get("required", False)),
            description=str(description),
        )
    return result


def _type_label(types: tuple[str, ...]) -> str:
    return " or ".join(types)


class TelegramSpec:
    """Parsed spec with call/object validators."""

    def __init__(self, version: str, methods: dict[str, MethodSpec], types: dict[str, TypeSpec]) -> None:
        self.version = version
        self.methods = methods
        self.types = types
        self._by_lower = {name.lower(): name for name in methods}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TelegramSpec:
        """Build from the decoded spec document."""
        methods = {
            name: MethodSpec(name=name, fields=_fields(raw), returns=tuple(raw.get("returns", ())))
            for name, raw in data["methods"].items()
        }
        types: dict[str, TypeSpec] = {}
        for name, raw in data["types"].items():
            fields = _fields(raw)
            const: tuple[str, str] | None = None
            for key in ("type", "status", "source"):
                spec_field = fields.get(key)
                if spec_field is None:
                    continue
                match = _CONST_RE.search(spec_field.description)
                if match and raw.get("subtype_of"):
                    const = (key, next(group for group in match.groups() if group))
                break
            types[name] = TypeSpec(
                name=name, fields=fields, subtypes=tuple(raw.get("subtypes", ())), const=const
            )
        return cls(str(data.get("version", "")), methods, types)

    def canonical_method(self, name: str) -> str | None:
        """Telegram method names are case-insensitive; return the spec spelling or None."""
        return self._by_lower.get(name.lower())

    # -- calls ---------------------------------------------------------------------------------
    def validate_call(
        self,
        method: str,
        params: Mapping[str, Any],
        files: Mapping[str, UploadedFile] | None = None,
    ) -> dict[str, Any]:
        """Check a call and return its parameters coerced to Python values.

        ``params`` are the non-file parameters (strings for form bodies, JSON values for JSON
        bodies); ``files`` are multipart file parts by part name. A file part named like a
        parameter is that parameter; other parts must be referenced via ``attach://<name>``.
        """
        spec = self.methods[method]
        ctx = _Ctx(files=files or {})
        values: dict[str, Any] = dict(params)
        for part_name, upload in ctx.files.items():
            if part_name in spec.fields and part_name not in values:
                values[part_name] = upload
                ctx.referenced.add(part_name)
        result: dict[str, Any] = {}
        for name, value in values.items():
            spec_field = spec.fields.get(name)
            if spec_field is None:
                legacy = LEGACY_PARAMS.get(name)
                if legacy is not None and legacy[0] in spec.fields:
                    spec_field = FieldSpec(name=name, types=legacy[1], required=False)
                else:
                    raise SpecError(f'unknown parameter "{name}" for method {method}')
            result[name] = self._check(value, spec_field.types, name, ctx, top=True)
        for spec_field in spec.fields.values():
            if spec_field.required and (
                spec_field.name not in result or result[spec_field.name] in ("", None)
            ):
                raise SpecError(_MISSING_WORDING.get(spec_field.name, f"{spec_field.name} is empty"))
        unused = set(ctx.files) - ctx.referenced
        if unused:
            raise SpecError(
                f'unknown parameter "{sorted(unused)[0]}" for method {method} (unreferenced file part)'
            )
        return result

    def validate_result(self, method: str, value: Any) -> Any:
        """Check a method's result against its declared return types (keeps the fake honest)."""
        return self._check(value, self.methods[method].returns, f"{method} result", _Ctx(files={}), top=False)

    def validate_object(self, type_expr: str, value: Any) -> Any:
        """Validate a JSON value (e.g. a fake's own response) against a type expression."""
        return self._check(value, (type_expr,), type_expr, _Ctx(files={}), top=False)

    # -- recursive checker -----------------------------------------------------------------------
    def _check(self, value: Any, types: tuple[str, ...], where: str, ctx: _Ctx, top: bool) -> Any:
        if len(types) == 1:
            return self._check_one(value, types[0], where, ctx, top)
        if all(t.startswith("Array of ") for t in types):
            # "Array of A, B and C" (sendMediaGroup): one array whose items may mix the types.
            if top and isinstance(value, str):
                value = self._decode_json(value, where, "array")
            if not isinstance(value, list):
                raise SpecError(f'field "{where}" must be an {_type_label(types)}', score=1)
            inner = tuple(t[len("Array of ") :] for t in types)
            return [self._check(item, inner, f"{where}[{i}]", ctx, False) for i, item in enumerate(value)]
        chosen = self._discriminate(value, types, where, where)
        if chosen is not None:
            return self._check_object(value, chosen, where, ctx)
        errors: list[SpecError] = []
        for type_expr in self._ordered(value, types):
            try:
                return self._check_one(value, type_expr, where, ctx, top)
            except SpecError as err:
                errors.append(err)
        best = max(errors, key=lambda err: err.score)
        if best.score < 5 and (all(t in _PRIMITIVES for t in types) or not isinstance(value, dict | str)):
            raise SpecError(f'field "{where}" must be of type {_type_label(types)}')
        raise best

    def _ordered(self, value: Any, types: tuple[str, ...]) -> list[str]:
        """Alternatives to try, best candidate first, so the reported error is the useful one."""
        if not isinstance(value, dict):
            return list(types)

        def score(type_expr: str) -> int:
            spec = self.types.get(type_expr)
            if spec is None or spec.subtypes:
                return -1000
            known = sum(1 for key in value if key in spec.fields)
            unknown = len(value) - known
            bonus = 100 if spec.const and value.get(spec.const[0]) == spec.const[1] else 0
            return bonus + known * 2 - unknown

        return sorted(types, key=score, reverse=True)

    def _check_one(self, value: Any, type_expr: str, where: str, ctx: _Ctx, top: bool) -> Any:
        if type_expr.startswith("Array of "):
            return self._check_array(value, type_expr[len("Array of ") :], where, ctx, top)
        if type_expr == "Integer":
            if isinstance(value, int) and not isinstance(value, bool):
                return value
            if top and isinstance(value, str) and _INT_RE.fullmatch(value.strip()):
                return int(value.strip())
            raise self._type_error(where, type_expr, top)
        if type_expr == "Float":
            if isinstance(value, int | float) and not isinstance(value, bool):
                return float(value)
            if top and isinstance(value, str) and _FLOAT_RE.fullmatch(value.strip()):
                return float(value.strip())
            raise self._type_error(where, type_expr, top)
        if type_expr == "Boolean":
            if isinstance(value, bool):
                return value
            if top and isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0"):
                return value.strip().lower() in ("true", "1")
            if top and isinstance(value, int) and value in (0, 1):
                return bool(value)
            raise self._type_error(where, type_expr, top)
        if type_expr == "String":
            if isinstance(value, str):
                if value.startswith("attach://"):
                    self._attachment(value, where, ctx)
                return value
            if top and isinstance(value, int | float) and not isinstance(value, bool):
                return str(value)
            raise self._type_error(where, type_expr, top)
        if type_expr == "InputFile":
            if isinstance(value, UploadedFile):
                return value
            if isinstance(value, str) and value.startswith("attach://"):
                return self._attachment(value, where, ctx)
            raise self._type_error(where, type_expr, top)
        spec = self.types.get(type_expr)
        if spec is None:
            raise SpecError(f'spec has no type "{type_expr}" (field "{where}")')
        if top and isinstance(value, str):
            value = self._decode_json(value, where, "object")
        if spec.subtypes:
            return self._check_union(value, spec, where, ctx)
        return self._check_object(value, spec, where, ctx)

    def _check_array(self, value: Any, item_type: str, where: str, ctx: _Ctx, top: bool) -> list[Any]:
        if top and isinstance(value, str):
            value = self._decode_json(value, where, "array")
        if not isinstance(value, list):
            raise SpecError(f'field "{where}" must be an Array of {item_type}', score=1)
        return [
            self._check(item, (item_type,), f"{where}[{index}]", ctx, False)
            for index, item in enumerate(value)
        ]

    def _check_union(self, value: Any, spec: TypeSpec, where: str, ctx: _Ctx) -> Any:
        chosen = self._discriminate(value, spec.subtypes, spec.name, where)
        if chosen is not None:
            return self._check_object(value, chosen, where, ctx)
        return self._check(value, spec.subtypes, where, ctx, top=False)

    def _discriminate(self, value: Any, names: tuple[str, ...], label: str, where: str) -> TypeSpec | None:
        """Pick the union member named by the value's ``type``/``status`` field, as Telegram does."""
        if not isinstance(value, dict):
            return None
        members = [self.types.get(name) for name in names]
        if not members or any(m is None or m.const is None for m in members):
            return None
        keys = {m.const[0] for m in members if m is not None and m.const is not None}
        if len(keys) != 1:
            return None
        key = keys.pop()
        for member in members:
            if member is not None and member.const is not None and value.get(key) == member.const[1]:
                return member
        allowed = ", ".join(sorted({m.const[1] for m in members if m is not None and m.const is not None}))
        raise SpecError(
            f'can\'t parse {label}: unsupported {key} "{value.get(key)}" (expected one of: {allowed}) (at {where})',
            score=50,
        )

    def _check_object(self, value: Any, spec: TypeSpec, where: str, ctx: _Ctx) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise SpecError(f'field "{where}" must be of type {spec.name}', score=1)
        result: dict[str, Any] = {}
        matched = sum(1 for key in value if key in spec.fields)
        for key, item in value.items():
            spec_field = spec.fields.get(key)
            if spec_field is None:
                raise SpecError(
                    f'can\'t parse {spec.name}: unknown field "{key}" (at {where})', score=matched
                )
            try:
                result[key] = self._check(item, spec_field.types, f"{where}.{key}", ctx, False)
            except SpecError as err:
                if err.description.startswith("can't parse"):
                    raise SpecError(err.description, score=matched + err.score) from None
                raise SpecError(f"can't parse {spec.name}: {err.description}", score=matched) from None
        for spec_field in spec.fields.values():
            if spec_field.required and spec_field.name not in value:
                raise SpecError(
                    f"can't parse {spec.name}: can't find field \"{spec_field.name}\" (at {where})",
                    score=matched,
                )
        if spec.const is not None:
            key, expected = spec.const
            if value.get(key) != expected:
                raise SpecError(
                    f'can\'t parse {spec.name}: field "{key}" must be "{expected}" (at {where})',
                    score=matched,
                )
        return result

    @staticmethod
    def _decode_json(value: str, where: str, kind: str) -> Any:
        try:
            return json.loads(value)
        except ValueError:
            raise SpecError(f"can't parse {where} JSON {kind}") from None

    @staticmethod
    def _type_error(where: str, type_expr: str, top: bool) -> SpecError:
        return SpecError(f'field "{where}" must be of type {type_expr}', score=0 if top else 1)

    @staticmethod
    def _attachment(value: str, where: str, ctx: _Ctx) -> UploadedFile:
        name = value[len("attach://") :]
        upload = ctx.files.get(name)
        if upload is None:
            raise SpecError(f'file "{value}" referenced by "{where}" was not uploaded', score=5)
        ctx.referenced.add(name)
        return upload
