"""Missed calls placed on behalf of the caller (flash calls): the contract between cloud and edge.

The notify flow puts one FlashCallRequest per caller on the origination SQS queue; the gateway
long-polls it, places a short ISUP call from the caller (A) to the subscriber (B), releases it once
B's phone has rung, and forwards one FlashCallOutcomeEvent per request back to the cloud, where it
lands on the notice's fee record. Both sides use these models: the JSON is the published schema.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from mcn_core.models.types import AwareDatetime, Reference

E164 = Annotated[str, Field(pattern=r"^\+[1-9][0-9]{5,14}$")]
CauseValue = Annotated[int, Field(ge=0, le=127)]


class FlashCallRequest(BaseModel):
    """One call to place: present `caller` to `subscriber`. The SQS message body."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    request_id: Reference = Field(description="<notification_id>#<n>: the idempotency key of this call")
    notification_id: Reference
    tenant: Annotated[str, Field(min_length=1, max_length=64)] = "default"
    subscriber: E164 = Field(description="B: the subscriber whose handset logs the missed call")
    caller: E164 = Field(description="A: presented as calling party; never a withheld caller")
    requested_at: AwareDatetime
    not_after: AwareDatetime = Field(description="Do not place the call after this instant (stale request)")


class FlashCallOutcome(StrEnum):
    """What became of one placed call (the `outcome` of a FlashCallOutcomeEvent)."""

    ALERTED_RELEASED = "alerted_released"  # B's phone rang; released after the ring time: logged as missed
    ANSWERED_RELEASED = "answered_released"  # B answered before the release; released at once
    BUSY = "busy"  # REL cause 17
    ABSENT = "absent"  # REL cause 20 (subscriber absent) or 18/19 without alerting
    NO_ANSWER = "no_answer"  # T7 expired: no ACM/CPG from the exchange
    FAILED = "failed"  # any other release cause, or no circuit: see `cause` / `reason`
    EXPIRED = "expired"  # not placed: the request was past not_after when the gateway took it


class FlashCallOutcomeEvent(BaseModel):
    """The gateway's report of one FlashCallRequest, forwarded to the cloud like any other event."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Annotated[str, Field(pattern=r"^flash_call_outcome$")] = "flash_call_outcome"
    request_id: Reference
    notification_id: Reference
    tenant: Annotated[str, Field(min_length=1, max_length=64)] = "default"
    outcome: FlashCallOutcome
    cause: CauseValue | None = Field(default=None, description="Q.850 cause of the release, when there was one")
    reason: Annotated[str, Field(max_length=200)] | None = None
    cic: Annotated[int, Field(ge=0, le=0xFFF)] | None = None
    placed_at: AwareDatetime | None = None
    alerted_at: AwareDatetime | None = None
    released_at: AwareDatetime
