"""Send: every composed SMS through the SMSC, carrying progress between attempts.

Only parts not yet accepted are (re)submitted, with the message's original UDH reference,
so a retry never duplicates an accepted part and the handset still joins the parts.
Retryable outcomes come back as status "retry" with a backoff the state machine waits out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
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


# A notice that found the fleet at its SMSC budget waits in the Standard machine (billed per
# transition, not per second) for a quarter of the time it has waited so far: few round trips
# through the waiting machine in a long wave, short waits in a short one.
CAPACITY_WAIT_MIN_S = 30
CAPACITY_WAIT_MAX_S = 300
CAPACITY_WAIT_GROWTH = 0.25


def capacity_resume_at(now: datetime, waiting_since: datetime, delay_s: int, jitter: float) -> datetime:
    """When a notice that found every submitting instance busy tries again.

    `waiting_since` is when its notice began (the notification id's time); `jitter` in [0, 1)
    spreads the wait over [base, 2*base), so a wave's deferred notices come back spread out
    rather than all at once. benchmarks/fleet_wave.py runs this in its simulation.
    """
    waited = max(0.0, (now - waiting_since).total_seconds())
    base = min(CAPACITY_WAIT_MAX_S, max(delay_s, CAPACITY_WAIT_MIN_S, waited * CAPACITY_WAIT_GROWTH))
    return now + timedelta(seconds=base * (1.0 + jitter))


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
