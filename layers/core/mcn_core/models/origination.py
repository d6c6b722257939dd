"""Missed calls placed on behalf of the caller (flash calls): the contract between cloud and edge.

The notify flow puts one FlashCallRequest per caller on the origination SQS queue; the gateway
long-polls it, places a short ISUP call from the caller (A) to the subscriber (B), releases it once
B's phone has rung, and forwards one FlashCallOutcomeEvent per request back to the cloud, where it
lands on the notice's fee record. Both sides use these models: the JSON is the published schema.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from msgspec import Meta

from mcn_core.models.base import Model, aware
from mcn_core.models.types import AwareDatetime, Reference

E164 = Annotated[str, Meta(pattern=r"^\+[1-9][0-9]{5,14}$")]
CauseValue = Annotated[int, Meta(ge=0, le=127)]
Tenant = Annotated[str, Meta(min_length=1, max_length=64)]


class FlashCallRequest(Model):
    """One call to place: present `caller` to `subscriber`. The SQS message body."""

    #: <notification_id>#<n>: the idempotency key of this call
    request_id: Reference
    notification_id: Reference
    tenant: Tenant = "default"
    #: B: the subscriber whose handset logs the missed call
    subscriber: E164
    #: A: presented as calling party; never a withheld caller
    caller: E164
    requested_at: AwareDatetime
    #: do not place the call after this instant (stale request)
    not_after: AwareDatetime

    def __post_init__(self) -> None:
        aware(self.requested_at, "requested_at")
        aware(self.not_after, "not_after")


class FlashCallOutcome(StrEnum):
    """What became of one placed call (the `outcome` of a FlashCallOutcomeEvent)."""

    ALERTED_RELEASED = "alerted_released"  # B's phone rang; released after the ring time: logged as missed
    ANSWERED_RELEASED = "answered_released"  # B answered before the release; released at once
    BUSY = "busy"  # REL cause 17
    ABSENT = "absent"  # REL cause 20 (subscriber absent) or 18/19 without alerting
    NO_ANSWER = "no_answer"  # T7 expired: no ACM/CPG from the exchange
    FAILED = "failed"  # any other release cause, or no circuit: see `cause` / `reason`
    EXPIRED = "expired"  # not placed: the request was past not_after when the gateway took it


class FlashCallOutcomeEvent(Model):
    """The gateway's report of one FlashCallRequest, forwarded to the cloud like any other event."""

    kind: Literal["flash_call_outcome"] = "flash_call_outcome"
    request_id: Reference
    notification_id: Reference
    tenant: Tenant = "default"
    outcome: FlashCallOutcome
    #: Q.850 cause of the release, when there was one
    cause: CauseValue | None = None
    reason: Annotated[str, Meta(max_length=200)] | None = None
    cic: Annotated[int, Meta(ge=0, le=0xFFF)] | None = None
    placed_at: AwareDatetime | None = None
    alerted_at: AwareDatetime | None = None
    released_at: AwareDatetime

    def __post_init__(self) -> None:
        aware(self.placed_at, "placed_at")
        aware(self.alerted_at, "alerted_at")
        aware(self.released_at, "released_at")
