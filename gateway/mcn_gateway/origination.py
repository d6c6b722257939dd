"""Flash calls: requests from the cloud's origination queue become short ISUP calls on the trunk toward an MSC,
and each request gets exactly one outcome event, forwarded to `forwarding.outcome_target`.

Threads (the trunk's state machine, mcn_gateway.circuits, is guarded by one condition):
- pollers (`poll_concurrency`) long-poll the queue for at most as many requests as there are free circuits
  and call slots, claim each request in the spool (a request id seen before never places a second call), and
  send the IAM;
- the signalling thread hands every ISUP message of the trunk's circuits to `handle` (answers go back with it);
- the timer thread runs the trunk's timers (ring time, T7, T1/T5, T16/T17, T22/T23) and sends what they say;
- the settler spools each outcome together with the request's settled mark (one transaction), wakes the
  forwarder, and only then deletes the message from the queue.

The operator blocks and unblocks circuits at run time (`block`/`unblock`, from `mcn-gateway circuits` through
the HTTP control endpoint); blocks are kept in the spool and restored at start. When the route to the MSC comes
back after it was lost, the whole range is reset again (GRS) and no call is placed before the GRA.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgspec

from mcn_core.models.base import ValidationError, problem
from mcn_core.models.origination import E164, FlashCallOutcome, FlashCallOutcomeEvent, FlashCallRequest
from mcn_core.numbers import mask
from mcn_edge.spool import REQUEST_SETTLED, Spool
from mcn_edge.sqs import QueueError, QueueMessage, WorkQueue

from .circuits import Action, Alert, CircuitView, Finished, Send, Timers, Trunk
from .config import OriginationConfig
from .metrics import Metrics
from .protocol import isup
from .protocol.m3ua import SI_ISUP, ProtocolData

log = logging.getLogger("mcn_gateway.origination")

KIND_FLASH_CALL_OUTCOME = "flash_call_outcome"

Sender = Callable[[ProtocolData], bool]  # one MTP3 user message toward the MSC; False when nothing carries it


class CircuitError(ValueError):
    """An operator's circuit command that cannot apply (a CIC outside the trunk's range)."""


@dataclass(slots=True)
class _Active:
    request: dict[str, Any]  # request_id, notification_id, tenant (what the outcome event repeats)
    handles: list[str] = field(default_factory=list)


def _valid_number(value: Any) -> bool:
    """Whether `value` is a caller the request may present (E.164): the check a withheld caller fails."""
    try:
        msgspec.convert(value, E164)
    except ValidationError:
        return False
    return True


def _iso(wall: float | None) -> datetime | None:
    return None if wall is None else datetime.fromtimestamp(wall, UTC)


class FlashCallService:
    def __init__(
        self,
        config: OriginationConfig,
        own_pc: int,
        spool: Spool,
        notify: Callable[[str], None],
        metrics: Metrics,
        sender: Sender,
        work_queue: WorkQueue,
        reachable: Callable[[], bool] = lambda: True,
        route_losses: Callable[[], int] = lambda: 0,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.own_pc = config.opc if config.opc is not None else own_pc
        self.peer_pc = config.dpc
        self.spool = spool
        self.metrics = metrics
        self._notify = notify
        self._sender = sender
        self._queue = work_queue
        self._reachable = reachable  # an association carries the trunk now (no requests are taken otherwise)
        self._route_losses = route_losses  # how often the route to the MSC was lost (counted as it happens)
        self._losses_seen = 0
        self._wall = wall
        self._clock = clock
        self._nai = isup.NAI_NATIONAL if config.nai == "national" else isup.NAI_INTERNATIONAL
        self.trunk_key = f"{self.own_pc}-{self.peer_pc}"  # the spool keeps the operator's blocks per trunk
        restored = spool.blocked_circuits(self.trunk_key)
        outside = [cic for cic in restored if not config.cic_first <= cic <= config.cic_last]
        if outside:
            log.warning("blocked circuits %s are outside the configured range: ignored", outside)
        self.trunk = Trunk(
            range(config.cic_first, config.cic_last + 1),
            self.own_pc,
            self.peer_pc,
            Timers(
                ring_time_s=config.ring_time_s,
                t7_s=config.t7_s,
                t1_s=config.t1_s,
                t5_s=config.t5_s,
                t16_s=config.t16_s,
                t17_s=config.t17_s,
                t22_s=config.t22_s,
                t23_s=config.t23_s,
                t12_s=config.t12_s,
                t13_s=config.t13_s,
                t14_s=config.t14_s,
                t15_s=config.t15_s,
                t18_s=config.t18_s,
                t19_s=config.t19_s,
                t20_s=config.t20_s,
                t21_s=config.t21_s,
            ),
            nai=self._nai,
            clock=clock,
            wall=wall,
            locally_blocked=restored,
        )
        if self.trunk.locally_blocked():
            log.info("circuits blocked by the operator before the restart: %s", _ranges(self.trunk.locally_blocked()))
        self._seen: dict[int, tuple[bool, bool, str | None]] = {}  # cic -> blocking fields as last logged
        self._route_lost = False  # the route to the MSC went away after it had been there: GRS when it returns
        self._route_seen = False
        self._cond = threading.Condition()
        self._decoder = isup.CircuitMessageDecoder()
        self._active: dict[str, _Active] = {}
        self._reserved = 0
        self._outbox: list[Action] = []
        self._settle_queue: queue.SimpleQueue[Finished | None] = queue.SimpleQueue()
        self._no_more_requests = threading.Event()  # pollers stop (first, on a graceful stop)
        self._stopping = threading.Event()  # every thread stops (after calls under way got their outcome)
        self._threads: list[threading.Thread] = []
        self.queue_error: str | None = None
        self.polls = 0
        self._publish()

    # --- signalling (called on the signalling thread) -----------------------------------------------------

    def owns(self, data: ProtocolData, cic: int) -> bool:
        """A message on one of the trunk's circuits: from the MSC to the platform's point code."""
        return data.opc == self.peer_pc and data.dpc == self.own_pc and self.trunk.owns(cic)

    def handle(self, data: ProtocolData) -> tuple[bool, list[ProtocolData]]:
        """(handled, answers). handled=False: an IAM for the missed-call path (an incoming call on the trunk).
        Raises DecodeError on a message that does not decode (the processor counts it)."""
        message = self._decoder.decode(data.data)
        with self._cond:
            handled, actions = self.trunk.receive(message)
            self._after(actions)
        answers = [self._protocol_data(a) for a in actions if isinstance(a, Send)]
        if message.message_type == isup.MSG_IAM and handled:
            # dual seizure on a circuit the gateway controls (the exchange backs off), or a circuit being reset
            log.warning("IAM on cic %s of the flash-call trunk ignored: the circuit is the gateway's", message.cic)
        return handled, answers

    def _protocol_data(self, send: Send) -> ProtocolData:
        return ProtocolData(
            opc=self.own_pc,
            dpc=self.peer_pc,
            si=SI_ISUP,
            ni=self.config.network_indicator,
            mp=0,
            sls=send.cic & 0x0F,
            data=send.message,
        )

    def _after(self, actions: list[Action]) -> None:
        """With the condition held: outcomes to the settler, alerts counted, waiters woken."""
        for action in actions:
            if isinstance(action, Finished):
                self._settle_queue.put(action)
            elif isinstance(action, Alert):
                self.metrics.circuit_alerts.labels(action.timer).inc()
                log.error(
                    "cic %s: %s expired without an answer from the MSC (pc %s): circuit maintenance needed",
                    action.cic,
                    action.timer.upper(),
                    self.peer_pc,
                )
        self._publish()
        self._cond.notify_all()

    def _publish(self) -> None:
        for state, count in self.trunk.states().items():
            self.metrics.circuits.labels(state).set(count)
        self.metrics.flash_calls_in_progress.set(len(self.trunk.calls))
        self.metrics.circuit_blocking_unacknowledged.set(self.trunk.unacknowledged())
        self._log_blocking_changes()

    def _log_blocking_changes(self) -> None:
        """One log line per change of a circuit's blocking (local, remote, acknowledgement awaited). Runs after
        every message: compares plain fields, builds a view only for a circuit that changed."""
        unchanged = (False, False, None)
        for cic, circuit in self.trunk.circuits.items():
            now = (circuit.locally_blocked, circuit.remotely_blocked, circuit.procedure)
            before = self._seen.get(cic, unchanged)
            if now == before:
                continue
            self._seen[cic] = now
            view = self.trunk.view([cic])[0]
            parts = []
            if view.locally_blocked or before[0]:
                parts.append("locally blocked" if view.locally_blocked else "locally unblocked")
            if view.remotely_blocked != before[1]:
                parts.append("remotely blocked by the MSC" if view.remotely_blocked else "remotely unblocked")
            parts.append(f"awaiting {view.awaiting}" if view.awaiting else "acknowledged" if before[2] else "")
            log.info("cic %s: %s (pc %s)", cic, ", ".join(p for p in parts if p), self.peer_pc)

    # --- the operator: local blocking -------------------------------------------------------------------------

    def _chosen(self, cics: list[int]) -> list[int]:
        outside = [cic for cic in cics if not self.trunk.owns(cic)]
        if outside:
            first, last = self.config.cic_first, self.config.cic_last
            raise CircuitError(f"cic {_ranges(outside)} outside the trunk's range {first}-{last} (pc {self.peer_pc})")
        if not cics:
            raise CircuitError("no cic given")
        return sorted(set(cics))

    def block(self, cics: list[int]) -> list[CircuitView]:
        """Block circuits for new calls (kept in the spool first), tell the MSC (BLO/CGB); calls under way on
        them go on to their end. CircuitError for a CIC outside the range (nothing changes then)."""
        return self._set_blocked(self._chosen(cics), blocked=True)

    def unblock(self, cics: list[int]) -> list[CircuitView]:
        return self._set_blocked(self._chosen(cics), blocked=False)

    def _set_blocked(self, cics: list[int], blocked: bool) -> list[CircuitView]:
        self.spool.set_blocked_circuits(self.trunk_key, cics, blocked)  # durable before the MSC hears of it
        log.warning(
            "operator %s cic %s of the trunk to pc %s", "blocks" if blocked else "unblocks", _ranges(cics), self.peer_pc
        )
        with self._cond:
            actions = self.trunk.block(cics) if blocked else self.trunk.unblock(cics)
            self._after(actions)
        self._send_all(actions)
        return self.circuits(cics)

    def circuits(self, cics: list[int] | None = None) -> list[CircuitView]:
        with self._cond:
            return self.trunk.view(cics)

    def _send_all(self, actions: list[Action]) -> None:
        for action in actions:
            if not isinstance(action, Send):
                continue
            if self._sender(self._protocol_data(action)):
                continue
            log.warning("cic %s: no association carries the trunk to pc %s", action.cic, self.peer_pc)
            with self._cond:
                self._after(self.trunk.not_sent(action, "no association carries the trunk"))

    # --- lifecycle ------------------------------------------------------------------------------------------

    def start(self) -> None:
        """Settle requests a previous run left unfinished, reset the range (GRS), start the threads.
        Sends nothing itself (it may run on the event loop the sender needs): the timer thread does."""
        for key, body in self.spool.claimed_requests():
            log.warning("flash call %s was under way when the gateway stopped: reported as failed", key)
            self._settle(body, FlashCallOutcome.FAILED, "interrupted: the gateway stopped during the call", [])
        pruned = self.spool.prune_requests(self.config.request_memory_days * 86400)
        if pruned:
            log.info("forgot %s flash call requests older than %s days", pruned, self.config.request_memory_days)
        with self._cond:
            if self.config.grs_at_start:
                self._outbox = self.trunk.reset_all()  # the operator's blocks are told after the GRA
            else:
                self._outbox = self.trunk.block(self.trunk.locally_blocked())
            self._publish()
        targets = [(self._timer_loop, "origination-timers"), (self._settle_loop, "origination-settler")]
        targets += [(self._poll_loop, f"origination-poll-{n}") for n in range(self.config.poll_concurrency)]
        for target, name in targets:
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, drain_s: float = 0.0) -> None:
        """Stop taking requests; wait up to `drain_s` for the calls under way to get their outcome (the timers
        and the signalling go on meanwhile), then stop."""
        self._no_more_requests.set()
        deadline = time.monotonic() + drain_s
        with self._cond:
            self._cond.notify_all()
            while self.trunk.calls and time.monotonic() < deadline:
                self._cond.wait(min(0.2, max(0.0, deadline - time.monotonic())))
        self._stopping.set()
        with self._cond:
            self._cond.notify_all()
        self._settle_queue.put(None)
        for thread in self._threads:
            # a poller may sit in a long poll: it releases what it receives once it returns
            thread.join(timeout=2 if thread.name.startswith("origination-poll") else 10)

    def describe(self) -> dict[str, Any]:
        with self._cond:
            return {
                "peer_point_code": self.peer_pc,
                "resetting": self.trunk.resetting,
                "circuits": self.trunk.states(),
                "calls_in_progress": len(self.trunk.calls),
                "locally_blocked": _ranges(self.trunk.locally_blocked()),
                "trunk_reachable": self._reachable(),
                "queue": "ok" if self.queue_error is None else f"error: {self.queue_error}",
            }

    # --- timers ---------------------------------------------------------------------------------------------

    def _timer_loop(self) -> None:
        with self._cond:
            actions, self._outbox = self._outbox, []
        self._send_all(actions)
        while not self._stopping.is_set():
            with self._cond:
                deadline = self.trunk.next_deadline()
                wait = 1.0 if deadline is None else min(1.0, max(0.0, deadline - self._clock()))
                if wait > 0:
                    self._cond.wait(wait)
                actions = self._route_returned() + self.trunk.expire()
                self._after(actions)
            self._send_all(actions)

    def _route_returned(self) -> list[Action]:
        """With the condition held, at least once a second: when the route to the MSC (an association carrying
        the trunk, the MSC's point code available) comes back after it was lost, the MSC may have reset or lost
        the circuits' state meanwhile: reset the whole range again (GRS, T22/T23); calls wait for the GRA."""
        reachable = self._reachable()
        losses = self._route_losses()
        lost_meanwhile = losses != self._losses_seen  # lost and back between two looks
        self._losses_seen = losses
        if (not reachable and self._route_seen) or lost_meanwhile:
            if not self._route_lost:
                log.warning("route to the MSC (pc %s) lost: no flash call until it returns", self.peer_pc)
            self._route_lost = True
        if not reachable:
            return []
        self._route_seen = True
        if not self._route_lost:
            return []
        self._route_lost = False
        if not self.config.grs_on_route_return:
            log.info("route to the MSC (pc %s) available again", self.peer_pc)
            return []
        log.warning("route to the MSC (pc %s) available again: resetting the trunk's circuits (GRS)", self.peer_pc)
        return self.trunk.reset_all()

    # --- the queue ------------------------------------------------------------------------------------------

    @property
    def polling(self) -> bool:
        """A long poll of the queue is under way (what it receives is placed, or released if it cannot be)."""
        with self._cond:
            return self._reserved > 0

    def _capacity(self) -> int:
        if not self._reachable():
            return 0
        free_calls = self.config.max_calls - len(self.trunk.calls)
        return min(self.trunk.free_circuits(), free_calls) - self._reserved

    def _poll_loop(self) -> None:
        backoff = 1.0
        while not self._no_more_requests.is_set():
            with self._cond:
                while not self._no_more_requests.is_set() and self._capacity() <= 0:
                    self._cond.wait(0.5)  # also polls the association's state (no event wakes us for it)
                if self._no_more_requests.is_set():
                    return
                wanted = min(10, self._capacity())
                self._reserved += wanted
            try:
                messages = self._receive(wanted)
                if messages is None:
                    self._no_more_requests.wait(backoff)
                    backoff = min(backoff * 2, 30.0)
                    continue
                backoff = 1.0
                for message in messages:
                    if self._no_more_requests.is_set():
                        self._release(message)
                    else:
                        self._take(message)
            finally:
                with self._cond:
                    self._reserved -= wanted
                    self._cond.notify_all()

    def _receive(self, wanted: int) -> list[QueueMessage] | None:
        try:
            messages = self._queue.receive(wanted, self.config.wait_time_s, self.config.visibility_s)
        except QueueError as exc:
            self.metrics.origination_queue_errors.labels("receive").inc()
            if self.queue_error is None:
                log.warning("origination queue: %s", exc)
            self.queue_error = str(exc)[:200]
            return None
        if self.queue_error is not None:
            log.info("origination queue reachable again")
        self.queue_error = None
        self.polls += 1
        return messages

    def _release(self, message: QueueMessage) -> None:
        try:
            self._queue.release(message.receipt_handle)
        except QueueError as exc:
            self.metrics.origination_queue_errors.labels("release").inc()
            log.warning("origination queue: %s (the request comes back after its visibility timeout)", exc)

    def _take(self, message: QueueMessage) -> None:
        """One request: validated, claimed (durably, once), then placed, or settled at once."""
        try:
            raw = json.loads(message.body)
        except ValueError:
            raw = None
        try:
            request = FlashCallRequest.from_data(raw)
        except ValidationError as exc:
            self._invalid(message, raw, exc)
            return
        ids = {"request_id": request.request_id, "notification_id": request.notification_id, "tenant": request.tenant}
        try:
            earlier = self.spool.claim_request(request.request_id, ids)
        except Exception as exc:  # the spool is unusable: take nothing (the message comes back later)
            log.error("spool: cannot claim flash call %s: %s", request.request_id, exc)
            self._release(message)
            return
        if earlier is not None:
            self._duplicate(message, request.request_id, ids, earlier)
            return
        if request.not_after <= datetime.fromtimestamp(self._wall(), UTC):
            self._settle(ids, FlashCallOutcome.EXPIRED, "past not_after: not placed", [message.receipt_handle])
            return
        called, calling = self._digits(request.subscriber), self._digits(request.caller)
        if called is None or calling is None:
            reason = f"number outside country code {self.config.country_code} (nai national): not placed"
            self._settle(ids, FlashCallOutcome.FAILED, reason, [message.receipt_handle])
            return
        with self._cond:
            self._active[request.request_id] = _Active(ids, [message.receipt_handle])
            actions = self.trunk.place(request.request_id, called, calling)
            if actions is None:
                del self._active[request.request_id]
            else:
                self._after(actions)
        if actions is None:  # every circuit got busy meanwhile (the exchange seized some): later
            self.spool.unclaim_request(request.request_id)
            self._release(message)
            return
        cic = next((a.cic for a in actions if isinstance(a, Send)), None)
        log.info(
            "flash call %s: %s presented to %s on cic %s",
            request.request_id,
            mask(request.caller),
            mask(request.subscriber),
            cic,
        )
        self._send_all(actions)

    def _digits(self, e164: str) -> str | None:
        digits = e164.lstrip("+")
        if self._nai == isup.NAI_INTERNATIONAL:
            return digits
        country = self.config.country_code or ""
        return digits[len(country) :] if digits.startswith(country) else None

    def _invalid(self, message: QueueMessage, raw: Any, exc: ValidationError) -> None:
        where, what = problem(exc)
        errors = f"{where or 'body'}: {what}"
        ids = None
        if isinstance(raw, dict):
            try:
                event = FlashCallOutcomeEvent.from_data(
                    {
                        "request_id": raw.get("request_id"),
                        "notification_id": raw.get("notification_id"),
                        "tenant": raw.get("tenant", "default"),
                        "outcome": FlashCallOutcome.FAILED,
                        "released_at": datetime.now(UTC),
                    }
                )
                ids = {"request_id": event.request_id, "notification_id": event.notification_id, "tenant": event.tenant}
            except ValidationError:
                ids = None
        if ids is None:
            # nothing to report the outcome against: left on the queue (its redrive policy parks it)
            self.metrics.origination_requests_rejected.labels("unreadable").inc()
            log.error(
                "origination queue message %s is no flash call request (%s): left on the queue",
                message.message_id,
                errors,
            )
            return
        withheld = not _valid_number(raw.get("caller"))
        reason = "caller withheld or invalid: never presented" if withheld else f"invalid request: {errors}"
        log.error("flash call %s not placed: %s", ids["request_id"], reason)
        try:
            earlier = self.spool.claim_request(ids["request_id"], ids)
        except Exception as exc_spool:
            log.error("spool: cannot claim flash call %s: %s", ids["request_id"], exc_spool)
            self._release(message)
            return
        if earlier is not None:
            self._duplicate(message, ids["request_id"], ids, earlier)
            return
        self._settle(ids, FlashCallOutcome.FAILED, reason[:200], [message.receipt_handle])

    def _duplicate(self, message: QueueMessage, request_id: str, ids: dict[str, Any], earlier: str) -> None:
        """A request id claimed before: never a second call."""
        self.metrics.origination_requests_rejected.labels("duplicate").inc()
        if earlier == REQUEST_SETTLED:
            log.info("flash call %s delivered again: already settled, deleted", request_id)
            self._delete([message.receipt_handle])
            return
        with self._cond:
            active = self._active.get(request_id)
            if active is not None:  # delivered again during its call: deleted with it (its newest handle)
                active.handles.append(message.receipt_handle)
                return
        # claimed by this spool but not under way here (a race with the start-up settlement)
        self._settle(
            ids, FlashCallOutcome.FAILED, "interrupted: the gateway stopped during the call", [message.receipt_handle]
        )

    # --- outcomes -------------------------------------------------------------------------------------------

    def _settle_loop(self) -> None:
        while True:
            finished = self._settle_queue.get()
            if finished is None:
                return
            with self._cond:
                active = self._active.pop(finished.call_id, None)
            if active is None:
                log.error("flash call %s ended but its request is unknown", finished.call_id)
                continue
            self._settle(active.request, finished.outcome, finished.reason, active.handles, finished)

    def _settle(
        self,
        ids: dict[str, Any],
        outcome: FlashCallOutcome,
        reason: str | None,
        handles: list[str],
        finished: Finished | None = None,
    ) -> None:
        """Spool the outcome (with the request's settled mark), then delete the message(s) from the queue."""
        event = FlashCallOutcomeEvent(
            request_id=ids["request_id"],
            notification_id=ids["notification_id"],
            tenant=ids.get("tenant", "default"),
            outcome=outcome,
            cause=finished.cause if finished else None,
            reason=reason[:200] if reason else reason,  # the schema's limit (a constructor does not check it)
            cic=finished.cic if finished else None,
            placed_at=_iso(finished.placed_at) if finished else None,
            alerted_at=_iso(finished.alerted_at) if finished else None,
            released_at=datetime.fromtimestamp(finished.released_at if finished else self._wall(), UTC),
        )
        try:
            fresh = self.spool.settle_request(event.request_id, KIND_FLASH_CALL_OUTCOME, event.to_data())
        except Exception as exc:  # not durable: the message stays on the queue
            log.error("spool: flash call %s outcome %s not written: %s", event.request_id, outcome.value, exc)
            return
        if fresh:
            self.metrics.flash_calls.labels(outcome.value).inc()
            self._notify(KIND_FLASH_CALL_OUTCOME)
            log.info(
                "flash call %s: %s%s",
                event.request_id,
                outcome.value,
                f" (cause {event.cause})" if event.cause is not None else f" ({reason})" if reason else "",
            )
        if handles:
            self._delete(handles)

    def _delete(self, handles: list[str]) -> None:
        try:
            failed = self._queue.delete(handles)
        except QueueError as exc:
            failed = handles
            log.warning("origination queue: %s", exc)
        if failed:
            # settled in the spool: when the message comes back it is recognised and deleted then
            self.metrics.origination_queue_errors.labels("delete").inc(len(failed))


def _ranges(cics: list[int]) -> str:
    """1,2,3,7 -> "1-3,7" (for log lines and errors)."""
    runs: list[list[int]] = []
    for cic in sorted(cics):
        if runs and cic == runs[-1][-1] + 1:
            runs[-1].append(cic)
        else:
            runs.append([cic])
    return ",".join(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]) for run in runs)
