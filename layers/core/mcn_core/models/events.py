"""Input events: what the edge gateway (or any producer) sends to the functions.

These models are the published schema (see README, "Event schema"). Numbers are
taken as received from the network (national or international); normalisation to
E.164 happens in the domain logic, not here, so a bad number is a clear per-event
rejection rather than a schema error.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field


class Presentation(StrEnum):
    """Calling party presentation, from the ISUP calling party number's APRI."""

    ALLOWED = "allowed"
    RESTRICTED = "restricted"  # CLIR: the number must never be revealed
    UNAVAILABLE = "unavailable"  # network could not provide it


class ForwardingReason(StrEnum):
    """Why the call reached the platform (ISUP redirection information, Q.763 3.45)."""

    NOT_REACHABLE = "not_reachable"
    BUSY = "busy"
    NO_REPLY = "no_reply"
    UNCONDITIONAL = "unconditional"


class AttachSource(StrEnum):
    ALERT_SERVICE_CENTRE = "alertServiceCentre"
    READY_FOR_SM = "readyForSM"
    UPDATE_LOCATION = "updateLocation"


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("timestamp must carry a UTC offset (e.g. 2026-11-29T10:15:00Z)")
    try:
        value.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+14:00: before the calendar's first UTC instant
        raise ValueError("timestamp out of range") from None
    return value


AwareDatetime = Annotated[datetime, AfterValidator(_aware)]
RawNumber = Annotated[str, Field(min_length=1, max_length=32)]
Reference = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[\x21-\x7e]+$")]


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
