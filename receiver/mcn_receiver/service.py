"""The receiver service (`mcn-receiver`): the long-lived SMPP bind that takes delivery receipts
and subscribers' keywords.

SMSC --deliver_sm--> [pooled SMPP layer, on_inbound] --> durable spool --> receipts Lambda (batched)

Nothing is lost: each receipt / MO is committed to the SQLite spool (synchronous=FULL) inside
the layer's on_inbound callback, and the layer answers deliver_sm_resp only after the callback
returned; if the spool write fails, the callback raises and the layer answers an error, so the
SMSC redelivers. A spooled event leaves the spool only once the receipts function answered
its batch (mcn_edge.forwarder); receipts and MOs are forwarded by separate workers, so a
batch that must be retried (e.g. a receipt that overtook its fee record) never holds up
keywords. The function is idempotent, so a resent batch changes nothing twice.

Configuration: mcn_receiver.config; the command: mcn_receiver.cli.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

from mcn_core.models.base import ValidationError
from mcn_core.models.errors import describe_validation_error
from mcn_core.numbers import mask
from mcn_edge.forwarder import Forwarder
from mcn_edge.httpserver import HttpServerThread
from mcn_edge.spool import Spool
from mcn_edge.targets import Target, TransientForwardError, make_target

from .config import ReceiverConfig
from .dedup import InboundDedup, inbound_key
from .events import RefClock, mo_event, receipt_event
from .metrics import ReceiverMetrics

log = logging.getLogger("mcn_receiver")

#: spool kinds, each forwarded by its own worker: a slow lane never holds up another
RETRY_KIND = "receipt_retry"
KINDS = ("receipt", "mo", RETRY_KIND)


class RetryLane(Protocol):
    """Where DeferringTarget puts events the function answered "retry" (the receiver's spool)."""

    def wait_or_stop(self, seconds: float) -> bool:
        """Wait up to `seconds`; True if the service is stopping meanwhile."""

    def defer(self, events: list[dict[str, Any]]) -> None:
        """Spool `events` durably in the retry lane (before their batch leaves the spool)."""


class DeferringTarget:
    """Wraps the real target: events answered "retry" go back to the spool in a retry lane.

    A receipt can overtake its fee record (the function does not know its message id yet);
    rather than failing the whole batch (which would hold up every receipt behind it), the
    function answers "retry" for that event alone, and it is re-spooled under RETRY_KIND with
    a due time, before the original batch leaves the spool (so it is never lost). The retry
    lane waits for the due time; the function gives up on it (outcome "unknown") after its
    own grace period.
    """

    def __init__(self, inner: Target, lane: RetryLane, retry_after_s: float) -> None:
        self.inner = inner
        self.name = inner.name
        self.lane = lane
        self.retry_after_s = retry_after_s

    def send(self, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        due = max((float(event.get("retry_at", 0)) for event in events), default=0.0)
        wait = due - time.time()
        if wait > 0 and self.lane.wait_or_stop(wait):
            raise TransientForwardError("receiver stopping: retry kept in the spool")
        results = self.inner.send(events)
        deferred = []
        for result in results:
            index = result.get("index")
            if result.get("outcome") == "retry" and isinstance(index, int) and 0 <= index < len(events):
                event = events[index]
                deferred.append(
                    {
                        **event,
                        "retry_at": time.time() + self.retry_after_s,
                        "attempt": int(event.get("attempt", 0)) + 1,
                    }
                )
        if deferred:
            self.lane.defer(deferred)
        return results


class Receiver:
    """Bind(s) kept up, inbound spooled, spool forwarded. `start()` / `stop()`; usable in-process."""

    def __init__(
        self,
        config: ReceiverConfig,
        smpp: Any,
        *,
        target: Target | None = None,
        pool_factory: Callable[..., Any] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.config = config
        self.smpp = smpp
        self.metrics = ReceiverMetrics()
        self.counts: Counter[str] = Counter()
        self._target = target
        self._pool_factory = pool_factory
        self._refs = RefClock(clock)
        self._clock = clock
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self.spool: Spool | None = None
        self.dedup: InboundDedup | None = None
        self._inbound_lock = threading.Lock()
        self.forwarder: Forwarder | None = None
        self.pool: Any = None
        self.http: HttpServerThread | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> Receiver:
        config = self.config
        if config.http_port is not None:
            # First: a port already taken fails the start before anything binds or forwards.
            self.http = HttpServerThread(config.http_host, config.http_port, self.metrics.render, self.health)
            try:
                self.http.start()
            except OSError:
                self.http.stop()
                self.http = None
                raise
            log.info("/healthz and /metrics on %s:%d", config.http_host, self.http.port)
        self.spool = Spool(config.spool_path)
        if config.dedup_window_s > 0:
            self.dedup = InboundDedup(config.spool_path, config.dedup_window_s)
        inner = self._target or make_target(config.target, config.region, config.endpoint_url, config.forward_timeout_s)
        target = DeferringTarget(inner, self, config.retry_receipt_after_s)
        self.forwarder = Forwarder(
            self.spool,
            dict.fromkeys(KINDS, target),
            self.metrics,
            batch_size=config.batch_size,
            batch_max_wait_s=config.batch_max_wait_s,
            retry_initial_s=config.retry_initial_s,
            retry_max_s=config.retry_max_s,
            in_flight={"receipt": config.in_flight},  # MOs one batch at a time: a subscriber's keywords in order
            max_batch_bytes=config.max_batch_bytes,
            poison_attempts=config.poison_attempts,
            order_key={"mo": lambda body: body.get("source")},
        )
        self.forwarder.start()
        if self.spool.depth():
            log.info("resuming: %d event(s) left in the spool", self.spool.depth())
        if self._pool_factory is None:
            from mcn_smpp import SmppPool

            self._pool_factory = SmppPool
        # Our own pool (not the process-wide get_pool()): a receiver may share a process with
        # senders (tests, the demo) and must never be rebuilt under them.
        self.pool = self._pool_factory(self.smpp, on_inbound=self.on_inbound)
        for name, loop in (("bind-keeper", self._keep_bound), ("receiver-stats", self._log_stats)):
            thread = threading.Thread(target=loop, name=f"mcn-receiver-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        """Unbind first (no new deliver_sm), then forward what is spooled for a while; the rest stays."""
        self._stopping.set()
        if self.pool is not None:
            self.pool.close()
        for thread in self._threads:
            thread.join(timeout=5)
        if self.forwarder is not None:
            self.forwarder.stop()
            if self.config.drain_timeout_s > 0 and self.spool is not None and self.spool.depth():
                self.forwarder.drain(self.config.drain_timeout_s)
        if self.spool is not None:
            left = self.spool.depth()
            if left:
                log.warning("%d event(s) stay in the spool %s; forwarded on the next start", left, self.spool.path)
            self.spool.close()
        if self.dedup is not None:
            self.dedup.close()
        if self.http is not None:
            self.http.stop()

    def __enter__(self) -> Receiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wait_bound(self, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.pool is not None and self.pool.live_binds() >= self.smpp.binds:
                return True
            time.sleep(0.05)
        return False

    # -- inbound -----------------------------------------------------------------------------
    def on_inbound(self, event: Any) -> None:
        """The layer's callback: returns only once the event is durably spooled (then deliver_sm_resp OK)."""
        from mcn_smpp import DeliveryReceipt

        with self._inbound_lock:  # two copies on two binds at once: one is spooled
            self._spool_inbound(event, isinstance(event, DeliveryReceipt))

    def _spool_inbound(self, event: Any, is_receipt: bool) -> None:
        kind = "receipt" if is_receipt else "mo"
        key = inbound_key(event) if self.dedup is not None else None
        if key is not None and self.dedup is not None and self.dedup.seen(key):
            # a resend after a lost deliver_sm_resp: already spooled, answered OK again, not applied twice
            self.counts["duplicates"] += 1
            self.metrics.duplicates.labels(kind).inc()
            if is_receipt:
                log.info("receipt %s %s redelivered by the SMSC: already spooled", event.message_id, event.state)
            else:
                log.info("MO from %s redelivered by the SMSC: already spooled", mask(event.source_addr))
            return
        received_at, message_ref = self._refs.next()
        try:
            body = receipt_event(event, received_at) if is_receipt else mo_event(event, received_at, message_ref)
        except ValidationError as error:
            # the function would reject it as final: say why here, acknowledge (a redelivery would not fix it)
            self.counts["invalid"] += 1
            self.metrics.invalid_events.labels(kind).inc()
            log.error("invalid %s from the SMSC, not forwarded: %s", kind, describe_validation_error(error, root=kind))
            return
        if is_receipt:
            log.info("receipt %s %s spooled", event.message_id or "-", event.state)
        else:
            log.info("MO from %s to %s spooled", mask(event.source_addr), event.destination_addr)
        assert self.spool is not None and self.forwarder is not None
        try:
            self.spool.append([(kind, body.to_data())])
        except Exception:
            self.counts["spool_errors"] += 1
            self.metrics.spool_errors.inc()
            log.exception("cannot spool a %s: refusing it so the SMSC redelivers", kind)
            raise
        if key is not None and self.dedup is not None:
            # after the spool write: a crash in between may let one resend through (at least once), never lose it
            self.dedup.remember(key)
        self.counts[kind] += 1
        self.metrics.events.labels(kind).inc()
        self.forwarder.notify(kind)

    # -- retry lane (DeferringTarget) ------------------------------------------------------
    def wait_or_stop(self, seconds: float) -> bool:
        return self._stopping.wait(seconds)

    def defer(self, events: list[dict[str, Any]]) -> None:
        assert self.spool is not None and self.forwarder is not None
        self.spool.append([(RETRY_KIND, event) for event in events])
        self.counts["deferred"] += len(events)
        self.metrics.deferred.inc(len(events))
        self.forwarder.notify(RETRY_KIND)

    # -- background --------------------------------------------------------------------------
    def _keep_bound(self) -> None:
        backoff = self.config.rebind_initial_s
        while not self._stopping.is_set():
            if self.pool.live_binds() < self.smpp.binds:
                try:
                    self.pool.warm_up()
                    log.info("bound to %s:%d (%d bind(s))", self.smpp.host, self.smpp.port, self.pool.live_binds())
                    backoff = self.config.rebind_initial_s
                except Exception as error:
                    if self._stopping.is_set():
                        return
                    self.counts["bind_failures"] += 1
                    self.metrics.bind_failures.inc()
                    log.warning(
                        "bind to %s:%d failed: %s (retry in %.1fs)", self.smpp.host, self.smpp.port, error, backoff
                    )
                    self._stopping.wait(backoff)
                    backoff = min(backoff * 2, self.config.rebind_max_s)
                    continue
            self.metrics.binds.set(self.pool.live_binds())
            self._stopping.wait(0.2)

    def _log_stats(self) -> None:
        while not self._stopping.wait(self.config.stats_interval_s):
            log.info("status: %s", self.status())

    def health(self) -> tuple[bool, dict[str, Any]]:
        """(healthy, details) for a /healthz probe (mcn_edge.httpserver): bound to the SMSC and spooling."""
        details = self.status()
        return bool(self.pool is not None and details["binds"] >= self.smpp.binds and self.spool is not None), details

    def status(self) -> dict[str, Any]:
        depth: dict[str, int] = {}
        if self.spool is not None and not self._stopping.is_set():
            depth = {kind: self.spool.depth(kind) for kind in KINDS}
        return {
            "binds": self.pool.live_binds() if self.pool is not None else 0,
            "spooled": dict(self.counts),
            "spool_depth": depth,
        }
