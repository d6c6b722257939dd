"""One bad event never sinks a batch (issue 11): any JSON, any field value, against the domain logic.

For ingest and attach, with in-memory stores: no exception escapes, exactly one outcome per
event in input order, and nothing is stored (or started) for a rejected event.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

import pytest
from batch_strategies import attach, batches, missed_call, waiting_call
from hypothesis import HealthCheck, given, settings

from mcn_core.logic.attach import AttachOutcome, handle_attach
from mcn_core.logic.ingest import ingest_batch
from mcn_core.models.calls import StoredCall, SubscriberPolicy
from mcn_core.models.notice import SubscriberProfile
from mcn_core.models.outcomes import Outcome
from mcn_core.settings import IngestSettings

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
SETTINGS = IngestSettings(missed_calls_table="calls", subscribers_table="subs", retention_hours=72, default_region="GB")
PROPERTIES = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


class CallStore:
    def __init__(self) -> None:
        self.items: dict[tuple[str, str], StoredCall] = {}

    def subscriber_policies(self, msisdns: Iterable[str]) -> dict[str, SubscriberPolicy]:
        return {}

    def put_calls_once(self, calls: list[StoredCall]) -> list[bool | Exception]:
        return [self.put_call_once(call) for call in calls]

    def put_call_once(self, call: StoredCall) -> bool:
        StoredCall.from_data(call.to_data())  # what reaches the store is a valid item
        if (call.subscriber, call.call_ref) in self.items:
            return False
        self.items[(call.subscriber, call.call_ref)] = call
        return True


class AttachStore:
    def __init__(self) -> None:
        self.locked: set[str] = set()
        self.started: list[str] = []

    def unnotified_calls(self, subscriber: str, now: datetime) -> list[StoredCall]:
        return [waiting_call(subscriber, now)]

    def acquire_lock(
        self, subscriber: str, notification_id: str, until: datetime, now: datetime
    ) -> SubscriberProfile | None:
        if subscriber in self.locked:
            return None
        self.locked.add(subscriber)
        return SubscriberProfile(msisdn=subscriber, notify_lock=notification_id)

    def release_lock(self, subscriber: str, notification_id: str) -> bool:
        self.locked.discard(subscriber)
        return True

    def start(self, notification_id: str, request: dict) -> None:
        self.started.append(notification_id)


def test_the_year_9999_with_an_offset_is_rejected_and_its_neighbour_stored() -> None:
    good = {"call_ref": "ok", "subscriber": "07911123456", "call_time": "2026-11-29T11:55:00Z", "msc": "m"}
    bad = {**good, "call_ref": "bad", "call_time": "9999-12-31T23:59:59+14:00"}
    store = CallStore()
    batch = ingest_batch([bad, good], settings=SETTINGS, store=store, now=NOW)
    assert [r.outcome for r in batch.results] == [Outcome.REJECTED, Outcome.ACCEPTED]
    assert batch.results[0].reason == "call_time is in the future"
    assert [ref for _, ref in store.items] == ["ok"]


@PROPERTIES
@given(batches(missed_call(NOW)))
def test_ingest_gives_every_event_one_outcome_and_stores_only_accepted_ones(events: list) -> None:
    store = CallStore()
    batch = ingest_batch(events, settings=SETTINGS, store=store, now=NOW)
    assert [r.index for r in batch.results] == list(range(len(events)))
    accepted = [r for r in batch.results if r.outcome is Outcome.ACCEPTED]
    assert len(store.items) == len(accepted)
    assert {ref for _, ref in store.items} == {r.call_ref for r in accepted}
    for result in batch.results:
        if result.outcome is Outcome.REJECTED:
            assert result.reason and result.reason.strip()


@PROPERTIES
@given(batches(attach(NOW)))
def test_attach_gives_every_event_one_outcome_and_starts_nothing_for_a_rejected_one(events: list) -> None:
    store = AttachStore()
    results = [
        handle_attach(raw, index, default_region="GB", store=store, starter=store, now=NOW)
        for index, raw in enumerate(events)
    ]
    assert [r.index for r in results] == list(range(len(events)))
    started = [r for r in results if r.outcome is AttachOutcome.STARTED]
    assert [r.notification_id for r in started] == store.started
    for result in results:
        if result.outcome is AttachOutcome.REJECTED:
            assert result.notification_id is None and result.reason


def test_a_batch_over_the_cap_is_refused_whole_and_one_at_the_cap_is_taken() -> None:
    from mcn_core.models.envelope import MAX_EVENTS_PER_INVOCATION, EnvelopeError, unpack_events

    full = [{"n": n} for n in range(MAX_EVENTS_PER_INVOCATION)]
    assert unpack_events({"events": full}) == full
    with pytest.raises(EnvelopeError, match=f"exceeds the limit of {MAX_EVENTS_PER_INVOCATION}"):
        unpack_events({"events": [*full, {"n": -1}]})
