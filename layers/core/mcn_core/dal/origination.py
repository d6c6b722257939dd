"""Data access for missed calls placed on behalf: the origination queue (SQS) the gateway
long-polls, and the outcomes the gateway reports, landed on the notice's fee record.

The fee record is found by its notification id, as receipts find it (dal.receipts): the one
place the fee table's key is spelled for outcomes. Extra attributes live on a subclass (as
receipts' do): `flash_calls_reported` (request ids counted: a redelivered outcome is a no-op)
and `flash_call_outcomes` ("<request_id> <outcome> <cause>" per call); the counters
(`calls_placed`, `calls_alerted`, `call_fee_minor`) are on FeeRecord, for finance's reader.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

from pynamodb.attributes import UnicodeAttribute, UnicodeSetAttribute
from pynamodb.exceptions import UpdateError

from mcn_core.dal import fee_keys
from mcn_core.dal.tables import FeeRecord, bind
from mcn_core.logic.notices import notification_time
from mcn_core.logic.origination import FlashCallFee, OutcomeChange
from mcn_core.models.origination import FlashCallRequest

#: SQS SendMessageBatch takes at most 10 entries (models.config.MAX_CALLS_PER_NOTICE fits in one)
_BATCH = 10


class OriginationQueueError(RuntimeError):
    """SQS refused some requests: the Record step fails and is retried (the ids are the same)."""


class OriginationQueue:
    """Puts FlashCallRequests on the origination queue (one message per call)."""

    def __init__(self, queue_url: str) -> None:
        self._url = queue_url

    @cached_property
    def _client(self) -> Any:
        from mcn_core.dal.clients import aws_client

        return aws_client("sqs")

    def request(self, requests: Sequence[FlashCallRequest]) -> None:
        for start in range(0, len(requests), _BATCH):
            chunk = requests[start : start + _BATCH]
            entries = [
                {
                    "Id": str(number),  # batch-local; the request id is in the body (and an attribute)
                    "MessageBody": request.to_json(),
                    "MessageAttributes": {"request_id": {"DataType": "String", "StringValue": request.request_id}},
                }
                for number, request in enumerate(chunk)
            ]
            response = self._client.send_message_batch(QueueUrl=self._url, Entries=entries)
            failed = response.get("Failed") or []
            if failed:
                codes = sorted({str(entry.get("Code")) for entry in failed})
                raise OriginationQueueError(f"{len(failed)} of {len(entries)} flash call requests refused: {codes}")


class OutcomeFeeRecord(FeeRecord):
    flash_calls_reported = UnicodeSetAttribute(null=True)
    flash_call_outcomes = UnicodeSetAttribute(null=True)
    status_changed_at = UnicodeAttribute(null=True)


class DynamoFlashCallStore:
    """Implements logic.origination.FlashCallStore."""

    def __init__(self, fees_table: str) -> None:
        self._fees = bind(OutcomeFeeRecord, fees_table)

    def flash_call_fee(self, tenant: str, notification_id: str) -> FlashCallFee | None:
        """The notice's fee record, by tenant and notification id (the fee table is keyed tenant, period,
        shard): the period is Compose's month, the notice's own (from its id) or, for a notice composed
        across a month's end (quiet hours, waiting for the SMSC), the next one: at most two reads."""
        try:
            fee_keys.validate_tenant(tenant)
        except ValueError:
            return None  # no fee record can be filed under it
        for period in _candidate_periods(notification_id):
            partition = fee_keys.fee_partition(tenant, period, notification_id)
            try:
                record = self._fees.get(partition, notification_id, consistent_read=True)
            except self._fees.DoesNotExist:
                continue
            return self._fee(record, partition)
        return None

    @staticmethod
    def _fee(record: OutcomeFeeRecord, partition: str) -> FlashCallFee:
        return FlashCallFee(
            notification_id=record.notification_id,
            status=record.status,
            messages=int(record.messages),
            fee_minor_per_call=int(record.fee_minor_per_call or 0),
            reported=frozenset(record.flash_calls_reported or ()),
            fee_partition=partition,
        )

    def record_flash_call_outcome(self, fee: FlashCallFee, change: OutcomeChange, now: datetime) -> bool:
        model = self._fees
        actions: list[Any] = [
            model.flash_calls_reported.add({change.request_id}),
            model.flash_call_outcomes.add({change.entry}),
            model.calls_placed.add(change.placed),
            model.calls_alerted.add(change.alerted),
            model.call_fee_minor.add(change.fee_minor),
        ]
        condition = model.notification_id.exists() & ~model.flash_calls_reported.contains(change.request_id)
        if change.new_status is not None:
            actions += [model.status.set(change.new_status), model.status_changed_at.set(now.isoformat())]
            condition &= model.status == fee.status
        try:
            model(fee.fee_partition, fee.notification_id).update(actions=actions, condition=condition)
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise
        return True


def _candidate_periods(notification_id: str) -> list[str]:
    """The months a notice's fee can be filed under: its own (from its id), then the next."""
    from datetime import UTC

    began = notification_time(notification_id, default=datetime.now(UTC))
    next_month = (began.replace(day=1) + timedelta(days=32)).replace(day=1)
    return [began.strftime("%Y-%m"), next_month.strftime("%Y-%m")]
