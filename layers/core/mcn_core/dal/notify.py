"""Data access for attach and the notify flow: pending calls, profiles, the in-flight lock, fees."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from pynamodb.exceptions import DeleteError, PutError, UpdateError

from mcn_core.dal import fee_keys
from mcn_core.dal.tables import FeeRecord, FeeTenantRecord, MessageIdRecord, MissedCallRecord, SubscriberRecord, bind
from mcn_core.models.calls import StoredCall
from mcn_core.models.clearing import ClearingPlan, ClearMark
from mcn_core.models.fees import NOT_CHARGED_REASON, RecordOutcome
from mcn_core.models.notice import Notice, SubscriberProfile
from mcn_core.models.types import ForwardingReason, Presentation

MESSAGE_ID_RETENTION = timedelta(days=14)
_CLEAR_ATTEMPTS = 100  # a failed attempt means another notice cleared meanwhile: one per concurrent notice


def _conditional_failed(exc: UpdateError | PutError | DeleteError) -> bool:
    return exc.cause_response_code == "ConditionalCheckFailedException"


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

    # ------------------------------------------------------------------ calls
    def has_pending_calls(self, subscriber: str, now: datetime) -> bool:
        return bool(self.unnotified_calls(subscriber, now))

    def unnotified_calls(self, subscriber: str, now: datetime) -> list[StoredCall]:
        """The unexpired calls no notice cleared yet: one consistent Query, and the clearing mark (read
        eventually: stale at worst, a notice that finds nothing) only when unexpired calls are stored.
        Attach composes from these, filtered again by the mark its lock update returns."""
        unexpired = [call for call in self.stored_calls(subscriber) if call.expires_at > now]
        if not unexpired:
            return []
        mark = self.clear_mark(subscriber, consistent=False)
        return [call for call in unexpired if not mark.covers(call.call_ref, call.received_at)]

    def clear_mark(self, subscriber: str, *, consistent: bool = True) -> ClearMark:
        return self._clear_state(subscriber, consistent=consistent)[0]

    def _clear_state(self, subscriber: str, *, consistent: bool) -> tuple[ClearMark, str | None]:
        """The clearing mark and the lock holder."""
        try:
            record = self._subscribers.get(subscriber, consistent_read=consistent)
        except self._subscribers.DoesNotExist:
            return ClearMark(), None
        return clear_mark_of(record), record.notify_lock

    def pending_calls(self, subscriber: str, mark: ClearMark | None = None) -> list[StoredCall]:
        """The stored calls no notice cleared yet (`mark`: the subscriber's, if already read)."""
        mark = self.clear_mark(subscriber) if mark is None else mark
        return [call for call in self.stored_calls(subscriber) if not mark.covers(call.call_ref, call.received_at)]

    def stored_calls(self, subscriber: str) -> list[StoredCall]:
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
        return _profile_of(msisdn, record)

    def notify_me_subscribers(self, msisdns: Iterable[str]) -> set[str]:
        wanted = sorted(set(msisdns))
        return {r.msisdn for r in self._subscribers.batch_get(wanted) if r.notify_me} if wanted else set()

    # ------------------------------------------------------------------ in-flight lock
    def acquire_lock(
        self, subscriber: str, notification_id: str, until: datetime, now: datetime
    ) -> SubscriberProfile | None:
        """Take the subscriber's notify lock unless a live one is held: the subscriber's profile as
        the lock left it (the update returns the whole item, consistent, without a read of its own),
        or None: a notice is in flight."""
        record = self._subscribers(subscriber)
        model = self._subscribers
        try:
            record.update(
                actions=[model.notify_lock.set(notification_id), model.notify_lock_until.set(until)],
                condition=model.notify_lock.does_not_exist() | (model.notify_lock_until < now),
            )
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return None
            raise
        return _profile_of(subscriber, record)

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
        self,
        fee: FeeRecord,
        *,
        clearing: ClearingPlan | None,
        release_lock: bool = True,
        legacy_call_refs: list[str] | None = None,
        day_count: tuple[str, int] | None = None,
    ) -> RecordOutcome:
        """Clear the listed calls (and release the lock), then index the message ids, then the fee record.

        Single-item conditional writes in this order, each idempotent, give what one transaction
        gave at a third of the write units (a transactional item costs two):
        - the clear is one conditional UpdateItem of the subscriber's item (`_clear`): it moves the
          clearing mark only from the state Compose read, so of two notices listing the same calls
          only one clears them; the other is recorded with fee 0 (NOT_CHARGED). A retried Record
          finds its own notification id among the mark's recent clears, with its charge decision;
        - the message-id items are plain puts (same values on a retry);
        - the fee record is put only if absent: a retried or re-driven Record charges nothing twice.
        A failure between the steps leaves the calls cleared and the fee not yet written (a retry
        finishes it): never a fee for calls that stay pending, so never two fees for one call.
        `clearing` None: nothing to clear (a failed notice keeps its calls); the lock is released.
        `legacy_call_refs`: a notice composed before clearing marks existed (in flight during the
        upgrade) has no plan: its calls are deleted one by one, uncharged if any was gone already.
        `day_count` (the subscriber's local day, notices that day) is set by the clear's own update:
        the daily cap is counted with the clear, exactly once, without a write of its own.
        """
        self.register_tenant(fee.tenant, fee.period)  # before its fee: a report finds every tenant with fees
        charged = True
        if clearing is not None:
            charged = self._clear(
                fee.subscriber, fee.notification_id, clearing, release_lock=release_lock, day_count=day_count
            )
        else:
            if legacy_call_refs:
                charged = self.delete_listed_calls(fee.subscriber, legacy_call_refs) == len(legacy_call_refs)
            if release_lock:
                self.release_lock(fee.subscriber, fee.notification_id)
        if not charged:
            fee.fee_minor = 0
            fee.failure_reason = NOT_CHARGED_REASON
        if self._message_ids is not None:
            # PynamoDB types a list of strings as a list of its attributes
            message_ids: list[str] = list(fee.smsc_message_ids or [])  # type: ignore[arg-type]
            for message_id in message_ids:
                self._message_id_record(fee, message_id, len(message_ids)).save()
        try:
            fee.save(condition=self._fees.notification_id.does_not_exist())
        except PutError as exc:
            if _conditional_failed(exc):
                return RecordOutcome.ALREADY_RECORDED
            raise
        return RecordOutcome.RECORDED if charged else RecordOutcome.NOT_CHARGED

    def _clear(
        self,
        subscriber: str,
        notification_id: str,
        plan: ClearingPlan,
        *,
        release_lock: bool,
        day_count: tuple[str, int] | None = None,
    ) -> bool:
        """Move the clearing mark over the listed calls; True when this notice may charge for them."""
        model = self._subscribers
        mark, with_lock = plan.mark, release_lock
        for _ in range(_CLEAR_ATTEMPTS):
            charged = not plan.covered_by(mark) if mark != plan.mark else True
            new = mark.after(plan.listed, plan.listed_at, notification_id, charged)
            assert new.before is not None  # a mark after a clear always has its watermark
            actions: list[Any] = [
                model.cleared_seq.set(new.seq),
                model.cleared_before.set(new.before),
                model.recent_clears.set(list(new.recent)),  # type: ignore[arg-type]  # PynamoDB types a list of str as attributes
                model.cleared_refs.set(set(new.refs)) if new.refs else model.cleared_refs.remove(),
            ]
            if day_count is not None:  # the daily cap's count, in the same update
                actions += [model.notices_day.set(day_count[0]), model.notices_on_day.set(day_count[1])]
            same_mark = model.cleared_seq.does_not_exist() if mark.seq == 0 else model.cleared_seq == mark.seq
            condition = same_mark
            if with_lock:
                actions += [model.notify_lock.remove(), model.notify_lock_until.remove()]
                condition = same_mark & (model.notify_lock == notification_id)
            try:
                model(subscriber).update(actions=actions, condition=condition)
                return charged
            except UpdateError as exc:
                if not _conditional_failed(exc):
                    raise
            current, holder = self._clear_state(subscriber, consistent=True)
            mine = current.cleared_by(notification_id)
            if mine is not None:
                return mine  # a retried Record: cleared before, with this charge decision
            if with_lock and holder != notification_id:
                with_lock = False  # the lock expired and is someone else's: clear without touching it
            mark = current
        raise RuntimeError(f"notice {notification_id}: the clearing mark kept changing ({_CLEAR_ATTEMPTS} attempts)")

    def delete_listed_calls(self, subscriber: str, call_refs: list[str]) -> int:
        """Delete calls by reference (idempotent): how many were still there."""
        deleted = 0
        for call_ref in call_refs:
            try:
                self._calls(subscriber, call_ref).delete(condition=self._calls.call_ref.exists())
                deleted += 1
            except DeleteError as exc:
                if not _conditional_failed(exc):
                    raise
        return deleted

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


def clear_mark_of(record: Any) -> ClearMark:
    return ClearMark(
        seq=int(record.cleared_seq or 0),
        before=record.cleared_before,
        refs=frozenset(record.cleared_refs or ()),
        recent=tuple(record.recent_clears or ()),
    )


def _profile_of(msisdn: str, record: Any) -> SubscriberProfile:
    return SubscriberProfile(
        msisdn=msisdn,
        language=record.language,
        time_zone=record.time_zone,
        quiet_hours=record.quiet_hours,
        opted_out=bool(record.opted_out),
        notify_me=bool(record.notify_me),
        notify_lock=record.notify_lock,
        tenant=record.tenant,
        notices_day=record.notices_day,
        notices_on_day=int(record.notices_on_day or 0),
        clear_mark=clear_mark_of(record),
    )
