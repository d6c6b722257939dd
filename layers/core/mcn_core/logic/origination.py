"""Missed calls placed on behalf (flash calls): which requests a notice puts on the origination
queue, and what one outcome reported by the gateway changes on the notice's fee record.

Plain Python (no AWS). Exactly once, end to end:
- requests: Compose fixes the callers (`Notice.flash_calls`, in order); request n of a notice is
  always `<notification_id>#<n>`, so a retried or re-driven Record enqueues the same ids and the
  gateway, which remembers request ids durably, places each call at most once (the queue is a
  standard SQS queue: at-least-once, like any retry);
- outcomes: the fee record keeps the request ids it has counted; an outcome whose id is there
  already (a redelivered batch) changes nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from mcn_core.models.base import ValidationError
from mcn_core.models.errors import describe_validation_error, unprocessable_reason
from mcn_core.models.notice import Notice
from mcn_core.models.origination import FlashCallOutcome, FlashCallOutcomeEvent, FlashCallRequest

#: outcomes where B's phone rang: the handset logged the call (charged per call, `fee_minor_per_call`)
ALERTED = frozenset({FlashCallOutcome.ALERTED_RELEASED, FlashCallOutcome.ANSWERED_RELEASED})
#: fee statuses after which no call is placed: the notice did not go out (its calls stay pending)
NO_CALLS_AFTER = frozenset({"failed"})


def request_id(notification_id: str, number: int) -> str:
    return f"{notification_id}#{number}"


def flash_call_requests(notice: Notice, *, status: str, now: datetime) -> list[FlashCallRequest]:
    """The notice's calls to place, once its fee record says it went out (`status`), else none.

    `not_after` bounds how late the gateway may still place a call: a missed call that shows up
    long after the notice is confusing, so a stale request is dropped (outcome `expired`).
    """
    if status in NO_CALLS_AFTER:
        return []
    not_after = now + timedelta(seconds=notice.flash_call_window_s)
    # Validated as the gateway will validate them: a request it would refuse is never enqueued.
    return [
        FlashCallRequest.from_data(
            {
                "request_id": request_id(notice.notification_id, number),
                "notification_id": notice.notification_id,
                "tenant": notice.tenant,
                "subscriber": notice.subscriber,
                "caller": caller,
                "requested_at": now,
                "not_after": not_after,
            }
        )
        for number, caller in enumerate(notice.flash_calls, start=1)
    ]


# ---------------------------------------------------------------- outcomes onto the fee record
@dataclass(frozen=True)
class FlashCallFee:
    """What an outcome needs to know of the notice's fee record (read consistently)."""

    notification_id: str
    status: str
    messages: int
    fee_minor_per_call: int
    reported: frozenset[str]  # request ids whose outcome is counted already
    fee_partition: str = ""  # the record's partition key (the fee table is keyed tenant first)


@dataclass(frozen=True)
class OutcomeChange:
    """One outcome's effect on the fee record, applied atomically and only once per request id."""

    request_id: str
    entry: str  # "<request_id> <outcome> <cause or ->": the per-request outcome kept on the record
    placed: int  # 1 when the gateway sent the IAM (every outcome except expired / failed before the IAM)
    alerted: int  # 1 when B's phone rang
    fee_minor: int  # the call's fee: fee_minor_per_call when it alerted
    #: a notice with no SMS (on_behalf: call) is delivered when one of its calls reached the handset
    new_status: str | None


class FlashCallStore(Protocol):
    def flash_call_fee(self, tenant: str, notification_id: str) -> FlashCallFee | None: ...

    def record_flash_call_outcome(self, fee: FlashCallFee, change: OutcomeChange, now: datetime) -> bool:
        """Apply `change` unless its request id is counted already or the record changed since `fee`
        was read (False: read again and decide again)."""
        ...


def outcome_change(event: FlashCallOutcomeEvent, fee: FlashCallFee) -> OutcomeChange:
    alerted = event.outcome in ALERTED
    placed = event.outcome is not FlashCallOutcome.EXPIRED and (
        event.placed_at is not None or event.outcome is not FlashCallOutcome.FAILED
    )
    deliver = alerted and fee.messages == 0 and fee.status == "submitted"
    return OutcomeChange(
        request_id=event.request_id,
        entry=f"{event.request_id} {event.outcome.value} {event.cause if event.cause is not None else '-'}",
        placed=int(placed),
        alerted=int(alerted),
        fee_minor=fee.fee_minor_per_call if alerted else 0,
        new_status="delivered" if deliver else None,
    )


@dataclass(frozen=True)
class OutcomeResult:
    index: int
    outcome: str  # applied | duplicate | unknown | rejected
    request_id: str | None = None
    notification_id: str | None = None
    call_outcome: str | None = None
    fee_minor: int = 0
    reason: str | None = None

    def entry(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "request_id": self.request_id,
            "outcome": self.outcome,
            "call_outcome": self.call_outcome,
            "reason": self.reason,
        }


#: the per-event outcomes of a batch, in the order the counts list them
RESULT_OUTCOMES = ("applied", "duplicate", "unknown", "rejected")
#: a concurrent change to the same fee record (a receipt, another outcome) is re-read this many times
_ATTEMPTS = 5


def apply_outcome(event: FlashCallOutcomeEvent, store: FlashCallStore, now: datetime, index: int = 0) -> OutcomeResult:
    def result(outcome: str, **extra: Any) -> OutcomeResult:
        return OutcomeResult(
            index=index,
            outcome=outcome,
            request_id=event.request_id,
            notification_id=event.notification_id,
            call_outcome=event.outcome.value,
            **extra,
        )

    for _ in range(_ATTEMPTS):
        fee = store.flash_call_fee(event.tenant, event.notification_id)
        if fee is None:
            # Requests are enqueued only after the fee record is written: an outcome without one is
            # not ours (or its record was deleted). Final: counted and logged, never retried.
            return result("unknown", reason="no fee record for this notice")
        if event.request_id in fee.reported:
            return result("duplicate")
        change = outcome_change(event, fee)
        if store.record_flash_call_outcome(fee, change, now):
            return result("applied", fee_minor=change.fee_minor)
    raise RuntimeError(f"fee record {event.notification_id} kept changing; the batch will be resent")


@dataclass(frozen=True)
class OutcomeBatch:
    results: list[OutcomeResult]

    @property
    def counts(self) -> dict[str, int]:
        tally = Counter(result.outcome for result in self.results)
        return {outcome: tally.get(outcome, 0) for outcome in RESULT_OUTCOMES}

    def response(self) -> dict[str, Any]:
        return {"results": [result.entry() for result in self.results], "counts": self.counts}


def handle_outcome_batch(raw_events: Sequence[Any], *, store: FlashCallStore, now: datetime) -> OutcomeBatch:
    """Each event on its own: a bad one is rejected (final), the others still land.

    A store error fails the whole invocation (the gateway keeps the batch spooled and resends
    it); the outcomes applied before it are then duplicates, so nothing counts twice.
    """
    results: list[OutcomeResult] = []
    for index, raw in enumerate(raw_events):
        try:
            event = FlashCallOutcomeEvent.from_data(raw)
        except Exception as exc:  # ValidationError, or anything else wrong with this event: its own
            reason = describe_validation_error(exc) if isinstance(exc, ValidationError) else unprocessable_reason(exc)
            results.append(OutcomeResult(index=index, outcome="rejected", reason=reason))
            continue
        results.append(apply_outcome(event, store, now, index))
    return OutcomeBatch(results)
