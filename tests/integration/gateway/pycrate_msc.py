"""An MSC's ISUP for the flash-call tests, written directly on pycrate's ISUP message objects (no
`mcn_gateway` import here nor in `mcn_devkit.sigtran.isup_pycrate`, whose builders it uses): what it sends
is built by pycrate, what it receives is parsed by pycrate, so the gateway's own builders and parsers are
checked against an independent implementation. It talks M3UA through the strict STP of pycrate_stp (the
MSC sits behind the STP, as in the field)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import pycrate_stp as stp

from mcn_devkit.sigtran.isup_pycrate import (  # noqa: F401 (re-exported for the tests)
    ACM,
    ANM,
    BLA,
    BLO,
    CGB,
    CGBA,
    CGU,
    CGUA,
    CON,
    CPG,
    GRA,
    GRS,
    IAM,
    REL,
    RLC,
    RSC,
    SI_ISUP,
    UBA,
    UBL,
    acm,
    anm,
    cause_of,
    cpg,
    gra,
    group_blocking,
    grs,
    parse,
    rel,
    rlc,
    simple,
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
        return cause_of(self.message)

    def range_status(self) -> tuple[int, bytes]:
        """(circuits, status octets) of GRS/GRA/CGB(A)/CGU(A)."""
        value = self.message["RangeStatus"][1]
        raw = value.to_bytes()
        return raw[0] + 1, raw[1:]


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
            message = parse(raw)
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

    def group_flags(self, received: IsupReceived) -> list[bool]:
        """The status bits of a CGB/CGU/GRA as pycrate reads them, one per circuit of the range."""
        circuits, octets = received.range_status()
        return [bool(octets[i // 8] & (1 << (i % 8))) for i in range(circuits)]

    def acknowledge(self, received: IsupReceived) -> None:
        """Answer a BLO/UBL with BLA/UBA, a CGB/CGU with CGBA/CGUA for every circuit it flags."""
        if received.type in (BLO, UBL):
            self.send(simple(BLA if received.type == BLO else UBA, received.cic))
            return
        assert received.type in (CGB, CGU), hex(received.type)
        assert received.message["CircuitGroupSupervis"]["Value"].get_val() == 0  # maintenance oriented
        answer = CGBA if received.type == CGB else CGUA
        self.send(group_blocking(answer, received.cic, self.group_flags(received)))

    def answer_grs(self, timeout: float = 30.0) -> list[IsupReceived]:
        """Answer the gateway's start-up GRS(s) with GRA until its range is covered."""
        answered = []
        grs_message = self.expect(GRS, timeout=timeout)
        circuits, _ = grs_message.range_status()
        self.send(gra(grs_message.cic, circuits))
        answered.append(grs_message)
        return answered
