"""An attach is never forwarded before the missed calls spooled ahead of it.

Otherwise, after an outage of the ingest target, the attach would find nothing pending and the
calls would wait for the next attach (perhaps until their TTL).
"""

from __future__ import annotations

import threading
from pathlib import Path

from mcn_edge.forwarder import Forwarder
from mcn_edge.metrics import EdgeMetrics
from mcn_edge.spool import Spool
from mcn_edge.targets import TransientForwardError


class Recording:
    def __init__(self, name: str, log: list[str], failures: int = 0) -> None:
        self.name, self.log, self.failures = name, log, failures
        self.sent = threading.Event()

    def send(self, events: list[dict]) -> list[dict]:
        if self.failures:
            self.failures -= 1
            raise TransientForwardError("target down")
        self.log.extend(f"{self.name}:{e['ref']}" for e in events)
        self.sent.set()
        return [{"index": i, "outcome": "accepted"} for i in range(len(events))]


def test_attach_waits_for_earlier_missed_calls_while_the_ingest_target_is_down(tmp_path: Path) -> None:
    log: list[str] = []
    ingest, attach = Recording("ingest", log, failures=3), Recording("attach", log)
    spool = Spool(tmp_path / "spool.sqlite3")
    forwarder = Forwarder(
        spool,
        {"missed_call": ingest, "attach": attach},
        EdgeMetrics("mcn_test"),
        batch_max_wait_s=0.01,
        retry_initial_s=0.02,
    )
    spool.append([("missed_call", {"ref": "call-1"}), ("missed_call", {"ref": "call-2"})])
    spool.append([("attach", {"ref": "alert-1"})])
    spool.append([("missed_call", {"ref": "call-3"})])  # after the alert: does not hold it back
    forwarder.start()
    try:
        forwarder.notify("missed_call")
        forwarder.notify("attach")
        assert attach.sent.wait(10)
        assert ingest.sent.wait(10)
    finally:
        forwarder.stop()
    assert log.index("attach:alert-1") > log.index("ingest:call-2")


def test_drain_forwards_in_the_same_order(tmp_path: Path) -> None:
    log: list[str] = []
    spool = Spool(tmp_path / "spool.sqlite3")
    spool.append([("attach", {"ref": "alert-0"}), ("missed_call", {"ref": "call-1"}), ("attach", {"ref": "alert-1"})])
    forwarder = Forwarder(
        spool,
        {"attach": Recording("attach", log), "missed_call": Recording("ingest", log, failures=1)},
        EdgeMetrics("mcn_test"),
        retry_initial_s=0.01,
    )
    assert forwarder.drain(timeout_s=10)
    assert log == ["attach:alert-0", "ingest:call-1", "attach:alert-1"]


def test_without_the_ingest_kind_attach_is_not_held(tmp_path: Path) -> None:
    log: list[str] = []
    spool = Spool(tmp_path / "spool.sqlite3")
    spool.append([("missed_call", {"ref": "orphan"}), ("attach", {"ref": "alert"})])
    forwarder = Forwarder(spool, {"attach": Recording("attach", log)}, EdgeMetrics("mcn_test"))
    assert forwarder.ordered_after == {"attach": ()}
    assert forwarder.forward_once("attach", forwarder._peek("attach"))
    assert log == ["attach:alert"]
