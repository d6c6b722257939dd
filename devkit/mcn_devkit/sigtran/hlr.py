"""A scripted HLR (behind an STP) answering the gateway's MAP dialogues with real TCAP/MAP bytes.

It reads what the gateway sends with the *reference* decoders (pycrate's whole-message SCCP parse and
the full `TCAP-MAP-Message` decode), not the gateway's fast paths, and answers per subscriber:

    hlr = ScriptedHlr(peer, behaviour={"447911123456": "absent"})   # peer: a ScriptedPeer already up
    hlr.start(); ...; hlr.dialogues  -> every Begin received, decoded

Behaviours (per MSISDN, else `default`):
- "absent": SRI-SM -> End(informServiceCentre MNRF + returnError absentSubscriberSM);
  reportSM-DeliveryStatus -> End(returnResult storedMSISDN)
- "absent_error_only": SRI-SM -> End(returnError absentSubscriberSM) only
- "reachable": SRI-SM -> End(returnResult IMSI + MSC number)
- "abort": TCAP P-Abort (resource limitation) to every Begin
- "silent": no answer (the gateway times out)
- "v2_only": refuses shortMsgGatewayContext v3 (Abort, AARE reject-permanent,
  application-context-name-not-supported, offering v2), then behaves as "absent"
- "unknown": SRI-SM -> End(returnError unknownSubscriber)
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from mcn_gateway.protocol import m3ua, sccp, tcap
from mcn_gateway.protocol import map as map_codec
from mcn_gateway.protocol.m3ua import ProtocolData

from .builders import HLR_GT, HLR_PC
from .peer import PeerTimeout, ScriptedNode, ScriptedPeer

HLR_IMSI = bytes.fromhex("32140510999999f9")  # TBCD of 234150999999999
SERVING_MSC = "447700000100"


@dataclass
class ReceivedDialogue:
    """One Begin the gateway sent, decoded with the reference decoders."""

    protocol_data: ProtocolData
    routing_context: int | None
    sccp: sccp.SccpUnitdata
    tcap: tuple  # the full pycrate value of TCAP-MAP-Message
    raw_tcap: bytes

    @property
    def begin(self) -> dict:
        assert self.tcap[0] == "begin", self.tcap[0]
        return self.tcap[1]

    @property
    def otid(self) -> bytes:
        return self.begin["otid"]

    @property
    def application_context(self) -> tuple[int, ...]:
        return self.begin["dialoguePortion"]["encoding"][1][1][1]["application-context-name"]

    @property
    def invoke(self) -> dict:
        [component] = self.begin["components"]
        assert component[1][0] == "invoke"
        return component[1][1]

    @property
    def opcode(self) -> int:
        return self.invoke["opcode"][1]

    @property
    def argument(self) -> dict:
        return self.invoke["argument"][1]


def address(digits: str) -> bytes:
    return map_codec.encode_address_string(digits)


def _dialogue_response(ac: tuple[int, ...], accepted: bool = True) -> dict:
    return tcap.dialogue_response(ac, accepted)


@dataclass
class ScriptedHlr(ScriptedNode):
    peer: ScriptedPeer
    behaviour: dict[str, str] = field(default_factory=dict)
    default: str = "absent"
    hlr_gt: str = HLR_GT
    dialogues: list[ReceivedDialogue] = field(default_factory=list)
    others: list[m3ua.M3uaMessage] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._init_thread("scripted-hlr")
        self._decoder = sccp.ReferenceSccpDecoder()
        self._lock = threading.Lock()

    def received(self, opcode: int | None = None) -> list[ReceivedDialogue]:
        with self._lock:
            return [d for d in self.dialogues if opcode is None or d.opcode == opcode]

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                message = self.peer.recv(timeout=0.1)
            except PeerTimeout:
                continue
            except ConnectionError:
                return
            if message.kind != m3ua.TRANSFER_DATA or message.protocol_data is None:
                self.others.append(message)
                continue
            try:
                self._dialogue(message)
            except Exception as exc:  # surfaced by the tests through `errors`
                self.errors.append(f"{type(exc).__name__}: {exc}")

    def _dialogue(self, message: m3ua.M3uaMessage) -> None:
        data = message.protocol_data
        assert data is not None
        if data.si != m3ua.SI_SCCP:
            self.others.append(message)
            return
        unitdata = self._decoder.decode(data.data)
        assert not isinstance(unitdata, int)
        value = tcap.decode_full(unitdata.data)
        received = ReceivedDialogue(data, message.uint32(0x0006), unitdata, value, unitdata.data)
        with self._lock:
            self.dialogues.append(received)
        if value[0] != "begin":
            return  # e.g. the gateway ending a dialogue we kept open
        msisdn = unitdata.called.global_title or ""
        answer = self.answer(received, self.behaviour.get(msisdn, self.default))
        if answer is None:
            return
        udt = sccp.encode_udt(
            unitdata.calling.raw, sccp.encode_gt_address(self.hlr_gt, sccp.SSN_HLR), answer, unitdata.protocol_class
        )
        reply = ProtocolData(opc=HLR_PC, dpc=data.opc, si=data.si, ni=data.ni, mp=0, sls=data.sls, data=udt)
        self.peer.send(m3ua.encode_data(reply, routing_context=received.routing_context))

    def answer(self, received: ReceivedDialogue, behaviour: str) -> bytes | None:
        otid, ac = received.otid, received.application_context
        invoke_id = received.invoke["invokeId"][1]
        msisdn = received.argument["msisdn"]
        if behaviour == "silent":
            return None
        if behaviour == "abort":
            return tcap.encode_p_abort(otid, tcap.P_ABORT_RESOURCE_LIMITATION)
        if behaviour == "v2_only":
            if ac[-1] > 2:
                refusal = _dialogue_response((*ac[:-1], 2), accepted=False)
                return tcap.encode_message(("abort", {"dtid": otid, "reason": ("u-abortCause", refusal)}))
            behaviour = "absent"
        end: dict = {"dtid": otid, "dialoguePortion": _dialogue_response(ac)}
        opcode = received.opcode
        if opcode == map_codec.OP_REPORT_SM_DELIVERY_STATUS:
            result = (("MAP-SM-DataTypes", "ReportSM-DeliveryStatusRes"), {"storedMSISDN": msisdn})
            end["components"] = [_result(invoke_id, opcode, result)]
        elif behaviour == "reachable":
            routing = {"imsi": HLR_IMSI, "locationInfoWithLMSI": {"networkNode-Number": address(SERVING_MSC)}}
            end["components"] = [_result(invoke_id, opcode, (("MAP-SM-DataTypes", "RoutingInfoForSM-Res"), routing))]
        elif behaviour == "unknown":
            end["components"] = [_error(invoke_id, map_codec.ERR_UNKNOWN_SUBSCRIBER, None)]
        else:
            absent = (("MAP-ER-DataTypes", "AbsentSubscriberSM-Param"), {"absentSubscriberDiagnosticSM": 1})
            components = [_error(invoke_id, map_codec.ERR_ABSENT_SUBSCRIBER_SM, absent)]
            if behaviour == "absent":
                inform = {"storedMSISDN": msisdn, "mw-Status": (0b010000, 6)}  # mnrf-Set
                components.insert(0, _inform(invoke_id + 1, inform))
            end["components"] = components
        return tcap.encode_message(("end", end))


def _result(invoke_id: int, opcode: int, result: tuple) -> tuple:
    body = {"invokeId": ("present", invoke_id), "result": {"opcode": ("local", opcode), "result": result}}
    return ("basicROS", ("returnResult", body))


def _error(invoke_id: int, code: int, parameter: tuple | None) -> tuple:
    body: dict = {"invokeId": ("present", invoke_id), "errcode": ("local", code)}
    if parameter is not None:
        body["parameter"] = parameter
    return ("basicROS", ("returnError", body))


def _inform(invoke_id: int, argument: dict) -> tuple:
    body = {
        "invokeId": ("present", invoke_id),
        "opcode": ("local", map_codec.OP_INFORM_SERVICE_CENTRE),
        "argument": (("MAP-SM-DataTypes", "InformServiceCentreArg"), argument),
    }
    return ("basicROS", ("invoke", body))
