"""Durable spool and batch forwarding: order, acknowledgement, retries, final rejections."""

from __future__ import annotations

import io
import json
import threading

import pytest

from mcn_edge.forwarder import Forwarder
from mcn_edge.metrics import EdgeMetrics
from mcn_edge.spool import Spool
from mcn_edge.targets import FileTarget, LambdaTarget, TransientForwardError


def _event(i: int) -> dict:
    return {"call_ref": f"ref-{i}", "subscriber": "+447911123456"}


class ScriptedTarget:
    """Fails the first `failures` sends, then answers with the given outcomes."""

    name = "scripted"

    def __init__(self, failures: int = 0, outcome: str = "accepted") -> None:
        self.failures = failures
        self.outcome = outcome
        self.batches: list[list[dict]] = []
        self.delivered = threading.Event()

    def send(self, events: list[dict]) -> list[dict]:
        if self.failures:
            self.failures -= 1
            raise TransientForwardError("target unreachable")
        self.batches.append(events)
        self.delivered.set()
        return [{"index": i, "outcome": self.outcome, "reason": None} for i in range(len(events))]


def test_spool_keeps_order_and_survives_reopening(tmp_path):
    path = tmp_path / "spool.sqlite3"
    spool = Spool(path)
    spool.append([("missed_call", _event(i)) for i in range(5)])
    spool.append([("attach", {"subscriber": "+1"})])
    spool.close()

    reopened = Spool(path)
    assert [e.body["call_ref"] for e in reopened.peek("missed_call", 10)] == [f"ref-{i}" for i in range(5)]
    assert reopened.depth() == 6
    first_two = reopened.peek("missed_call", 2)
    reopened.remove([e.id for e in first_two])
    assert [e.body["call_ref"] for e in reopened.peek("missed_call", 10)] == [f"ref-{i}" for i in range(2, 5)]


def test_batches_are_size_bounded_and_leave_the_spool_only_when_acknowledged(tmp_path):
    spool = Spool(tmp_path / "s.sqlite3")
    spool.append([("missed_call", _event(i)) for i in range(7)])
    target = ScriptedTarget(failures=1)
    forwarder = Forwarder(spool, {"missed_call": target}, EdgeMetrics("mcn_test"), batch_size=3)
    batch = spool.peek("missed_call", 3)
    assert forwarder.forward_once("missed_call", batch) is False
    assert spool.depth() == 7  # transport error: nothing removed
    assert forwarder.drain(timeout_s=30)
    assert [len(b) for b in target.batches] == [3, 3, 1]
    assert [e["call_ref"] for b in target.batches for e in b] == [f"ref-{i}" for i in range(7)]
    assert spool.depth() == 0
    assert forwarder.metrics.value("mcn_test_forward_failures_total", {"target": "scripted"}) == 1


def test_rejected_outcomes_are_final_and_counted(tmp_path, caplog):
    spool = Spool(tmp_path / "s.sqlite3")
    spool.append([("missed_call", _event(1))])
    forwarder = Forwarder(spool, {"missed_call": ScriptedTarget(outcome="rejected")}, EdgeMetrics("mcn_test"))
    assert forwarder.forward_once("missed_call", spool.peek("missed_call", 10))
    assert spool.depth() == 0
    assert (
        forwarder.metrics.value("mcn_test_forward_outcomes_total", {"target": "scripted", "outcome": "rejected"}) == 1
    )
    assert "447911123456" not in caplog.text


def test_worker_thread_forwards_after_notify(tmp_path):
    spool = Spool(tmp_path / "s.sqlite3")
    target = ScriptedTarget()
    forwarder = Forwarder(spool, {"attach": target}, EdgeMetrics("mcn_test"), batch_size=10, batch_max_wait_s=0.05)
    forwarder.start()
    try:
        spool.append([("attach", {"subscriber": "+447911123456"})])
        forwarder.notify("attach")
        assert target.delivered.wait(30)
    finally:
        forwarder.stop()
    assert target.batches == [[{"subscriber": "+447911123456"}]]


def test_file_target_writes_json_lines(tmp_path):
    target = FileTarget(tmp_path / "out" / "events.jsonl")
    assert [r["outcome"] for r in target.send([_event(1), _event(2)])] == ["accepted", "accepted"]
    lines = (tmp_path / "out" / "events.jsonl").read_text().splitlines()
    assert [json.loads(line)["call_ref"] for line in lines] == ["ref-1", "ref-2"]


def test_file_target_unwritable_is_transient(tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    target = FileTarget.__new__(FileTarget)
    target.path, target.name = blocker / "events.jsonl", "file"
    with pytest.raises(TransientForwardError):
        target.send([_event(1)])


class StubLambda:
    def __init__(self, response: dict) -> None:
        self.response = response
        self.calls: list[dict] = []

    def invoke(self, **kwargs):
        self.calls.append(kwargs)
        return {**self.response, "Payload": io.BytesIO(self.response.get("body", b"{}"))}


def test_lambda_target_invokes_request_response_with_events():
    body = json.dumps(
        {
            "results": [{"index": 0, "call_ref": "ref-1", "outcome": "duplicate", "reason": None}],
            "counts": {"duplicate": 1},
        }
    ).encode()
    client = StubLambda({"StatusCode": 200, "body": body})
    results = LambdaTarget(client, "mcn-ingest").send([_event(1)])
    assert results[0]["outcome"] == "duplicate"
    [call] = client.calls
    assert call["FunctionName"] == "mcn-ingest"
    assert call["InvocationType"] == "RequestResponse"
    assert json.loads(call["Payload"]) == {"events": [_event(1)]}


def test_lambda_function_error_keeps_the_batch():
    client = StubLambda({"StatusCode": 200, "FunctionError": "Unhandled", "body": b'{"errorMessage": "boom"}'})
    with pytest.raises(TransientForwardError):
        LambdaTarget(client, "mcn-ingest").send([_event(1)])
