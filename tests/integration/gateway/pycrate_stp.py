"""A strict STP/SG and MSC/HLR written directly on pycrate's own M3UA, ISUP, SCCP and TCAP/MAP objects.

It shares no code with the gateway (no `mcn_gateway` import): messages are built and parsed with
`pycrate_mobile.M3UA`, `pycrate_mobile.ISUP`, `pycrate_mobile.SCCP`, `pycrate_mobile.TS29002_MAPIE`
and `pycrate_asn1dir.TCAP_MAPv2v3`, so an agreement between the two is not one by construction.

Like a real STP (osmo-stp's `asp NAME <remote-port> <local-port> m3ua tcp`), it accepts the ASP only
from a provisioned source IP *and* port and closes anything else at once. Its behaviour can be changed
while it runs: the AS state it notifies (NTFY AS-ACTIVE / AS-INACTIVE / AS-PENDING / none), whether it
answers BEAT, whether it closes every connection right after accepting it; it can send DUNA, DAVA,
SCON and DATA, and be stopped and started again on the same port (an STP restart).
"""

from __future__ import annotations

import contextlib
import queue
import socket
import struct
import threading
import time
from dataclasses import dataclass, field

from pycrate_asn1dir import TCAP_MAPv2v3
from pycrate_mobile import ISUP as pi
from pycrate_mobile import M3UA as pm
from pycrate_mobile import SCCP as ps
from pycrate_mobile import TS29002_MAPIE as mapie

AS_ACTIVE, AS_INACTIVE, AS_PENDING = 3, 2, 4
NTFY_AS_STATE_CHANGE = 1


def _m3ua(message: object) -> bytes:
    return message.to_bytes()


def ntfy(info: int, routing_contexts: list[int] | None = None, status_type: int = NTFY_AS_STATE_CHANGE) -> bytes:
    message = pm.M3UA_NTFY()
    message[1][0][2].set_val({"Type": status_type, "Info": info})
    if routing_contexts:
        message[1].add_prm(pm.M3UATag.RoutingContext, routing_contexts)
    return _m3ua(message)


def _ssnm(cls: type, point_codes: list[int], congestion: int | None = None) -> bytes:
    message = cls()
    message[1][0][2].set_val([{"Mask": 0, "PC": pc} for pc in point_codes])
    if congestion is not None:
        message[1].add_prm(pm.M3UATag.CongestionInd, congestion)
    return _m3ua(message)


def duna(point_codes: list[int]) -> bytes:
    return _ssnm(pm.M3UA_DUNA, point_codes)


def dava(point_codes: list[int]) -> bytes:
    return _ssnm(pm.M3UA_DAVA, point_codes)


def scon(point_codes: list[int], level: int = 1) -> bytes:
    return _ssnm(pm.M3UA_SCON, point_codes, level)


def data(opc: int, dpc: int, si: int, payload: bytes, routing_context: int | None, sls: int = 0) -> bytes:
    message = pm.M3UA_DATA()
    message[1].clear()
    if routing_context is not None:
        message[1].add_prm(pm.M3UATag.RoutingContext, [routing_context])
    message[1].add_prm(
        pm.M3UATag.ProtocolData, {"OPC": opc, "DPC": dpc, "SI": si, "NI": 2, "MP": 0, "SLS": sls, "Data": payload}
    )
    return _m3ua(message)


@dataclass
class Received:
    """An M3UA message the STP received, parsed by pycrate."""

    kind: tuple[int, int]
    message: object
    at: float = field(default_factory=time.monotonic)

    def params(self) -> dict[int, object]:
        return {int(p[0].get_val()): p[2] for p in self.message[1]}

    def protocol_data(self) -> dict:
        value = self.params()[pm.M3UATag.ProtocolData]
        return {name: value[name].get_val() for name in ("OPC", "DPC", "SI", "NI", "SLS", "Data")}

    def routing_contexts(self) -> list[int]:
        value = self.params().get(pm.M3UATag.RoutingContext)
        if value is None:
            return []
        return list(struct.unpack(f"!{len(value.to_bytes()) // 4}I", value.to_bytes()))


class PycrateStp:
    """A strict STP on 127.0.0.1. `asp_address`: the only (ip, port) an ASP may connect from."""

    def __init__(
        self,
        asp_address: tuple[str, int] | None,
        routing_context: int = 100,
        port: int = 0,
        as_state: int | None = AS_ACTIVE,
        answer_beat: bool = True,
        close_on_accept: bool = False,
    ) -> None:
        self.asp_address = asp_address
        self.routing_context = routing_context
        self.as_state = as_state  # what the STP notifies after ASPAC_ACK (None: no NTFY at all)
        self.answer_beat = answer_beat
        self.close_on_accept = close_on_accept
        self.connections: list[tuple[tuple[str, int], float]] = []  # (peer address, when): every accept
        self.rejected: list[tuple[str, int]] = []
        self.inbox: queue.Queue[Received | None] = queue.Queue()
        self.log: list[Received] = []
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", port))
        self._listener.listen(16)
        self.port = self._listener.getsockname()[1]
        self._closed = False
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._thread.start()

    # --- lifecycle --------------------------------------------------------------------------------------

    def close(self) -> None:
        """Stop the STP: the listener and the ASP's connection go (a restart is a new PycrateStp on `port`)."""
        self._closed = True
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() blocked on it, freeing the port
        with contextlib.suppress(OSError):
            self._listener.close()
        self._thread.join(timeout=10)
        self.drop()

    def drop(self) -> None:
        with self._lock:
            sock, self._sock = self._sock, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def __enter__(self) -> PycrateStp:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _accept_loop(self) -> None:
        while not self._closed:
            try:
                sock, peer = self._listener.accept()
            except OSError:
                return
            self.connections.append((peer, time.monotonic()))
            if self.asp_address is not None and peer != self.asp_address:
                # osmo-stp: "m3ua connection without matching ASP definition ... terminating"
                self.rejected.append(peer)
                sock.close()
                continue
            if self.close_on_accept:
                sock.close()
                continue
            self.drop()
            with self._lock:
                self._sock = sock
            threading.Thread(target=self._serve, args=(sock,), daemon=True).start()

    # --- the ASP's connection ---------------------------------------------------------------------------

    def send(self, raw: bytes) -> None:
        with self._lock:
            sock = self._sock
        assert sock is not None, "no ASP connected"
        sock.sendall(raw)

    def _serve(self, sock: socket.socket) -> None:
        buffer = b""
        try:
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                buffer += chunk
                while len(buffer) >= 8:
                    length = struct.unpack_from("!I", buffer, 4)[0]
                    if len(buffer) < length:
                        break
                    raw, buffer = buffer[:length], buffer[length:]
                    message, error = pm.parse_M3UA(raw)
                    if message is None or error:
                        raise AssertionError(f"the STP could not parse {raw.hex()} (pycrate error {error})")
                    header = message[0]
                    received = Received((header["Class"].get_val(), header["Type"].get_val()), message)
                    self.log.append(received)
                    self._answer(sock, received)
                    self.inbox.put(received)
        except OSError:
            pass
        self.inbox.put(None)

    def _answer(self, sock: socket.socket, received: Received) -> None:
        kind = received.kind
        if kind == (3, 1):  # ASPUP -> ASPUP_ACK, NTFY AS-INACTIVE (what osmo-stp does)
            sock.sendall(_m3ua(pm.M3UA_ASPUpAck()))
            sock.sendall(ntfy(AS_INACTIVE, [self.routing_context]))
        elif kind == (4, 1):  # ASPAC -> ASPAC_ACK (+ NTFY of the AS state, if the AS goes active)
            ack = pm.M3UA_ASPActAck()
            params = received.params()
            if pm.M3UATag.TrafficModeType in params:
                ack[1].add_prm(pm.M3UATag.TrafficModeType, params[pm.M3UATag.TrafficModeType].get_val())
            ack[1].add_prm(pm.M3UATag.RoutingContext, received.routing_contexts() or [self.routing_context])
            sock.sendall(_m3ua(ack))
            if self.as_state is not None:
                sock.sendall(ntfy(self.as_state, [self.routing_context]))
        elif kind == (4, 2):  # ASPIA -> ASPIA_ACK, NTFY AS-PENDING (the last ASP of the AS went)
            ack = pm.M3UA_ASPInactAck()
            ack[1].add_prm(pm.M3UATag.RoutingContext, received.routing_contexts() or [self.routing_context])
            sock.sendall(_m3ua(ack))
            sock.sendall(ntfy(AS_PENDING, [self.routing_context]))
        elif kind == (3, 2):  # ASPDN -> ASPDN_ACK
            sock.sendall(_m3ua(pm.M3UA_ASPDownAck()))
        elif kind == (3, 3) and self.answer_beat:  # BEAT -> BEAT_ACK with the same data
            ack = pm.M3UA_BEATAck()
            ack[1].add_prm(pm.M3UATag.HeartbeatData, received.params()[pm.M3UATag.HeartbeatData].get_val())
            sock.sendall(_m3ua(ack))

    def expect(self, kind: tuple[int, int], timeout: float = 15.0) -> Received:
        """The next message of that kind (others on the way are kept in `log`)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                received = self.inbox.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"the STP received no {kind} within {timeout}s") from None
            if received is None:
                raise ConnectionError("the ASP's connection ended")
            if received.kind == kind:
                return received

    def wait_active(self, timeout: float = 15.0) -> Received:
        return self.expect((4, 1), timeout)


# --- ISUP, SCCP, TCAP/MAP on pycrate ------------------------------------------------------------------


def _isup_number(option: object, digits: str, nai: int = 4, presentation: int | None = None) -> None:
    option["NAI"].set_val(nai)
    option["NumPlan"].set_val(1)
    if presentation is not None:
        option["AddrPresInd"].set_val(presentation)
        option["ScreeningInd"].set_val(3)
    option.set_num(digits)


def iam(
    cic: int,
    called: str,
    caller: str | None = "33612345678",
    original_called: str | None = None,
    redirecting_reason: int | None = None,
) -> bytes:
    """An ISUP IAM; diverted (original called number + redirection information) only when asked."""
    message = pi.InitialAddress()
    message["CIC"].set_val(cic)
    message["ForwardCallInd"]["ISDNUserPartInd"].set_val(1)
    message["CallingPartyCat"].set_val(10)
    _isup_number(message["CalledPartyNum"][1], called)
    options = message["Opt"]
    if caller:
        options["CallingPartyNum"].set_trans(False)
        _isup_number(options["CallingPartyNum"][2], caller, presentation=0)
    if original_called:
        options["OriginalCalledNum"].set_trans(False)
        _isup_number(options["OriginalCalledNum"][2], original_called)
    if redirecting_reason is not None:
        info = options["RedirectionInfo"]
        info.set_trans(False)
        info[2]["RedirectingInd"].set_val(3)
        info[2]["RedirectingReason"].set_val(redirecting_reason)
        info[2]["RedirectCounter"].set_val(1)
    options["EOO"].set_trans(False)
    return message.to_bytes()


def answer(cic: int) -> bytes:
    message = pi.Answer()
    message["CIC"].set_val(cic)
    return message.to_bytes()


def release_cause(raw: bytes) -> tuple[int, int]:
    """(CIC, cause) of a REL, parsed by pycrate."""
    message, error = pi.parse_ISUP(raw)
    assert message is not None and not error, f"not an ISUP message pycrate parses: {raw.hex()}"
    assert message["Type"].get_val() == 0x0C, f"not a REL: {message['Type'].get_val()}"
    cause = message["CauseInd"][1]
    return message["CIC"].get_val(), (cause["Class"].get_val() << 4) | cause["Cause"].get_val()


def gt_address(digits: str, ssn: int, filler: int = 0x0) -> bytes:
    """An SCCP party address routed on GT (indicator 4, E.164, international), odd-length digits ending
    in the given filler nibble (pycrate writes 0; F is set on the encoded bytes)."""
    address = ps._SCCPAddr()
    address["AddrInd"]["RoutingInd"].set_val(0)
    address["AddrInd"]["GTInd"].set_val(4)
    address["AddrInd"]["SSNInd"].set_val(1)
    address["AddrInd"]["PCInd"].set_val(0)
    address["SSN"].set_val(ssn)
    gt = address["GT"].get_alt()
    gt["TranslationType"].set_val(0)
    gt["NumberingPlan"].set_val(1)
    gt["NAI"].set_val(4)
    gt.set_addr_bcd(digits)
    raw = address.to_bytes()
    if len(digits) % 2:
        raw = raw[:-1] + bytes([(raw[-1] & 0x0F) | (filler << 4)])
    return raw


def udt(called: bytes, calling: bytes, payload: bytes) -> bytes:
    message = ps.SCCPUnitData()
    message["ProtocolClass"][1].set_val(0)
    message["CalledPartyAddr"].from_bytes(bytes([len(called)]) + called)
    message["CallingPartyAddr"].from_bytes(bytes([len(calling)]) + calling)
    message["Data"].from_bytes(bytes([len(payload)]) + payload)
    return message.to_bytes()


def parse_udt(raw: bytes) -> tuple[bytes, bytes, bytes]:
    """(called, calling, data) of an SCCP UDT or XUDT, parsed by pycrate."""
    message = ps.SCCPTypeClasses[raw[0]]()
    message.from_bytes(raw)
    return (
        message["CalledPartyAddr"][1].to_bytes(),
        message["CallingPartyAddr"][1].to_bytes(),
        message["Data"][1].to_bytes(),
    )


_TCAP = TCAP_MAPv2v3.GLOBAL.MOD["TCAP-MAP-Messages"]["TCAP-MAP-Message"]
_DIALOGUE_AS = (0, 0, 17, 773, 1, 1, 1)
_SHORT_MSG_ALERT_V2 = (0, 4, 0, 0, 1, 0, 23, 2)


def _isdn_address(digits: str) -> bytes:
    address = mapie.AddressString()
    address["Ext"].set_val(1)
    address["NumType"].set_val(1)
    address["NumPlan"].set_val(1)
    address["Num"].set_val(digits)
    return address.to_bytes()


def alert_service_centre(otid: int, subscriber: str, service_centre: str, invoke_id: int = 1) -> bytes:
    """TCAP Begin, shortMsgAlertContext-v2, MAP alertServiceCentre (opcode 64)."""
    _TCAP.set_val(
        (
            "begin",
            {
                "otid": otid.to_bytes(4, "big"),
                "dialoguePortion": {
                    "direct-reference": _DIALOGUE_AS,
                    "encoding": (
                        "single-ASN1-type",
                        (
                            "DialoguePDU",
                            (
                                "dialogueRequest",
                                {"protocol-version": (1, 1), "application-context-name": _SHORT_MSG_ALERT_V2},
                            ),
                        ),
                    ),
                },
                "components": [
                    (
                        "basicROS",
                        (
                            "invoke",
                            {
                                "invokeId": ("present", invoke_id),
                                "opcode": ("local", 64),
                                "argument": (
                                    ("MAP-SM-DataTypes", "AlertServiceCentreArg"),
                                    {
                                        "msisdn": _isdn_address(subscriber),
                                        "serviceCentreAddress": _isdn_address(service_centre),
                                    },
                                ),
                            },
                        ),
                    )
                ],
            },
        )
    )
    return _TCAP.to_ber()


def tcap_kind(raw: bytes) -> tuple[str, dict]:
    _TCAP.from_ber(raw)
    return _TCAP.get_val()
