"""Input events: what the edge gateway (or any producer) sends to the functions.

These models are the published schema (see README, "Event schema"). Numbers are
taken as received from the network (national or international); normalisation to
E.164 happens in the domain logic, not here, so a bad number is a clear per-event
rejection rather than a schema error.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from mcn_core.models.types import (
    AttachSource,
    AwareDatetime,
    ForwardingReason,
    Presentation,
    RawNumber,
    Reference,
)

# The field types and enums live in mcn_core.models.types; re-exported here, where the schema names them.
__all__ = [
    "AttachEvent",
    "AttachSource",
    "AwareDatetime",
    "ForwardingReason",
    "MissedCallEvent",
    "Presentation",
    "RawNumber",
    "Reference",
]


class MissedCallEvent(BaseModel):
    """One call attempt to an unreachable subscriber (one ISUP IAM)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    call_ref: Reference = Field(description="Unique per call attempt (e.g. OPC-CIC-timestamp); the idempotency key")
    subscriber: RawNumber = Field(description="Called subscriber: original called / redirecting number")
    caller: RawNumber | None = Field(default=None, description="Calling party number; may be absent")
    presentation: Presentation = Presentation.ALLOWED
    call_time: AwareDatetime
    reason: ForwardingReason = ForwardingReason.NOT_REACHABLE
    msc: Annotated[str, Field(min_length=1, max_length=64)] = Field(description="Source MSC (GT or point code)")


class AttachEvent(BaseModel):
    """The subscriber became reachable again (MAP alertServiceCentre, readyForSM, updateLocation)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    subscriber: RawNumber
    attach_time: AwareDatetime
    source: AttachSource = AttachSource.ALERT_SERVICE_CENTRE
    hlr: Annotated[str, Field(min_length=1, max_length=64)] = Field(description="Source HLR/VLR (GT)")
    event_ref: Reference | None = Field(default=None, description="Producer's reference (e.g. TCAP otid@GT)")
