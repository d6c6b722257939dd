"""How producers hand events to a function: one event object, or a batch `{"events": [...]}`."""

from __future__ import annotations

from typing import Any

#: The most events one invocation of ingest, attach or receipts takes. Sized so a full batch ends
#: well within the functions' 30 s timeout even when every event costs its most (an attach that
#: starts a notice: a Query, a conditional write and a StartExecution); benchmarks/batch_cap.py
#: times a full batch. Producers (the gateway, mcn-receiver) size their batches by it; a larger
#: batch is refused whole, nothing in it processed.
MAX_EVENTS_PER_INVOCATION = 100


class EnvelopeError(ValueError):
    """The payload is neither an event nor a batch of events."""


def unpack_events(payload: Any) -> list[Any]:
    if isinstance(payload, dict) and "events" in payload:
        events = payload["events"]
        if not isinstance(events, list):
            raise EnvelopeError('"events" must be a list of event objects')
        if len(events) > MAX_EVENTS_PER_INVOCATION:
            raise EnvelopeError(
                f"batch of {len(events)} events exceeds the limit of {MAX_EVENTS_PER_INVOCATION} per invocation:"
                " nothing was processed; send it in smaller batches"
            )
        return events
    if isinstance(payload, dict):
        return [payload]
    raise EnvelopeError('payload must be an event object or {"events": [...]}')
