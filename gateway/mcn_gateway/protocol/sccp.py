"""SCCP (ITU-T Q.713) connectionless messages on top of pycrate_mobile.SCCP.

One reusable pycrate instance per message type (building them is the slow part).
Only UDT / XUDT / LUDT carry TCAP for the gateway; the others are reported as such.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pycrate_mobile import SCCP as ps

from . import DecodeError

UDT = 0x09
UDTS = 0x0A
XUDT = 0x11
XUDTS = 0x12
LUDT = 0x13
_CONNECTIONLESS_DATA = (UDT, XUDT, LUDT)
_SERVICE = (UDTS, XUDTS)  # a message returned on error, with the original data

SSN_HLR = 6
SSN_VLR = 7
SSN_MSC = 8


@dataclass(frozen=True, slots=True)
class SccpAddress:
    raw: bytes  # the encoded address (without the length byte), echoed back in answers
    route_on_gt: bool
    ssn: int | None
    point_code: int | None
    global_title: str | None

    def describe(self) -> str:
        if self.global_title:
            return self.global_title
        return f"pc{self.point_code}/ssn{self.ssn}"


@dataclass(frozen=True, slots=True)
class SccpUnitdata:
    message_type: int
    protocol_class: int
    return_on_error: bool
    called: SccpAddress
    calling: SccpAddress
    data: bytes
    return_cause: int | None = None  # set for UDTS/XUDTS
    management: bool = False  # SCCP management (SCMG) payload, not TCAP
    segmented: bool = False  # an XUDT/XUDTS/LUDT segment (see SegmentReassembler)
    segmentation: bytes | None = None  # the Segmentation parameter (Q.713 3.17)


def _address(party: Any) -> SccpAddress:
    return _address_from_element(party[1], party[1].to_bytes())


class ReferenceSccpDecoder:
    """Whole-message pycrate decoding (fresh objects, slow): the reference the fast decoder is tested against."""

    # only the types the gateway parses; pycrate 0.8.1 cannot even instantiate some others (SCCPError)
    _instances = frozenset(_CONNECTIONLESS_DATA + _SERVICE)

    def decode(self, buf: bytes) -> SccpUnitdata | int:
        """Decode UDT/XUDT/LUDT (and UDTS/XUDTS); for any other SCCP message return its type code."""
        if not buf:
            raise DecodeError("sccp", "empty message")
        message_type = buf[0]
        if message_type not in self._instances:
            if message_type not in ps.SCCPTypeClasses:
                raise DecodeError("sccp", f"unknown message type {message_type:#x}")
            return message_type
        message = ps.SCCPTypeClasses[message_type]()  # fresh: reusing would need pycrate internals
        try:
            message.from_bytes(buf)
            if not message.is_valid():
                raise DecodeError("sccp", "overlapping parameters")
            called = _address(message["CalledPartyAddr"])
            calling = _address(message["CallingPartyAddr"])
        except DecodeError:
            raise
        except Exception as exc:
            raise DecodeError("sccp", f"type {message_type:#x}: {exc}") from exc
        data_field = message["LongData" if message_type == LUDT else "Data"]
        data = data_field[1].get_val()
        if not isinstance(data, bytes):
            data = data_field[1].to_bytes()
        # Q.713 5: SCCP management travels between SSN 1 on both sides (the rule pycrate's parse_SCCP uses)
        management = called.ssn == 1 and calling.ssn == 1
        segmented, segmentation_raw = False, None
        if message_type in (XUDT, XUDTS):
            segmentation = message["Opt"]._opts.get(16)
            segmented = segmentation is not None and not segmentation.get_trans()
            segmentation_raw = segmentation[2].to_bytes() if segmented else None
        service = message_type in _SERVICE
        protocol_class = None if service else message["ProtocolClass"]
        return SccpUnitdata(
            message_type=message_type,
            protocol_class=0 if protocol_class is None else protocol_class[1].get_val(),
            return_on_error=protocol_class is not None and protocol_class[0].get_val() == 8,
            return_cause=message["RetCause"].get_val() if service else None,
            called=called,
            calling=calling,
            data=data,
            management=management,
            segmented=segmented,
            segmentation=segmentation_raw,
        )


_ADDRESS_CACHE_SIZE = 4096


class SccpDecoder:
    """Connectionless SCCP messages, fast path.

    The message skeleton (type, protocol class, pointers, length-prefixed parameters, the
    optional-parameter TLVs) is split by Q.713's pointer rules; the called / calling party
    addresses are decoded by pycrate (a reused `_SCCPAddr`), cached by their bytes because a
    handful of addresses (HLRs, MSCs, the platform's GT) carry all the traffic.
    Whole-message pycrate parsing costs ~0.5 ms; this path ~20 us.
    """

    def __init__(self) -> None:
        self._address_element = ps._SCCPAddr()
        self._addresses: dict[bytes, SccpAddress] = {}

    def _address(self, raw: bytes) -> SccpAddress:
        cached = self._addresses.get(raw)
        if cached is not None:
            return cached
        element = self._address_element
        try:
            element.from_bytes(raw)
            address = _address_from_element(element, raw)
        except DecodeError:
            raise
        except Exception as exc:
            raise DecodeError("sccp", f"party address: {exc}") from exc
        if len(self._addresses) >= _ADDRESS_CACHE_SIZE:
            self._addresses.clear()
        self._addresses[raw] = address
        return address

    @staticmethod
    def _variable(buf: bytes, pointer_offset: int, wide: bool = False) -> bytes:
        """A mandatory variable parameter: pointer (relative to itself) -> length -> value."""
        if wide:  # LUDT: 16-bit pointers and a 16-bit LongData length
            pointer = int.from_bytes(buf[pointer_offset : pointer_offset + 2], "little")
            start = pointer_offset + pointer
            length = int.from_bytes(buf[start : start + 2], "little") if pointer else 0
            value = buf[start + 2 : start + 2 + length]
        else:
            pointer = buf[pointer_offset]
            start = pointer_offset + pointer
            length = buf[start] if pointer and start < len(buf) else 0
            value = buf[start + 1 : start + 1 + length]
        if not pointer or len(value) != length:
            raise DecodeError("sccp", "mandatory parameter missing or truncated")
        return value

    def decode(self, buf: bytes) -> SccpUnitdata | int:
        """Decode UDT/XUDT/LUDT (and UDTS/XUDTS); for any other SCCP message return its type code."""
        if not buf:
            raise DecodeError("sccp", "empty message")
        message_type = buf[0]
        if message_type in (UDT, UDTS):
            first_pointer, wide = 2, False
        elif message_type in (XUDT, XUDTS):
            first_pointer, wide = 3, False
        elif message_type == LUDT:
            first_pointer, wide = 3, True
        elif message_type in ps.SCCPTypeClasses:
            return message_type
        else:
            raise DecodeError("sccp", f"unknown message type {message_type:#x}")
        step = 2 if wide else 1
        if len(buf) < first_pointer + 3 * step:
            raise DecodeError("sccp", "message truncated before its pointers")
        called = self._address(self._variable(buf, first_pointer, wide))
        calling = self._address(self._variable(buf, first_pointer + step, wide))
        data = self._variable(buf, first_pointer + 2 * step, wide)
        service = message_type in (UDTS, XUDTS)
        segmentation = None
        if message_type in (XUDT, XUDTS, LUDT):
            segmentation = self._options(buf, first_pointer + 3 * step, wide).get(0x10)
        return SccpUnitdata(
            message_type=message_type,
            protocol_class=0 if service else buf[1] & 0x0F,
            return_on_error=not service and (buf[1] >> 4) == 8,
            called=called,
            calling=calling,
            data=data,
            return_cause=buf[1] if service else None,
            management=called.ssn == 1 and calling.ssn == 1,
            segmented=segmentation is not None,
            segmentation=segmentation,
        )

    @staticmethod
    def _options(buf: bytes, pointer_offset: int, wide: bool) -> dict[int, bytes]:
        if pointer_offset + (2 if wide else 1) > len(buf):
            raise DecodeError("sccp", "optional part pointer missing")
        pointer = int.from_bytes(buf[pointer_offset : pointer_offset + 2], "little") if wide else buf[pointer_offset]
        options: dict[int, bytes] = {}
        if not pointer:
            return options
        offset = pointer_offset + pointer
        while offset < len(buf) and buf[offset] != 0:
            if offset + 2 > len(buf) or offset + 2 + buf[offset + 1] > len(buf):
                raise DecodeError("sccp", "optional parameter truncated")
            options[buf[offset]] = buf[offset + 2 : offset + 2 + buf[offset + 1]]
            offset += 2 + buf[offset + 1]
        return options


@dataclass
class _Partial:
    started: float
    total: int | None = None
    parts: dict[int, bytes] = field(default_factory=dict)


class SegmentReassembler:
    """XUDT segmentation/reassembly (Q.714 4.1.1.2-3): segments of one message share the calling
    address and a local reference; the first (F bit) tells how many remain; each carries its own
    remaining count, so out-of-order arrival is fine. Incomplete messages expire."""

    def __init__(self, max_pending: int = 1024, timeout_s: float = 30.0) -> None:
        self.max_pending = max_pending
        self.timeout_s = timeout_s
        self._pending: dict[tuple[bytes, bytes], _Partial] = {}
        self.expired = 0

    def add(self, unitdata: SccpUnitdata, timestamp: float) -> bytes | None:
        """The reassembled user data once the last missing segment arrives, else None."""
        segmentation = unitdata.segmentation or b""
        if len(segmentation) < 4:
            raise DecodeError("sccp", "segmentation parameter too short")
        first, remaining, reference = bool(segmentation[0] & 0x80), segmentation[0] & 0x0F, segmentation[1:4]
        self._expire(timestamp)
        key = (unitdata.calling.raw, reference)
        partial = self._pending.get(key)
        if partial is None:
            if len(self._pending) >= self.max_pending:
                self._pending.pop(next(iter(self._pending)))
                self.expired += 1
            partial = self._pending[key] = _Partial(started=timestamp)
        partial.parts[remaining] = unitdata.data
        if first:
            partial.total = remaining + 1
        if partial.total is not None and all(r in partial.parts for r in range(partial.total)):
            del self._pending[key]
            return b"".join(partial.parts[r] for r in range(partial.total - 1, -1, -1))
        return None

    def _expire(self, now: float) -> None:
        stale = [key for key, partial in self._pending.items() if abs(now - partial.started) > self.timeout_s]
        for key in stale:
            del self._pending[key]
        self.expired += len(stale)


def bcd_digits(bcd: Any, odd: bool) -> str:
    """Digits of a BCD field with an odd/even indication, whatever the filler nibble.

    pycrate 0.8.1's get_addr()/get_num() drop the last character of an odd-length number,
    assuming the filler decodes to one. Q.713/Q.763 say the filler is 0, but F is common in
    the field and pycrate decodes F to nothing: `...0000f1` lost its last real digit. The
    number of digits is fixed by the length and the indicator: 2n - 1 when odd, 2n when even.
    """
    decoded = str(bcd.decode())
    length = len(bcd.to_bytes())
    return decoded[: 2 * length - 1] if odd else decoded[: 2 * length]


def global_title_digits(gt_indicator: int, gt: Any) -> str | None:
    """The digits of a global title (Q.713 3.4.2.3), either filler accepted."""
    if gt_indicator == 1:  # nature of address + odd/even, BCD
        return bcd_digits(gt["Addr"], bool(gt["OE"].get_val()))
    if gt_indicator in (3, 4):  # encoding scheme 1 = BCD odd, 2 = BCD even
        scheme = gt["EncodingScheme"].get_val()
        if scheme in (1, 2):
            return bcd_digits(gt["Addr"].get_alt(), scheme == 1)
    return str(gt.get_addr()) if hasattr(gt, "get_addr") else None


def _address_from_element(value: Any, raw: bytes) -> SccpAddress:
    indicator = value[0]
    global_title = None
    gt_indicator = indicator[2].get_val()
    if gt_indicator:
        try:
            global_title = global_title_digits(gt_indicator, value[3].get_alt())
        except Exception:  # undecodable GT digits: keep the message, lose the digits
            global_title = None
        if global_title:
            global_title = "".join(ch for ch in global_title if ch.isdigit())
    return SccpAddress(
        raw=raw,
        route_on_gt=indicator[1].get_val() == 0,
        ssn=value[2].get_val() if indicator[3].get_val() else None,
        point_code=value[1].get_val() if indicator[4].get_val() else None,
        global_title=global_title or None,
    )


# --- unitdata: written directly ---------------------------------------------------------------------------
# UDT and XUDT (Q.713 4.10, 4.18) are a fixed header, one-octet pointers and three length-prefixed
# fields; writing them costs ~1 us where a pycrate SCCPUnitData costs ~1 ms to build. The *_with_pycrate
# functions are the reference the tests compare against byte for byte.

_MAX_UNITDATA_FIELDS = 255 - 6  # the pointers are one octet: the three fields with their lengths must fit
DEFAULT_HOP_COUNTER = 15  # Q.714 2.3.5: the maximum, decremented by each relay


def _check_size(called_raw: bytes, calling_raw: bytes, data: bytes) -> None:
    if len(called_raw) + len(calling_raw) + len(data) > _MAX_UNITDATA_FIELDS or len(data) > 255:
        raise ValueError("payload too large for a UDT/XUDT; segmentation is not implemented")


def encode_udt(
    called_raw: bytes, calling_raw: bytes, data: bytes, protocol_class: int = 0, return_on_error: bool = False
) -> bytes:
    """UDT with the given encoded addresses (an answer swaps the addresses it received).
    `return_on_error`: ask SCCP to send the message back (UDTS) when it cannot be delivered."""
    _check_size(called_raw, calling_raw, data)
    handling = 8 if return_on_error else 0
    called_length, calling_length = len(called_raw), len(calling_raw)
    return b"".join(
        (
            bytes(
                (
                    UDT,
                    (handling << 4) | (protocol_class & 0x0F),
                    3,  # pointers count from their own octet
                    3 + called_length,
                    3 + called_length + calling_length,
                    called_length,
                )
            ),
            called_raw,
            bytes((calling_length,)),
            calling_raw,
            bytes((len(data),)),
            data,
        )
    )


def encode_xudt(
    called_raw: bytes,
    calling_raw: bytes,
    data: bytes,
    protocol_class: int = 0,
    return_on_error: bool = False,
    hop_counter: int = DEFAULT_HOP_COUNTER,
) -> bytes:
    """XUDT with no optional part (an answer to an unsegmented XUDT)."""
    _check_size(called_raw, calling_raw, data)
    handling = 8 if return_on_error else 0
    called_length, calling_length = len(called_raw), len(calling_raw)
    return b"".join(
        (
            bytes(
                (
                    XUDT,
                    (handling << 4) | (protocol_class & 0x0F),
                    hop_counter,
                    4,
                    4 + called_length,
                    4 + called_length + calling_length,
                    0,  # no optional part
                    called_length,
                )
            ),
            called_raw,
            bytes((calling_length,)),
            calling_raw,
            bytes((len(data),)),
            data,
        )
    )


def _fill_unitdata(
    message: Any, called_raw: bytes, calling_raw: bytes, data: bytes, protocol_class: int, handling: int
) -> bytes:
    message["ProtocolClass"][0].set_val(handling)
    message["ProtocolClass"][1].set_val(protocol_class)
    message["CalledPartyAddr"].from_bytes(bytes([len(called_raw)]) + called_raw)
    message["CallingPartyAddr"].from_bytes(bytes([len(calling_raw)]) + calling_raw)
    message["Data"].from_bytes(bytes([len(data)]) + data)
    encoded: bytes = message.to_bytes()
    return encoded


def encode_udt_with_pycrate(
    called_raw: bytes, calling_raw: bytes, data: bytes, protocol_class: int = 0, return_on_error: bool = False
) -> bytes:
    handling = 8 if return_on_error else 0
    return _fill_unitdata(ps.SCCPUnitData(), called_raw, calling_raw, data, protocol_class, handling)


def encode_xudt_with_pycrate(
    called_raw: bytes,
    calling_raw: bytes,
    data: bytes,
    protocol_class: int = 0,
    return_on_error: bool = False,
    hop_counter: int = DEFAULT_HOP_COUNTER,
) -> bytes:
    message = ps.SCCPExtUnitData()
    message["HopCounter"].set_val(hop_counter)
    handling = 8 if return_on_error else 0
    return _fill_unitdata(message, called_raw, calling_raw, data, protocol_class, handling)


def encode_gt_address(digits: str, ssn: int, numbering_plan: int = 1, nature: int = 4) -> bytes:
    """A route-on-GT party address (GT indicator 4, E.164, international) with SSN."""
    address = ps._SCCPAddr()
    address["AddrInd"]["RoutingInd"].set_val(0)
    address["AddrInd"]["GTInd"].set_val(4)
    address["AddrInd"]["SSNInd"].set_val(1)
    address["AddrInd"]["PCInd"].set_val(0)
    address["SSN"].set_val(ssn)
    gt = address["GT"].get_alt()
    gt["TranslationType"].set_val(0)
    gt["NumberingPlan"].set_val(numbering_plan)
    gt["NAI"].set_val(nature)
    gt.set_addr_bcd(digits)
    encoded: bytes = address.to_bytes()
    return encoded
