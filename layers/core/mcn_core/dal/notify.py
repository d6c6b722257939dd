"""Data access for attach and the notify flow: pending calls, profiles, the in-flight lock, fees."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from functools import cached_property

from pynamodb.connection import Connection
from pynamodb.exceptions import TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

from mcn_core.dal import fee_keys
from mcn_core.dal.tables import FeeRecord, FeeTenantRecord, MessageIdRecord, MissedCallRecord, SubscriberRecord, bind
from mcn_core.models.calls import StoredCall
from mcn_core.models.events import ForwardingReason, Presentation
from mcn_core.models.fees import NOT_CHARGED_REASON, RecordOutcome
from mcn_core.models.notice import Notice, SubscriberProfile

MESSAGE_ID_RETENTION = timedelta(days=14)
_TRANSACTION_LIMIT = 100  # DynamoDB's item limit per transaction


class NotifyStore:
    def __init__(
        self, missed_calls_table: str, subscribers_table: str, fees_table: str, message_ids_table: str | None = None
    ) -> None:
        self._calls = bind(MissedCallRecord, missed_calls_table)
        self._subscribers = bind(SubscriberRecord, subscribers_table)
        self._fees = bind(FeeRecord, fees_table)
        self._fee_tenants = bind(FeeTenantRecord, fees_table)
        self._registered_tenants: set[tuple[str, str]] = set()  # (tenant, period) registered by this instance
        self._message_ids = bind(MessageIdRecord, message_ids_table) if message_ids_table else None

    @cached_property
    def _transactions(self) -> Connection:
        """One connection (one botocore client) per warm store: building a client per Record cost
        ~200 ms of CPU, most of a notice's Lambda duration (benchmarks/notify_cost.py)."""
        return Connection(host=self._fees.Meta.host)  # type: ignore[attr-defined]  # PynamoDB Meta

    # ------------------------------------------------------------------ calls
    def has_pending_calls(self, subscriber: str, now: datetime) -> bool:
        """One Query, keys and expiry only: the cost of an attach for a subscriber with nothing waiting."""
        query = self._calls.query(subscriber, attributes_to_get=["call_ref", "expires_at"])
        return any(record.expires_at > now for record in query)

    def pending_calls(self, subscriber: str) -> list[StoredCall]:
        return [
            StoredCall(
                subscriber=r.subscriber,
                call_ref=r.call_ref,
                caller=r.caller,
                presentation=Presentation(r.presentation),
                call_time=r.call_time,
                reason=ForwardingReason(r.reason),
                msc=r.msc,
                expires_at=r.expires_at,
                received_at=r.received_at,
            )
            for r in self._calls.query(subscriber, consistent_read=True)
        ]

    # ------------------------------------------------------------------ subscribers
    def profile(self, msisdn: str) -> SubscriberProfile:
        """Preferences and the notice holding the subscriber's lock (consistent: Compose checks it)."""
        try:
            record = self._subscribers.get(msisdn, consistent_read=True)
        except self._subscribers.DoesNotExist:
            return SubscriberProfile(msisdn=msisdn)
        return SubscriberProfile(
            msisdn=msisdn,
            language=record.language,
            time_zone=record.time_zone,
            quiet_hours=record.quiet_hours,
            opted_out=bool(record.opted_out),
            notify_me=bool(record.notify_me),
            notify_lock=record.notify_lock,
        )

    def notify_me_subscribers(self, msisdns: Iterable[str]) -> set[str]:
        wanted = sorted(set(msisdns))
        return {r.msisdn for r in self._subscribers.batch_get(wanted) if r.notify_me} if wanted else set()

    # ------------------------------------------------------------------ in-flight lock
    def acquire_lock(self, subscriber: str, notification_id: str, until: datetime, now: datetime) -> bool:
        """Take the subscriber's notify lock unless a live one is held. False: a notice is in flight."""
        record = self._subscribers(subscriber)
        model = self._subscribers
        try:
            record.update(
                actions=[model.notify_lock.set(notification_id), model.notify_lock_until.set(until)],
                condition=model.notify_lock.does_not_exist() | (model.notify_lock_until < now),
            )
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def extend_lock(self, subscriber: str, notification_id: str, until: datetime) -> bool:
        model = self._subscribers
        try:
            model(subscriber).update(
                actions=[model.notify_lock_until.set(until)], condition=model.notify_lock == notification_id
            )
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def release_lock(self, subscriber: str, notification_id: str) -> bool:
        """Release only our own lock (a newer notice may own it after an expiry)."""
        model = self._subscribers
        try:
            model(subscriber).update(
                actions=[model.notify_lock.remove(), model.notify_lock_until.remove()],
                condition=model.notify_lock == notification_id,
            )
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise
        return True

    # ------------------------------------------------------------------ fees
    def record_notice(
        self, fee: FeeRecord, *, clear_calls: list[str], release_lock: bool, calls_must_exist: bool = True
    ) -> RecordOutcome:
        """Fee record + removal of exactly the listed calls + lock release, in one transaction.

        Each listed call is deleted only if it still exists: calls another notice already cleared
        cancel the transaction, and the notice is then recorded with fee 0 (NOT_CHARGED), so two
        notices never both charge for the same calls. A retried or re-driven step finds its fee
        recorded: nothing is charged twice. Calls beyond one transaction's capacity are deleted
        after it, idempotently, so a retry finishes the job.
        """
        fee_model, calls_model, subs_model = self._fees, self._calls, self._subscribers
        self.register_tenant(fee.tenant, fee.period)  # before its fee: a report finds every tenant with fees
        # PynamoDB types a list of strings as a list of its attributes
        message_ids: list[str] = list(fee.smsc_message_ids or []) if self._message_ids is not None else []  # type: ignore[arg-type]
        room = _TRANSACTION_LIMIT - 1 - (1 if release_lock else 0) - len(message_ids)
        in_transaction, after = clear_calls[:room], clear_calls[room:]
        # The request lists deletes, then puts, then updates (pynamodb's order): reasons follow it.
        call_items, fee_item = range(len(in_transaction)), len(in_transaction)
        try:
            with TransactWrite(connection=self._transactions) as transaction:
                transaction.save(fee, condition=fee_model.notification_id.does_not_exist())
                for message_id in message_ids:
                    transaction.save(self._message_id_record(fee, message_id, len(message_ids)))
                for call_ref in in_transaction:
                    exists = calls_model.call_ref.exists() if calls_must_exist else None
                    transaction.delete(calls_model(fee.subscriber, call_ref), condition=exists)
                if release_lock:
                    transaction.update(
                        subs_model(fee.subscriber),
                        actions=[subs_model.notify_lock.remove(), subs_model.notify_lock_until.remove()],
                        condition=subs_model.notify_lock == fee.notification_id,
                    )
        except TransactWriteError as exc:
            reasons = list(exc.cancellation_reasons or [])
            failed = {i for i, r in enumerate(reasons) if r is not None and r.code == "ConditionalCheckFailed"}
            if not failed:
                raise
            if fee_item in failed or self.fee(fee.fee_partition, fee.notification_id) is not None:
                # Recorded before: finish what that attempt may have left undone.
                for call_ref in clear_calls:
                    calls_model(fee.subscriber, call_ref).delete()
                if release_lock:
                    self.release_lock(fee.subscriber, fee.notification_id)
                return RecordOutcome.ALREADY_RECORDED
            if failed.intersection(call_items):
                fee.fee_minor = 0
                fee.failure_reason = NOT_CHARGED_REASON
                outcome = self.record_notice(
                    fee, clear_calls=clear_calls, release_lock=release_lock, calls_must_exist=False
                )
                return RecordOutcome.NOT_CHARGED if outcome is RecordOutcome.RECORDED else outcome
            if release_lock:
                # Only the lock's condition failed: it is no longer ours (expired, taken).
                return self.record_notice(
                    fee, clear_calls=clear_calls, release_lock=False, calls_must_exist=calls_must_exist
                )
            raise
        for call_ref in after:
            calls_model(fee.subscriber, call_ref).delete()
        return RecordOutcome.RECORDED

    def _message_id_record(self, fee: FeeRecord, message_id: str, part_count: int) -> MessageIdRecord:
        assert self._message_ids is not None
        # Receipts can arrive days later (SMSC validity period); keep the index a little longer.
        expires_at = datetime.fromisoformat(fee.created_at) + MESSAGE_ID_RETENTION
        return self._message_ids(
            message_id,
            notification_id=fee.notification_id,
            part_count=part_count,
            expires_at=expires_at,
            fee_partition=fee.fee_partition,
        )

    @staticmethod
    def fee_partition(tenant: str, period: str, notification_id: str) -> str:
        return fee_keys.fee_partition(tenant, period, notification_id)

    def register_tenant(self, tenant: str, period: str) -> None:
        """Put the tenant in the period's tenant list (idempotent; once per warm instance and period)."""
        if (tenant, period) in self._registered_tenants:
            return
        self._fee_tenants(fee_keys.tenant_registry_partition(period), fee_keys.validate_tenant(tenant)).save()
        self._registered_tenants.add((tenant, period))

    def fee(self, fee_partition: str, notification_id: str) -> FeeRecord | None:
        try:
            return self._fees.get(fee_partition, notification_id, consistent_read=True)
        except self._fees.DoesNotExist:
            return None

    def new_fee(self, **values: object) -> FeeRecord:
        return self._fees(**values)  # type: ignore[arg-type]  # PynamoDB attributes by keyword

    def mark_notified_once(self, notice: Notice, caller: str) -> bool:
        """NotifyMe at most once per caller per notice: the mark is taken before the SMS is sent."""
        model = self._fees
        assert notice.period is not None, "a sent notice has its period (Compose sets it)"
        key = self.fee_partition(notice.tenant, notice.period, notice.notification_id)
        try:
            model(key, notice.notification_id).update(
                actions=[model.notified_callers.add({caller})],
                condition=model.notification_id.exists() & ~model.notified_callers.contains(caller),
            )
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise
        return True
