"""Fee records: the period they are billed in, how many shards it is spread over, and what Record did."""

from __future__ import annotations

import re
from enum import StrEnum

#: a billing period: one calendar month, YYYY-MM
PERIOD = re.compile(r"^(?P<year>\d{4})-(?P<month>0[1-9]|1[0-2])$")
#: a tenant's period is spread over this many fee-table partitions (mcn_core.dal.fee_keys)
PERIOD_SHARDS = 16


def validate_period(text: str) -> str:
    if not PERIOD.match(text):
        raise ValueError(f"period must look like 2026-11 (YYYY-MM), got {text!r}")
    return text


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
