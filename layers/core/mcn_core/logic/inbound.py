"""A batch from mcn-receiver: delivery receipts (fee status) and SMS keywords (preferences).

Per-event outcomes in input order. Outcome "retry": a receipt whose message id is not known
yet (it can overtake its fee record); the receiver sends just that event again a little later,
without holding up the others. Handling stops at the first event that could not be handled
(store or operator config unavailable): later MOs of a subscriber must not be applied before an
earlier one (an MO older than the last applied one counts as a re-delivery), so the caller fails
the invocation and the receiver resends the batch. Everything is idempotent, so a resent batch
changes nothing twice.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from mcn_core.logic.keywords import KeywordStore, MoResult, handle_mo
from mcn_core.logic.receipts import ReceiptResult, ReceiptStore, apply_receipt
from mcn_core.logic.send import SmsSender
from mcn_core.models.base import ValidationError
from mcn_core.models.config import NotifyConfig
from mcn_core.models.errors import describe_validation_error, unprocessable_reason
from mcn_core.models.inbound import MoEvent, ReceiptEvent, inbound_event

#: how long a receipt for an unknown message id is retried before it is counted as unknown
UNKNOWN_RECEIPT_GRACE = timedelta(minutes=5)


class RetryBatchError(RuntimeError):
    """Some events could not be handled yet; the others were. The receiver resends the batch."""


class InboundStore(ReceiptStore, KeywordStore, Protocol):
    """Fee status by message id, and subscriber preferences."""


@dataclass(frozen=True)
class RejectedInbound:
    index: int
    kind: Any
    reason: str

    def entry(self) -> dict[str, Any]:
        return {"index": self.index, "kind": self.kind, "outcome": "rejected", "reason": self.reason}


@dataclass(frozen=True)
class HandledReceipt:
    index: int
    event: ReceiptEvent
    result: ReceiptResult

    def entry(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "kind": "receipt",
            "message_id": self.event.message_id,
            "outcome": self.result.outcome,
            "reason": self.result.reason,
            "notification_id": self.result.notification_id,
            "status": self.result.status,
        }


@dataclass(frozen=True)
class HandledMo:
    index: int
    event: MoEvent
    result: MoResult

    def entry(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "kind": "mo",
            "message_ref": self.event.message_ref,
            "outcome": self.result.outcome,
            "reason": self.result.reason,
            "keyword": self.result.keyword,
            "reply": self.result.reply,
            "tenant": self.result.tenant,
        }


InboundItem = RejectedInbound | HandledReceipt | HandledMo


@dataclass(frozen=True)
class InboundFailure:
    """The event handling stopped at, and why (the events from it on were not handled)."""

    index: int
    kind: str
    error: Exception

    def describe(self) -> str:
        return f"event {self.index}: {type(self.error).__name__}: {self.error}"


@dataclass(frozen=True)
class InboundBatch:
    items: list[InboundItem]
    failure: InboundFailure | None = None

    @property
    def counts(self) -> dict[str, int]:
        return dict(Counter(str(item.entry()["outcome"]) for item in self.items))

    def response(self) -> dict[str, Any]:
        """The invocation's result; RetryBatchError when an event could not be handled."""
        if self.failure is not None:
            raise RetryBatchError(
                f"{self.failure.describe()}; events from {len(self.items)} on not handled, the batch must be resent"[
                    :1000
                ]
            )
        return {"results": [item.entry() for item in self.items], "counts": self.counts}


def handle_inbound_batch(
    raw_events: Sequence[Any],
    *,
    store: InboundStore,
    config: Callable[[], NotifyConfig],
    sender: SmsSender,
    default_region: str,
    now: datetime,
    unknown_grace: timedelta = UNKNOWN_RECEIPT_GRACE,
) -> InboundBatch:
    """Each event in order; `config` is read only for an MO (a batch of receipts never needs it)."""
    items: list[InboundItem] = []
    parsed_events: list[ReceiptEvent | MoEvent | RejectedInbound] = []
    for index, raw in enumerate(raw_events):
        try:
            parsed_events.append(inbound_event(raw))
        except Exception as exc:  # ValidationError, or any other failure parsing this event: its own
            kind = raw.get("kind") if isinstance(raw, dict) else None
            kind = kind if isinstance(kind, str) else None
            reason = describe_validation_error(exc) if isinstance(exc, ValidationError) else unprocessable_reason(exc)
            parsed_events.append(RejectedInbound(index, kind, reason[:500]))
    finals = [e.message_id for e in parsed_events if isinstance(e, ReceiptEvent) and e.is_final]
    if finals:
        with suppress(Exception):  # only a hint: each receipt then reads (and fails) on its own
            store.read_ahead(finals)
    for index, parsed in enumerate(parsed_events):
        if isinstance(parsed, RejectedInbound):
            items.append(parsed)
            continue
        try:
            if isinstance(parsed, ReceiptEvent):
                receipt = apply_receipt(
                    parsed, store, now=now, unknown_grace=unknown_grace, default_region=default_region
                )
                items.append(HandledReceipt(index, parsed, receipt))
            else:
                mo = handle_mo(
                    parsed, config=config(), store=store, sender=sender, default_region=default_region, now=now
                )
                items.append(HandledMo(index, parsed, mo))
        except Exception as exc:  # store / config unavailable: the whole batch is resent later
            return InboundBatch(items, InboundFailure(index, parsed.kind, exc))
    return InboundBatch(items)
