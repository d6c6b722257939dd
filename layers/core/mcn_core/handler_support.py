"""What several handlers share: a payload that is neither an event nor a batch; a composed notice's report."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from mcn_core.models.envelope import EnvelopeError, unpack_events
from mcn_core.models.notice import Notice
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


def report_composed(notice: Notice, **keys: Any) -> None:
    """Metrics and the log line of a composed notice (Compose task, or attach composing ahead)."""
    count(f"Notice{notice.action.title()}")
    if notice.defer_reason == "daily_cap":
        count("NoticeCapped")  # the calls wait for the subscriber's next local day
    logger.info(
        "notice composed",
        notification_id=notice.notification_id,
        action=notice.action,
        tenant=notice.tenant,
        defer_reason=notice.defer_reason,
        send_at=notice.send_at.isoformat() if notice.send_at else None,
        calls=notice.calls_listed,
        messages=len(notice.messages),
        segments=notice.segments,
        encodings=[m.encoding for m in notice.messages],
        **keys,
    )
