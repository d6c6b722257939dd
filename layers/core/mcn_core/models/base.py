"""The base of every model the functions validate: a msgspec Struct, checked on the way in.

Why msgspec and not pydantic: a Lambda cold start pays for every model it defines. pydantic
builds each model's validator in Python when the class is defined and brings ~40% of an
`import boto3` with it; a msgspec Struct is a C type and builds its validator on first use in C
(benchmarks/cold_import.py, docs/architecture.md "Lean layers").

What callers rely on:
- `Model.from_data(data)` validates JSON-shaped data (dicts, lists, RFC 3339 text) leniently, as the
  wire gives it: "5" for 5 and "true" for a bool are accepted, an unknown field is refused unless
  the model says otherwise (`forbid_unknown_fields=False`). Bad data raises `ValidationError`.
- Constructing a model directly (`Model(field=...)`) checks types but not the constraints
  (lengths, patterns, ranges): that is for data the code made itself, not for input.
- `__post_init__` holds the checks a constraint cannot express; a ValueError raised there becomes a
  ValidationError of `from_data`.
- `problem(exc, model, data)` turns a ValidationError into (field path, message), naming the key
  where msgspec only says "a value of this mapping", and the field a missing or unknown field error
  is about ('tariff.currency', 'Field required' / 'unknown field'); a check in `__post_init__` names
  its field by raising FieldProblems((field, message), ...). `every_problem(model, data)` lists every
  problem, where validation stops at the first (for people fixing a document, e.g. `mcn config`).
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Self

import msgspec
from msgspec import ValidationError

__all__ = [
    "REQUIRED_FIELD",
    "UNKNOWN_FIELD",
    "FieldCheck",
    "FieldProblems",
    "Model",
    "ValidationError",
    "aware",
    "every_problem",
    "join_path",
    "problem",
    "problems",
]

#: what a problem says of a field the model requires and the data lacks, and of one the model does not have
REQUIRED_FIELD = "Field required"
UNKNOWN_FIELD = "unknown field"
#: a check of one field's value beyond its type and constraints (a model's `_checks`): raises ValueError
FieldCheck = Callable[[Any], object]


class _KeywordFields(msgspec.StructMeta):
    """Every model's fields are keyword-only, in subclasses too (msgspec's `kw_only` applies only to the
    class that sets it): required fields may follow defaulted ones, as the schemas read best. Type
    checkers learn it (and that models are frozen unless they say otherwise) from Model's dataclass_transform."""

    def __new__(mcls, name: str, bases: tuple[type, ...], namespace: dict[str, Any], **options: Any) -> Any:
        options.setdefault("kw_only", True)
        return super().__new__(mcls, name, bases, namespace, **options)


@typing.dataclass_transform(kw_only_default=True, frozen_default=True, field_specifiers=(msgspec.field,))
class Model(msgspec.Struct, metaclass=_KeywordFields, frozen=True, forbid_unknown_fields=True):
    @classmethod
    def from_data(cls, data: Any) -> Self:
        """`data` validated into this model (ValidationError: it is not one)."""
        return msgspec.convert(data, cls, strict=False)

    def to_data(self) -> dict[str, Any]:
        """JSON-ready: timestamps as RFC 3339 text, enums as their values, sets and tuples as lists."""
        result: dict[str, Any] = msgspec.to_builtins(self)
        return result

    def to_json(self) -> str:
        return msgspec.json.encode(self).decode()

    def replace(self, **changes: Any) -> Self:
        """A copy with `changes` (not validated: for values the code made itself)."""
        return msgspec.structs.replace(self, **changes)


class FieldProblems(ValueError):
    """What a model's own checks (`__post_init__`) found, each as (field, message).

    msgspec places an error raised there at the model; the field is kept here (the ValidationError's
    cause) so that a problem reads `templates.en.header: ...`, not `templates.en: ...`.
    """

    def __init__(self, *problems: tuple[str, str]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{field}: {message}" if field else message for field, message in problems))


def aware(value: datetime | None, name: str) -> None:
    """Refuse a timestamp without a UTC offset, or one before the calendar's first UTC instant."""
    if value is None:
        return
    if value.tzinfo is None or value.utcoffset() is None:
        raise FieldProblems((name, _TIMESTAMP_WITHOUT_OFFSET))
    try:
        value.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+14:00
        raise FieldProblems((name, "timestamp out of range")) from None


_TIMESTAMP_WITHOUT_OFFSET = "timestamp must carry a UTC offset (e.g. 2026-11-29T10:15:00Z)"
#: msgspec's wording -> ours, where ours tells the sender what to do
_CLEARER = {
    "Expected `datetime` with a timezone component": _TIMESTAMP_WITHOUT_OFFSET,
    "Invalid RFC3339 encoded datetime": "not a timestamp: RFC 3339 expected (e.g. 2026-11-29T10:15:00Z)",
}
#: errors about one field that msgspec reports on the object holding it
_ABOUT_FIELD = re.compile(r"^Object (?P<what>missing required|contains unknown) field `(?P<name>[^`]+)`$")
_AT = re.compile(r"^(?P<message>.*?) - at `\$(?P<path>[^`]*)`$", re.DOTALL)
_SEGMENT = re.compile(r"\.(?P<name>[A-Za-z_][A-Za-z0-9_]*)|\[(?P<index>\d+|\.\.\.)\]")


def problem(exc: ValidationError, model: Any = None, data: Any = None) -> tuple[str, str]:
    """(where, what) of a validation error: 'templates.en.header', 'unknown placeholder ...'.

    msgspec reports a mapping's value as `[...]`; given the validated `model` type and its `data`,
    the key is found by validating that mapping's values one by one. Without them it stays `[...]`.
    A model's own check names its field (FieldProblems): the first one's is the place.
    """
    return problems(exc, model, data)[0]


def problems(exc: ValidationError, model: Any = None, data: Any = None, path: str = "") -> list[tuple[str, str]]:
    """[(where, what)] of a validation error, under `path`: one, or each a model's own checks found."""
    text = str(exc)
    match = _AT.match(text)
    at, message = (match["path"], match["message"]) if match else ("", text)
    about_field = _ABOUT_FIELD.match(message)
    if about_field:
        # named like any other field's problem: 'tariff.currency: Field required'
        at += "." + about_field["name"]
        message = REQUIRED_FIELD if about_field["what"] == "missing required" else UNKNOWN_FIELD
    where = join_path(path, _located(at, model, data))
    cause = exc.__cause__
    if isinstance(cause, FieldProblems) and cause.problems:
        return [(join_path(where, field), _CLEARER.get(said, said)) for field, said in cause.problems]
    return [(where, _CLEARER.get(message, message))]


def join_path(*parts: str) -> str:
    return ".".join(part for part in parts if part)


def every_problem(model: Any, data: Any, path: str = "") -> list[tuple[str, str]]:
    """Every (field path, message) of `data` as `model`, where msgspec stops at the first: each field of
    a model, each entry of a mapping, each item of a list is validated on its own, with the model's
    checks of that field (`_checks`: field -> FieldCheck); checks across fields are reported when every
    field is valid (as they run only then)."""
    try:
        msgspec.convert(data, model, strict=False)
        return []
    except ValidationError as exc:
        first = problems(exc, model, data, path)
    inner = _unwrap(model)
    origin = typing.get_origin(inner) or inner
    found: list[tuple[str, str]] = []
    if isinstance(inner, type) and issubclass(inner, msgspec.Struct) and isinstance(data, dict):
        fields = msgspec.structs.fields(inner)
        if inner.__struct_config__.forbid_unknown_fields:
            names = {field.encode_name for field in fields}
            found += [(join_path(path, str(key)), UNKNOWN_FIELD) for key in data if key not in names]
        checks: dict[str, FieldCheck] = getattr(inner, "_checks", {})
        for field in fields:
            if field.encode_name in data:
                where = join_path(path, field.name)
                own = every_problem(field.type, data[field.encode_name], where)
                if not own and field.name in checks:
                    try:
                        checks[field.name](msgspec.convert(data[field.encode_name], field.type, strict=False))
                    except ValueError as exc:
                        own = [(where, str(exc))]
                found += own
            elif field.required:
                found.append((join_path(path, field.name), REQUIRED_FIELD))
    elif origin is dict and isinstance(data, dict) and all(isinstance(key, str) for key in data):
        value_type = typing.get_args(inner)[1]
        for key, value in data.items():
            found += every_problem(value_type, value, join_path(path, key))
    elif origin is list and isinstance(data, list):
        item_type = typing.get_args(inner)[0]
        for index, item in enumerate(data):
            found += every_problem(item_type, item, join_path(path, str(index)))
    return found or first


def _located(path: str, model: Any, data: Any) -> str:
    parts: list[str] = []
    current_type, current_data = model, data
    for segment in _SEGMENT.finditer(path):
        if segment["name"] is not None:
            parts.append(segment["name"])
            current_type = _field_type(current_type, segment["name"])
            current_data = current_data.get(segment["name"]) if isinstance(current_data, dict) else None
        elif segment["index"] == "...":
            key, current_type, current_data = _failing_entry(current_type, current_data)
            parts.append(key)
        else:
            index = int(segment["index"])
            parts.append(str(index))
            current_type = _item_type(current_type, 1 if _origin(current_type) is dict else 0)
            current_data = current_data[index] if isinstance(current_data, list) and index < len(current_data) else None
    return ".".join(parts)


def _origin(annotation: Any) -> Any:
    annotation = _unwrap(annotation)
    return typing.get_origin(annotation) or annotation


def _unwrap(annotation: Any) -> Any:
    """X from Annotated[X, ...] and from X | None."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            others = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
            if len(others) != 1:
                return annotation
            annotation = others[0]
        else:
            return annotation


def _field_type(model: Any, name: str) -> Any:
    model = _unwrap(model)
    if not (isinstance(model, type) and issubclass(model, msgspec.Struct)):
        return None
    hints = typing.get_type_hints(model, include_extras=True)
    return hints.get(name)


def _item_type(annotation: Any, position: int) -> Any:
    args = typing.get_args(_unwrap(annotation))
    return args[position] if len(args) > position else None


def _failing_entry(annotation: Any, data: Any) -> tuple[str, Any, Any]:
    """(key, value type, value) of the first entry of a mapping that does not validate."""
    value_type = _item_type(annotation, 1)
    if value_type is None or not isinstance(data, dict):
        return "[...]", None, None
    for key, value in data.items():
        try:
            msgspec.convert(value, value_type, strict=False)
        except ValidationError:
            return str(key), value_type, value
    return "[...]", None, None
