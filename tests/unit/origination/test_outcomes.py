"""Flash-call outcomes onto the fee record: counted once per request id, fee per call that alerted."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mcn_core.logic.finance import FeeRow, GroupBy, aggregate
from mcn_core.logic.origination import (
    FlashCallFee,
    OutcomeChange,
    apply_outcome,
    handle_outcome_batch,
    outcome_change,
)
from mcn_core.models.origination import FlashCallOutcome, FlashCallOutcomeEvent

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


class MemoryStore:
    """The FlashCallStore contract in memory (the DynamoDB one is tested on the embedded AWS)."""

    def __init__(self, **records: FlashCallFee) -> None:
        self.records = dict(records)
        self.counters: dict[str, dict[str, int]] = {k: {} for k in records}
        self.entries: dict[str, set[str]] = {k: set() for k in records}
        self.interfere: int = 0  # the next N updates find the record changed (a concurrent receipt)

    def flash_call_fee(self, tenant: str, notification_id: str) -> FlashCallFee | None:
        return self.records.get(notification_id)

    def record_flash_call_outcome(self, fee: FlashCallFee, change: OutcomeChange, now: datetime) -> bool:
        current = self.records[fee.notification_id]
        if self.interfere:
            self.interfere -= 1
            return False
        if change.request_id in current.reported or (change.new_status and current.status != fee.status):
            return False
        counters = self.counters[fee.notification_id]
        for name in ("placed", "alerted", "fee_minor"):
            counters[name] = counters.get(name, 0) + getattr(change, name)
        self.entries[fee.notification_id].add(change.entry)
        self.records[fee.notification_id] = replace(
            current, reported=current.reported | {change.request_id}, status=change.new_status or current.status
        )
        return True


def fee(notification_id: str = "n-1", messages: int = 1, per_call: int = 4, status: str = "submitted") -> FlashCallFee:
    return FlashCallFee(notification_id, status, messages, per_call, frozenset())


def outcome(n: int, kind: FlashCallOutcome, notification_id: str = "n-1", **extra: Any) -> dict[str, Any]:
    placed = None if kind is FlashCallOutcome.EXPIRED else NOW.isoformat()
    return {
        "kind": "flash_call_outcome",
        "request_id": f"{notification_id}#{n}",
        "notification_id": notification_id,
        "outcome": kind.value,
        "placed_at": placed,
        "released_at": (NOW + timedelta(seconds=5)).isoformat(),
        **extra,
    }


def test_alerted_and_answered_calls_are_charged_others_are_not() -> None:
    store = MemoryStore(**{"n-1": fee()})
    events = [
        outcome(1, FlashCallOutcome.ALERTED_RELEASED, cause=16),
        outcome(2, FlashCallOutcome.ANSWERED_RELEASED, cause=16),
        outcome(3, FlashCallOutcome.BUSY, cause=17),
        outcome(4, FlashCallOutcome.ABSENT, cause=20),
        outcome(5, FlashCallOutcome.NO_ANSWER),
        outcome(6, FlashCallOutcome.EXPIRED),
        outcome(7, FlashCallOutcome.FAILED, cause=34, placed_at=None, reason="no free circuit"),
    ]
    batch = handle_outcome_batch(events, store=store, now=NOW)
    assert batch.counts == {"applied": 7, "duplicate": 0, "unknown": 0, "rejected": 0}
    # placed: every IAM sent (not the expired request, not the one that found no circuit)
    assert store.counters["n-1"] == {"placed": 5, "alerted": 2, "fee_minor": 8}
    assert "n-1#3 busy 17" in store.entries["n-1"] and "n-1#5 no_answer -" in store.entries["n-1"]


def test_a_redelivered_outcome_never_counts_twice() -> None:
    store = MemoryStore(**{"n-1": fee()})
    events = [outcome(1, FlashCallOutcome.ALERTED_RELEASED), outcome(2, FlashCallOutcome.BUSY)]
    handle_outcome_batch(events, store=store, now=NOW)
    again = handle_outcome_batch([*events, events[0]], store=store, now=NOW)
    assert again.counts["duplicate"] == 3
    assert store.counters["n-1"] == {"placed": 2, "alerted": 1, "fee_minor": 4}


def test_a_call_only_notice_is_delivered_when_a_call_rang() -> None:
    store = MemoryStore(**{"n-1": fee(messages=0)})
    handle_outcome_batch([outcome(1, FlashCallOutcome.BUSY)], store=store, now=NOW)
    assert store.records["n-1"].status == "submitted"
    handle_outcome_batch([outcome(2, FlashCallOutcome.ALERTED_RELEASED)], store=store, now=NOW)
    assert store.records["n-1"].status == "delivered"
    with_sms = fee(messages=1)
    assert (
        outcome_change(
            FlashCallOutcomeEvent.from_data(outcome(1, FlashCallOutcome.ALERTED_RELEASED)), with_sms
        ).new_status
        is None
    )


def test_unknown_notices_and_bad_events_are_final_and_do_not_stop_the_batch() -> None:
    store = MemoryStore(**{"n-1": fee()})
    batch = handle_outcome_batch(
        [
            outcome(1, FlashCallOutcome.ALERTED_RELEASED, notification_id="n-404"),
            {"kind": "flash_call_outcome", "request_id": "n-1#2"},
            "not an object",
            outcome(3, FlashCallOutcome.ALERTED_RELEASED, outcome="ringing"),
            outcome(4, FlashCallOutcome.ALERTED_RELEASED),
        ],
        store=store,
        now=NOW,
    )
    assert [r.outcome for r in batch.results] == ["unknown", "rejected", "rejected", "rejected", "applied"]
    response = batch.response()
    assert response["counts"] == {"applied": 1, "duplicate": 0, "unknown": 1, "rejected": 3}
    assert "outcome" in (response["results"][3]["reason"] or "")


def test_a_record_changed_meanwhile_is_read_again() -> None:
    store = MemoryStore(**{"n-1": fee()})
    store.interfere = 2
    result = apply_outcome(FlashCallOutcomeEvent.from_data(outcome(1, FlashCallOutcome.ALERTED_RELEASED)), store, NOW)
    assert result.outcome == "applied" and store.counters["n-1"]["fee_minor"] == 4
    store.interfere = 99
    with pytest.raises(RuntimeError, match="kept changing"):
        apply_outcome(FlashCallOutcomeEvent.from_data(outcome(2, FlashCallOutcome.BUSY)), store, NOW)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 6), st.sampled_from(list(FlashCallOutcome))), max_size=30))
def test_any_delivery_order_with_repeats_counts_each_request_once(deliveries: list) -> None:
    store = MemoryStore(**{"n-1": fee(per_call=7)})
    for number, kind in deliveries:
        handle_outcome_batch([outcome(number, kind)], store=store, now=NOW)
    first: dict[int, FlashCallOutcome] = {}
    for number, kind in deliveries:
        first.setdefault(number, kind)  # the first report of a request id is the one that counts
    alerted = sum(
        1 for kind in first.values() if kind in (FlashCallOutcome.ALERTED_RELEASED, FlashCallOutcome.ANSWERED_RELEASED)
    )
    assert store.counters["n-1"].get("alerted", 0) == alerted
    assert store.counters["n-1"].get("fee_minor", 0) == 7 * alerted
    assert store.records["n-1"].reported == {f"n-1#{n}" for n in first}


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=4), st.integers(), st.none()),
        max_size=5,
    )
)
def test_arbitrary_payloads_are_rejected_never_raised(events: list) -> None:
    batch = handle_outcome_batch(events, store=MemoryStore(), now=NOW)
    assert [r.outcome for r in batch.results] == ["rejected"] * len(events)


# ---------------------------------------------------------------- finance
def row(notification_id: str, status: str, charge_on: str, fee_minor: int, call_fee_minor: int) -> FeeRow:
    return FeeRow(
        notification_id=notification_id,
        subscriber="+447911123456",
        period="2026-11",
        created_at="2026-11-29T12:00:00.000+00:00",
        calls_listed=2,
        callers_listed=2,
        messages=0,
        segments=0,
        fee_minor=fee_minor,
        currency="GBP",
        tariff_id="t",
        charge_on=charge_on,
        status=status,
        calls_placed=2,
        calls_alerted=call_fee_minor // 3,
        call_fee_minor=call_fee_minor,
    )


def test_call_fees_are_charged_whatever_the_sms_did_and_reconcile() -> None:
    rows = [
        row("a", "submitted", "submit", 10, 6),  # 10 + 2 calls x 3
        row("b", "submitted", "delivery", 10, 3),  # SMS fee waits for a receipt; the call that rang is billed
        row("c", "expired", "submit", 10, 3),  # the SMS expired, the call reached the handset
    ]
    assert [r.charged_minor for r in rows] == [16, 3, 3]
    report = aggregate(rows, "2026-11", GroupBy.STATUS)
    (totals,) = report.totals.sorted()
    assert (totals.call_fee_minor, totals.calls_placed, totals.calls_alerted, totals.charged_minor) == (12, 6, 4, 22)
    assert totals.to_dict()["charged"] == "0.22"


def test_a_fractional_call_fee_is_refused() -> None:
    from mcn_core.logic.finance import FinanceError

    with pytest.raises(FinanceError, match="call_fee_minor"):
        row("a", "submitted", "submit", 10, 6).__class__(
            **{**row("a", "submitted", "submit", 10, 6).__dict__, "call_fee_minor": 1.5}
        )
