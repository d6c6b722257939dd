"""Batches spooled events to their targets (mcn_edge.targets): per event kind, up to `in_flight`
batches at once, each sized under the function's event cap and Lambda's payload limit.

A batch leaves the spool only when the target acknowledged it. Per-event 'rejected' outcomes are
final: logged and counted, not retried. Transport errors keep the batch spooled and retry it with
backoff. A FunctionError (the function ran and failed) may be caused by one event of the batch
(a poison event), so the batch is bisected: its halves are sent in order, down to single events;
an event that still fails alone after `poison_attempts` tries, while the function acknowledges
other events, is parked in the spool's dead letters (with the error, a metric and a log line) and
the rest flows on. Parked events are listed, retried or purged with the services' `parked` command.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mcn_core.numbers import mask

from .metrics import EdgeMetrics
from .spool import Spool, SpooledEvent, encode_body
from .targets import FunctionFailedError, Target, TransientForwardError
from .wakeup import Wakeup

log = logging.getLogger("mcn_edge.forwarder")


# An attach must not overtake the missed calls spooled before it.
DEFAULT_ORDER: dict[str, tuple[str, ...]] = {"attach": ("missed_call",)}

#: Lambda's synchronous request limit is 6 MB (6,291,456 bytes); a batch's JSON stays well under it
DEFAULT_MAX_BATCH_BYTES = 5_000_000


@dataclass
class _Failure:
    """A single event's FunctionError history (in memory: a restart only counts again)."""

    attempts: int = 0
    first_at: float = field(default_factory=time.monotonic)
    error: str = ""


class Forwarder:
    """Per event kind, `in_flight` worker threads: size- and time-bounded batches, in spool order."""

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
        *,
        in_flight: int | dict[str, int] = 1,
        max_batch_bytes: int = DEFAULT_MAX_BATCH_BYTES,
        poison_attempts: int = 3,
        order_key: dict[str, Callable[[dict[str, Any]], object]] | None = None,
    ) -> None:
        self.spool = spool
        self.targets = targets
        self.metrics = metrics
        self.batch_size = batch_size
        self.batch_max_wait_s = batch_max_wait_s
        self.retry_initial_s = retry_initial_s
        self.retry_max_s = retry_max_s
        self.max_batch_bytes = max_batch_bytes
        self.poison_attempts = poison_attempts
        self._clock = clock
        # kind -> kinds whose earlier events must be forwarded first. An attach forwarded before the
        # missed calls spooled ahead of it (an outage, a slow batch) would find nothing pending, and
        # those calls would wait for the next attach, perhaps until they expire. Batches in flight
        # are still spooled, so they hold the barrier until acknowledged.
        self.ordered_after = {
            kind: tuple(d for d in deps if d in targets)
            for kind, deps in (ordered_after if ordered_after is not None else DEFAULT_ORDER).items()
            if kind in targets
        }
        self.in_flight = {
            kind: max(1, in_flight.get(kind, 1) if isinstance(in_flight, dict) else in_flight) for kind in targets
        }
        # kind -> the key whose order must hold among that kind's events (e.g. an MO's subscriber):
        # a probe past a failing event never takes an event with the same key
        self.order_key = order_key or {}
        self._wakeups = {kind: Wakeup() for kind in targets}  # set after commits: no futex under the GIL
        # the spool depth a worker filling a batch waits for: smaller depths do not wake it (a wake-up
        # per group commit costs the committing thread a notify and the worker a GIL round trip)
        self._wake_at = dict.fromkeys(targets, 0)
        self._claim_locks = {kind: threading.Lock() for kind in targets}
        self._claimed_up_to = dict.fromkeys(targets, 0)
        self._last_ack = dict.fromkeys(targets, float("-inf"))
        self._failures: dict[int, _Failure] = {}
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self.last_success: dict[str, float] = {}
        # the depth gauge of each kind, bound once: it is set after every group commit
        self._depth_gauges = {kind: self.metrics.spool_depth.labels(kind) for kind in targets}
        for kind in targets:
            self._depth_gauges[kind].set(spool.depth(kind))
        self.metrics.dead_letters.set(spool.parked_count())

    def start(self) -> None:
        for kind in self.targets:
            for n in range(self.in_flight[kind]):
                thread = threading.Thread(target=self._run, args=(kind,), name=f"forward-{kind}-{n}", daemon=True)
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
        depth = self.spool.depth(kind)
        gauge = self._depth_gauges.get(kind)
        (gauge or self.metrics.spool_depth.labels(kind)).set(depth)
        wakeup = self._wakeups.get(kind)
        if wakeup is not None and depth >= self._wake_at[kind]:
            wakeup.set()

    # -- choosing a batch ----------------------------------------------------------------------
    def _eligible(self, kind: str, batch: list[SpooledEvent]) -> list[SpooledEvent]:
        """The leading events of `batch` spooled after every waiting event of the kinds it follows."""
        if not batch:
            return batch
        barriers = [self.spool.oldest_id(dep) for dep in self.ordered_after.get(kind, ())]
        barrier = min((b for b in barriers if b is not None), default=None)
        return batch if barrier is None else [item for item in batch if item.id < barrier]

    def _sized(self, batch: list[SpooledEvent]) -> list[SpooledEvent]:
        """The leading events of `batch` whose JSON fits in `max_batch_bytes` (at least one)."""
        total = len('{"events": []}')
        for n, item in enumerate(batch):
            total += len((item.json or encode_body(item.body)).encode()) + 2  # bytes: the JSON keeps UTF-8
            if total > self.max_batch_bytes and n > 0:
                return batch[:n]
        return batch

    def _peek(self, kind: str, after_id: int = 0, limit: int | None = None) -> list[SpooledEvent]:
        peeked = self.spool.peek(kind, limit or self.batch_size, after_id=after_id)
        return self._sized(self._eligible(kind, peeked))

    def _claim(self, kind: str) -> list[SpooledEvent]:
        """The next batch no other worker of this kind holds; waits for events, and up to
        batch_max_wait_s for a batch to fill. [] when stopping."""
        wakeup = self._wakeups[kind]
        with self._claim_locks[kind]:
            while not self._stopping.is_set():
                batch = self._peek(kind, self._claimed_up_to[kind])
                if not batch:
                    wakeup.wait(1.0)
                    wakeup.clear()
                    continue
                if len(batch) < self.batch_size:
                    deadline = self._clock() + self.batch_max_wait_s
                    # Wait on the in-memory depth (O(1)) and read the rows again only once enough arrived
                    # to fill the batch, or at the deadline: not a read and decode per wake-up.
                    wanted = self._wake_at[kind] = self.spool.depth(kind) + self.batch_size - len(batch)
                    while not self._stopping.is_set():
                        remaining = deadline - self._clock()
                        if remaining <= 0 or self.spool.depth(kind) >= wanted:
                            break
                        wakeup.wait(remaining)
                        wakeup.clear()
                    self._wake_at[kind] = 0
                    fuller = self._peek(kind, self._claimed_up_to[kind])
                    if len(fuller) > len(batch):  # it may be held by the byte limit or the ordering barrier
                        batch = fuller
                self._claimed_up_to[kind] = batch[-1].id
                if self.in_flight[kind] > 1:
                    wakeup.set()  # another worker may take the next batch at once
                return batch
        return []

    def _run(self, kind: str) -> None:
        while not self._stopping.is_set():
            batch = self._claim(kind)
            if batch:
                self._resolve(kind, batch, self._stopping)

    # -- sending a batch until every event is acknowledged or parked ------------------------------
    def _resolve(self, kind: str, batch: list[SpooledEvent], stop: threading.Event) -> bool:
        """Send `batch` (bisecting on FunctionError) until each event was acknowledged or parked;
        False if stopped first (what is left stays spooled)."""
        pending = list(batch)
        size = len(pending)
        backoff = self.retry_initial_s
        while pending:
            if stop.is_set():
                return False
            part = pending[:size]
            if len(part) == 1 and len((part[0].json or encode_body(part[0].body)).encode()) > self.max_batch_bytes:
                # no invocation can ever take it
                self._park(kind, part[0], f"event larger than the {self.max_batch_bytes}-byte batch limit", 0)
                pending.pop(0)
                size = len(pending)
                continue
            try:
                self._send(kind, part)
            except FunctionFailedError as exc:
                if len(part) > 1:
                    for item in part:  # an acknowledgement from now on shows the function works
                        self._failures.setdefault(item.id, _Failure(error=str(exc)))
                    size = max(1, len(part) // 2)
                    self.metrics.forward_splits.labels(self.targets[kind].name).inc()
                    log.warning(
                        "%s batch of %d failed in the function (%s); sending it in halves to isolate the cause",
                        kind,
                        len(part),
                        exc,
                    )
                    continue
                if self._poisoned(kind, part[0], str(exc), pending):
                    pending.pop(0)
                    size = len(pending)
                    backoff = self.retry_initial_s
                    continue
            except TransientForwardError:
                pass
            else:
                del pending[: len(part)]
                backoff = self.retry_initial_s
                continue
            stop.wait(backoff)
            backoff = min(backoff * 2, self.retry_max_s)
        return True

    def _send(self, kind: str, batch: list[SpooledEvent]) -> None:
        """One invocation; returns when acknowledged (rows removed in one transaction)."""
        target = self.targets[kind]
        started = time.perf_counter()
        try:
            send_encoded = getattr(target, "send_encoded", None)
            if send_encoded is not None and all(item.json for item in batch):
                results = send_encoded([item.json for item in batch])  # as spooled: no second encode
            else:
                results = target.send([item.body for item in batch])
        except TransientForwardError as exc:
            self.metrics.forward_failures.labels(target.name).inc()
            log.warning("forwarding %d %s events failed, kept in the spool: %s", len(batch), kind, exc)
            raise
        self.metrics.forward_latency.labels(target.name).observe(time.perf_counter() - started)
        outcomes: dict[str, int] = {}
        for result in results:
            outcome = str(result.get("outcome", "accepted"))
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
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
        for outcome, count in outcomes.items():  # one metric update per outcome, not per event
            self.metrics.forward_outcomes.labels(target.name, outcome).inc(count)
        self.spool.remove([item.id for item in batch])
        for item in batch:
            self._failures.pop(item.id, None)
        self._last_ack[kind] = time.monotonic()
        self._depth_gauges[kind].set(self.spool.depth(kind))
        self.last_success[kind] = time.time()
        for follower, deps in self.ordered_after.items():
            # events held behind these may go now; a follower with none spooled (in memory: this gateway
            # spooled none) is not woken for nothing: its once-a-second look finds any another process put back
            if kind in deps and self.spool.depth(follower) > 0:
                self._wakeups[follower].set()

    def _poisoned(self, kind: str, item: SpooledEvent, error: str, pending: list[SpooledEvent]) -> bool:
        """Count a FunctionError of `item` sent alone; park it (True) once it failed poison_attempts
        times while the function acknowledges other events — otherwise the function is failing for
        everything (an outage, a bad deploy) and nothing is parked."""
        failure = self._failures.setdefault(item.id, _Failure())
        failure.attempts += 1
        failure.error = error
        if failure.attempts < self.poison_attempts:
            return False
        if self._last_ack[kind] <= failure.first_at and not self._probe(kind, item, pending):
            log.error(
                "%s event %d fails alone in the function (%s) and so does the next one: the function is failing "
                "for every event, nothing parked",
                kind,
                item.id,
                error,
            )
            return False
        self._park(kind, item, error, failure.attempts)
        return True

    def _park(self, kind: str, item: SpooledEvent, error: str, attempts: int) -> None:
        if self.spool.park(item.id, error):
            self.metrics.parked.labels(kind).inc()
            self.metrics.dead_letters.set(self.spool.parked_count())
            body = item.body
            log.error(
                "%s event parked in the dead letters after %d failure(s) in %s: %s "
                "(subscriber %s, ref %s, spool id %d)",
                kind,
                attempts,
                self.targets[kind].name,
                error,
                mask(body.get("subscriber") or body.get("source")),
                body.get("call_ref") or body.get("event_ref") or body.get("message_id") or "-",
                item.id,
            )
        self._failures.pop(item.id, None)

    def _probe(self, kind: str, item: SpooledEvent, pending: list[SpooledEvent]) -> bool:
        """Send the next event (not ordered behind `item`) alone: does the function work for it?"""
        key = self.order_key.get(kind)
        candidates = pending[1:]
        if not candidates:
            with self._claim_locks[kind]:
                candidates = self._peek(kind, max(self._claimed_up_to[kind], item.id), limit=max(self.batch_size, 50))
                if candidates:
                    self._claimed_up_to[kind] = max(self._claimed_up_to[kind], candidates[-1].id)
                    pending.extend(candidates)  # claimed: this worker forwards them next
        for candidate in candidates:
            if key is not None and key(candidate.body) == key(item.body):
                continue
            try:
                self._send(kind, [candidate])
            except TransientForwardError:
                return False
            pending.remove(candidate)
            return True
        return False

    # -- synchronous use (replay, shutdown, tests) -------------------------------------------------
    def forward_once(self, kind: str, batch: list[SpooledEvent]) -> bool:
        """Send one batch once: True if acknowledged (it left the spool), False if kept."""
        try:
            self._send(kind, batch)
        except TransientForwardError:
            return False
        return True

    def drain(self, timeout_s: float) -> bool:
        """Forward synchronously until the spool is empty or the timeout passes (replay, shutdown)."""
        deadline = time.monotonic() + timeout_s
        expired = threading.Event()
        timer = threading.Timer(timeout_s, expired.set)
        timer.daemon = True
        timer.start()
        try:
            while time.monotonic() < deadline:
                pending = False
                for kind in self.targets:
                    pending = pending or self.spool.depth(kind) > 0
                    batch = self._peek(kind)
                    if batch and not self._resolve(kind, batch, expired):
                        break
                if not pending:
                    return True
        finally:
            timer.cancel()
        return self.spool.depth() == 0
