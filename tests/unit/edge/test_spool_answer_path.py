"""What the gateway's answer path needs from the spool and the forwarder: the depth read never waits
for another thread's commit, the filling worker is not woken by every group commit, and a batch is
sent as spooled (no second JSON encode) with the same bytes on the wire or in the file."""

from __future__ import annotations

import json
import threading

from mcn_edge.forwarder import Forwarder
from mcn_edge.metrics import EdgeMetrics
from mcn_edge.spool import Spool, encode_body
from mcn_edge.targets import FileTarget, LambdaTarget

BODIES = [{"call_ref": f"r{i}", "subscriber": "+447700900123", "caller": None, "n": i} for i in range(7)]


def test_depth_is_read_while_another_thread_commits(tmp_path):
    spool = Spool(tmp_path / "s.sqlite3")
    spool.append([("missed_call", body) for body in BODIES])
    read = threading.Event()
    with spool._lock:  # as a forwarder's remove holds it across its commit and fsync
        reader = threading.Thread(target=lambda: (spool.depth("missed_call"), read.set()), daemon=True)
        reader.start()
        assert read.wait(30), "depth() waited for the commit lock"
    assert spool.depth("missed_call") == len(BODIES)


def test_peek_gives_each_event_as_spooled(tmp_path):
    spool = Spool(tmp_path / "s.sqlite3")
    spool.append([("missed_call", body) for body in BODIES])
    for event, body in zip(spool.peek("missed_call", 100), BODIES, strict=True):
        assert event.body == body
        assert event.json == encode_body(body)
        assert json.loads(event.json) == body


def test_file_target_writes_the_same_lines_from_bodies_or_spooled_json(tmp_path):
    from_bodies, from_json = FileTarget(tmp_path / "a.jsonl"), FileTarget(tmp_path / "b.jsonl")
    assert from_bodies.send(BODIES) == from_json.send_encoded([encode_body(b) for b in BODIES])
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()


class _RecordingLambda:
    """Records the invoke payloads (the boto3 client's interface); the function answers nothing."""

    def __init__(self) -> None:
        self.payloads: list[bytes] = []

    def invoke(self, **kwargs):
        self.payloads.append(kwargs["Payload"])

        class _Body:
            @staticmethod
            def read() -> bytes:
                return b"{}"

        return {"StatusCode": 200, "Payload": _Body()}


def test_lambda_target_sends_the_same_document_from_bodies_or_spooled_json():
    client = _RecordingLambda()
    target = LambdaTarget(client, "ingest")
    first = target.send(BODIES)
    second = target.send_encoded([encode_body(b) for b in BODIES])
    assert first == second
    assert json.loads(client.payloads[0]) == json.loads(client.payloads[1]) == {"events": BODIES}
    assert len(client.payloads[0]) == len(client.payloads[1])  # what the batch byte limit counts


def test_the_forwarder_sends_batches_as_spooled(tmp_path):
    spool = Spool(tmp_path / "s.sqlite3")
    spool.append([("missed_call", body) for body in BODIES])
    target = FileTarget(tmp_path / "out.jsonl")
    encoded_calls = []
    send_encoded = target.send_encoded
    target.send_encoded = lambda events: encoded_calls.append(len(events)) or send_encoded(events)  # type: ignore[method-assign]
    forwarder = Forwarder(spool, {"missed_call": target}, EdgeMetrics("mcn_test"))
    assert forwarder.drain(30)
    assert encoded_calls == [len(BODIES)]
    lines = (tmp_path / "out.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == BODIES


def test_a_group_commit_below_the_batch_wanted_does_not_wake_the_filling_worker(tmp_path):
    spool = Spool(tmp_path / "s.sqlite3")
    forwarder = Forwarder(
        spool, {"missed_call": FileTarget(tmp_path / "out.jsonl")}, EdgeMetrics("mcn_test"), batch_size=50
    )
    wakeup = forwarder._wakeups["missed_call"]
    forwarder._wake_at["missed_call"] = 10  # a worker holds 3 events and waits for 7 more
    spool.append([("missed_call", body) for body in BODIES[:3]])
    forwarder.notify("missed_call")
    assert not wakeup.is_set()
    spool.append([("missed_call", {"n": i}) for i in range(7)])
    forwarder.notify("missed_call")
    assert wakeup.is_set()
