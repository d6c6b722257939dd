"""MAP client side: put the platform's GT into the subscriber's Message Waiting Data at the HLR.

An HLR alerts (alertServiceCentre) only the service centres listed in the subscriber's MWD. On the
first missed call of an absence the gateway acts as an SMS gateway MSC after a failed delivery
(3GPP TS 29.002 12.1 / 12.3 / 23.3, TS 23.040 10.2):

1. sendRoutingInfoForSM (45), shortMsgGatewayContext v3 (v2 when the HLR refuses v3), routed on
   the subscriber's MSISDN as SCCP called GT (SSN 6), calling GT = the platform's GT (SSN 8);
   - returnError absentSubscriberSM (6), or informServiceCentre (63) with MNRF set: absent;
   - returnResult (routing info): the subscriber is reachable, nothing to register;
2. reportSM-DeliveryStatus (47) with sm-DeliveryOutcome absentSubscriber and serviceCentreAddress =
   the platform's GT: the HLR adds the platform to MWD; the result confirms the registration.

Every dialogue has a timeout; an abort, a timeout, an SCCP return or a transient MAP error is retried
(bounded, with backoff), then the registration is counted as failed. None of this touches the missed
call itself: the event was spooled before the registrar heard of it.

The registrar runs on its own thread: commands (missed call, attach, TCAP message for one of its
dialogues) arrive on a queue, so neither the signalling thread nor the event loop ever waits for the
HLR or for the registration table.
"""

from __future__ import annotations

import functools
import logging
import queue
import threading
import time
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass

from mcn_core.numbers import mask

from .config import RegistrationConfig
from .metrics import Metrics
from .protocol import DecodeError, dialogues
from .protocol import map as map_codec
from .protocol import sccp as sccp_codec
from .protocol import tcap as tcap_codec
from .protocol.m3ua import SI_SCCP, ProtocolData
from .registrations import (
    STATE_FAILED,
    STATE_PENDING,
    STATE_REACHABLE,
    STATE_REGISTERED,
    Claim,
    RegistrationStore,
)

log = logging.getLogger("mcn_gateway.mwd")

OP_SRI_SM = map_codec.OP_SEND_ROUTING_INFO_FOR_SM
OP_REPORT = map_codec.OP_REPORT_SM_DELIVERY_STATUS
OPERATION_NAMES = {OP_SRI_SM: "sendRoutingInfoForSM", OP_REPORT: "reportSM-DeliveryStatus"}

# MAP errors after which asking again cannot help (TS 29.002 12.1.1.3, 12.3.1.3)
PERMANENT_ERRORS = frozenset(
    {
        map_codec.ERR_UNKNOWN_SUBSCRIBER,
        map_codec.ERR_TELESERVICE_NOT_PROVISIONED,
        map_codec.ERR_CALL_BARRED,
        map_codec.ERR_FACILITY_NOT_SUPPORTED,
        map_codec.ERR_MESSAGE_WAITING_LIST_FULL,
        map_codec.ERR_DATA_MISSING,
        map_codec.ERR_UNEXPECTED_DATA_VALUE,
    }
)
ABSENT_ERRORS = frozenset({map_codec.ERR_ABSENT_SUBSCRIBER_SM, map_codec.ERR_ABSENT_SUBSCRIBER})
_HOLD_REASONS = {
    STATE_REGISTERED: "registered",
    STATE_PENDING: "in_progress",
    STATE_FAILED: "holdoff",
    STATE_REACHABLE: "holdoff",
}
_INVOKE_ID = 1
_CACHE_LIMIT = 100_000

# sends one MTP3 user message toward the STP/HLR; False when no association can carry it
Sender = Callable[[ProtocolData], bool]


_MAX_REMEMBERED_HLRS = 10_000
_MAX_REMEMBERED_SUBSCRIBERS = 100_000


@dataclass(slots=True)
class _Registration:
    subscriber: str  # E.164 with '+'
    operation: int
    version: int
    attempts: int = 0  # attempts of the current operation
    otid: bytes | None = None
    peer_otid: bytes | None = None
    deadline: float | None = None  # of the open dialogue
    retry_at: float | None = None
    absent_flag: bool = False  # informServiceCentre said MNRF set
    hlr: str | None = None
    claimed: bool = True  # False when the table was unavailable (registered anyway, not shared)

    @property
    def digits(self) -> str:
        return self.subscriber.lstrip("+")


class MwdRegistrar:
    def __init__(
        self,
        config: RegistrationConfig,
        platform_gt: str,
        point_code: int,
        transactions: dialogues.TransactionRegistry,
        sender: Sender,
        store: RegistrationStore,
        metrics: Metrics,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.platform_gt = platform_gt
        self.point_code = point_code
        self.transactions = transactions
        self.sender = sender
        self.store = store
        self.metrics = metrics
        self.owner = uuid.uuid4().hex[:16]  # this instance, in the table's `owner`
        self._clock = clock
        self._wall = wall
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._active: dict[str, _Registration] = {}
        self._by_otid: dict[bytes, _Registration] = {}
        self._cache: dict[str, tuple[float, str]] = {}  # subscriber -> (monotonic until, skip reason)
        # MAP version per HLR: an HLR that refused v3 is asked in v2 from then on (for a while), which saves
        # a refused dialogue per registration; dialogues are routed on the MSISDN, so the HLR serving a
        # subscriber is known once it has answered (subscriber -> HLR GT, bounded)
        self._hlr_versions: dict[str, tuple[int, float]] = {}  # HLR GT -> (version, monotonic until)
        self._subscriber_hlr: dict[str, str] = {}
        self._thread: threading.Thread | None = None
        self._platform_address = sccp_codec.encode_gt_address(platform_gt, config.platform_ssn)
        self._service_centre = map_codec.encode_address_string(platform_gt)

    # --- called from other threads --------------------------------------------------------------------

    def missed_call(self, subscriber: str) -> None:
        self._queue.put(("call", subscriber))

    def attached(self, subscriber: str) -> None:
        self._queue.put(("attach", subscriber))

    def start(self) -> MwdRegistrar:
        self._thread = threading.Thread(target=self._run, name="mwd-registrar", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout)
            self._thread = None
        for registration in list(self._active.values()):
            self._close_dialogue(registration)

    @property
    def in_progress(self) -> int:
        return len(self._active)

    # --- the registrar's thread -----------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            try:
                item = self._queue.get(timeout=self._wait_s())
            except queue.Empty:
                item = ()
            if item is None:
                return
            self._step(item)

    def pump(self) -> None:
        """Handle everything queued and every timer due, without blocking (tests drive the registrar so)."""
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is None:
                continue
            self._step(item)
        self._step(())

    def _step(self, item: tuple) -> None:
        try:
            if item:
                kind = item[0]
                if kind == "call":
                    self._on_call(item[1])
                elif kind == "attach":
                    self._on_attach(item[1])
                elif kind == "tcap":
                    self._on_tcap(*item[1:])
            self._timers()
        except Exception:  # a bug here must never stop the registrar (or touch the missed calls)
            log.exception("MWD registrar: unexpected error")
        self.metrics.mwd_in_progress.set(len(self._active))

    def _wait_s(self) -> float:
        now = self._clock()
        due = [t for r in self._active.values() for t in (r.deadline, r.retry_at) if t is not None]
        return max(0.0, min(due) - now) if due else 1.0

    # --- missed calls and attaches --------------------------------------------------------------------

    def e164(self, number: str) -> str | None:
        """'+447911123456' as is; a national number with the configured country code; else None."""
        if number.startswith("+"):
            digits = number[1:]
        elif self.config.country_code:
            digits = self.config.country_code + number.lstrip("0")
        else:
            return None
        return "+" + digits if digits.isdigit() and 6 <= len(digits) <= 15 else None

    def _skip(self, reason: str) -> None:
        self.metrics.mwd_skipped.labels(reason).inc()

    def _remember(self, subscriber: str, seconds: float, reason: str) -> None:
        seconds = min(seconds, self.config.local_cache_s)
        if seconds <= 0:
            self._cache.pop(subscriber, None)
            return
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[subscriber] = (self._clock() + seconds, reason)

    def _on_call(self, number: str) -> None:
        subscriber = self.e164(number)
        if subscriber is None:
            self._skip("not_e164")
            return
        if subscriber in self._active:
            self._skip("in_progress")
            return
        cached = self._cache.get(subscriber)
        if cached is not None:
            if cached[0] > self._clock():
                self._skip(cached[1])
                return
            del self._cache[subscriber]
        now = int(self._wall())
        claimed = True
        try:
            claim = self.store.claim(subscriber, self.owner, now, now + self.config.claim_ttl_s)
        except Exception as exc:  # the table is down: register anyway (the HLR keeps one entry per SC)
            self.metrics.mwd_store_errors.labels("claim").inc()
            log.warning("registration table unavailable (%s): registering %s unshared", exc, mask(subscriber))
            claim, claimed = Claim(True), False
        if not claim.won:
            reason = _HOLD_REASONS.get(claim.state or "", "registered")
            self._skip(reason)
            if claim.expires_at is not None:
                self._remember(subscriber, claim.expires_at - now, reason)
            return
        registration = _Registration(subscriber, OP_SRI_SM, self._version_for(subscriber), claimed=claimed)
        self._active[subscriber] = registration
        self.metrics.mwd_sent.inc()
        log.info("registering in MWD: %s (first missed call of an absence)", mask(subscriber))
        self._open(registration)

    def _version_for(self, subscriber: str) -> int:
        """The shortMsgGatewayContext version to open with: the one the subscriber's HLR speaks, if known."""
        hlr = self._subscriber_hlr.get(subscriber)
        known = self._hlr_versions.get(hlr) if hlr else None
        if known is not None and known[1] > self._clock():
            return min(known[0], self.config.ac_version)
        return self.config.ac_version

    def _learn_hlr(self, registration: _Registration, calling_gt: str) -> None:
        registration.hlr = calling_gt
        self._subscriber_hlr.pop(registration.subscriber, None)
        if len(self._subscriber_hlr) >= _MAX_REMEMBERED_SUBSCRIBERS:
            self._subscriber_hlr.pop(next(iter(self._subscriber_hlr)))  # the oldest
        self._subscriber_hlr[registration.subscriber] = calling_gt

    def _remember_version(self, hlr: str | None, version: int) -> None:
        if not hlr:
            return
        if len(self._hlr_versions) >= _MAX_REMEMBERED_HLRS:
            self._hlr_versions.clear()
        self._hlr_versions[hlr] = (version, self._clock() + self.config.hlr_version_memory_s)

    def _on_attach(self, number: str) -> None:
        subscriber = self.e164(number)
        if subscriber is None:
            return
        registration = self._active.pop(subscriber, None)
        if registration is not None:  # the subscriber is back: the dialogue has become pointless
            self._close_dialogue(registration)
            log.info("registration of %s cancelled by the attach alert", mask(subscriber))
        self._cache.pop(subscriber, None)
        try:
            existed = self.store.clear(subscriber)
        except Exception as exc:
            self.metrics.mwd_store_errors.labels("clear").inc()
            log.warning("registration of %s not cleared (table unavailable: %s)", mask(subscriber), exc)
            return
        if existed or registration is not None:
            self.metrics.mwd_cleared.inc()
            log.info("registration of %s cleared by the attach alert", mask(subscriber))

    # --- dialogues ------------------------------------------------------------------------------------

    def _argument(self, registration: _Registration) -> dict:
        msisdn = map_codec.encode_address_string(registration.digits)
        if registration.operation == OP_SRI_SM:
            return {
                "msisdn": msisdn,
                "sm-RP-PRI": self.config.sm_rp_pri,
                "serviceCentreAddress": self._service_centre,
            }
        return {
            "msisdn": msisdn,
            "serviceCentreAddress": self._service_centre,
            "sm-DeliveryOutcome": "absentSubscriber",
        }

    def _send(self, registration: _Registration, tcap_bytes: bytes, called_gt: str | None = None) -> bool:
        """A UDT routed on GT: the MSISDN (the STP's GTT finds the subscriber's HLR) unless `called_gt`."""
        called = sccp_codec.encode_gt_address(called_gt or registration.digits, self.config.hlr_ssn)
        udt = sccp_codec.encode_udt(called, self._platform_address, tcap_bytes, protocol_class=1, return_on_error=True)
        data = ProtocolData(
            opc=self.point_code,
            dpc=self.config.dpc or 0,
            si=SI_SCCP,
            ni=self.config.network_indicator,
            mp=0,
            sls=zlib.crc32(registration.digits.encode()) & 0x0F,  # one subscriber's dialogues keep one link
            data=udt,
        )
        try:
            return bool(self.sender(data))
        except Exception as exc:
            log.warning("MAP message not sent: %s", exc)
            return False

    def _open(self, registration: _Registration, count_attempt: bool = True) -> None:
        operation = OPERATION_NAMES[registration.operation]
        if count_attempt:
            registration.attempts += 1
        otid = self.transactions.open(functools.partial(self._from_signalling_for, registration))
        registration.otid, registration.peer_otid = otid, None
        self._by_otid[otid] = registration
        try:
            begin = map_codec.encode_begin(
                otid,
                (*map_codec.AC_SHORT_MSG_GATEWAY, registration.version),
                registration.operation,
                self._argument(registration),
                _INVOKE_ID,
            )
        except Exception as exc:  # cannot happen with valid digits; never retry an encoding bug
            self._close_dialogue(registration)
            log.error("cannot encode %s for %s: %s", operation, mask(registration.subscriber), exc)
            self._fail(registration, "internal")
            return
        if not self._send(registration, begin):
            self._close_dialogue(registration)
            self.metrics.mwd_dialogues.labels(operation, "no_route").inc()
            self._attempt_failed(registration, "no_route")
            return
        registration.deadline = self._clock() + self.config.dialogue_timeout_s
        log.debug(
            "%s (v%d, attempt %d) for %s: otid %s",
            operation,
            registration.version,
            registration.attempts,
            mask(registration.subscriber),
            otid.hex(),
        )

    def _from_signalling_for(
        self, registration: _Registration, message: tcap_codec.TcapMessage, calling_gt: str | None
    ) -> list[bytes]:
        self._queue.put(("tcap", registration, message, calling_gt))
        return []

    def _close_dialogue(self, registration: _Registration) -> None:
        if registration.otid is not None:
            self.transactions.close(registration.otid)
            self._by_otid.pop(registration.otid, None)
        registration.otid = None
        registration.deadline = None

    def _current(self, registration: _Registration, message: tcap_codec.TcapMessage) -> bool:
        """Whether the message belongs to the registration's open dialogue (not a late or cancelled one)."""
        dtid = message.otid if message.kind == tcap_codec.TCAP_BEGIN else message.dtid
        return (
            registration.otid is not None
            and dtid == registration.otid
            and self._active.get(registration.subscriber) is registration
        )

    def _on_tcap(self, registration: _Registration, message: tcap_codec.TcapMessage, calling_gt: str | None) -> None:
        if not self._current(registration, message):
            return
        operation = OPERATION_NAMES[registration.operation]
        if calling_gt:
            self._learn_hlr(registration, calling_gt)
        kind = message.kind
        if kind == tcap_codec.TCAP_BEGIN:  # our own Begin, returned by SCCP: no route to that GT
            self._close_dialogue(registration)
            self.metrics.mwd_dialogues.labels(operation, "sccp_returned").inc()
            self._attempt_failed(registration, "sccp_returned")
            return
        if kind == tcap_codec.TCAP_ABORT:
            self._close_dialogue(registration)
            self._aborted(registration, message, operation)
            return
        if kind == tcap_codec.TCAP_CONTINUE:
            registration.peer_otid = message.otid
        outcome = self._components(registration, message)
        if outcome is None:
            if kind == tcap_codec.TCAP_END:
                self._close_dialogue(registration)
                self.metrics.mwd_dialogues.labels(operation, "no_result").inc()
                self._attempt_failed(registration, "no_result")
            return  # a Continue without the final answer: keep waiting
        if kind == tcap_codec.TCAP_CONTINUE and registration.peer_otid is not None:
            # the HLR keeps the dialogue open although the operation is answered: end it (basic end)
            end = tcap_codec.encode_message(("end", {"dtid": registration.peer_otid}))
            self._send(registration, end, called_gt=registration.hlr)  # the HLR that continued the dialogue
        self._close_dialogue(registration)
        self._answered(registration, operation, *outcome)

    def _components(self, registration: _Registration, message: tcap_codec.TcapMessage) -> tuple | None:
        outcome = None
        for component in message.components:
            if component.kind == tcap_codec.COMPONENT_INVOKE:
                if component.opcode == map_codec.OP_INFORM_SERVICE_CENTRE and component.parameter:
                    try:
                        argument = map_codec.decode_argument(component.opcode, component.parameter)
                    except DecodeError as exc:
                        log.warning("undecodable informServiceCentre: %s", exc)
                        continue
                    status = argument.get("mw-Status")
                    if map_codec.bit_set(status, map_codec.MW_MNRF_SET):
                        registration.absent_flag = True
                continue  # informServiceCentre is class 4: nothing to answer
            if component.invoke_id != _INVOKE_ID:
                continue
            if component.kind in (tcap_codec.COMPONENT_RETURN_RESULT_LAST, tcap_codec.COMPONENT_RETURN_RESULT_NOT_LAST):
                outcome = ("result", None)
            elif component.kind == tcap_codec.COMPONENT_RETURN_ERROR:
                outcome = ("error", component.error_code)
            elif component.kind == tcap_codec.COMPONENT_REJECT:
                outcome = ("reject", None)
        return outcome

    def _aborted(self, registration: _Registration, message: tcap_codec.TcapMessage, operation: str) -> None:
        refused = message.dialogue_result == 1 or message.dialogue_diagnostic == (1, 2)
        if refused and registration.version > 2:
            # dialogue refused, application-context-name-not-supported: fall back (29.002 15.1.3 / Q.773)
            offered = message.application_context
            version = 2
            if offered and offered[:-1] == map_codec.AC_SHORT_MSG_GATEWAY and 2 <= offered[-1] < registration.version:
                version = offered[-1]
            self.metrics.mwd_dialogues.labels(operation, "ac_refused").inc()
            log.info("HLR refused shortMsgGatewayContext v%d: falling back to v%d", registration.version, version)
            registration.version = version
            self._remember_version(registration.hlr, version)
            self._open(registration, count_attempt=False)
            return
        outcome = "ac_refused" if refused else "abort"
        self.metrics.mwd_dialogues.labels(operation, outcome).inc()
        if refused:
            self._fail(registration, "ac_refused")
        else:
            self._attempt_failed(registration, "abort")

    def _answered(self, registration: _Registration, operation: str, what: str, error: int | None) -> None:
        error_name = map_codec.MAP_ERROR_NAMES.get(error or -1, f"error{error}")
        if what == "reject":
            self.metrics.mwd_dialogues.labels(operation, "reject").inc()
            self._fail(registration, "rejected")
            return
        if registration.operation == OP_SRI_SM:
            absent = (what == "error" and error in ABSENT_ERRORS) or (what == "result" and registration.absent_flag)
            if absent:
                self.metrics.mwd_dialogues.labels(operation, "absent").inc()
                registration.operation, registration.attempts = OP_REPORT, 0
                self._open(registration)
                return
            if what == "result":
                self.metrics.mwd_dialogues.labels(operation, "reachable").inc()
                self._reachable(registration)
                return
        elif what == "result":
            self.metrics.mwd_dialogues.labels(operation, "result").inc()
            self._confirmed(registration)
            return
        self.metrics.mwd_dialogues.labels(operation, "error").inc()
        reason = f"map_{error_name}"
        if error in PERMANENT_ERRORS:
            self._fail(registration, reason)
        else:
            self._attempt_failed(registration, reason)

    def _attempt_failed(self, registration: _Registration, reason: str) -> None:
        if registration.attempts >= self.config.max_attempts:
            self._fail(registration, reason)
            return
        delay = self.config.retry_initial_s * 2 ** (registration.attempts - 1)
        registration.retry_at = self._clock() + delay
        log.info(
            "%s for %s failed (%s): attempt %d of %d in %.1fs",
            OPERATION_NAMES[registration.operation],
            mask(registration.subscriber),
            reason,
            registration.attempts + 1,
            self.config.max_attempts,
            delay,
        )

    def _timers(self) -> None:
        now = self._clock()
        for registration in list(self._active.values()):
            if registration.deadline is not None and now >= registration.deadline:
                operation = OPERATION_NAMES[registration.operation]
                self._close_dialogue(registration)
                self.metrics.mwd_timeouts.labels(operation).inc()
                self.metrics.mwd_dialogues.labels(operation, "timeout").inc()
                self._attempt_failed(registration, "timeout")
            elif registration.retry_at is not None and now >= registration.retry_at:
                registration.retry_at = None
                self.metrics.mwd_retries.inc()
                self._open(registration)

    # --- outcomes -------------------------------------------------------------------------------------

    def _finish(self, registration: _Registration, state: str, hold_s: int, skip: str, **fields: str) -> None:
        self._close_dialogue(registration)
        self._active.pop(registration.subscriber, None)
        now = int(self._wall())
        self._remember(registration.subscriber, hold_s, skip)
        if not registration.claimed:
            return
        try:
            ours = self.store.transition(registration.subscriber, self.owner, state, now, now + hold_s, **fields)
        except Exception as exc:
            self.metrics.mwd_store_errors.labels("update").inc()
            log.warning("registration of %s not recorded as %s: %s", mask(registration.subscriber), state, exc)
            return
        if not ours:  # cleared by an attach alert (or taken over) meanwhile
            self._cache.pop(registration.subscriber, None)
            log.info("registration of %s was cleared meanwhile; %s not recorded", mask(registration.subscriber), state)

    def _confirmed(self, registration: _Registration) -> None:
        log.info(
            "registered in the MWD of %s at HLR %s (v%d)",
            mask(registration.subscriber),
            registration.hlr or "?",
            registration.version,
        )
        fields = {"ac_version": str(registration.version)}
        if registration.hlr:
            fields["hlr"] = registration.hlr
        self._finish(registration, STATE_REGISTERED, self.config.registration_ttl_s, "registered", **fields)
        self.metrics.mwd_confirmed.inc()  # counted once recorded: a reader of the metric finds the item

    def _reachable(self, registration: _Registration) -> None:
        log.info("HLR reports %s reachable: no MWD registration", mask(registration.subscriber))
        self._finish(registration, STATE_REACHABLE, self.config.reachable_holdoff_s, "holdoff")
        self.metrics.mwd_not_needed.inc()

    def _fail(self, registration: _Registration, reason: str) -> None:
        log.warning(
            "MWD registration of %s failed (%s) after %d attempt(s) of %s",
            mask(registration.subscriber),
            reason,
            registration.attempts,
            OPERATION_NAMES[registration.operation],
        )
        self._finish(registration, STATE_FAILED, self.config.failure_holdoff_s, "holdoff", reason=reason)
        self.metrics.mwd_failed.labels(reason).inc()
