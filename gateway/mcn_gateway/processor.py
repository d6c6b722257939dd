"""What the gateway does with each MTP3 user message: decode, filter, map to events, answer.

Pure logic: it takes a decoded M3UA Protocol Data and returns the events to spool and
the Protocol Data answers to send. It knows nothing of sockets or of AWS.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import NamedTuple, Protocol

from mcn_core.numbers import mask

from .config import FirewallConfig, SignallingConfig
from .metrics import Metrics
from .protocol import DecodeError, dialogues
from .protocol import isup as isup_codec
from .protocol import map as map_codec
from .protocol import sccp as sccp_codec
from .protocol import tcap as tcap_codec
from .protocol.m3ua import SI_ISUP, SI_SCCP, ProtocolData

log = logging.getLogger("mcn_gateway.signalling")

KIND_MISSED_CALL = "missed_call"
KIND_ATTACH = "attach"

_ISUP_NAMES = {0x01: "IAM", 0x06: "ACM", 0x07: "CON", 0x09: "ANM", 0x0C: "REL", 0x10: "RLC", 0x2C: "CPG", 0x12: "RSC"}
_ISUP_NAMES = {**isup_codec.MESSAGE_NAMES, **_ISUP_NAMES}  # the flash-call trunk's supervision messages too
_PRESENTATION = {
    isup_codec.PRESENTATION_ALLOWED: "allowed",
    isup_codec.PRESENTATION_RESTRICTED: "restricted",
    isup_codec.PRESENTATION_UNAVAILABLE: "unavailable",
}
_ATTACH_SOURCES = {
    map_codec.OP_ALERT_SERVICE_CENTRE: "alertServiceCentre",
    map_codec.OP_ALERT_SERVICE_CENTRE_WITHOUT_RESULT: "alertServiceCentre",
    map_codec.OP_READY_FOR_SM: "readyForSM",
    map_codec.OP_UPDATE_LOCATION: "updateLocation",
}


class CircuitOwner(Protocol):
    """Takes the ISUP messages of circuits it owns (the flash-call trunk): (handled, answers)."""

    def owns(self, data: ProtocolData, cic: int) -> bool: ...

    def handle(self, data: ProtocolData) -> tuple[bool, list[ProtocolData]]: ...


class Event(NamedTuple):  # immutable; a named tuple, as ProtocolData (built per message)
    kind: str  # KIND_MISSED_CALL or KIND_ATTACH
    body: dict


@dataclass(slots=True)
class Outcome:
    events: list[Event] = field(default_factory=list)
    replies: list[ProtocolData] = field(default_factory=list)


_second_cache: tuple[int, str] = (0, "1970-01-01T00:00:00")


def _iso(timestamp: float) -> str:
    """`datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds")`, the date and time of
    the second formatted once per second (the same rounding: microseconds half-even, then truncated)."""
    global _second_cache
    fraction, whole = math.modf(timestamp)
    seconds, micros = int(whole), round(fraction * 1e6)
    if micros >= 1_000_000 or micros < 0:  # rounded up into the next second, or before 1970
        return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds")
    cached_second, text = _second_cache
    if cached_second != seconds:
        text = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        _second_cache = (seconds, text)  # one tuple: threads see the old pair or the new one
    return f"{text}.{micros // 1000:03d}+00:00"


def _circuit(data: ProtocolData, cic: int) -> tuple[int, int, int]:
    """A circuit, whichever direction the message travels (IAM one way, ANM/REL the other)."""
    return (min(data.opc, data.dpc), max(data.opc, data.dpc), cic)


def _reply(received: ProtocolData, data: bytes) -> ProtocolData:
    return ProtocolData(
        opc=received.dpc,
        dpc=received.opc,
        si=received.si,
        ni=received.ni,
        mp=received.mp,
        sls=received.sls,
        data=data,
    )


class SignallingProcessor:
    """Maps ISUP and MAP signalling to events. `passive=True` decodes without answering (replay/tap)."""

    def __init__(
        self,
        signalling: SignallingConfig,
        firewall: FirewallConfig,
        metrics: Metrics,
        passive: bool = False,
        transactions: dialogues.TransactionRegistry | None = None,
        origination: CircuitOwner | None = None,
    ) -> None:
        self.signalling = signalling
        self.firewall = firewall
        self.metrics = metrics
        self.passive = passive
        self.transactions = transactions if transactions is not None else dialogues.TransactionRegistry()
        self.origination = origination  # the flash-call trunk's circuits (mcn_gateway.origination)
        self._isup = isup_codec.IsupDecoder()
        self._sccp = sccp_codec.SccpDecoder()
        self._tcap = tcap_codec.TcapDecoder()
        self._segments = sccp_codec.SegmentReassembler()
        self._unanswered: dict[tuple[int, int, int], Event] = {}  # passive: calls not yet answered or released
        self._counter_children: dict[tuple[int, tuple[str, ...]], object] = {}
        self._handled_opcodes = {map_codec.OP_ALERT_SERVICE_CENTRE, map_codec.OP_ALERT_SERVICE_CENTRE_WITHOUT_RESULT}
        if signalling.ready_for_sm:
            self._handled_opcodes.add(map_codec.OP_READY_FOR_SM)
        if passive:
            self._handled_opcodes.add(map_codec.OP_UPDATE_LOCATION)

    def _inc(self, counter: object, *labels: str) -> None:
        # labels() costs a lock and a dict build per call; the label sets here are few and fixed
        key = (id(counter), labels)
        child = self._counter_children.get(key)
        if child is None:
            child = self._counter_children[key] = counter.labels(*labels)
        child.inc()

    def handle(self, data: ProtocolData, timestamp: float) -> Outcome:
        """Never raises on bad input: decode errors are counted and logged."""
        outcome = Outcome()
        try:
            if data.si == SI_ISUP:
                self._isup_message(data, timestamp, outcome)
            elif data.si == SI_SCCP:
                self._sccp_message(data, timestamp, outcome)
            else:
                self._inc(self.metrics.messages, "mtp3", f"si{data.si}")
        except DecodeError as exc:
            self._inc(self.metrics.decode_errors, exc.layer)
            log.warning("undecodable message from opc %s: %s", data.opc, exc)
        except Exception as exc:  # a library bug on odd input must not take the association down
            self._inc(self.metrics.decode_errors, "internal")
            log.exception("unexpected error handling a message from opc %s: %s", data.opc, type(exc).__name__)
        return outcome

    # --- ISUP ------------------------------------------------------------------------------------------

    def _isup_message(self, data: ProtocolData, timestamp: float, outcome: Outcome) -> None:
        cic, message_type = self._isup.peek(data.data)
        self._inc(self.metrics.messages, "isup", _ISUP_NAMES.get(message_type, f"type{message_type:#04x}"))
        if self.origination is not None and not self.passive and self.origination.owns(data, cic):
            handled, replies = self.origination.handle(data)
            outcome.replies.extend(replies)
            if handled:
                return  # else an incoming call on the trunk: the missed-call path answers it
        if message_type == isup_codec.MSG_IAM:
            self._iam(data, timestamp, outcome)
        elif message_type == isup_codec.MSG_RLC:
            log.debug("RLC for cic %s from opc %s: circuit idle", cic, data.opc)
        elif message_type == isup_codec.MSG_REL and not self.passive:
            # the exchange cleared first (e.g. caller hung up): confirm with RLC
            outcome.replies.append(_reply(data, isup_codec.encode_rlc(cic)))
            self._inc(self.metrics.replies, "RLC")
        elif self.passive and message_type in (isup_codec.MSG_ANM, isup_codec.MSG_CON, isup_codec.MSG_REL):
            pending = self._unanswered.pop(_circuit(data, cic), None)
            if pending is None:
                return
            if message_type == isup_codec.MSG_REL:  # released before any answer: missed
                outcome.events.append(pending)
                self._inc(self.metrics.events, KIND_MISSED_CALL)
            else:
                self._inc(self.metrics.events_suppressed, "answered")
                log.info("call on cic %s was answered: not a missed call", cic)

    def flush(self) -> list[Event]:
        """Passive mode, end of a capture: calls whose fate it does not show count as missed."""
        events = list(self._unanswered.values())
        self._unanswered.clear()
        for _ in events:
            self._inc(self.metrics.events, KIND_MISSED_CALL)
        return events

    def _platform_subscriber(self, iam: isup_codec.InitialAddress) -> isup_codec.IsupNumber | bool | None:
        """For an IAM with no redirection: False when its called number is not a platform number; else the
        subscriber the platform number carries (prefix routing: <routing number><MSISDN>), or None."""
        called = iam.called
        if called is None:
            return False
        for number in self.signalling.platform_numbers:
            if called.digits.startswith(number):
                rest = called.digits[len(number) :]
                return isup_codec.IsupNumber(rest, called.nature_of_address) if rest else None
        return False

    def _iam(self, data: ProtocolData, timestamp: float, outcome: Outcome) -> None:
        iam = self._isup.decode_iam(data.data, complete=False)
        subscriber = iam.subscriber
        not_recorded = None  # why this IAM is no missed call
        if self.firewall.allowed_opcs and data.opc not in self.firewall.allowed_opcs:
            self._inc(self.metrics.firewall_rejects, "opc")
            log.warning("IAM from a point code not allowed (opc %s): released, no event", data.opc)
            not_recorded = "firewall"
        elif not iam.diverted:
            # an undiverted call is a missed call only when it reaches a platform number
            platform = self._platform_subscriber(iam)
            if platform is False:
                not_recorded = "not_diverted"
            elif platform is None:
                not_recorded = "no_subscriber"
            else:
                subscriber = platform
        if not self.passive:
            # the platform never answers: release (subscriber absent, or the configured cause for a call
            # that was not diverted to it)
            cause = (
                self.signalling.release_cause
                if not_recorded in (None, "firewall")
                else (self.signalling.not_diverted_release_cause)
            )
            outcome.replies.append(_reply(data, isup_codec.encode_rel(iam.cic, cause)))
            self._inc(self.metrics.replies, "REL")
        if not_recorded == "firewall":
            return
        if not_recorded is not None:
            self._inc(self.metrics.events_suppressed, not_recorded)
            log.info(
                "IAM on cic %s from opc %s: %s, not a missed call", iam.cic, data.opc, not_recorded.replace("_", " ")
            )
            return
        if subscriber is None:
            raise DecodeError("isup", "IAM without a called / redirecting number")
        presentation = _PRESENTATION.get(iam.calling_presentation, "unavailable")
        caller = iam.calling.as_event_number() if iam.calling and presentation == "allowed" else None
        if presentation == "restricted" and self.signalling.clir_policy == "drop":
            self._inc(self.metrics.events_suppressed, "clir")
            log.info("withheld call to %s dropped (clir_policy=drop)", mask(subscriber.digits))
            return
        epoch_ms = round(timestamp * 1000)
        body = {
            "call_ref": f"{data.opc}-{iam.cic}-{epoch_ms}",
            "subscriber": subscriber.as_event_number(),
            "caller": caller,
            "presentation": presentation,
            "call_time": _iso(timestamp),
            "reason": iam.forwarding_reason,
            "msc": self.signalling.msc_names.get(str(data.opc), f"pc:{data.opc}"),
        }
        if log.isEnabledFor(logging.INFO):  # masking costs more than the check
            log.info(
                "missed call to %s from %s (%s, cic %s)",
                mask(body["subscriber"]),
                mask(caller) if caller else "withheld" if presentation == "restricted" else "unknown",
                body["reason"],
                iam.cic,
            )
        if self.passive:
            # a tap sees the whole call: it is missed only if released before an answer (ANM/CON)
            circuit = _circuit(data, iam.cic)
            earlier = self._unanswered.pop(circuit, None)
            if earlier is not None:  # the circuit was seized again: the earlier call ended unanswered
                outcome.events.append(earlier)
                self._inc(self.metrics.events, KIND_MISSED_CALL)
            self._unanswered[circuit] = Event(KIND_MISSED_CALL, body)
            return
        outcome.events.append(Event(KIND_MISSED_CALL, body))
        self._inc(self.metrics.events, KIND_MISSED_CALL)

    # --- SCCP / TCAP / MAP -----------------------------------------------------------------------------

    def _sccp_message(self, data: ProtocolData, timestamp: float, outcome: Outcome) -> None:
        unitdata = self._sccp.decode(data.data)
        if isinstance(unitdata, int):
            self._inc(self.metrics.messages, "sccp", f"type{unitdata:#04x}")
            return
        self._inc(
            self.metrics.messages,
            "sccp",
            {9: "UDT", 0x0A: "UDTS", 0x11: "XUDT", 0x12: "XUDTS", 0x13: "LUDT"}[unitdata.message_type],
        )
        if unitdata.return_cause is not None:
            log.warning("SCCP returned a message to %s (cause %s)", unitdata.called.describe(), unitdata.return_cause)
            self._returned(unitdata)
            return
        if unitdata.management:
            self._inc(self.metrics.messages, "sccp", "SCMG")
            return  # SCCP management (SSA/SSP/SST) carries no TCAP
        if unitdata.segmented:
            data_reassembled = self._segments.add(unitdata, timestamp)
            if data_reassembled is None:
                self._inc(self.metrics.messages, "sccp", "segment")
                return
            unitdata = dataclasses.replace(unitdata, data=data_reassembled, segmented=False, segmentation=None)
        message = self._tcap.decode(unitdata.data)
        self._inc(self.metrics.messages, "tcap", message.name)
        if message.kind == tcap_codec.TCAP_BEGIN:
            self._begin(data, unitdata, message, timestamp, outcome)
        elif message.kind in (tcap_codec.TCAP_CONTINUE, tcap_codec.TCAP_END, tcap_codec.TCAP_ABORT):
            handler = self.transactions.handler_for(message.dtid)
            if handler is not None and not self.passive and (reason := self._origin_allowed(data, unitdata)):
                # an answer to a dialogue we opened must come from an allowed origin too: a forged End
                # would otherwise settle a registration; the dialogue times out and is retried
                self._inc(self.metrics.firewall_rejects, f"answer_{reason}")
                log.warning(
                    "%s to a dialogue of ours from %s refused (%s)", message.name, unitdata.calling.describe(), reason
                )
                return
            if handler is not None:
                # a dialogue this gateway opened (MAP client side): its owner decides what follows
                for reply in handler(message, unitdata.calling.global_title):
                    outcome.replies.append(self._sccp_reply(data, unitdata, reply))
            elif message.kind == tcap_codec.TCAP_CONTINUE and not self.passive:
                abort = tcap_codec.encode_p_abort(message.otid, tcap_codec.P_ABORT_UNRECOGNIZED_TRANSACTION_ID)
                outcome.replies.append(self._sccp_reply(data, unitdata, abort))
                self._inc(self.metrics.replies, "TCAP-Abort")

    def _returned(self, unitdata: sccp_codec.SccpUnitdata) -> None:
        """A UDTS/XUDTS: if it carries a Begin of a dialogue this gateway opened, tell its owner at once
        (no route to the HLR) instead of letting the dialogue time out; an answer of ours is not retried."""
        if unitdata.segmented or not unitdata.data:
            return
        try:
            message = self._tcap.decode(unitdata.data)
        except DecodeError:
            return
        if message.kind == tcap_codec.TCAP_BEGIN:
            handler = self.transactions.handler_for(message.otid)
            if handler is not None:
                handler(message, None)

    def _sccp_reply(self, data: ProtocolData, unitdata: sccp_codec.SccpUnitdata, tcap: bytes) -> ProtocolData:
        """The answer goes back in the kind of message that came: XUDT for XUDT (and LUDT), else UDT."""
        encode = sccp_codec.encode_udt if unitdata.message_type == sccp_codec.UDT else sccp_codec.encode_xudt
        return _reply(data, encode(unitdata.calling.raw, unitdata.called.raw, tcap, unitdata.protocol_class))

    def _origin_allowed(self, data: ProtocolData, unitdata: sccp_codec.SccpUnitdata) -> str | None:
        """None when allowed, else the reject reason."""
        if self.firewall.allowed_opcs and data.opc not in self.firewall.allowed_opcs:
            return "opc"
        prefixes = self.firewall.allowed_calling_gt_prefixes
        if prefixes:
            gt = unitdata.calling.global_title
            if not gt or not any(gt.startswith(prefix) for prefix in prefixes):
                return "calling_gt"
        return None

    def _begin(
        self,
        data: ProtocolData,
        unitdata: sccp_codec.SccpUnitdata,
        message: tcap_codec.TcapMessage,
        timestamp: float,
        outcome: Outcome,
    ) -> None:
        invokes = message.invokes()
        for invoke in invokes:
            # unknown opcodes share one label: a peer must not be able to grow the metric set at will
            name = map_codec.MAP_OPERATION_NAMES.get(invoke.opcode or -1, "other")
            self._inc(self.metrics.messages, "map", name)
        if self.passive:
            for invoke in invokes:
                if invoke.opcode in self._handled_opcodes:
                    self._attach(unitdata, message, invoke, timestamp, outcome)
            return
        reason = self._origin_allowed(data, unitdata)
        if reason is not None:
            self._inc(self.metrics.firewall_rejects, reason)
            log.warning("TCAP Begin from %s refused by the firewall (%s): aborted", unitdata.calling.describe(), reason)
            abort = tcap_codec.encode_p_abort(message.otid, tcap_codec.P_ABORT_RESOURCE_LIMITATION)
            outcome.replies.append(self._sccp_reply(data, unitdata, abort))
            self._inc(self.metrics.replies, "TCAP-Abort")
            return
        if not invokes:
            return
        invoke = invokes[0]
        if invoke.opcode not in self._handled_opcodes or invoke.opcode not in self.firewall.allowed_opcodes:
            self._inc(self.metrics.firewall_rejects, "opcode")
            log.warning("MAP opcode %s from %s not allowed: rejected", invoke.opcode, unitdata.calling.describe())
            reject = tcap_codec.encode_end_reject(
                message.otid,
                invoke.invoke_id,
                message.application_context,
                tcap_codec.INVOKE_PROBLEM_UNRECOGNIZED_OPERATION,
            )
            outcome.replies.append(self._sccp_reply(data, unitdata, reject))
            self._inc(self.metrics.replies, "TCAP-End-Reject")
            return
        try:
            self._attach(unitdata, message, invoke, timestamp, outcome)
        except DecodeError:
            reject = tcap_codec.encode_end_reject(
                message.otid,
                invoke.invoke_id,
                message.application_context,
                tcap_codec.INVOKE_PROBLEM_MISTYPED_PARAMETER,
            )
            outcome.replies.append(self._sccp_reply(data, unitdata, reject))
            self._inc(self.metrics.replies, "TCAP-End-Reject")
            raise
        # v1 alertServiceCentreWithoutResult has no result: a bare End closes the dialogue
        invoke_id = None if invoke.opcode == map_codec.OP_ALERT_SERVICE_CENTRE_WITHOUT_RESULT else invoke.invoke_id
        end = tcap_codec.encode_end_result(message.otid, invoke_id, message.application_context)
        outcome.replies.append(self._sccp_reply(data, unitdata, end))
        self._inc(self.metrics.replies, "TCAP-End")

    def _attach(
        self,
        unitdata: sccp_codec.SccpUnitdata,
        message: tcap_codec.TcapMessage,
        invoke: tcap_codec.Component,
        timestamp: float,
        outcome: Outcome,
    ) -> None:
        if invoke.parameter is None:
            raise DecodeError("map", f"opcode {invoke.opcode} without an argument")
        argument = map_codec.decode_argument(invoke.opcode, invoke.parameter)
        if invoke.opcode in (map_codec.OP_ALERT_SERVICE_CENTRE, map_codec.OP_ALERT_SERVICE_CENTRE_WITHOUT_RESULT):
            digits, international = map_codec.decode_address_string(argument["msisdn"])
            subscriber = ("+" + digits) if international else digits
        else:
            # readyForSM / updateLocation identify the subscriber by IMSI only
            subscriber = map_codec.decode_tbcd(argument["imsi"])
        if not subscriber.strip("+"):
            raise DecodeError("map", "empty subscriber address")
        origin = unitdata.calling.describe()
        body = {
            "subscriber": subscriber,
            "attach_time": _iso(timestamp),
            "source": _ATTACH_SOURCES[invoke.opcode],
            "hlr": origin[:64],
            "event_ref": f"{(message.otid or b'').hex()}@{origin}"[:128],
        }
        outcome.events.append(Event(KIND_ATTACH, body))
        self._inc(self.metrics.events, KIND_ATTACH)
        log.info("attach of %s (%s from %s)", mask(subscriber), body["source"], origin)
