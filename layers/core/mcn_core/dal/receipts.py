"""Data access for receipts and keywords: message id index, fee status, subscriber preferences.

Extra attributes live beside the shared models' (subclasses below), so the notify flow's
and finance's readers, which ignore attributes they do not declare, are unaffected:

- fee record: `delivered_parts` / `failed_parts` (string sets of SMSC message ids that had a
  final receipt), `receipt_version` (optimistic lock between concurrent receipts of one
  notice), `last_receipt_at`, `status_changed_at`;
- subscriber: `last_mo_ref` (the newest MO applied: re-deliveries are no-ops),
  `pending_action` / `pending_until` (STOP waiting for its YES), `keywords_updated_at`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UnicodeSetAttribute, UTCDateTimeAttribute
from pynamodb.exceptions import UpdateError

from mcn_core.dal.tables import FeeRecord, MessageIdRecord, SubscriberRecord, bind
from mcn_core.logic.keywords import SubscriberState
from mcn_core.logic.receipts import FeeState, NoticeRef, ReceiptChange

_SUBSCRIBER_CHANGES = ("opted_out", "language", "quiet_hours", "notify_me", "pending_action", "pending_until")


class ReceiptFeeRecord(FeeRecord):
    delivered_parts = UnicodeSetAttribute(null=True)
    failed_parts = UnicodeSetAttribute(null=True)
    receipt_version = NumberAttribute(null=True)
    last_receipt_at = UnicodeAttribute(null=True)
    status_changed_at = UnicodeAttribute(null=True)


class KeywordSubscriberRecord(SubscriberRecord):
    last_mo_ref = UnicodeAttribute(null=True)
    pending_action = UnicodeAttribute(null=True)
    pending_until = UTCDateTimeAttribute(null=True)
    keywords_updated_at = UTCDateTimeAttribute(null=True)


def _conditional_failed(exc: UpdateError) -> bool:
    return exc.cause_response_code == "ConditionalCheckFailedException"


class DynamoReceiptStore:
    """Implements logic.receipts.ReceiptStore and logic.keywords.KeywordStore."""

    def __init__(self, fees_table: str, message_ids_table: str, subscribers_table: str) -> None:
        self._fees = bind(ReceiptFeeRecord, fees_table)
        self._message_ids = bind(MessageIdRecord, message_ids_table)
        self._subscribers = bind(KeywordSubscriberRecord, subscribers_table)
        # What read_ahead found, each answered once (a later read of the same key goes to the table).
        self._notices_read: dict[str, NoticeRef | None] = {}
        self._fees_read: dict[tuple[str, str], FeeState | None] = {}

    # ------------------------------------------------------------------ receipts
    def read_ahead(self, message_ids: Sequence[str]) -> None:
        """Two BatchGetItems for the batch (message ids, then their fee records, consistent) instead
        of two GetItems per receipt: the same units, a fraction of the requests and of the time."""
        self._notices_read, self._fees_read = {}, {}
        wanted = sorted(set(message_ids))
        found = {r.message_id: r for r in self._message_ids.batch_get(wanted)}
        for message_id in wanted:
            record = found.get(message_id)
            self._notices_read[message_id] = (
                NoticeRef(record.notification_id, int(record.part_count), record.fee_partition) if record else None
            )
        keys = sorted(
            {(n.fee_partition, n.notification_id) for n in self._notices_read.values() if n and n.fee_partition}
        )
        self._fees_read = dict.fromkeys(keys)
        for fee in self._fees.batch_get(keys, consistent_read=True):
            self._fees_read[(fee.fee_partition, fee.notification_id)] = self._fee_state_of(fee)

    def notice_for(self, message_id: str) -> NoticeRef | None:
        if message_id in self._notices_read:
            return self._notices_read.pop(message_id)
        try:
            record = self._message_ids.get(message_id)
        except self._message_ids.DoesNotExist:
            return None
        return NoticeRef(record.notification_id, int(record.part_count), record.fee_partition)

    def fee_state(self, notice: NoticeRef) -> FeeState | None:
        if notice.fee_partition is None:
            return None  # indexed before the tenant-first fee table, not migrated yet: unknown (retried)
        key = (notice.fee_partition, notice.notification_id)
        if key in self._fees_read:
            return self._fees_read.pop(key)
        try:
            record = self._fees.get(notice.fee_partition, notice.notification_id, consistent_read=True)
        except self._fees.DoesNotExist:
            return None
        return self._fee_state_of(record)

    @staticmethod
    def _fee_state_of(record: ReceiptFeeRecord) -> FeeState:
        return FeeState(
            notification_id=record.notification_id,
            status=record.status,
            smsc_message_ids=tuple(record.smsc_message_ids or ()),  # type: ignore[arg-type]  # PynamoDB list of str
            delivered_parts=frozenset(record.delivered_parts or ()),
            failed_parts=frozenset(record.failed_parts or ()),
            version=int(record.receipt_version or 0),
            fee_partition=record.fee_partition,
            subscriber=record.subscriber,
        )

    def record_receipt(self, fee: FeeState, change: ReceiptChange, now: datetime) -> bool:
        model = self._fees
        at = now.isoformat()
        parts = model.delivered_parts if change.delivered else model.failed_parts
        actions: list[Any] = [
            parts.add({change.message_id}),
            model.receipt_version.add(1),
            model.last_receipt_at.set(at),
        ]
        if change.new_status is not None:
            actions += [model.status.set(change.new_status), model.status_changed_at.set(at)]
        if change.failure_reason is not None:
            actions.append(model.failure_reason.set(change.failure_reason))
        # Still as read: same status and no receipt recorded since (another part, or this one).
        version = model.receipt_version.does_not_exist() if fee.version == 0 else model.receipt_version == fee.version
        condition = model.notification_id.exists() & (model.status == fee.status) & version
        try:
            model(fee.fee_partition, fee.notification_id).update(actions=actions, condition=condition)
        except UpdateError as exc:
            if _conditional_failed(exc):
                return False
            raise
        return True

    # ------------------------------------------------------------------ keywords
    def subscriber_state(self, msisdn: str) -> SubscriberState:
        try:
            record = self._subscribers.get(msisdn, consistent_read=True)
        except self._subscribers.DoesNotExist:
            return SubscriberState()
        return SubscriberState(
            exists=True,
            opted_out=bool(record.opted_out),
            language=record.language,
            pending_action=record.pending_action,
            pending_until=record.pending_until,
            tenant=record.tenant,
        )

    def apply_keyword(self, msisdn: str, message_ref: str, changes: dict[str, Any], now: datetime) -> bool:
        model = self._subscribers
        actions: list[Any] = [model.last_mo_ref.set(message_ref), model.keywords_updated_at.set(now)]
        for name, value in changes.items():
            if name not in _SUBSCRIBER_CHANGES:
                raise ValueError(f"keywords may not change {name!r}")
            attribute = getattr(model, name)
            actions.append(attribute.remove() if value is None else attribute.set(value))
        newer = model.last_mo_ref.does_not_exist() | (model.last_mo_ref < message_ref)
        try:
            model(msisdn).update(actions=actions, condition=newer)
        except UpdateError as exc:
            if _conditional_failed(exc):
                return False
            raise
        return True
