"""Phone numbers never appear whole in logs."""

from __future__ import annotations


def mask_msisdn(number: str | None, visible: int = 3) -> str:
    """``+447700900123`` -> ``*********123``: keeps only the last ``visible`` digits."""
    if not number:
        return "<none>"
    if len(number) <= visible:
        return "*" * len(number)
    return "*" * (len(number) - visible) + number[-visible:]
