"""Receipts -> fee status: single and multi-part notices, unknown ids, duplicates, never backwards."""

from __future__ import annotations

from datetime import timedelta

import pytest
from receipts_factories import NOW, FakeStore, receipt

from mcn_core.logic.receipts import apply_receipt
from mcn_core.models.inbound import ReceiptEvent

GRACE = timedelta(minutes=5)


def run(store: FakeStore, event: ReceiptEvent, now=NOW):
    return apply_receipt(event, store, now=now, unknown_grace=GRACE, default_region="GB")


def test_single_part_delivered() -> None:
    store = FakeStore()
    store.add_notice("n1", ["m1"])
    result = run(store, receipt("m1"))
    assert (result.outcome, result.notification_id, result.status, result.status_changed) == (
        "applied",
        "n1",
        "delivered",
        True,
    )
    assert store.fees["n1"].status == "delivered"


@pytest.mark.parametrize(
    ("state", "status"), [("UNDELIV", "failed"), ("REJECTD", "failed"), ("DELETED", "failed"), ("EXPIRED", "expired")]
)
def test_single_part_final_not_delivered(state: str, status: str) -> None:
    store = FakeStore()
    store.add_notice("n1", ["m1"])
    result = run(store, receipt("m1", state, error_code="027"))
    assert (result.outcome, result.status) == ("applied", status)
    assert result.reason == f"receipt {state} err:027"
    assert store.fees["n1"].status == status


def test_multi_part_delivered_only_when_every_part_is() -> None:
    store = FakeStore()
    store.add_notice("n1", ["m1", "m2", "m3"])
    assert run(store, receipt("m2")).status == "submitted"
    assert run(store, receipt("m1")).status == "submitted"
    assert store.fees["n1"].delivered_parts == {"m1", "m2"}
    last = run(store, receipt("m3"))
    assert (last.status, last.status_changed) == ("delivered", True)


def test_multi_part_fails_when_any_part_fails_and_stays_failed() -> None:
    store = FakeStore()
    store.add_notice("n1", ["m1", "m2"])
    assert run(store, receipt("m1")).status == "submitted"
    assert run(store, receipt("m2", "UNDELIV")).status == "failed"
    store.add_notice("n2", ["m3", "m4"])
    assert run(store, receipt("m3", "EXPIRED")).status == "expired"
    late = run(store, receipt("m4"))  # the other part delivered later: the notice stays expired
    assert (late.outcome, late.status, late.status_changed) == ("applied", "expired", False)
    assert store.fees["n2"].delivered_parts == {"m4"}


def test_duplicate_receipt_changes_nothing() -> None:
    store = FakeStore()
    store.add_notice("n1", ["m1", "m2"])
    run(store, receipt("m1"))
    writes = store.writes
    again = run(store, receipt("m1"))
    assert (again.outcome, again.status) == ("duplicate", "submitted")
    assert store.writes == writes
    # a contradicting duplicate for the same part is still a duplicate (first final receipt wins)
    assert run(store, receipt("m1", "UNDELIV")).outcome == "duplicate"
    assert store.fees["n1"].status == "submitted"


def test_never_moves_backwards() -> None:
    store = FakeStore()
    store.add_notice("n1", ["m1"], status="delivered")
    result = run(store, receipt("m1", "UNDELIV"))
    assert (result.status, result.status_changed) == ("delivered", False)
    store.add_notice("n2", ["m2"], status="failed")  # e.g. recorded failed by the Send step
    assert run(store, receipt("m2")).status == "failed"


def test_unknown_id_is_counted_not_an_error_after_the_grace_period() -> None:
    store = FakeStore()
    old = receipt("zz", received_at=(NOW - timedelta(minutes=6)).isoformat())
    assert run(store, old).outcome == "unknown"


def test_unknown_id_may_be_a_receipt_that_overtook_its_fee_record() -> None:
    store = FakeStore()
    assert run(store, receipt("m1")).outcome == "retry"
    store.add_notice("n1", ["m1"])  # the Record step writes the fee meanwhile; the batch is resent
    assert run(store, receipt("m1")).status == "delivered"


def test_interim_states_change_nothing() -> None:
    store = FakeStore()
    store.add_notice("n1", ["m1"])
    for state in ("ENROUTE", "ACCEPTD", "UNKNOWN"):
        assert run(store, receipt("m1", state)).outcome == "interim"
    assert store.writes == 0
    # the receiver's own final flag wins over the state table
    assert run(store, receipt("m1", "ACCEPTD", final=True)).outcome == "applied"


def test_concurrent_receipts_of_two_parts_both_count() -> None:
    """Two parts' receipts race: the loser re-reads and still completes the notice."""
    store = FakeStore()
    store.add_notice("n1", ["m1", "m2"])
    store.before_write = lambda: run(store, receipt("m2"))  # lands between our read and our write
    result = run(store, receipt("m1"))
    assert (result.outcome, result.status) == ("applied", "delivered")
    assert store.fees["n1"].delivered_parts == {"m1", "m2"}


def test_receipt_event_validation() -> None:
    assert receipt("m1", "delivrd").state == "DELIVRD"
    with pytest.raises(ValueError, match="unknown receipt state"):
        receipt("m1", "SOMETHING")
    with pytest.raises(ValueError):
        receipt("", "DELIVRD")
    with pytest.raises(ValueError, match=r"timezone.*received_at"):
        receipt("m1", received_at="2026-11-29T12:00:00")
    with pytest.raises(ValueError, match="received_at: timestamp out of range"):
        receipt("m1", received_at="0001-01-01T00:00:00+14:00")
    with pytest.raises(ValueError, match="message_id"):
        receipt("m1 with spaces", "DELIVRD")


@pytest.mark.parametrize("handset", ["447911123456", "+447911123456", "07911123456", "00447911123456"])
def test_a_text_receipt_from_the_notices_handset_applies(handset: str) -> None:
    store = FakeStore()
    store.add_notice("n1", ["m1"], subscriber="+447911123456")
    result = run(store, receipt("m1", "UNDELIV", handset=handset, from_text=True))
    assert (result.outcome, result.status) == ("applied", "failed")


@pytest.mark.parametrize("handset", ["447911999999", "62226", "not a number", None])
def test_a_text_receipt_from_another_number_is_refused_and_changes_nothing(handset: str | None) -> None:
    # A subscriber texting "id:0000000001 stat:UNDELIV ..." to the short code: the SMSC delivers
    # it as an MO that looks like a receipt. It must not fail (or un-charge) someone else's notice.
    store = FakeStore()
    store.add_notice("n1", ["m1"], subscriber="+447911123456")
    before = store.fees["n1"]
    result = run(store, receipt("m1", "UNDELIV", handset=handset, from_text=True))
    assert (result.outcome, result.notification_id, result.status) == ("refused", "n1", "submitted")
    assert "text" in (result.reason or "")
    assert store.fees["n1"] == before and store.writes == 0


def test_a_flagged_receipt_is_not_checked_against_the_handset() -> None:
    store = FakeStore()
    store.add_notice("n1", ["m1"], subscriber="+447911123456")
    assert run(store, receipt("m1", handset="447911999999")).outcome == "applied"
