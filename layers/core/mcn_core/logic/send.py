"""Send: every composed SMS through the SMSC, carrying progress between attempts.

Only parts not yet accepted are (re)submitted, with the message's original UDH reference,
so a retry never duplicates an accepted part and the handset still joins the parts.
Retryable outcomes come back as status "retry" with a backoff the state machine waits out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from mcn_core.models.notice import MessageProgress, Notice, OutgoingSms, SendProgress

MAX_BACKOFF_S = 30


@dataclass(frozen=True)
class PartOutcome:
    part_number: int
    part_total: int
    outcome: str  # accepted | retryable | permanent
    message_id: str | None
    command_status: int | None
    reason: str
    #: sent, response never came: the layer's lost_response_policy already made it
    #: retryable (resubmit) or permanent (give_up), so the retry below follows the policy
    lost_response: bool = False


@dataclass(frozen=True)
class MessageOutcome:
    reference: int | None
    parts: tuple[PartOutcome, ...]


class SmsSender(Protocol):
    def send(self, sms: OutgoingSms, *, reference: int | None, part_numbers: list[int] | None) -> MessageOutcome: ...


def backoff_seconds(attempt: int) -> int:
    return min(1 << max(0, attempt - 1), MAX_BACKOFF_S)


def send_notice(notice: Notice, progress: SendProgress | None, sender: SmsSender) -> SendProgress:
    progress = progress or SendProgress(messages=[MessageProgress(index=m.index) for m in notice.messages])
    attempt = progress.attempt + 1
    updated: list[MessageProgress] = []
    for sms, state in zip(notice.messages, progress.messages, strict=True):
        if state.outcome in ("accepted", "permanent"):
            updated.append(state)
            continue
        missing = None
        if state.part_total is not None:
            missing = [n for n in range(1, state.part_total + 1) if n not in state.accepted_parts]
        outcome = sender.send(sms, reference=state.reference, part_numbers=missing)
        accepted = dict(state.accepted_parts)
        worst = "accepted"
        status, reason = None, None
        for part in outcome.parts:
            if part.outcome == "accepted" and part.message_id is not None:
                accepted[part.part_number] = part.message_id
            elif part.outcome == "permanent" or worst == "accepted":
                worst, status, reason = part.outcome, part.command_status, part.reason
        part_total = outcome.parts[0].part_total if outcome.parts else state.part_total
        if worst == "retryable" and attempt >= notice.send_max_attempts:
            worst, reason = "permanent", f"retries exhausted after {attempt} attempts: {reason}"
        updated.append(
            MessageProgress(
                index=state.index,
                outcome=worst,  # type: ignore[arg-type]
                reference=outcome.reference if outcome.reference is not None else state.reference,
                part_total=part_total,
                accepted_parts=accepted,
                command_status=status,
                reason=reason,
            )
        )
    retry = any(m.outcome == "retryable" for m in updated)
    return SendProgress(
        status="retry" if retry else "done",
        attempt=attempt,
        retry_after_s=backoff_seconds(attempt) if retry else 0,
        messages=updated,
    )
