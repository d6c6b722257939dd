"""The stored shape of a missed call, as the domain sees it (independent of DynamoDB)."""

from __future__ import annotations

from datetime import datetime

from mcn_core.models.base import Model
from mcn_core.models.types import ForwardingReason, Presentation


class StoredCall(Model):
    """One call attempt waiting to be notified. `caller` is None when withheld (CLIR/unavailable)."""

    subscriber: str  # E.164
    call_ref: str
    caller: str | None  # E.164, or None: never reveal a withheld caller to later steps
    presentation: Presentation
    call_time: datetime
    reason: ForwardingReason
    msc: str
    expires_at: datetime
    received_at: datetime
    # Only when the deployment's lawful-retention flag is on; no later step reads it.
    withheld_number: str | None = None
    #: the subscriber's tenant when the call arrived (None: not resolved); compose resolves again
    tenant: str | None = None


class SubscriberPolicy(Model):
    """What ingest needs to know about a subscriber: may we store calls to them, from whom."""

    msisdn: str
    opted_out: bool = False
    blocked_callers: frozenset[str] = frozenset()
    #: the subscriber's own tenant (override of the number ranges)
    tenant: str | None = None
