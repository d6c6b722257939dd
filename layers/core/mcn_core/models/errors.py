"""One readable sentence from a pydantic validation error, for responses, logs and CLI errors."""

from __future__ import annotations

from pydantic import ValidationError


def describe_validation_error(exc: ValidationError, root: str = "event") -> str:
    """'field.sub: message; other: message' — where `root` names an error on the whole object."""
    return "; ".join(f"{'.'.join(str(p) for p in error['loc']) or root}: {error['msg']}" for error in exc.errors())


class UnstorableEventError(ValueError):
    """The store refuses an event's item itself (e.g. DynamoDB's ValidationException): final, not transient."""


def unprocessable_reason(exc: BaseException) -> str:
    """The rejection reason for an event a per-event step failed on in a way no rule foresaw.

    The exception's type only: its text may quote the event (personal data) and is logged apart.
    """
    return f"invalid event: could not be processed ({type(exc).__name__})"
