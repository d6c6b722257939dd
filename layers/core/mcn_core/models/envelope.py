"""How producers hand events to a function: one event object, or a batch `{"events": [...]}`."""

from __future__ import annotations

from typing import Any


class EnvelopeError(ValueError):
    """The payload is neither an event nor a batch of events."""


def unpack_events(payload: Any) -> list[Any]:
    if isinstance(payload, dict) and "events" in payload:
        events = payload["events"]
        if not isinstance(events, list):
            raise EnvelopeError('"events" must be a list of event objects')
        return events
    if isinstance(payload, dict):
        return [payload]
    raise EnvelopeError('payload must be an event object or {"events": [...]}')
