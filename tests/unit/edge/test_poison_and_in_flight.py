"""A poison event is isolated (batch bisected), parked with its error, and the rest flows; an outage
parks nothing; several batches in flight per kind keep the attach-after-calls barrier."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from mcn_edge.forwarder import Forwarder
from mcn_edge.metrics import EdgeMetrics
from mcn_edge.spool import Spool
from mcn_edge.targets import FunctionFailedError


class Function:
    """Fails (FunctionError) any batch holding a poison ref, or every batch while `down`."""

    def __init__(self, name: str = "ingest", poison: frozenset[str] = frozenset(), delay_s: float = 0.0) -> None:
        self.name = name
        self.poison = poison
        self.down = False
        self.delay_s = delay_s
        self.invocations: list[list[str]] = []
        self.acknowledged: list[str] = []
        self.lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0

    def send(self, events: list[dict]) -> list[dict]:
        refs = [e["ref"] for e in events]
        with self.lock:
            self.invocations.append(refs)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            time.sleep(self.delay_s)
            if self.down or self.poison & set(refs):
                raise FunctionFailedError(f"{self.name}: FunctionError Unhandled: KeyError")
            with self.lock:
                self.acknowledged.extend(refs)
            return [{"index": i, "outcome": "accepted"} for i in range(len(events))]
        finally:
            with self.lock:
                self.in_flight -= 1


def _wait_for(condition, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return False


def test_a_poison_event_is_bisected_out_parked_and_the_rest_flows(tmp_path: Path, caplog) -> None:
    spool = Spool(tmp_path / "spool.sqlite3")
    function = Function(poison=frozenset({"call-13"}))
    metrics = EdgeMetrics("mcn_test")
    forwarder = Forwarder(spool, {"missed_call": function}, metrics, batch_size=20, retry_initial_s=0.001)
    spool.append([("missed_call", {"ref": f"call-{i}", "subscriber": "+447911123456"}) for i in range(30)])
    with caplog.at_level(logging.ERROR):
        assert forwarder.drain(timeout_s=30)
    assert sorted(function.acknowledged) == sorted(f"call-{i}" for i in range(30) if i != 13)
    assert function.acknowledged == [f"call-{i}" for i in range(30) if i != 13]  # spool order kept
    [parked] = spool.parked()
    assert parked.body["ref"] == "call-13" and "FunctionError" in parked.error
    assert metrics.value("mcn_test_parked_events_total", {"kind": "missed_call"}) == 1
    assert metrics.value("mcn_test_dead_letters") == 1
    assert metrics.value("mcn_test_forward_splits_total", {"target": "ingest"}) >= 4
    assert "parked in the dead letters" in caplog.text and "447911123456" not in caplog.text
    # single-event invocations only around the poison: at most log2(20) + attempts + a few
    assert len(function.invocations) < 20


def test_parked_events_survive_a_restart_and_can_be_retried_or_purged(tmp_path: Path) -> None:
    path = tmp_path / "spool.sqlite3"
    spool = Spool(path)
    function = Function(poison=frozenset({"bad"}))
    spool.append([("missed_call", {"ref": r}) for r in ("ok-1", "bad", "ok-2", "bad-too")])
    function.poison = frozenset({"bad", "bad-too"})
    forwarder = Forwarder(spool, {"missed_call": function}, EdgeMetrics("mcn_test"), retry_initial_s=0.001)
    assert forwarder.drain(timeout_s=30)
    spool.close()

    reopened = Spool(path)
    assert [p.body["ref"] for p in reopened.parked()] == ["bad", "bad-too"]
    bad, bad_too = reopened.parked()
    function.poison = frozenset()  # fixed function deployed
    [new_id] = reopened.unpark([bad.id])
    assert new_id > bad_too.id and reopened.depth("missed_call") == 1
    assert Forwarder(reopened, {"missed_call": function}, EdgeMetrics("mcn_test")).drain(timeout_s=30)
    assert function.acknowledged[-1] == "bad"
    assert reopened.purge_parked([bad_too.id]) == 1
    assert reopened.parked() == [] and reopened.depth() == 0


def test_a_function_failing_for_everything_parks_nothing(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.sqlite3")
    function = Function()
    function.down = True
    spool.append([("missed_call", {"ref": f"call-{i}"}) for i in range(6)])
    forwarder = Forwarder(
        spool, {"missed_call": function}, EdgeMetrics("mcn_test"), retry_initial_s=0.001, retry_max_s=0.01
    )
    assert not forwarder.drain(timeout_s=1.0)
    assert spool.parked() == [] and spool.depth() == 6
    function.down = False
    assert forwarder.drain(timeout_s=30)
    assert sorted(function.acknowledged) == sorted(f"call-{i}" for i in range(6))


def test_a_lone_poison_event_is_parked_once_the_next_event_goes_through(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.sqlite3")
    function = Function(poison=frozenset({"bad"}))
    spool.append([("mo", {"ref": "bad", "source": "A"}), ("mo", {"ref": "a-2", "source": "A"})])
    spool.append([("mo", {"ref": "b-1", "source": "B"})])
    forwarder = Forwarder(
        spool,
        {"mo": function},
        EdgeMetrics("mcn_test"),
        batch_size=1,
        retry_initial_s=0.001,
        order_key={"mo": lambda body: body["source"]},
    )
    assert forwarder.drain(timeout_s=30)
    # the probe skipped A's later MO (per-subscriber order) and went through with B's
    assert function.acknowledged == ["b-1", "a-2"]
    assert [p.body["ref"] for p in spool.parked()] == ["bad"]


def test_an_event_larger_than_the_payload_limit_is_parked_without_an_invocation(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.sqlite3")
    function = Function()
    spool.append([("missed_call", {"ref": "huge", "pad": "x" * 2000}), ("missed_call", {"ref": "small"})])
    assert Forwarder(spool, {"missed_call": function}, EdgeMetrics("mcn_test"), max_batch_bytes=1000).drain(30)
    assert function.invocations == [["small"]]
    assert "larger than" in spool.parked()[0].error


def test_batches_are_cut_under_the_byte_limit(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.sqlite3")
    function = Function()
    spool.append([("missed_call", {"ref": f"c{i}", "pad": "x" * 300}) for i in range(10)])
    assert Forwarder(
        spool, {"missed_call": function}, EdgeMetrics("mcn_test"), batch_size=10, max_batch_bytes=1000
    ).drain(30)
    assert all(len(refs) <= 3 for refs in function.invocations)
    assert function.acknowledged == [f"c{i}" for i in range(10)]


def test_several_batches_in_flight_and_the_attach_still_waits_for_earlier_calls(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.sqlite3")
    ingest = Function("ingest", delay_s=0.05)
    attach = Function("attach")
    order: list[str] = []
    ingest_send, attach_send = ingest.send, attach.send

    def ingest_logged(events):
        results = ingest_send(events)
        order.extend(e["ref"] for e in events)
        return results

    def attach_logged(events):
        order.extend(e["ref"] for e in events)
        return attach_send(events)

    ingest.send, attach.send = ingest_logged, attach_logged  # type: ignore[method-assign]
    forwarder = Forwarder(
        spool,
        {"missed_call": ingest, "attach": attach},
        EdgeMetrics("mcn_test"),
        batch_size=5,
        batch_max_wait_s=0.01,
        in_flight={"missed_call": 4},
    )
    spool.append([("missed_call", {"ref": f"call-{i}"}) for i in range(40)])
    spool.append([("attach", {"ref": "alert"})])
    forwarder.start()
    try:
        forwarder.notify("missed_call")
        forwarder.notify("attach")
        assert _wait_for(lambda: spool.depth() == 0)
    finally:
        forwarder.stop()
    assert ingest.max_in_flight > 1
    assert sorted(ingest.acknowledged) == sorted(f"call-{i}" for i in range(40))
    assert len(ingest.acknowledged) == 40  # no batch sent twice
    assert order.index("alert") > max(order.index(f"call-{i}") for i in range(40))


def test_an_attach_behind_a_poison_call_goes_once_the_call_is_parked_and_after_the_others(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.sqlite3")
    ingest, attach = Function("ingest", poison=frozenset({"call-2"})), Function("attach")
    spool.append([("missed_call", {"ref": f"call-{i}"}) for i in range(5)])
    spool.append([("attach", {"ref": "alert"})])
    forwarder = Forwarder(
        spool, {"missed_call": ingest, "attach": attach}, EdgeMetrics("mcn_test"), retry_initial_s=0.001
    )
    assert forwarder._peek("attach") == []  # held behind the calls
    assert forwarder.drain(timeout_s=30)
    assert attach.acknowledged == ["alert"]
    assert sorted(ingest.acknowledged) == ["call-0", "call-1", "call-3", "call-4"]
    assert [p.body["ref"] for p in spool.parked()] == ["call-2"]
