"""Ingest rules, against an in-memory store (the store is not what these tests are about)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import pytest

from mcn_core.logic.ingest import StoreUnavailableError, ingest_batch
from mcn_core.models.calls import StoredCall, SubscriberPolicy
from mcn_core.models.outcomes import Outcome
from mcn_core.settings import IngestSettings

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
SETTINGS = IngestSettings(missed_calls_table="calls", subscribers_table="subs", retention_hours=72, default_region="GB")


class MemoryStore:
    def __init__(self, policies: Iterable[SubscriberPolicy] = (), fail_refs: set[str] | None = None) -> None:
        self.items: dict[tuple[str, str], StoredCall] = {}
        self.policies = {p.msisdn: p for p in policies}
        self.fail_refs = fail_refs or set()
        self.policy_lookups = 0

    def subscriber_policies(self, msisdns: Iterable[str]) -> dict[str, SubscriberPolicy]:
        self.policy_lookups += 1
        return {m: self.policies[m] for m in set(msisdns) if m in self.policies}

    def put_calls_once(self, calls: list[StoredCall]) -> list[bool | Exception]:
        results: list[bool | Exception] = []
        for call in calls:
            try:
                results.append(self.put_call_once(call))
            except Exception as exc:  # as DynamoCallStore: each call's error in its place
                results.append(exc)
        return results

    def put_call_once(self, call: StoredCall) -> bool:
        if call.call_ref in self.fail_refs:
            raise ConnectionError("throttled")
        key = (call.subscriber, call.call_ref)
        if key in self.items:
            return False
        self.items[key] = call
        return True


def event(**overrides: object) -> dict:
    base = {
        "call_ref": "ref-1",
        "subscriber": "07911123456",
        "caller": "+447912000111",
        "presentation": "allowed",
        "call_time": (NOW - timedelta(minutes=5)).isoformat(),
        "reason": "not_reachable",
        "msc": "447953000001",
    }
    base.update(overrides)
    return base


def run(events: list, store: MemoryStore, settings: IngestSettings = SETTINGS):
    return ingest_batch(events, settings=settings, store=store, now=NOW)


def test_accepted_call_is_normalised_and_expires_after_retention() -> None:
    store = MemoryStore()
    result = run([event()], store)
    assert [r.outcome for r in result.results] == [Outcome.ACCEPTED]
    stored = store.items[("+447911123456", "ref-1")]
    assert stored.caller == "+447912000111"
    assert stored.expires_at == NOW - timedelta(minutes=5) + timedelta(hours=72)


def test_same_event_twice_is_one_item_and_a_duplicate() -> None:
    store = MemoryStore()
    result = run([event(), event()], store)
    assert [r.outcome for r in result.results] == [Outcome.ACCEPTED, Outcome.DUPLICATE]
    assert len(store.items) == 1


@pytest.mark.parametrize("presentation", ["restricted", "unavailable"])
def test_withheld_caller_is_never_stored_by_default(presentation: str) -> None:
    store = MemoryStore()
    run([event(presentation=presentation, caller="07912999888")], store)
    stored = next(iter(store.items.values()))
    assert stored.caller is None
    assert stored.withheld_number is None
    assert "07912999888" not in stored.to_json()


def test_withheld_number_kept_only_under_the_lawful_flag() -> None:
    store = MemoryStore()
    settings = SETTINGS.replace(store_withheld_number=True)
    run([event(presentation="restricted", caller="07912999888")], store, settings)
    stored = next(iter(store.items.values()))
    assert stored.caller is None
    assert stored.withheld_number == "07912999888"


def test_allowed_presentation_without_a_number_becomes_unavailable() -> None:
    store = MemoryStore()
    run([event(caller=None)], store)
    assert next(iter(store.items.values())).presentation == "unavailable"


def test_opted_out_subscriber_and_blocked_caller_are_suppressed() -> None:
    store = MemoryStore(
        policies=[
            SubscriberPolicy(msisdn="+447911123456", blocked_callers=frozenset({"+447912000111"})),
            SubscriberPolicy(msisdn="+447911123457", opted_out=True),
        ]
    )
    result = run(
        [
            event(call_ref="a"),
            event(call_ref="b", caller="+447912000222"),
            event(call_ref="c", subscriber="+447911123457"),
        ],
        store,
    )
    outcomes = [(r.call_ref, r.outcome, r.reason) for r in result.results]
    assert outcomes == [
        ("a", Outcome.SUPPRESSED, "caller blocked by subscriber"),
        ("b", Outcome.ACCEPTED, None),
        ("c", Outcome.SUPPRESSED, "subscriber opted out"),
    ]
    assert store.policy_lookups == 1  # one lookup per batch, not per event


@pytest.mark.parametrize(
    ("overrides", "reason_part"),
    [
        ({"subscriber": "12345"}, "invalid subscriber number"),
        ({"caller": "999"}, "invalid caller number"),
        ({"call_time": "2026-11-29T10:00:00"}, "UTC offset"),
        ({"call_time": (NOW - timedelta(hours=73)).isoformat()}, "older than the retention"),
        ({"call_time": (NOW + timedelta(hours=1)).isoformat()}, "in the future"),
        ({"reason": "holiday"}, "reason"),
        ({"extra": 1}, "extra"),
        ({"call_ref": ""}, "call_ref"),
    ],
)
def test_bad_events_are_rejected_with_a_reason_and_others_still_stored(overrides: dict, reason_part: str) -> None:
    store = MemoryStore()
    result = run([event(**{"call_ref": "bad", **overrides}), event(call_ref="good")], store)
    bad, good = result.results
    assert bad.outcome is Outcome.REJECTED
    assert reason_part.lower() in (bad.reason or "").lower()
    assert good.outcome is Outcome.ACCEPTED
    assert list(store.items) == [("+447911123456", "good")]


def test_non_object_event_is_rejected_clearly() -> None:
    result = run(["just text", 42], MemoryStore())
    assert all(r.outcome is Outcome.REJECTED for r in result.results)
    assert "expected a JSON object" in (result.results[0].reason or "")


def test_transient_store_failure_fails_the_batch_after_storing_the_rest() -> None:
    store = MemoryStore(fail_refs={"b"})
    with pytest.raises(StoreUnavailableError) as caught:
        run([event(call_ref="a"), event(call_ref="b"), event(call_ref="c")], store)
    assert {ref for _, ref in store.items} == {"a", "c"}
    assert [r.call_ref for r in caught.value.partial.results] == ["a", "c"]
    # the producer resends the whole batch: the stored ones are duplicates, the failed one lands
    store.fail_refs.clear()
    retry = run([event(call_ref="a"), event(call_ref="b"), event(call_ref="c")], store)
    assert [r.outcome for r in retry.results] == [Outcome.DUPLICATE, Outcome.ACCEPTED, Outcome.DUPLICATE]


def test_each_call_stores_its_subscribers_tenant() -> None:
    from mcn_core.models.config import NotifyConfig
    from mcn_devkit.template import ResolvedTemplate, load_template

    resolved = ResolvedTemplate(load_template(), "unit")
    raw = json.loads(resolved.resolve(resolved.resources["NotifyConfigParameter"]["Properties"])["Value"])
    config = NotifyConfig.model_validate(raw | {"tenants": {"brava": {"ranges": ["+4474001"]}}})
    store = MemoryStore([SubscriberPolicy(msisdn="+447911123457", tenant="brava")])
    events = [
        event(call_ref="r1", subscriber="07400100001"),  # in brava's range
        event(call_ref="r2", subscriber="07911123456"),  # no range: the operator
        event(call_ref="r3", subscriber="07911123457"),  # the subscriber's override
    ]
    ingest_batch(events, settings=SETTINGS, store=store, now=NOW, tenants=config)
    assert [call.tenant for call in store.items.values()] == ["brava", "default", "brava"]
    # without the configuration (unreadable, or not given) only an override is stored
    bare = MemoryStore([SubscriberPolicy(msisdn="+447911123457", tenant="brava")])
    ingest_batch(events, settings=SETTINGS, store=bare, now=NOW)
    assert [call.tenant for call in bare.items.values()] == [None, None, "brava"]
