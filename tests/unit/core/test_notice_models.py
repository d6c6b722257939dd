"""The notify flow's, the receiver's and the flash calls' models (msgspec): the rules they keep and
their JSON round trips (through the state machine, the receiver's spool, the origination queue)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mcn_core.models.base import ValidationError
from mcn_core.models.clearing import ClearingPlan, ClearMark
from mcn_core.models.errors import describe_validation_error
from mcn_core.models.inbound import MoEvent, ReceiptEvent, inbound_event
from mcn_core.models.notice import (
    DeferredNotice,
    MessageProgress,
    Notice,
    NotifyRequest,
    OutgoingSms,
    SendProgress,
)
from mcn_core.models.origination import FlashCallOutcome, FlashCallOutcomeEvent, FlashCallRequest
from mcn_core.models.outcomes import BatchResult, EventResult, Outcome

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def _through_json(data: dict[str, Any]) -> Any:
    """What the state machine (or a queue) hands back: the JSON text read again."""
    return json.loads(json.dumps(data))


def _reason(model: Any, data: Any) -> str:
    with pytest.raises(ValidationError) as caught:
        model.from_data(data)
    return describe_validation_error(caught.value)


def test_a_notice_comes_back_from_the_state_machine_as_it_went_in() -> None:
    mark = ClearMark(seq=3, before=NOW - timedelta(days=1), refs=frozenset({"1|a", "2|b"}), recent=("n0", "n1!"))
    sms = OutgoingSms(index=0, destination="+447911123456", source="MCN", text="hi", encoding="gsm7", segments=1)
    notice = Notice(
        notification_id="n2",
        subscriber="+447911123456",
        action="send",
        send_at=NOW,
        messages=[sms],
        call_refs=["a"],
        clearing=ClearingPlan(mark=mark, listed=["3|a"], listed_at=NOW),
    )
    data = _through_json(notice.to_data())
    assert data["clearing"]["mark"]["before"] == "2026-11-28T12:00:00Z"
    assert Notice.from_data(data) == notice
    # the machine adds its own keys (send, record, error): a task reads the notice and ignores them
    assert Notice.from_data({**data, "send": {"status": "done"}, "error": {"Error": "x"}}) == notice


def test_send_progress_part_numbers_come_back_as_numbers() -> None:
    progress = SendProgress(
        attempt=1,
        messages=[MessageProgress(index=0, outcome="accepted", part_total=2, accepted_parts={2: "m2", 1: "m1"})],
    )
    data = _through_json(progress.to_data())
    assert data["messages"][0]["accepted_parts"] == {"2": "m2", "1": "m1"}  # JSON object keys are text
    again = SendProgress.from_data(data)
    assert again == progress and again.messages[0].accepted_parts == {1: "m1", 2: "m2"}
    assert again.message_ids == ["m1", "m2"]  # in part order


def test_a_notify_request_ignores_the_machines_other_keys_and_checks_its_own() -> None:
    request = NotifyRequest.from_data({"notification_id": "n1", "subscriber": "+44", "resumed": "true", "x": 1})
    assert request.resumed is True and request.attach_time is None
    assert _reason(NotifyRequest, {"notification_id": "n1", "subscriber": "4"}).startswith("subscriber: ")
    assert _reason(NotifyRequest, {"subscriber": "+44"}) == "notification_id: Field required"


def test_a_deferred_notice_needs_its_end_of_quiet_hours_or_a_delay() -> None:
    base = {"notification_id": "n1", "subscriber": "+447911123456", "resume_state_machine_arn": "arn:aws:states:x"}
    assert DeferredNotice.from_data({**base, "send_at": "2026-11-29T22:00:00Z"}).delay_s is None
    assert DeferredNotice.from_data({**base, "delay_s": 30}).send_at is None
    assert "give send_at (quiet hours) or delay_s (SMSC capacity)" in _reason(DeferredNotice, base)
    assert _reason(DeferredNotice, {**base, "delay_s": 0}).startswith("delay_s: ")
    assert _reason(DeferredNotice, {**base, "delay_s": 3601}).startswith("delay_s: ")


def _request(**changes: Any) -> dict[str, Any]:
    return {
        "request_id": "n1#1",
        "notification_id": "n1",
        "subscriber": "+447911123456",
        "caller": "+447912000111",
        "requested_at": "2026-11-29T12:00:00Z",
        "not_after": "2026-11-29T12:02:00+00:00",
    } | changes


def test_a_flash_call_request_keeps_the_published_schema() -> None:
    request = FlashCallRequest.from_data(_request())
    assert request.tenant == "default" and request.not_after == NOW + timedelta(minutes=2)
    assert FlashCallRequest.from_data(json.loads(request.to_json())) == request
    assert _reason(FlashCallRequest, _request(caller="")).startswith("caller: ")  # a withheld caller
    assert _reason(FlashCallRequest, _request(subscriber="447911123456")).startswith("subscriber: ")
    assert _reason(FlashCallRequest, _request(request_id="n1 #1")).startswith("request_id: ")
    assert _reason(FlashCallRequest, _request(tenant="")).startswith("tenant: ")
    assert _reason(FlashCallRequest, _request(extra=1)) == "extra: unknown field"
    assert _reason(FlashCallRequest, _request(not_after="2026-11-29T12:02:00")) == (
        "not_after: timestamp must carry a UTC offset (e.g. 2026-11-29T10:15:00Z)"
    )
    assert "requested_at: timestamp out of range" in _reason(
        FlashCallRequest, _request(requested_at="0001-01-01T00:00:00+14:00")
    )


def test_a_flash_call_outcome_keeps_its_ranges() -> None:
    event = {"request_id": "n1#1", "notification_id": "n1", "outcome": "busy", "released_at": "2026-11-29T12:00:09Z"}
    parsed = FlashCallOutcomeEvent.from_data(event | {"cause": 17, "cic": 4095})
    assert (parsed.kind, parsed.outcome, parsed.cause) == ("flash_call_outcome", FlashCallOutcome.BUSY, 17)
    assert parsed.to_data()["outcome"] == "busy" and parsed.to_data()["kind"] == "flash_call_outcome"
    assert _reason(FlashCallOutcomeEvent, event | {"cause": 128}).startswith("cause: ")
    assert _reason(FlashCallOutcomeEvent, event | {"cic": 4096}).startswith("cic: ")
    assert _reason(FlashCallOutcomeEvent, event | {"reason": "x" * 201}).startswith("reason: ")
    assert _reason(FlashCallOutcomeEvent, event | {"outcome": "rang"}).startswith("outcome: ")
    assert _reason(FlashCallOutcomeEvent, event | {"kind": "receipt"}).startswith("kind: ")


RECEIPT = {"kind": "receipt", "message_id": "m1", "state": " delivrd ", "received_at": "2026-11-29T12:00:00Z"}
MO = {
    "kind": "mo",
    "source": "447911123456",
    "destination": "62226",
    "text": "STOP",
    "received_at": "2026-11-29T12:00:00Z",
    "message_ref": "20261129T120000.000001Z-abc",
}


def test_an_inbound_event_is_picked_by_its_kind_and_newer_fields_are_ignored() -> None:
    receipt = inbound_event(RECEIPT | {"added_by_a_newer_receiver": 1})
    assert isinstance(receipt, ReceiptEvent) and receipt.kind == "receipt"
    assert receipt.state == "DELIVRD" and receipt.is_final  # normalised, and final by its state
    assert inbound_event(RECEIPT | {"state": "ENROUTE"}).is_final is False  # type: ignore[union-attr]
    assert inbound_event(RECEIPT | {"state": "ENROUTE", "final": True}).is_final is True  # type: ignore[union-attr]
    mo = inbound_event(MO | {"tlvs": {}})
    assert isinstance(mo, MoEvent) and mo.kind == "mo"
    for event in (receipt, mo):
        data = _through_json(event.to_data())
        assert data["kind"] == event.kind and inbound_event(data) == event


@pytest.mark.parametrize(
    ("event", "where"),
    [
        ({**RECEIPT, "kind": "report"}, "kind: "),
        ({key: value for key, value in RECEIPT.items() if key != "kind"}, "kind: Field required"),
        ({**RECEIPT, "state": "GONE"}, "state: unknown receipt state 'GONE'"),
        ({**RECEIPT, "message_id": ""}, "message_id: "),
        ({**RECEIPT, "error_code": "x" * 17}, "error_code: "),
        ({**RECEIPT, "received_at": "2026-11-29T12:00:00"}, "received_at: timestamp must carry a UTC offset"),
        ({**MO, "source": "44"}, "source: "),
        ({**MO, "text": "x" * 1601}, "text: "),
        ({**MO, "message_ref": "has space"}, "message_ref: "),
    ],
)
def test_a_bad_inbound_event_is_refused_naming_the_field(event: dict[str, Any], where: str) -> None:
    with pytest.raises(ValidationError) as caught:
        inbound_event(event)
    assert where in describe_validation_error(caught.value)


def test_a_receipt_built_by_the_code_is_checked_and_normalised_too() -> None:
    receipt = ReceiptEvent(message_id="m1", state="undeliv", received_at=NOW)
    assert receipt.state == "UNDELIV" and receipt.is_final
    with pytest.raises(ValueError, match="unknown receipt state"):
        ReceiptEvent(message_id="m1", state="nope", received_at=NOW)
    with pytest.raises(ValueError, match="received_at: timestamp must carry a UTC offset"):
        MoEvent(source="447911123456", destination="62226", text="", received_at=datetime(2026, 1, 1), message_ref="r")


def test_a_batch_result_answers_every_outcome() -> None:
    batch = BatchResult(
        results=[
            EventResult(index=0, call_ref="a", outcome=Outcome.ACCEPTED),
            EventResult(index=1, outcome=Outcome.REJECTED, reason="invalid event: call_ref: Field required"),
        ]
    )
    assert _through_json(batch.response()) == {
        "results": [
            {"index": 0, "call_ref": "a", "outcome": "accepted", "reason": None},
            {"index": 1, "call_ref": None, "outcome": "rejected", "reason": "invalid event: call_ref: Field required"},
        ],
        "counts": {"accepted": 1, "duplicate": 0, "suppressed": 0, "rejected": 1},
    }


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None)
@given(
    base=st.sampled_from([RECEIPT, MO]),
    changes=st.dictionaries(st.sampled_from(sorted({*RECEIPT, *MO, "final", "handset", "data_coding"})), JSON),
)
def test_any_inbound_json_is_an_event_or_a_located_refusal(base: dict[str, Any], changes: dict[str, Any]) -> None:
    try:
        event = inbound_event(base | changes)
    except ValidationError as exc:
        assert describe_validation_error(exc)  # a sentence, never another exception
        return
    assert inbound_event(_through_json(event.to_data())) == event
