"""One readable sentence from a pydantic validation error, for responses, logs and CLI errors."""

from __future__ import annotations

from pydantic import ValidationError


def describe_validation_error(exc: ValidationError, root: str = "event") -> str:
    """'field.sub: message; other: message' — where `root` names an error on the whole object."""
    return "; ".join(f"{'.'.join(str(p) for p in error['loc']) or root}: {error['msg']}" for error in exc.errors())
