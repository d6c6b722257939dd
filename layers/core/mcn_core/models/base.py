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
  is about ('tariff.currency', 'Field required' / 'unknown field').
"""

from __future__ import annotations

import re
import types
import typing
from datetime import UTC, datetime
from typing import Any, Self

import msgspec
from msgspec import ValidationError

__all__ = ["Model", "ValidationError", "aware", "problem"]


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


def aware(value: datetime | None, name: str) -> None:
    """Refuse a timestamp without a UTC offset, or one before the calendar's first UTC instant."""
    if value is None:
        return
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name}: timestamp must carry a UTC offset (e.g. 2026-11-29T10:15:00Z)")
    try:
        value.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+14:00
        raise ValueError(f"{name}: timestamp out of range") from None


#: msgspec's wording -> ours, where ours tells the sender what to do
_CLEARER = {
    "Expected `datetime` with a timezone component": "timestamp must carry a UTC offset (e.g. 2026-11-29T10:15:00Z)",
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
    """
    text = str(exc)
    match = _AT.match(text)
    path, message = (match["path"], match["message"]) if match else ("", text)
    about_field = _ABOUT_FIELD.match(message)
    if about_field:
        # named like any other field's problem: 'tariff.currency: Field required'
        path += "." + about_field["name"]
        message = "Field required" if about_field["what"] == "missing required" else "unknown field"
    return _located(path, model, data), _CLEARER.get(message, message)


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
