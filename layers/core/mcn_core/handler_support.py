"""What every batch handler does with a payload that is neither an event nor a batch."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from mcn_core.models.envelope import EnvelopeError, unpack_events
from mcn_core.observability import count, logger


def unpack_or_reject(payload: Any, *, metric: str, outcomes: Iterable[str]) -> tuple[list[Any], dict[str, Any] | None]:
    """(events, None), or ([], the response that rejects the whole payload: counted and logged)."""
    try:
        return unpack_events(payload), None
    except EnvelopeError as exc:
        count(metric)
        logger.warning("payload rejected", reason=str(exc))
        response = {
            "results": [{"index": 0, "outcome": "rejected", "reason": str(exc)}],
            "counts": {outcome: int(outcome == "rejected") for outcome in outcomes},
        }
        return [], response
