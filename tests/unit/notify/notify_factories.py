"""Builders for notify unit tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from mcn_core.models.calls import StoredCall
from mcn_core.models.events import ForwardingReason, Presentation

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
SUBSCRIBER = "+447911123456"


def call(ref: str, caller: str | None, minutes_ago: float, **extra: object) -> StoredCall:
    at = NOW - timedelta(minutes=minutes_ago)
    values = {
        "subscriber": SUBSCRIBER,
        "call_ref": ref,
        "caller": caller,
        "presentation": Presentation.ALLOWED if caller else Presentation.RESTRICTED,
        "call_time": at,
        "reason": ForwardingReason.NOT_REACHABLE,
        "msc": "447953000001",
        "expires_at": at + timedelta(hours=72),
        "received_at": at,
    }
    values.update(extra)
    return StoredCall.from_data(values)
