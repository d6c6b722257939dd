"""Forwarding into the embedded AWS: spool -> Lambda Invoke API (HTTP) -> ingest -> DynamoDB (moto).

Issue 12 item 2. The gateway's forwarder drains N spooled missed calls into the ingest function on
the embedded AWS, in four set-ups; the first is the baseline in the same run (the previous path:
one batch in flight, ingest's conditional puts one after another).

Printed per set-up: events/s (wall), Lambda duration-ms per event (what Lambda bills), Lambda
CPU-ms per event (the handler thread plus its put threads, not moto's), and ratios against the
baseline. The embedded AWS's local runtime runs one invocation at a time (the environment is
process-wide), so batches in flight overlap only the forwarder's side (HTTP, JSON, spool) with the
function; in AWS, where invocations run in parallel, the gain from in_flight is larger.
Run: .venv/bin/python benchmarks/edge_forwarding.py [events]
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from mcn_core.dal.calls import DynamoCallStore
from mcn_devkit.embedded import EmbeddedStack
from mcn_edge.forwarder import Forwarder
from mcn_edge.metrics import EdgeMetrics
from mcn_edge.spool import Spool
from mcn_edge.targets import LambdaTarget, make_lambda_client

EVENTS = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
SETUPS = [
    # (label, batches in flight, ingest WRITE_CONCURRENCY)
    ("baseline: 1 in flight, puts one by one", 1, 1),
    ("4 in flight, puts one by one", 4, 1),
    ("1 in flight, 16 puts in flight", 1, 16),
    ("4 in flight, 16 puts in flight", 4, 16),
]


class LambdaCpu:
    """CPU time of the ingest handler's thread plus the put threads it hands writes to."""

    def __init__(self) -> None:
        self.cpu_s = 0.0
        self.duration_s = 0.0
        self._lock = threading.Lock()
        self._handler_threads: set[int] = set()

    def wrap_handler(self, handler):
        def timed(event, context):
            self._handler_threads.add(threading.get_ident())
            cpu, wall = time.thread_time(), time.perf_counter()
            try:
                return handler(event, context)
            finally:
                with self._lock:
                    self.cpu_s += time.thread_time() - cpu
                    self.duration_s += time.perf_counter() - wall

        return timed

    def wrap_put(self, put):
        def timed(store, call):
            if threading.get_ident() in self._handler_threads:
                return put(store, call)  # already counted in the handler's thread time
            cpu = time.thread_time()
            try:
                return put(store, call)
            finally:
                with self._lock:
                    self.cpu_s += time.thread_time() - cpu

        return timed


def events(prefix: str, count: int) -> list[tuple[str, dict]]:
    now = datetime.now(UTC)
    return [
        (
            "missed_call",
            {
                "call_ref": f"{prefix}-{i}",
                "subscriber": f"+4479111{i % 500:05d}",
                "caller": "+447912000111",
                "presentation": "allowed",
                "call_time": (now - timedelta(seconds=i % 600)).isoformat(),
                "reason": "not_reachable",
                "msc": "447953000001",
            },
        )
        for i in range(count)
    ]


def run(stack: EmbeddedStack, cpu: LambdaCpu, label: str, in_flight: int, write_concurrency: int, n: int) -> dict:
    assert stack.runtime is not None
    function = stack.runtime.lookup(stack.function_name("IngestFunction"))
    function.environment["WRITE_CONCURRENCY"] = str(write_concurrency)
    with tempfile.TemporaryDirectory() as workdir:
        spool = Spool(Path(workdir) / "spool.sqlite3")
        spool.append(events(f"{in_flight}-{write_concurrency}-{time.time_ns()}", n))
        client = make_lambda_client(stack.region, stack.lambda_endpoint, 60)
        metrics = EdgeMetrics("bench")
        forwarder = Forwarder(
            spool,
            {"missed_call": LambdaTarget(client, stack.function_name("IngestFunction"))},
            metrics,
            batch_size=100,
            batch_max_wait_s=0.01,
            in_flight=in_flight,
        )
        cpu.cpu_s = cpu.duration_s = 0.0
        started = time.perf_counter()
        forwarder.start()
        while spool.depth():
            if time.perf_counter() - started > 600:
                raise SystemExit(f"{label}: not drained in 600 s (forward failures: {metrics.render()[-600:]!r})")
            time.sleep(0.01)
        elapsed = time.perf_counter() - started
        forwarder.stop()
        target_name = forwarder.targets["missed_call"].name
        accepted = metrics.value("bench_forward_outcomes_total", {"target": target_name, "outcome": "accepted"})
        spool.close()
    assert accepted == n, f"{label}: {accepted} of {n} accepted"
    return {
        "label": label,
        "events_s": n / elapsed,
        "duration_ms": cpu.duration_s * 1000 / n,
        "cpu_ms": cpu.cpu_s * 1000 / n,
    }


def main() -> None:
    logging.disable(logging.WARNING)
    cpu = LambdaCpu()
    DynamoCallStore._put_or_error = cpu.wrap_put(DynamoCallStore._put_or_error)  # type: ignore[method-assign]
    with EmbeddedStack(parameters={"LogLevel": "WARNING"}) as stack:
        assert stack.runtime is not None
        function = stack.runtime.lookup(stack.function_name("IngestFunction"))
        real = function.entry_point()
        import types

        function._module = types.SimpleNamespace(lambda_handler=cpu.wrap_handler(real))
        os.environ.update(stack.env)  # the forwarder's credentials for the embedded AWS
        run(stack, cpu, "warm-up", 1, 1, 100)
        results = [run(stack, cpu, label, k, w, EVENTS) for label, k, w in SETUPS]
    base = results[0]
    print(f"forwarding {EVENTS} missed calls into the embedded AWS (batches of 100)")
    ratio = f"{'x base':>7}"
    print(f"{'set-up':42} {'events/s':>9} {ratio} {'dur ms/ev':>10} {ratio} {'CPU ms/ev':>10} {ratio}")
    for r in results:
        print(
            f"{r['label']:42} {r['events_s']:9.0f} {r['events_s'] / base['events_s']:7.2f} "
            f"{r['duration_ms']:10.2f} {r['duration_ms'] / base['duration_ms']:7.2f} "
            f"{r['cpu_ms']:10.2f} {r['cpu_ms'] / base['cpu_ms']:7.2f}"
        )


if __name__ == "__main__":
    main()
