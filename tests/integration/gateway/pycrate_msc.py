"""An MSC's ISUP for the flash-call tests, written directly on pycrate's ISUP message objects (no
`mcn_gateway` import): what it sends is built by pycrate, what it receives is parsed by pycrate, so the
gateway's own builders and parsers are checked against an independent implementation. It talks M3UA
through the strict STP of pycrate_stp (the MSC sits behind the STP, as in the field)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import pycrate_stp as stp
from pycrate_mobile import ISUP as pi

SI_ISUP = 5

IAM, ACM, CON, ANM, REL, RLC, CPG = 0x01, 0x06, 0x07, 0x09, 0x0C, 0x10, 0x2C
RSC, BLO, UBL, BLA, UBA, GRS, CGB, CGU, CGBA, CGUA, GRA = (
    0x12,
    0x13,
    0x14,
    0x15,
    0x16,
    0x17,
    0x18,
    0x19,
    0x1A,
    0x1B,
    0x29,
)


@dataclass
class IsupReceived:
    opc: int
    dpc: int
    sls: int
    cic: int
    type: int
    message: object  # the pycrate message
    raw: bytes
    at: float

    def cause(self) -> int:
        cause = self.message["CauseInd"][1]
        return (cause["Class"].get_val() << 4) | cause["Cause"].get_val()

    def range_status(self) -> tuple[int, bytes]:
        """(circuits, status octets) of GRS/GRA/CGB(A)/CGU(A)."""
        value = self.message["RangeStatus"][1]
        raw = value.to_bytes()
        return raw[0] + 1, raw[1:]


def _with_cic(message: object, cic: int) -> bytes:
    message["CIC"].set_val(cic)
    return message.to_bytes()


def acm(cic: int, subscriber_free: bool = True) -> bytes:
    message = pi.AddressComplete()
    indicators = message["BackwardCallInd"]
    indicators["CalledPartyStatusInd"].set_val(1 if subscriber_free else 0)
    indicators["ChargeInd"].set_val(1)  # no charge
    indicators["ISDNUserPartInd"].set_val(1)
    return _with_cic(message, cic)


def cpg(cic: int, event: int = 1) -> bytes:
    message = pi.CallProgress()
    message["EventInfo"]["EventInd"].set_val(event)
    return _with_cic(message, cic)


def anm(cic: int) -> bytes:
    return _with_cic(pi.Answer(), cic)


def rel(cic: int, cause: int) -> bytes:
    message = pi.Release()
    indicator = message["CauseInd"][1]
    indicator[0].set_val(1)  # ext: no octet 3a
    indicator["Location"].set_val(2)
    indicator["Class"].set_val(cause >> 4)
    indicator["Cause"].set_val(cause & 0x0F)
    return _with_cic(message, cic)


def rlc(cic: int) -> bytes:
    return _with_cic(pi.ReleaseComplete(), cic)


def simple(kind: int, cic: int) -> bytes:
    classes = {RSC: pi.ResetCircuit, BLO: pi.Blocking, UBL: pi.Unblocking}
    return _with_cic(classes[kind](), cic)


def _range_status(message: object, circuits: int, status: list[bool] | None) -> None:
    value = message["RangeStatus"][1]
    value["Range"].set_val(circuits - 1)
    if status is None:
        value["Status"].set_val(b"")
    else:
        octets = bytearray((len(status) + 7) // 8)
        for i, flag in enumerate(status):
            if flag:
                octets[i // 8] |= 1 << (i % 8)
        value["Status"].set_val(bytes(octets))


def grs(cic: int, circuits: int) -> bytes:
    message = pi.CircuitGroupReset()
    _range_status(message, circuits, None)
    return _with_cic(message, cic)


def gra(cic: int, circuits: int, blocked: list[bool] | None = None) -> bytes:
    message = pi.CircuitGroupResetAck()
    _range_status(message, circuits, blocked or [False] * circuits)
    return _with_cic(message, cic)


def group_blocking(kind: int, cic: int, status: list[bool]) -> bytes:
    message = {CGB: pi.CircuitGroupBlocking, CGU: pi.CircuitGroupUnblocking}[kind]()
    message["CircuitGroupSupervis"]["Value"].set_val(0)  # maintenance oriented
    _range_status(message, len(status), status)
    return _with_cic(message, cic)


class PycrateMsc:
    """The MSC (point code `pc`) behind a PycrateStp; the gateway's trunk end is `gateway_pc`."""

    def __init__(self, peer: stp.PycrateStp, pc: int, gateway_pc: int, routing_context: int) -> None:
        self.peer = peer
        self.pc = pc
        self.gateway_pc = gateway_pc
        self.routing_context = routing_context
        self.received: list[IsupReceived] = []

    def send(self, payload: bytes, sls: int = 0) -> None:
        self.peer.send(stp.data(self.pc, self.gateway_pc, SI_ISUP, payload, self.routing_context, sls=sls))

    def expect(self, kind: int, cic: int | None = None, timeout: float = 30.0) -> IsupReceived:
        """The next ISUP message of that type (and CIC) from the gateway; others are kept in `received`."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                seen = [(m.cic, hex(m.type)) for m in self.received[-10:]]
                raise AssertionError(f"the MSC received no ISUP {kind:#x} (cic {cic}) within {timeout}s; last {seen}")
            data = self.peer.expect((1, 1), timeout=remaining)
            pd = data.protocol_data()
            if pd["SI"] != SI_ISUP:
                continue
            raw = pd["Data"]
            message, error = pi.parse_ISUP(raw)
            assert message is not None and not error, f"pycrate cannot parse the gateway's ISUP {raw.hex()}"
            assert message.to_bytes() == raw, f"pycrate re-encodes {raw.hex()} differently"
            received = IsupReceived(
                pd["OPC"],
                pd["DPC"],
                pd["SLS"],
                message["CIC"].get_val(),
                message["Type"].get_val(),
                message,
                raw,
                data.at,
            )
            self.received.append(received)
            if received.type == kind and (cic is None or received.cic == cic):
                return received

    def expect_nothing(self, kind: int, within: float) -> None:
        try:
            got = self.expect(kind, timeout=within)
        except AssertionError:
            return
        raise AssertionError(f"unexpected ISUP {kind:#x} on cic {got.cic}")

    def answer_grs(self, timeout: float = 30.0) -> list[IsupReceived]:
        """Answer the gateway's start-up GRS(s) with GRA until its range is covered."""
        answered = []
        grs_message = self.expect(GRS, timeout=timeout)
        circuits, _ = grs_message.range_status()
        self.send(gra(grs_message.cic, circuits))
        answered.append(grs_message)
        return answered
