"""Calls cleared by the mark on the subscriber's item, on the embedded AWS through the real data access:
a call whose ingest was in flight while Compose listed stays pending for the next notice (never lost),
every call is charged once, and readers (attach, Compose, `mcn calls`) see the same pending set."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from mcn_core.dal.calls import DynamoCallStore
from mcn_core.dal.notify import NotifyStore
from mcn_core.logic.clearing import clearing_plan
from mcn_core.models.calls import StoredCall
from mcn_core.models.events import ForwardingReason, Presentation
from mcn_core.models.fees import RecordOutcome
from mcn_core.models.notice import Notice
from mcn_devkit.embedded import EmbeddedStack

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stores(stack: EmbeddedStack) -> Iterator[tuple[NotifyStore, DynamoCallStore]]:
    saved = dict(os.environ)
    os.environ.update(stack.env)
    try:
        yield (
            NotifyStore(
                stack.resource_name("MissedCallsTable"),
                stack.resource_name("SubscribersTable"),
                stack.resource_name("FeesTable"),
                stack.resource_name("MessageIdsTable"),
            ),
            DynamoCallStore(stack.resource_name("MissedCallsTable"), stack.resource_name("SubscribersTable")),
        )
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _call(subscriber: str, ref: str, received_at: datetime) -> StoredCall:
    return StoredCall(
        subscriber=subscriber,
        call_ref=ref,
        caller="+447912000111",
        presentation=Presentation.ALLOWED,
        call_time=received_at,
        reason=ForwardingReason.NOT_REACHABLE,
        msc="447953000001",
        expires_at=received_at + timedelta(hours=72),
        received_at=received_at,
    )


def _notice_and_fee(store: NotifyStore, subscriber: str, notification_id: str, now: datetime) -> tuple[Notice, Notice]:
    """Compose's reads (profile with the mark, then the calls), at `now`; the notice lists them all."""
    profile = store.profile(subscriber)
    calls = store.pending_calls(subscriber, profile.clear_mark)
    notice = Notice(
        notification_id=notification_id,
        subscriber=subscriber,
        action="send",
        call_refs=sorted(c.call_ref for c in calls),
        calls_listed=len(calls),
        fee_minor=10,
        currency="GBP",
        period=f"{now:%Y-%m}",
    )
    return notice, notice.replace(clearing=clearing_plan(notice, profile.clear_mark, calls, now))


def _record(store: NotifyStore, notice: Notice, now: datetime) -> RecordOutcome:
    assert notice.clearing is not None and notice.period is not None
    fee = store.new_fee(
        fee_partition=store.fee_partition(notice.tenant, notice.period, notice.notification_id),
        notification_id=notice.notification_id,
        tenant=notice.tenant,
        subscriber=notice.subscriber,
        period=notice.period,
        created_at=now.isoformat(),
        calls_listed=notice.calls_listed,
        callers_listed=1,
        messages=1,
        segments=1,
        fee_minor=notice.fee_minor,
        currency="GBP",
        tariff_id="t",
        charge_on="submit",
        smsc_message_ids=[f"m-{notice.notification_id}"],
        status="submitted",
    )
    return store.record_notice(fee, clearing=notice.clearing)


def test_a_call_in_flight_while_compose_listed_waits_for_the_next_notice(
    stores: tuple[NotifyStore, DynamoCallStore],
) -> None:
    store, calls = stores
    subscriber, now = "+447911300001", datetime.now(UTC)
    assert calls.put_call_once(_call(subscriber, "early", now - timedelta(hours=1)))
    assert calls.put_call_once(_call(subscriber, "recent", now - timedelta(seconds=30)))
    now_lock = datetime.now(UTC)
    assert store.acquire_lock(subscriber, "n-1", now_lock + timedelta(minutes=30), now_lock)
    listed_at = datetime.now(UTC)  # Compose reads its clock, then queries
    _, first = _notice_and_fee(store, subscriber, "n-1", listed_at)
    assert first.call_refs == ["early", "recent"]
    # An ingest that read its clock before Compose listed stores its call only now.
    assert calls.put_call_once(_call(subscriber, "in-flight", listed_at - timedelta(seconds=1)))
    assert _record(store, first, datetime.now(UTC)) is RecordOutcome.RECORDED

    # Cleared without deleting: all three calls are still stored; only the in-flight one is pending.
    assert {c.call_ref for c in store.stored_calls(subscriber)} == {"early", "recent", "in-flight"}
    assert [c.call_ref for c in store.pending_calls(subscriber)] == ["in-flight"]
    assert store.has_pending_calls(subscriber, datetime.now(UTC))
    assert store.profile(subscriber).notify_lock is None  # released in the same update

    # The next notice lists exactly it, and is charged for it.
    second_lock = datetime.now(UTC)
    assert store.acquire_lock(subscriber, "n-2", second_lock + timedelta(minutes=30), second_lock)
    _, second = _notice_and_fee(store, subscriber, "n-2", datetime.now(UTC))
    assert second.call_refs == ["in-flight"]
    assert _record(store, second, datetime.now(UTC)) is RecordOutcome.RECORDED
    assert store.pending_calls(subscriber) == []
    assert not store.has_pending_calls(subscriber, datetime.now(UTC))
    # A redelivered event of a cleared call is a duplicate (it is still stored): never notified again.
    assert not calls.put_call_once(_call(subscriber, "recent", now - timedelta(seconds=30)))


def test_retried_record_and_a_second_notice_for_the_same_calls(stores: tuple[NotifyStore, DynamoCallStore]) -> None:
    store, calls = stores
    subscriber, now = "+447911300002", datetime.now(UTC)
    assert calls.put_call_once(_call(subscriber, "c1", now - timedelta(minutes=3)))
    # two notices composed from the same state (a design slip: the lock normally prevents it)
    _, one = _notice_and_fee(store, subscriber, "n-one", datetime.now(UTC))
    _, two = _notice_and_fee(store, subscriber, "n-two", datetime.now(UTC))
    assert _record(store, one, datetime.now(UTC)) is RecordOutcome.RECORDED
    assert _record(store, one, datetime.now(UTC)) is RecordOutcome.ALREADY_RECORDED  # a retried Record
    assert _record(store, two, datetime.now(UTC)) is RecordOutcome.NOT_CHARGED
    assert _record(store, two, datetime.now(UTC)) is RecordOutcome.ALREADY_RECORDED
    fees = {n: store.fee(store.fee_partition("default", f"{now:%Y-%m}", n), n) for n in ("n-one", "n-two")}
    assert {n: int(f.fee_minor) for n, f in fees.items() if f is not None} == {"n-one": 10, "n-two": 0}


def test_a_record_whose_clear_landed_but_fee_did_not_is_finished_charged_once(
    stores: tuple[NotifyStore, DynamoCallStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Record dies after the clear (the fee put fails once): the retry recognises its clear and charges once."""
    store, calls = stores
    subscriber, now = "+447911300003", datetime.now(UTC)
    assert calls.put_call_once(_call(subscriber, "c1", now - timedelta(minutes=3)))
    _, notice = _notice_and_fee(store, subscriber, "n-crash", datetime.now(UTC))
    fee_class = type(store.new_fee(fee_partition="x", notification_id="x"))
    original_save = fee_class.save

    def dies(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        raise ConnectionError("Record's container died after the clear")

    monkeypatch.setattr(fee_class, "save", dies)
    with pytest.raises(ConnectionError):
        _record(store, notice, datetime.now(UTC))
    monkeypatch.setattr(fee_class, "save", original_save)
    assert store.pending_calls(subscriber) == []  # cleared by the first attempt
    assert _record(store, notice, datetime.now(UTC)) is RecordOutcome.RECORDED  # charged, by the retry
    fee = store.fee(store.fee_partition("default", f"{now:%Y-%m}", "n-crash"), "n-crash")
    assert fee is not None and int(fee.fee_minor) == 10
