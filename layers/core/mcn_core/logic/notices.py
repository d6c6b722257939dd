"""A notice's id and its subscriber's lock: what attach, defer and the flash-call outcomes share.

Apart from the attach logic, which builds the attach event's models: Defer and FlashCallOutcomes
need only these (benchmarks/cold_import.py).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

# An Express execution lives at most 5 minutes; a lock older than this is a lost execution.
# A deferred notice (quiet hours) extends its own lock until it resumes.
LOCK_LIFETIME = timedelta(minutes=30)


def new_notification_id(now: datetime) -> str:
    """Time-ordered and unique: also the execution name, so one id follows a notice everywhere."""
    return f"{now:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:16]}"


def notification_time(notification_id: str, default: datetime) -> datetime:
    """When the notice began (the time in its id), or `default` for an id not made here."""
    try:
        return datetime.strptime(notification_id[:16], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        return default
