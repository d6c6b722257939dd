"""ISUP messages of an MSC, built directly on pycrate's ISUP message objects (no `mcn_gateway` import): the
peers that play the MSC for the gateway's flash calls (tests, the demo) answer with these, so the gateway's
own builders and parsers meet an independent implementation."""

from __future__ import annotations

from typing import Any

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


def _with_cic(message: Any, cic: int) -> bytes:
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
    classes = {
        RSC: pi.ResetCircuit,
        BLO: pi.Blocking,
        UBL: pi.Unblocking,
        BLA: pi.BlockingAck,
        UBA: pi.UnblockingAck,
    }
    return _with_cic(classes[kind](), cic)


def _range_status(message: Any, circuits: int, status: list[bool] | None) -> None:
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
    """CGB/CGU (or their acknowledgements CGBA/CGUA), maintenance oriented, for the circuits flagged."""
    classes = {
        CGB: pi.CircuitGroupBlocking,
        CGU: pi.CircuitGroupUnblocking,
        CGBA: pi.CircuitGroupBlockingAck,
        CGUA: pi.CircuitGroupUnblockingAck,
    }
    message = classes[kind]()
    message["CircuitGroupSupervis"]["Value"].set_val(0)  # maintenance oriented
    _range_status(message, len(status), status)
    return _with_cic(message, cic)


def parse(raw: bytes) -> Any:
    """A whole ISUP message parsed by pycrate (a fresh object: slow, exact); AssertionError if it does not."""
    message, error = pi.parse_ISUP(raw)
    assert message is not None and not error, f"pycrate cannot parse ISUP {raw.hex()}"
    assert message.to_bytes() == raw, f"pycrate re-encodes {raw.hex()} differently"
    return message


def cause_of(message: Any) -> int:
    """The cause value of a REL parsed by pycrate."""
    cause = message["CauseInd"][1]
    return int((cause["Class"].get_val() << 4) | cause["Cause"].get_val())
