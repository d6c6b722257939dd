"""Every submitted part ends in exactly one outcome; raw SMPP command_status is kept."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

ESME_ROK = 0x00
ESME_RINVBNDSTS = 0x04
ESME_RSYSERR = 0x08
ESME_RINVDSTADR = 0x0B
ESME_RBINDFAIL = 0x0D
ESME_RINVPASWD = 0x0E
ESME_RINVSYSID = 0x0F
ESME_RMSGQFUL = 0x14
ESME_RTHROTTLED = 0x58

# Transient on the SMSC side: the same submit may succeed later.
RETRYABLE_STATUSES = frozenset({ESME_RTHROTTLED, ESME_RMSGQFUL, ESME_RSYSERR, ESME_RINVBNDSTS})

STATUS_NAMES: dict[int, str] = {
    0x00: "ESME_ROK",
    0x01: "ESME_RINVMSGLEN",
    0x02: "ESME_RINVCMDLEN",
    0x03: "ESME_RINVCMDID",
    0x04: "ESME_RINVBNDSTS",
    0x05: "ESME_RALYBND",
    0x08: "ESME_RSYSERR",
    0x0A: "ESME_RINVSRCADR",
    0x0B: "ESME_RINVDSTADR",
    0x0C: "ESME_RINVMSGID",
    0x0D: "ESME_RBINDFAIL",
    0x0E: "ESME_RINVPASWD",
    0x0F: "ESME_RINVSYSID",
    0x14: "ESME_RMSGQFUL",
    0x45: "ESME_RSUBMITFAIL",
    0x48: "ESME_RINVSRCTON",
    0x49: "ESME_RINVSRCNPI",
    0x50: "ESME_RINVDSTTON",
    0x51: "ESME_RINVDSTNPI",
    0x58: "ESME_RTHROTTLED",
    0x61: "ESME_RINVSCHED",
    0x62: "ESME_RINVEXPIRY",
    0xFF: "ESME_RUNKNOWNERR",
}


class Outcome(StrEnum):
    ACCEPTED = "accepted"
    RETRYABLE = "retryable"
    PERMANENT = "permanent"


def status_name(status: int | None) -> str:
    if status is None:
        return "none"
    return STATUS_NAMES.get(status, f"0x{status:08X}")


def classify_status(status: int) -> Outcome:
    """Outcome of a submit_sm_resp/generic_nack command_status."""
    if status == ESME_ROK:
        return Outcome.ACCEPTED
    if status in RETRYABLE_STATUSES:
        return Outcome.RETRYABLE
    return Outcome.PERMANENT


@dataclass(frozen=True)
class PartResult:
    part_number: int
    part_total: int
    outcome: Outcome
    #: SMSC message id when accepted
    message_id: str | None = None
    #: raw command_status of the response (None: no response at all)
    command_status: int | None = None
    reason: str = ""
    #: True once the bytes went out: a retryable outcome after that may still have been
    #: accepted by the SMSC (lost response), so a blind retry can duplicate the SMS
    submitted: bool = False
    bind_id: int | None = None
    #: submitted, then no response at all (timeout or connection lost): the SMSC may have
    #: accepted it. Retryable under lost_response_policy=resubmit, permanent under give_up.
    lost_response: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "part_number": self.part_number,
            "part_total": self.part_total,
            "outcome": self.outcome.value,
            "message_id": self.message_id,
            "command_status": self.command_status,
            "status_name": status_name(self.command_status),
            "reason": self.reason,
            "submitted": self.submitted,
            "lost_response": self.lost_response,
        }


@dataclass(frozen=True)
class SendResult:
    """One message: the outcome of each of its parts (all parts, in order)."""

    #: the number as the caller gave it. This layer never logs or prints a number itself: it may
    #: be published alone, so it cannot import the project's one masker (mcn_core.numbers.mask);
    #: whoever shows a result passes that masker to ``to_dict``.
    destination: str
    encoding: str
    segment_count: int
    parts: tuple[PartResult, ...]
    #: UDH concatenation reference (None for one part / message_payload); pass it back with
    #: ``part_numbers`` to resend only the parts that failed, so the handset still reassembles
    reference: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def outcome(self) -> Outcome:
        """ACCEPTED when every part was; PERMANENT if any part was; otherwise RETRYABLE."""
        outcomes = {part.outcome for part in self.parts}
        if outcomes == {Outcome.ACCEPTED}:
            return Outcome.ACCEPTED
        if Outcome.PERMANENT in outcomes:
            return Outcome.PERMANENT
        return Outcome.RETRYABLE

    @property
    def accepted(self) -> bool:
        return self.outcome is Outcome.ACCEPTED

    @property
    def message_ids(self) -> list[str]:
        return [part.message_id for part in self.parts if part.message_id is not None]

    @property
    def lost_responses(self) -> int:
        """Parts sent whose response never came (see PartResult.lost_response)."""
        return sum(part.lost_response for part in self.parts)

    @property
    def failed_part_numbers(self) -> list[int]:
        return [part.part_number for part in self.parts if part.outcome is not Outcome.ACCEPTED]

    def to_dict(self, mask_number: Callable[[str], str]) -> dict[str, Any]:
        """JSON-ready, the destination shown through the caller's ``mask_number``."""
        return {
            "outcome": self.outcome.value,
            "destination": mask_number(self.destination),
            "encoding": self.encoding,
            "segments": self.segment_count,
            "reference": self.reference,
            "message_ids": self.message_ids,
            "lost_responses": self.lost_responses,
            "parts": [part.to_dict() for part in self.parts],
        }
