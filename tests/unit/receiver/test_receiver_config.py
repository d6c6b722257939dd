"""mcn-receiver without an SMSC: configuration errors and precedence, events built from the published
models, the retry lane of DeferringTarget."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from mcn_core.models.inbound import inbound_event
from mcn_receiver.cli import main
from mcn_receiver.config import load_config
from mcn_receiver.events import mo_event, receipt_event
from mcn_receiver.service import DeferringTarget


def test_main_reports_every_configuration_problem(capsys: pytest.CaptureFixture[str], monkeypatch) -> None:
    for name in ("SMPP_HOST", "SMPP_SYSTEM_ID", "MCN_RECEIVER_TARGET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MCN_RECEIVER_BATCH_SIZE", "0")
    assert main(["--target", "s3:bucket"]) == 2
    err = capsys.readouterr().err
    assert "MCN_RECEIVER_TARGET / --target: Value error, must be lambda:" in err
    assert "MCN_RECEIVER_BATCH_SIZE / --batch-size: Input should be greater than or equal to 1" in err
    assert "SMPP_HOST: Field required" in err and "SMPP_SYSTEM_ID: Field required" in err


def test_check_and_precedence(capsys: pytest.CaptureFixture[str], monkeypatch) -> None:
    monkeypatch.setenv("SMPP_HOST", "smsc.example")
    monkeypatch.setenv("SMPP_SYSTEM_ID", "mcn")
    monkeypatch.setenv("MCN_RECEIVER_TARGET", "lambda:from-env")
    monkeypatch.setenv("AWS_REGION", "eu-central-1")
    assert main(["--check", "--target", "lambda:from-args", "--smpp-port", "2776"]) == 0
    assert capsys.readouterr().out.strip() == "configuration OK: SMSC smsc.example:2776 as mcn, target lambda:from-args"
    config, smpp = load_config(None)
    assert (config.target, config.region, smpp.port) == ("lambda:from-env", "eu-central-1", 2775)


RECEIVED = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)


def _receipt(**fields: object) -> SimpleNamespace:
    values = {
        "message_id": "abc123",
        "state": "UNDELIV",
        "is_final": True,
        "error_code": "027",
        "message_state": None,
        "submit_date": "2612011459",
        "done_date": "261201150012",
        "source_addr": "447911123456",
        "from_text": True,
    }
    return SimpleNamespace(**{**values, **fields})


def test_events_are_the_published_models_and_round_trip_through_json() -> None:
    receipt = receipt_event(_receipt(), RECEIVED)
    body = receipt.to_data()
    assert inbound_event(body) == receipt
    assert body["kind"] == "receipt" and body["final"] is True
    assert (body["handset"], body["from_text"]) == ("447911123456", True)  # the function checks who sent it
    assert receipt.done_at == datetime(2026, 12, 1, 15, 0, 12, tzinfo=UTC)
    assert receipt_event(_receipt(done_date="garbage"), RECEIVED).done_at is None
    message = SimpleNamespace(source_addr="447911123456", destination_addr="62226", text="Stop", data_coding=0)
    mo = mo_event(message, RECEIVED, "20261201T150000.000000Z-abc")
    assert inbound_event(mo.to_data()) == mo


def test_a_receipt_the_function_would_reject_is_refused_at_the_edge() -> None:
    with pytest.raises(ValueError, match="message_id"):
        receipt_event(_receipt(message_id=""), RECEIVED)
    with pytest.raises(ValueError, match="unknown receipt state"):
        receipt_event(_receipt(state="BOGUS"), RECEIVED)


class _Lane:
    def __init__(self) -> None:
        self.deferred: list[dict] = []
        self.stopping = threading.Event()

    def wait_or_stop(self, seconds: float) -> bool:
        return self.stopping.wait(seconds)

    def defer(self, events: list[dict]) -> None:
        self.deferred.extend(events)


class _AnswersRetryForEarly:
    name = "lambda:fake"

    def send(self, events: list[dict]) -> list[dict]:
        return [
            {"index": i, "outcome": "retry" if e["message_id"] == "early" else "applied"} for i, e in enumerate(events)
        ]


def test_deferring_target_puts_retry_answers_in_the_lane_through_its_interface() -> None:
    lane = _Lane()
    target = DeferringTarget(_AnswersRetryForEarly(), lane, retry_after_s=30)
    results = target.send([{"message_id": "early"}, {"message_id": "late"}])
    assert [r["outcome"] for r in results] == ["retry", "applied"]
    [deferred] = lane.deferred
    assert deferred["message_id"] == "early" and deferred["attempt"] == 1 and deferred["retry_at"] > 0


def test_a_retry_not_yet_due_stays_spooled_when_the_receiver_stops() -> None:
    from mcn_edge.targets import TransientForwardError

    lane = _Lane()
    lane.stopping.set()
    target = DeferringTarget(_AnswersRetryForEarly(), lane, retry_after_s=30)
    with pytest.raises(TransientForwardError, match="stopping"):
        target.send([{"message_id": "early", "retry_at": 4102444800.0}])
