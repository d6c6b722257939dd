"""Field types and enums shared by the event, stored and configuration models.

No model is defined here, so importing this builds no schema: the notify tasks use these types
without building the gateway's event models (benchmarks/cold_import.py).
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, Field

#: the tenant of every subscriber no configured number range claims
DEFAULT_TENANT = "default"


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
