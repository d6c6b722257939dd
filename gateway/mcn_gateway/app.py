"""The gateway assembled: associations -> signalling processor -> spool -> forwarder, plus HTTP.

In-process use (tests, demo):

    with GatewayThread(config) as gateway:
        port = gateway.association_port("msc")      # server associations bound to port 0 get a real port
        ...
        gateway.metrics.value("mcn_gateway_events_total", {"kind": "missed_call"})
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import sqlite3
import threading
import time
from collections.abc import Iterable
from typing import Any

import msgspec

from mcn_core.models.base import ValidationError
from mcn_core.models.errors import describe_validation_error
from mcn_core.models.events import AttachEvent, MissedCallEvent
from mcn_edge.forwarder import Forwarder
from mcn_edge.httpserver import HttpServer
from mcn_edge.spool import Spool
from mcn_edge.sqs import make_sqs_queue
from mcn_edge.targets import Target, make_target
from mcn_edge.wakeup import HandoffQueue

from .association import AssociationManager, RouteWatch
from .config import GatewayConfig
from .metrics import Metrics
from .mwd import MwdRegistrar
from .origination import KIND_FLASH_CALL_OUTCOME, CircuitError, FlashCallService
from .processor import KIND_ATTACH, KIND_MISSED_CALL, Event, SignallingProcessor
from .protocol.dialogues import TransactionRegistry
from .protocol.m3ua import ProtocolData
from .registrations import MemoryRegistrationStore, make_store

log = logging.getLogger("mcn_gateway")

_SCHEMAS = {KIND_MISSED_CALL: MissedCallEvent, KIND_ATTACH: AttachEvent}
# a group's events of one kind validated in one call (about half the cost of one call per event)
_GROUP_SCHEMAS: dict[str, Any] = {kind: list[model] for kind, model in _SCHEMAS.items()}  # type: ignore[valid-type]


def build_targets(config: GatewayConfig) -> dict[str, Target]:
    forwarding = config.forwarding
    targets = {
        KIND_MISSED_CALL: make_target(
            forwarding.ingest_target, forwarding.region, forwarding.endpoint_url, forwarding.invoke_timeout_s
        ),
        KIND_ATTACH: make_target(
            forwarding.attach_target, forwarding.region, forwarding.endpoint_url, forwarding.invoke_timeout_s
        ),
    }
    if forwarding.outcome_target is not None:
        targets[KIND_FLASH_CALL_OUTCOME] = make_target(
            forwarding.outcome_target, forwarding.region, forwarding.endpoint_url, forwarding.invoke_timeout_s
        )
    return targets


class EventSink:
    """Validates events against the published schema, spools them, wakes the forwarder; then (never
    before the events are durable, never waiting for it) tells the MWD registrar."""

    def __init__(
        self, spool: Spool, forwarder: Forwarder | None, metrics: Metrics, registrar: MwdRegistrar | None = None
    ) -> None:
        self.spool = spool
        self.forwarder = forwarder
        self.metrics = metrics
        self.registrar = registrar

    def accept(self, events: Iterable[Event]) -> int:
        """Spool the valid events durably (and tell the registrar); how many."""
        valid = self.commit(events, sync=True)
        self.durable(valid)
        return len(valid)

    def commit(self, events: Iterable[Event], *, sync: bool) -> list[tuple[str, dict]]:
        """Spool the valid events and wake the forwarder; `sync=False`: committed to the WAL only, durable
        after `spool.sync()` (then call `durable`). The events spooled."""
        events = list(events)
        valid = [(event.kind, event.body) for event in events]
        try:
            for kind, schema in _GROUP_SCHEMAS.items():
                bodies = [body for event_kind, body in valid if event_kind == kind]
                if bodies:
                    msgspec.convert(bodies, schema, strict=False)
            if any(kind not in _GROUP_SCHEMAS for kind, _body in valid):
                raise KeyError("an event of an unknown kind")
        except (ValidationError, KeyError):
            valid = self._valid_one_by_one(events)  # which ones, each logged and counted
        self.spool.append(valid, sync=sync)
        if self.forwarder is not None:
            for kind in {kind for kind, _ in valid}:
                self.forwarder.notify(kind)
        return valid

    def _valid_one_by_one(self, events: list[Event]) -> list[tuple[str, dict]]:
        valid = []
        for event in events:
            try:
                _SCHEMAS[event.kind].from_data(event.body)
            except ValidationError as exc:
                self.metrics.decode_errors.labels("event-schema").inc()
                # the field and the rule only: msgspec's message quotes no value (numbers are personal data)
                log.error(
                    "%s event does not match the schema, not spooled: %s", event.kind, describe_validation_error(exc)
                )
                continue
            valid.append((event.kind, event.body))
        return valid

    def durable(self, valid: list[tuple[str, dict]]) -> None:
        """The events `commit` spooled are durable: the MWD registrar may act on them."""
        if self.registrar is not None:
            for kind, body in valid:  # queue puts: the registrar works on its own thread
                if kind == KIND_MISSED_CALL:
                    self.registrar.missed_call(body["subscriber"])
                elif kind == KIND_ATTACH and body.get("source") == "alertServiceCentre":
                    self.registrar.attached(body["subscriber"])  # readyForSM names an IMSI, not the MSISDN


class SignallingWorker:
    """Handles DATA on one thread with group commit, made durable on a second one.

    pycrate objects are reused between messages, so signalling is handled on a single thread;
    that also keeps the event loop (heartbeats, other associations) free during spool fsyncs.
    A session submits the DATA of one read in one hand-over (one future for all of it); reads
    queued meanwhile are handled together and their events committed in one transaction to the
    spool's WAL, without an fsync. The "spool-sync" thread then fdatasyncs the WAL and only then
    releases the group's answers. While it syncs, this thread decodes and commits the next groups;
    the next sync covers all of them. So an IAM waits for at most the sync in progress and its
    own, and the decoding overlaps the disk's latency instead of following it.
    """

    MAX_GROUP = 256

    def __init__(self, processor: SignallingProcessor, sink: EventSink) -> None:
        self.processor = processor
        self.sink = sink
        # hand-offs that wake the other thread without a system call under the GIL (mcn_edge.wakeup)
        self._queue: HandoffQueue[Any] = HandoffQueue()
        self._committed: HandoffQueue[Any] = HandoffQueue()  # (group, results, events spooled)
        self._thread = threading.Thread(target=self._run, name="signalling", daemon=True)
        self._syncer = threading.Thread(target=self._sync, name="spool-sync", daemon=True)
        self._thread.start()
        self._syncer.start()

    def submit(self, messages: list[tuple[ProtocolData, float]]) -> asyncio.Future:
        """The DATA of one read, (protocol data, receive timestamp) each: a future of each one's answers."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._queue.put((messages, future, loop))
        return future

    def stop(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=10)
        self._committed.put(None)  # after the signalling thread: every committed group is synced first
        self._syncer.join(timeout=10)

    def _run(self) -> None:
        while True:
            items = self._queue.get()
            if items is None:
                return
            group = [items]
            size = len(items[0])
            while size < self.MAX_GROUP:
                try:
                    following = self._queue.get_nowait()
                except IndexError:
                    break
                if following is None:
                    self._queue.put(None)
                    break
                group.append(following)
                size += len(following[0])
            results: list[list[list[ProtocolData]] | BaseException] = []
            events: list[Event] = []
            handle = self.processor.handle
            for messages, _future, _loop in group:
                answers = []
                for data, timestamp in messages:
                    outcome = handle(data, timestamp)  # never raises on bad input
                    if outcome.events:
                        events.extend(outcome.events)
                    answers.append(outcome.replies)
                results.append(answers)
            spooled: list[tuple[str, dict]] = []
            try:
                spooled = self.sink.commit(events, sync=False)  # in the WAL; durable (spool-sync) before any answer
            except Exception as exc:  # disk full, spool unreadable: no answer, the peer retransmits
                log.exception("spool write failed: %s", exc)
                results = [exc] * len(group)
            # every group goes through the sync thread, in order (one without events is not synced)
            self._committed.put((group, results, spooled))

    def _sync(self) -> None:
        while True:
            item = self._committed.get()
            if item is None:
                return
            committed = [item]
            while True:
                try:
                    following = self._committed.get_nowait()
                except IndexError:
                    break
                if following is None:
                    self._committed.put(None)
                    break
                committed.append(following)
            self._release(committed)

    def _release(self, committed: list[tuple[list, list, list[tuple[str, dict]]]]) -> None:
        """Make the committed groups durable (one sync for all), then hand their answers to their loops."""
        failure: BaseException | None = None
        if any(spooled for _group, _results, spooled in committed):
            try:
                self.sink.spool.sync()  # every group taken here was committed before it started
            except Exception as exc:  # the disk failed: no answer, the peer retransmits
                log.exception("spool sync failed: %s", exc)
                failure = exc
        # one wake-up of each event loop per sync, not one per read (each is a write to its self-pipe)
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future, object]]] = {}
        for group, results, spooled in committed:
            if failure is not None and spooled:
                results = [failure] * len(group)
            for (_messages, future, loop), result in zip(group, results, strict=True):
                by_loop.setdefault(loop, []).append((future, result))
        for loop, resolved in by_loop.items():
            with contextlib.suppress(RuntimeError):  # that loop was closed: nobody waits for the answers
                loop.call_soon_threadsafe(_resolve, resolved)
        if failure is None:
            for _group, _results, spooled in committed:
                if spooled:
                    self.sink.durable(spooled)  # after the answers were handed to their loops


def _resolve(resolved: list[tuple[asyncio.Future, object]]) -> None:
    for future, result in resolved:
        if future.done():
            continue
        if isinstance(result, BaseException):
            future.set_exception(result)
        else:
            future.set_result(result)


class Gateway:
    def __init__(
        self, config: GatewayConfig, metrics: Metrics | None = None, targets: dict[str, Target] | None = None
    ) -> None:
        self.config = config
        self.metrics = metrics or Metrics()
        self.spool = Spool(config.forwarding.spool_path)
        self.forwarder = Forwarder(
            self.spool,
            targets if targets is not None else build_targets(config),
            self.metrics,
            batch_size=config.forwarding.batch_size,
            batch_max_wait_s=config.forwarding.batch_max_wait_s,
            retry_initial_s=config.forwarding.retry_initial_s,
            retry_max_s=config.forwarding.retry_max_s,
            in_flight=config.forwarding.in_flight,
            max_batch_bytes=config.forwarding.max_batch_bytes,
            poison_attempts=config.forwarding.poison_attempts,
        )
        self.transactions = TransactionRegistry()
        self.registrar: MwdRegistrar | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        registration = config.registration
        if registration.enabled:
            store = make_store(
                registration.table_name, registration.region, registration.endpoint_url, registration.store_timeout_s
            )
            if isinstance(store, MemoryRegistrationStore):
                log.warning("registration.table_name unset: MWD registrations are not shared between instances")
            self.registrar = MwdRegistrar(
                registration,
                config.signalling.platform_gt,
                config.signalling.point_code,
                self.transactions,
                self._send_map,
                store,
                self.metrics,
            )
        self.sink = EventSink(self.spool, self.forwarder, self.metrics, self.registrar)
        self.origination: FlashCallService | None = None
        self._trunk_route: RouteWatch | None = None
        if config.origination is not None:
            origination = config.origination
            self.origination = FlashCallService(
                origination,
                config.signalling.point_code,
                self.spool,
                self.forwarder.notify,
                self.metrics,
                self._send_isup,
                make_sqs_queue(
                    origination.queue_url,
                    origination.region,
                    origination.endpoint_url,
                    origination.wait_time_s,
                    origination.poll_timeout_s,
                ),
                reachable=self._trunk_reachable,
                route_losses=lambda: self._trunk_route.losses if self._trunk_route is not None else 0,
            )
        self.processor = SignallingProcessor(
            config.signalling,
            config.firewall,
            self.metrics,
            transactions=self.transactions,
            origination=self.origination,
        )
        self._worker = SignallingWorker(self.processor, self.sink)
        self.associations = AssociationManager(config.associations, self._worker.submit, self.metrics)
        self._trunk_route = (
            self.associations.watch_route(config.origination.dpc, config.origination.associations or None)
            if config.origination is not None
            else None
        )
        controls = {"/circuits": self._circuits_control} if self.origination is not None else {}
        self.http = HttpServer(config.http.host, config.http.port, self.metrics.render, self.health, controls)

    def health(self) -> tuple[bool, dict]:
        """Healthy = the spool works and, when the gateway has associations toward an STP, at least one of
        them carries traffic (ASP active and the AS notified active): "connected" is not enough."""
        try:
            depth = self.spool.depth()
            spool_ok = True
        except Exception as exc:  # the spool is the one thing we cannot run without
            depth, spool_ok = -1, False
            log.error("spool unreadable: %s", exc)
        traffic = self.associations.can_carry_traffic()
        healthy = spool_ok and (traffic is not False or not self.config.http.require_traffic)
        status = (
            "spool unavailable" if not spool_ok else "ok" if traffic is not False else "no association carries traffic"
        )
        return healthy, {
            "status": status,
            "associations": self.associations.details(),
            "spool_depth": depth,
            **({"mwd_registrations_in_progress": self.registrar.in_progress} if self.registrar else {}),
            **({"origination": self.origination.describe()} if self.origination else {}),
        }

    async def _circuits_control(self, method: str, body: Any) -> tuple[int, Any]:
        """`mcn-gateway circuits`: GET shows the trunk's circuits; POST {"action": "block"|"unblock", "cics": [..]}
        blocks or unblocks them (on a thread: the service sends through this event loop and waits)."""
        origination = self.origination
        assert origination is not None
        if method == "GET":
            views = await asyncio.to_thread(origination.circuits)
        elif method == "POST":
            action = body.get("action") if isinstance(body, dict) else None
            cics = body.get("cics") if isinstance(body, dict) else None
            if action not in ("block", "unblock") or not isinstance(cics, list):
                return 400, {"error": 'expected {"action": "block" | "unblock", "cics": [numbers]}'}
            if not all(isinstance(cic, int) and not isinstance(cic, bool) for cic in cics):
                return 400, {"error": "cics must be whole numbers"}
            change = origination.block if action == "block" else origination.unblock
            try:
                views = await asyncio.to_thread(change, cics)
            except CircuitError as exc:
                return 400, {"error": str(exc)}
            except sqlite3.Error as exc:  # not kept: nothing was changed nor sent
                return 503, {"error": f"spool: {exc}: nothing changed"}
        else:
            return 405, {"error": "GET or POST"}
        config = origination.config
        return 200, {
            "trunk": {"dpc": config.dpc, "cic_first": config.cic_first, "cic_last": config.cic_last},
            "circuits": [dataclasses.asdict(view) for view in views],
        }

    def _send_map(self, data: ProtocolData) -> bool:
        """Called on the registrar's thread: hand a MAP message to the event loop, wait for the write."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return False
        names = self.config.registration.associations or None
        future = asyncio.run_coroutine_threadsafe(self.associations.send_data(data, names), loop)
        return future.result(timeout=10)

    def _trunk_reachable(self) -> bool:
        """Read from the origination's threads: a snapshot of the sessions (the event loop owns them)."""
        origination = self.config.origination
        assert origination is not None
        try:
            return self.associations.can_send_to(origination.dpc, origination.associations or None)
        except (KeyError, RuntimeError):  # a session changed under us: ask again at the next poll
            return False

    def _send_isup(self, data: ProtocolData) -> bool:
        """Called on the origination's threads: hand an ISUP message to the event loop, wait for the write."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return False
        assert self.config.origination is not None
        names = self.config.origination.associations or None
        future = asyncio.run_coroutine_threadsafe(self.associations.send_data(data, names), loop)
        try:
            return future.result(timeout=10)
        except Exception as exc:  # the connection broke during the write
            log.warning("ISUP message toward pc %s not sent: %s", data.dpc, exc)
            return False

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.forwarder.start()
        if self.registrar is not None:
            self.registrar.start()
        if self.origination is not None:
            self.origination.start()
        await self.associations.start()
        await self.http.start()
        log.info("gateway up: associations %s, http on :%s", self.associations.bound_ports, self.http.port)

    async def stop(self, graceful: bool = False) -> None:
        """`graceful` (SIGTERM): no new dialogues, every client ASP taken inactive then down (ASPIA, ASPDN),
        listeners closed, the answers in flight sent; then the spool is forwarded for up to
        `forwarding.drain_timeout_s` (what is left stays spooled for the next start)."""
        if graceful:
            log.info("shutting down: taking the associations down, then draining the spool")
            if self.origination is not None:  # calls under way get their outcome (bounded by the drain time)
                await asyncio.to_thread(self.origination.stop, self.config.forwarding.drain_timeout_s)
            if self.registrar is not None:
                await asyncio.to_thread(self.registrar.stop)
            await self.associations.shutdown()
            drained = await asyncio.to_thread(self._drain, self.config.forwarding.drain_timeout_s)
            log.info(
                "spool %s",
                "drained" if drained else f"not drained: {self.spool.depth()} events kept for the next start",
            )
        await self.http.stop()
        if self.origination is not None:
            await asyncio.to_thread(self.origination.stop)
        if self.registrar is not None:
            await asyncio.to_thread(self.registrar.stop)
        await self.associations.stop()
        self.forwarder.stop()
        self._worker.stop()
        self.spool.close()

    def _drain(self, timeout_s: float) -> bool:
        """Forward what is spooled now, without waiting for batches to fill, until the deadline."""
        deadline = time.monotonic() + timeout_s
        self.forwarder.stop(timeout=timeout_s)  # a batch in flight finishes first
        return self.forwarder.drain(max(0.0, deadline - time.monotonic()))

    async def run_forever(self, stop: asyncio.Event) -> None:
        await self.start()
        try:
            await stop.wait()
        finally:
            await self.stop(graceful=stop.is_set())


class GatewayThread:
    """Runs a Gateway on its own event loop thread (tests, `mcn demo`)."""

    def __init__(self, config: GatewayConfig, targets: dict[str, Target] | None = None) -> None:
        self.gateway = Gateway(config, targets=targets)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="gateway-loop", daemon=True)

    @property
    def metrics(self) -> Metrics:
        return self.gateway.metrics

    def association_port(self, name: str) -> int:
        return self.gateway.associations.bound_ports[name]

    @property
    def http_port(self) -> int:
        return self.gateway.http.port

    def start(self) -> GatewayThread:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.gateway.start(), self._loop).result(timeout=30)
        return self

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.gateway.stop(), self._loop).result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def __enter__(self) -> GatewayThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
