"""Batches spooled events to their targets (mcn_edge.targets), one worker per event kind.

A batch leaves the spool only when the target acknowledged it. Per-event 'rejected' outcomes are
final: logged and counted, not retried. Transport errors and FunctionError keep the batch spooled
and retry with backoff.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from mcn_core.numbers import mask

from .metrics import EdgeMetrics
from .spool import Spool, SpooledEvent
from .targets import Target, TransientForwardError

log = logging.getLogger("mcn_edge.forwarder")


# An attach must not overtake the missed calls spooled before it.
DEFAULT_ORDER: dict[str, tuple[str, ...]] = {"attach": ("missed_call",)}


class Forwarder:
    """One worker thread per event kind: size- and time-bounded batches, in spool order."""

    def __init__(
        self,
        spool: Spool,
        targets: dict[str, Target],
        metrics: EdgeMetrics,
        batch_size: int = 50,
        batch_max_wait_s: float = 0.5,
        retry_initial_s: float = 0.5,
        retry_max_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        ordered_after: dict[str, tuple[str, ...]] | None = None,
    ) -> None:
        self.spool = spool
        self.targets = targets
        self.metrics = metrics
        self.batch_size = batch_size
        self.batch_max_wait_s = batch_max_wait_s
        self.retry_initial_s = retry_initial_s
        self.retry_max_s = retry_max_s
        self._clock = clock
        # kind -> kinds whose earlier events must be forwarded first. An attach forwarded before the
        # missed calls spooled ahead of it (an outage, a slow batch) would find nothing pending, and
        # those calls would wait for the next attach, perhaps until they expire.
        self.ordered_after = {
            kind: tuple(d for d in deps if d in targets)
            for kind, deps in (ordered_after if ordered_after is not None else DEFAULT_ORDER).items()
            if kind in targets
        }
        self._wakeups = {kind: threading.Event() for kind in targets}
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self.last_success: dict[str, float] = {}
        for kind in targets:
            self.metrics.spool_depth.labels(kind).set(spool.depth(kind))

    def start(self) -> None:
        for kind in self.targets:
            thread = threading.Thread(target=self._run, args=(kind,), name=f"forward-{kind}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        for event in self._wakeups.values():
            event.set()
        for thread in self._threads:
            thread.join(timeout)

    def notify(self, kind: str) -> None:
        """Called after events of `kind` were spooled."""
        self.metrics.spool_depth.labels(kind).set(self.spool.depth(kind))
        wakeup = self._wakeups.get(kind)
        if wakeup is not None:
            wakeup.set()

    def _eligible(self, kind: str, batch: list[SpooledEvent]) -> list[SpooledEvent]:
        """The leading events of `batch` spooled after every waiting event of the kinds it follows."""
        barriers = [self.spool.oldest_id(dep) for dep in self.ordered_after.get(kind, ())]
        barrier = min((b for b in barriers if b is not None), default=None)
        return batch if barrier is None else [item for item in batch if item.id < barrier]

    def _peek(self, kind: str) -> list[SpooledEvent]:
        return self._eligible(kind, self.spool.peek(kind, self.batch_size))

    def _run(self, kind: str) -> None:
        wakeup = self._wakeups[kind]
        backoff = self.retry_initial_s
        while not self._stopping.is_set():
            batch = self._peek(kind)
            if not batch:
                wakeup.wait(1.0)
                wakeup.clear()
                continue
            if len(batch) < self.batch_size:
                # time bound: give the batch up to batch_max_wait_s to fill
                deadline = self._clock() + self.batch_max_wait_s
                # wait on the in-memory depth (O(1)); read and decode the rows once, when the batch goes
                while self.spool.depth(kind) < self.batch_size and not self._stopping.is_set():
                    remaining = deadline - self._clock()
                    if remaining <= 0:
                        break
                    wakeup.wait(remaining)
                    wakeup.clear()
                batch = self._peek(kind)
            if self.forward_once(kind, batch):
                backoff = self.retry_initial_s
            else:
                self._stopping.wait(backoff)
                backoff = min(backoff * 2, self.retry_max_s)

    def forward_once(self, kind: str, batch: list[SpooledEvent]) -> bool:
        target = self.targets[kind]
        started = time.perf_counter()
        try:
            results = target.send([item.body for item in batch])
        except TransientForwardError as exc:
            self.metrics.forward_failures.labels(target.name).inc()
            log.warning("forwarding %d %s events failed, kept in the spool: %s", len(batch), kind, exc)
            return False
        self.metrics.forward_latency.labels(target.name).observe(time.perf_counter() - started)
        for result in results:
            outcome = str(result.get("outcome", "accepted"))
            self.metrics.forward_outcomes.labels(target.name, outcome).inc()
            if outcome == "rejected":
                index = result.get("index")
                body = batch[index].body if isinstance(index, int) and 0 <= index < len(batch) else {}
                log.error(
                    "%s event rejected by %s (final): %s (subscriber %s, ref %s)",
                    kind,
                    target.name,
                    result.get("reason"),
                    mask(body.get("subscriber")),
                    result.get("call_ref") or body.get("call_ref") or body.get("event_ref"),
                )
        self.spool.remove([item.id for item in batch])
        self.metrics.spool_depth.labels(kind).set(self.spool.depth(kind))
        self.last_success[kind] = time.time()
        for follower, deps in self.ordered_after.items():
            if kind in deps:
                self._wakeups[follower].set()  # events held behind these may go now
        return True

    def drain(self, timeout_s: float) -> bool:
        """Forward synchronously until the spool is empty or the timeout passes (replay, shutdown)."""
        deadline = time.monotonic() + timeout_s
        backoff = self.retry_initial_s
        while time.monotonic() < deadline:
            pending = False
            for kind in self.targets:
                pending = pending or self.spool.depth(kind) > 0
                batch = self._peek(kind)
                if batch and not self.forward_once(kind, batch):
                    time.sleep(min(backoff, max(0.0, deadline - time.monotonic())))
                    backoff = min(backoff * 2, self.retry_max_s)
            if not pending:
                return True
        return self.spool.depth() == 0
