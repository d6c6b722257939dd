"""Delivery receipts -> the notice's fee status (submitted -> delivered | failed | expired).

Plain Python over a store. A notice may have several parts (several SMS, each possibly
concatenated); every part has its own SMSC message id and its own receipt:

- delivered once every part of the notice was delivered;
- failed (or expired) as soon as one part ends final and not delivered;
- a status never moves back: delivered, failed and expired are final;
- a receipt already recorded for its part changes nothing (duplicate, counted);
- a receipt for an id nobody knows is counted, not an error. Receipts can overtake the
  fee record (the SMSC answers before the Record step has written it), so an unknown id
  younger than a grace period asks for a retry instead of being dropped.

Whether a failed notice is charged is the tariff's `charge_on`; finance derives it from
the status this module sets.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from mcn_core.models.inbound import ReceiptEvent
from mcn_core.numbers import InvalidNumberError, smsc_number_to_e164

FINAL_STATUSES = frozenset({"delivered", "failed", "expired"})
MAX_CONFLICTS = 8


@dataclass(frozen=True)
class NoticeRef:
    notification_id: str
    part_count: int
    #: where the store keeps the notice's fee record (its partition key); opaque to this module
    fee_partition: str | None = None


@dataclass(frozen=True)
class FeeState:
    notification_id: str
    status: str
    smsc_message_ids: tuple[str, ...] = ()
    delivered_parts: frozenset[str] = frozenset()
    failed_parts: frozenset[str] = frozenset()
    #: how many receipts were recorded (the store's optimistic lock)
    version: int = 0
    #: the fee record's partition key (opaque here: the store addresses the record with it)
    fee_partition: str | None = None
    #: the number the notice went to (E.164)
    subscriber: str | None = None

    def has_receipt(self, message_id: str) -> bool:
        return message_id in self.delivered_parts or message_id in self.failed_parts


@dataclass(frozen=True)
class ReceiptChange:
    message_id: str
    delivered: bool
    #: the new fee status, or None to keep it (only the part is recorded)
    new_status: str | None
    failure_reason: str | None


class ReceiptStore(Protocol):
    def read_ahead(self, message_ids: Sequence[str]) -> None:
        """A hint before a batch: look these receipts' notices and fees up together; each
        `notice_for` / `fee_state` of them may then answer once from what was read."""
        ...

    def notice_for(self, message_id: str) -> NoticeRef | None: ...

    def fee_state(self, notice: NoticeRef) -> FeeState | None: ...

    def record_receipt(self, fee: FeeState, change: ReceiptChange, now: datetime) -> bool:
        """Record the part (and the new status), only if the fee is still as read.

        False: it changed meanwhile (another receipt); the caller reads it again.
        """
        ...


@dataclass(frozen=True)
class ReceiptResult:
    #: applied | duplicate | unknown | interim | retry | refused
    outcome: str
    notification_id: str | None = None
    status: str | None = None
    reason: str | None = None
    #: this receipt moved the fee status (to `status`)
    status_changed: bool = False


def status_after(fee: FeeState, event: ReceiptEvent, part_count: int) -> ReceiptChange:
    """What a final receipt does to the fee (the caller has checked it is not a duplicate)."""
    delivered = event.state == "DELIVRD"
    if fee.status != "submitted":  # delivered / failed / expired are final: never moved back
        return ReceiptChange(event.message_id, delivered, None, None)
    if delivered:
        done = fee.delivered_parts | {event.message_id}
        parts = set(fee.smsc_message_ids)
        # Every id the notice was submitted with, and at least as many as the index counted.
        all_delivered = parts <= done and len(done) >= part_count
        return ReceiptChange(event.message_id, True, "delivered" if all_delivered else None, None)
    reason = f"receipt {event.state}" + (f" err:{event.error_code}" if event.error_code else "")
    status = "expired" if event.state == "EXPIRED" else "failed"
    return ReceiptChange(event.message_id, False, status, reason)


def from_the_notices_handset(event: ReceiptEvent, fee: FeeState, default_region: str) -> bool:
    """A receipt known only by its text must come from the handset the notice went to.

    Otherwise a subscriber who texts `id:<n> stat:UNDELIV ...` to the service short code would
    change the status (and the charge) of someone else's notice: SMSC message ids are often
    sequential. A flagged receipt (esm_class, TLVs) can only come from the SMSC and is not checked.
    """
    if not event.from_text:
        return True
    if not event.handset or not fee.subscriber:
        return False
    try:
        return smsc_number_to_e164(event.handset, default_region) == fee.subscriber
    except InvalidNumberError:
        return False


def apply_receipt(
    event: ReceiptEvent, store: ReceiptStore, *, now: datetime, unknown_grace: timedelta, default_region: str
) -> ReceiptResult:
    if not event.is_final:
        # ENROUTE, ACCEPTD, ...: the SMSC is still trying; nothing to bill differently yet.
        return ReceiptResult("interim", reason=f"non-final state {event.state}")
    notice = store.notice_for(event.message_id)
    fee = store.fee_state(notice) if notice else None
    if notice is None or fee is None:
        if now - event.received_at < unknown_grace:
            return ReceiptResult("retry", reason="message id not known (yet): the fee record may not be written")
        return ReceiptResult("unknown", reason="message id not known")
    if not from_the_notices_handset(event, fee, default_region):
        return ReceiptResult(
            "refused",
            fee.notification_id,
            fee.status,
            "a receipt recognised only by its text came from another number than the notice's handset",
        )
    for _ in range(MAX_CONFLICTS):
        if fee.has_receipt(event.message_id):
            return ReceiptResult("duplicate", fee.notification_id, fee.status)
        change = status_after(fee, event, notice.part_count)
        if store.record_receipt(fee, change, now):
            return ReceiptResult(
                "applied",
                fee.notification_id,
                change.new_status or fee.status,
                change.failure_reason,
                status_changed=change.new_status is not None,
            )
        fee = store.fee_state(notice)
        if fee is None:  # deleted meanwhile: nothing left to update
            return ReceiptResult("unknown", reason="fee record disappeared")
    raise RuntimeError(f"fee {notice.notification_id}: too many concurrent updates")
