"""One readable sentence from a validation error, for responses, logs and CLI errors."""

from __future__ import annotations

from typing import Any

from mcn_core.models.base import ValidationError, problem


def describe_validation_error(exc: ValidationError, root: str = "event", model: Any = None, data: Any = None) -> str:
    """'field.sub: message' — `root` names an error on the whole object; given the validated `model`
    type and its `data`, a mapping's failing key is named (mcn_core.models.base.problem)."""
    where, message = problem(exc, model, data)
    return f"{where or root}: {message}"


class UnstorableEventError(ValueError):
    """The store refuses an event's item itself (e.g. DynamoDB's ValidationException): final, not transient."""


def unprocessable_reason(exc: BaseException) -> str:
    """The rejection reason for an event a per-event step failed on in a way no rule foresaw.

    The exception's type only: its text may quote the event (personal data) and is logged apart.
    """
    return f"invalid event: could not be processed ({type(exc).__name__})"
