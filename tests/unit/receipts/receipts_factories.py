"""In-memory store and SMS sender for the receipts and keywords logic."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from mcn_core.logic.keywords import SubscriberState
from mcn_core.logic.receipts import FeeState, NoticeRef, ReceiptChange
from mcn_core.logic.send import MessageOutcome, PartOutcome
from mcn_core.models.inbound import MoEvent, ReceiptEvent
from mcn_core.models.notice import OutgoingSms

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
SHORT_CODE = "62226"


def receipt(message_id: str, state: str = "DELIVRD", **extra: Any) -> ReceiptEvent:
    values = {"kind": "receipt", "message_id": message_id, "state": state, "received_at": NOW.isoformat()}
    return ReceiptEvent.from_data({**values, **extra})


_refs = iter(range(1, 1_000_000))


def mo(text: str, source: str = "447911123456", destination: str = SHORT_CODE, ref: str | None = None) -> MoEvent:
    return MoEvent.from_data(
        {
            "kind": "mo",
            "source": source,
            "destination": destination,
            "text": text,
            "received_at": NOW.isoformat(),
            "message_ref": ref or f"20261129T120000.{next(_refs):06d}Z-test",
        }
    )


@dataclass
class FakeStore:
    """ReceiptStore + KeywordStore in memory, with the same conditional semantics as DynamoDB's."""

    notices: dict[str, NoticeRef] = field(default_factory=dict)
    fees: dict[str, FeeState] = field(default_factory=dict)
    subscribers: dict[str, dict[str, Any]] = field(default_factory=dict)
    writes: int = 0
    #: called before a conditional fee write (simulate a concurrent receipt)
    before_write: Any = None

    def add_notice(
        self, notification_id: str, message_ids: list[str], status: str = "submitted", subscriber: str = "+447911123456"
    ) -> None:
        for message_id in message_ids:
            self.notices[message_id] = NoticeRef(notification_id, len(message_ids))
        self.fees[notification_id] = FeeState(notification_id, status, tuple(message_ids), subscriber=subscriber)

    # receipts
    def read_ahead(self, message_ids: list[str]) -> None:
        pass  # a hint; the memory store has nothing to gain from it

    def notice_for(self, message_id: str) -> NoticeRef | None:
        return self.notices.get(message_id)

    def fee_state(self, notice: NoticeRef) -> FeeState | None:
        return self.fees.get(notice.notification_id)

    def record_receipt(self, fee: FeeState, change: ReceiptChange, now: datetime) -> bool:
        if self.before_write is not None:
            hook, self.before_write = self.before_write, None
            hook()
        current = self.fees[fee.notification_id]
        if current.status != fee.status or current.version != fee.version:
            return False
        self.writes += 1
        self.fees[fee.notification_id] = replace(
            current,
            status=change.new_status or current.status,
            delivered_parts=current.delivered_parts | ({change.message_id} if change.delivered else set()),
            failed_parts=current.failed_parts | (set() if change.delivered else {change.message_id}),
            version=current.version + 1,
        )
        return True

    # keywords
    def subscriber_state(self, msisdn: str) -> SubscriberState:
        record = self.subscribers.get(msisdn)
        if record is None:
            return SubscriberState()
        return SubscriberState(
            exists=True,
            opted_out=bool(record.get("opted_out")),
            language=record.get("language"),
            pending_action=record.get("pending_action"),
            pending_until=record.get("pending_until"),
            tenant=record.get("tenant"),
        )

    def apply_keyword(self, msisdn: str, message_ref: str, changes: dict[str, Any], now: datetime) -> bool:
        record = self.subscribers.setdefault(msisdn, {})
        if record.get("last_mo_ref") is not None and not record["last_mo_ref"] < message_ref:
            return False
        for name, value in changes.items():
            if value is None:
                record.pop(name, None)
            else:
                record[name] = value
        record["last_mo_ref"] = message_ref
        return True


@dataclass
class FakeSender:
    sent: list[OutgoingSms] = field(default_factory=list)
    outcome: str = "accepted"

    def send(self, sms: OutgoingSms, *, reference: int | None, part_numbers: list[int] | None) -> MessageOutcome:
        self.sent.append(sms)
        part = PartOutcome(1, 1, self.outcome, "m1" if self.outcome == "accepted" else None, 0, "")
        return MessageOutcome(reference=None, parts=(part,))
