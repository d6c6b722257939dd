"""Field types and enums shared by the event, stored and configuration models.

No model is defined here: the notify tasks use these types without defining the gateway's event
models (benchmarks/cold_import.py).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from msgspec import Meta

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


#: a timestamp with a UTC offset; a model taking one from input also checks its range in
#: `__post_init__` (mcn_core.models.base.aware): 0001-01-01T00:00:00+14:00 has no UTC instant
AwareDatetime = Annotated[datetime, Meta(tz=True)]
RawNumber = Annotated[str, Meta(min_length=1, max_length=32)]
Reference = Annotated[str, Meta(min_length=1, max_length=128, pattern=r"^[\x21-\x7e]+$")]
