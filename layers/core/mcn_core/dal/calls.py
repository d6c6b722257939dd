"""The missed-call store: conditional puts and subscriber policy lookups."""

from __future__ import annotations

from collections.abc import Iterable

from pynamodb.exceptions import PutError

from mcn_core.dal.tables import MissedCallRecord, SubscriberRecord, bind
from mcn_core.models.calls import StoredCall, SubscriberPolicy
from mcn_core.models.errors import UnstorableEventError

_BATCH_GET_LIMIT = 100


class DynamoCallStore:
    def __init__(self, missed_calls_table: str, subscribers_table: str) -> None:
        self._calls = bind(MissedCallRecord, missed_calls_table)
        self._subscribers = bind(SubscriberRecord, subscribers_table)

    def subscriber_policies(self, msisdns: Iterable[str]) -> dict[str, SubscriberPolicy]:
        """One BatchGetItem per 100 distinct subscribers of a batch, not one read per event."""
        wanted = sorted(set(msisdns))
        policies: dict[str, SubscriberPolicy] = {}
        for start in range(0, len(wanted), _BATCH_GET_LIMIT):
            keys = wanted[start : start + _BATCH_GET_LIMIT]
            for record in self._subscribers.batch_get(keys):
                policies[record.msisdn] = SubscriberPolicy(
                    msisdn=record.msisdn,
                    opted_out=bool(record.opted_out),
                    blocked_callers=frozenset(record.blocked_callers or ()),
                )
        return policies

    def put_call_once(self, call: StoredCall) -> bool:
        """Store the call unless this (subscriber, call_ref) exists. False means it was a re-delivery."""
        record = self._calls(
            call.subscriber,
            call.call_ref,
            caller=call.caller,
            presentation=call.presentation.value,
            call_time=call.call_time,
            reason=call.reason.value,
            msc=call.msc,
            expires_at=call.expires_at,
            received_at=call.received_at,
            withheld_number=call.withheld_number,
        )
        try:
            record.save(condition=self._calls.call_ref.does_not_exist())
        except PutError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return False
            if exc.cause_response_code == "ValidationException":
                raise UnstorableEventError(exc.cause_response_message or "refused by the store") from exc
            raise
        return True
