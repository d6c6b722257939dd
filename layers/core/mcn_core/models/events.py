"""Input events: what the edge gateway (or any producer) sends to the functions.

These models are the published schema (see README, "Event schema"). Numbers are
taken as received from the network (national or international); normalisation to
E.164 happens in the domain logic, not here, so a bad number is a clear per-event
rejection rather than a schema error.
"""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta

from mcn_core.models.base import Model, aware
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


#: a network element's name: a global title or a point code
NodeName = Annotated[str, Meta(min_length=1, max_length=64)]


class MissedCallEvent(Model):
    """One call attempt to an unreachable subscriber (one ISUP IAM)."""

    #: unique per call attempt (e.g. OPC-CIC-timestamp): the idempotency key
    call_ref: Reference
    #: the called subscriber: original called / redirecting number
    subscriber: RawNumber
    #: the calling party number; may be absent
    caller: RawNumber | None = None
    presentation: Presentation = Presentation.ALLOWED
    call_time: AwareDatetime
    reason: ForwardingReason = ForwardingReason.NOT_REACHABLE
    #: the source MSC (GT or point code)
    msc: NodeName

    def __post_init__(self) -> None:
        aware(self.call_time, "call_time")


class AttachEvent(Model):
    """The subscriber became reachable again (MAP alertServiceCentre, readyForSM, updateLocation)."""

    subscriber: RawNumber
    attach_time: AwareDatetime
    source: AttachSource = AttachSource.ALERT_SERVICE_CENTRE
    #: the source HLR/VLR (GT)
    hlr: NodeName
    #: the producer's reference (e.g. TCAP otid@GT)
    event_ref: Reference | None = None

    def __post_init__(self) -> None:
        aware(self.attach_time, "attach_time")
