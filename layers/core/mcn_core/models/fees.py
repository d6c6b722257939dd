"""How fee records are keyed for reports: a month spread over shards of the by-period index."""

from __future__ import annotations

import hashlib
from enum import StrEnum

PERIOD_SHARDS = 16


def period_shard(period: str, notification_id: str) -> str:
    """Spread a month's fees over shards of the by-period index (no hot partition at millions a month)."""
    digest = hashlib.sha256(notification_id.encode()).digest()
    return f"{period}#{digest[0] % PERIOD_SHARDS:02d}"


class RecordOutcome(StrEnum):
    """What Record did with a notice."""

    RECORDED = "recorded"
    ALREADY_RECORDED = "already_recorded"  # a retried or re-driven Record: charged once, before
    # Another notice cleared (listed, sent and charged) some of these calls: this notice's record is
    # written with fee 0 (finance and receipts still see the SMS), nothing is charged twice. Only a
    # design slip gets here: the subscriber's lock keeps one notice in flight.
    NOT_CHARGED = "not_charged"


#: failure_reason of a notice recorded without charge because its calls were charged already
NOT_CHARGED_REASON = "not charged: listed calls already cleared by another notice"
