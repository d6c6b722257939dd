"""The missed-call store: conditional puts and subscriber policy lookups."""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

from pynamodb.exceptions import PutError

from mcn_core.dal.tables import MissedCallRecord, SubscriberRecord, bind
from mcn_core.models.calls import StoredCall, SubscriberPolicy
from mcn_core.models.errors import UnstorableEventError

_BATCH_GET_LIMIT = 100


class DynamoCallStore:
    def __init__(self, missed_calls_table: str, subscribers_table: str, *, write_concurrency: int = 16) -> None:
        self._calls = bind(MissedCallRecord, missed_calls_table)
        self._subscribers = bind(SubscriberRecord, subscribers_table)
        self._write_concurrency = write_concurrency
        self._pool: ThreadPoolExecutor | None = None

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
                    tenant=record.tenant,
                )
        return policies

    def put_calls_once(self, calls: list[StoredCall]) -> list[bool | Exception]:
        """put_call_once for each call, `write_concurrency` conditional puts in flight at once; per call
        True (stored), False (a re-delivery) or the exception that call's put raised.

        Conditional PutItems, not BatchWriteItem (which cannot take a condition: a re-delivered event
        would overwrite, and resurrect a call a notice already cleared) nor TransactWriteItems (one
        round trip per 100 items, but twice the write units, and one duplicate cancels the whole
        transaction): see README, "Ingest writes".
        """
        # A call attempt twice in one batch is written once: its first occurrence is the one stored,
        # as when the puts went one after another, not whichever of two racing puts wins.
        first: dict[tuple[str, str], int] = {}
        for index, call in enumerate(calls):
            first.setdefault((call.subscriber, call.call_ref), index)
        unique = [calls[index] for index in sorted(first.values())]
        if len(unique) <= 1 or self._write_concurrency <= 1:
            written = [self._put_or_error(call) for call in unique]
        else:
            if self._pool is None:
                # kept across warm invocations; botocore clients are thread-safe
                self._pool = ThreadPoolExecutor(self._write_concurrency, thread_name_prefix="ingest-put")
            written = list(self._pool.map(self._put_or_error, unique))
        outcome = dict(zip(sorted(first.values()), written, strict=True))
        results: list[bool | Exception] = []
        for index, call in enumerate(calls):
            first_index = first[(call.subscriber, call.call_ref)]
            stored = outcome[first_index]
            # a repeat is a duplicate of what its first occurrence did (or fails as it failed)
            results.append(stored if index == first_index or isinstance(stored, Exception) else False)
        return results

    def _put_or_error(self, call: StoredCall) -> bool | Exception:
        try:
            return self.put_call_once(call)
        except Exception as exc:  # reported per call: one failing put never hides the others' outcomes
            return exc

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
            tenant=call.tenant,
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
