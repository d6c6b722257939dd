"""ISUP (ITU-T Q.763) on top of pycrate_mobile.ISUP: IAM decoding, REL encoding, RLC recognition.

Instantiating a pycrate InitialAddress costs milliseconds (it builds ~60 optional
parameter structures); parsing into an existing one is ~30x cheaper. The decoder keeps
one prototype per message type and resets the optional parameters before each parse,
because pycrate's option parser only ever switches options *on*.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any, NamedTuple

from pycrate_mobile import ISUP as pi

from . import DecodeError
from .sccp import bcd_digits

MSG_IAM = 0x01
MSG_ACM = 0x06
MSG_CON = 0x07
MSG_ANM = 0x09
MSG_REL = 0x0C
MSG_RLC = 0x10

CAUSE_SUBSCRIBER_ABSENT = 20
CAUSE_NORMAL_CLEARING = 16
CAUSE_TEMPORARY_FAILURE = 41  # Q.850: the attempt is repeated elsewhere (a circuit blocked under it)

# Calling party number address presentation restricted indicator (Q.763 3.10 e)
PRESENTATION_ALLOWED = 0
PRESENTATION_RESTRICTED = 1
PRESENTATION_UNAVAILABLE = 2

NAI_INTERNATIONAL = 4

# Redirecting reason (Q.763 3.45 c) -> event schema reason
_REDIRECTING_REASONS = {
    1: "busy",
    2: "no_reply",
    3: "unconditional",
    4: "no_reply",  # deflection during alerting
    5: "busy",  # deflection immediate response
    6: "not_reachable",
}


# IsupNumber and InitialAddress are immutable named tuples: built for every IAM on the hot path, where a
# frozen dataclass's __init__ costs about four times as much
class IsupNumber(NamedTuple):
    digits: str
    nature_of_address: int
    presentation: int = PRESENTATION_ALLOWED

    @property
    def international(self) -> bool:
        return self.nature_of_address == NAI_INTERNATIONAL

    def as_event_number(self) -> str:
        return ("+" + self.digits) if self.international else self.digits


class InitialAddress(NamedTuple):
    """What the gateway needs from an IAM."""

    cic: int
    called: IsupNumber | None
    calling: IsupNumber | None
    calling_presentation: int
    redirecting: IsupNumber | None
    original_called: IsupNumber | None
    redirecting_reason: int | None
    original_redirect_reason: int | None

    @property
    def subscriber(self) -> IsupNumber | None:
        """The forwarded-from subscriber: original called, else redirecting, else called number."""
        return self.original_called or self.redirecting or self.called

    @property
    def diverted(self) -> bool:
        """The call was redirected (Q.763 redirection information, original called or redirecting number)."""
        return (
            self.original_called is not None
            or self.redirecting is not None
            or self.redirecting_reason is not None
            or self.original_redirect_reason is not None
        )

    @property
    def forwarding_reason(self) -> str:
        reason = self.redirecting_reason or self.original_redirect_reason
        return _REDIRECTING_REASONS.get(reason or 0, "not_reachable")


def _digits(number: Any) -> str:
    # not pycrate's get_num(): with the odd indicator it drops the last character, a real digit when
    # the filler is F (Q.763 says 0; both are seen in the field)
    return bcd_digits(number["Num"], bool(number["OE"].get_val())).rstrip("fF")


# optional parameter names (Q.763 table 5) the gateway reads from an IAM
PARAM_CALLING_PARTY_NUMBER = 0x0A
PARAM_REDIRECTING_NUMBER = 0x0B
PARAM_REDIRECTION_INFORMATION = 0x13
PARAM_ORIGINAL_CALLED_NUMBER = 0x28
_IAM_FIXED_PART = 8  # CIC(2) type(1) nature of connection(1) forward call ind(2) category(1) TMR(1)


class IsupDecoder:
    """IAM decoding. The fast path splits the message per Q.763 1.3 / 2.1 (fixed part, pointers,
    optional-parameter TLVs) and reads the few fields the gateway needs straight from the parameter
    octets (Q.763 3.9, 3.10, 3.39, 3.44, 3.45): ~10 us per IAM. An address signal it does not
    understand (a nibble A-E, which pycrate maps to names) sends the whole IAM down the pycrate path:
    each parameter decoded by a reused pycrate structure (~20 us each), counted in `fallbacks`.
    A whole pycrate InitialAddress parse (~0.3 ms even reusing the object) stays in
    `decode_iam_reference`, the tests' cross-check.
    """

    def __init__(self) -> None:
        self._called = pi.CalledPartyNum()
        self._calling = pi.CallingPartyNum()
        self._redirecting = pi.RedirectingNum()
        self._original_called = pi.OriginalCalledNum()
        self._redirection_info = pi.RedirectionInfo()
        self.fallbacks = 0  # IAMs the fast path handed to pycrate

    @staticmethod
    def peek(buf: bytes) -> tuple[int, int]:
        """(CIC, message type) from the fixed header, without a full decode."""
        if len(buf) < 3:
            raise DecodeError("isup", f"message too short ({len(buf)} bytes)")
        return struct.unpack_from("<H", buf)[0] & 0x0FFF, buf[2]

    @staticmethod
    def split_iam(buf: bytes) -> tuple[bytes, dict[int, bytes]]:
        """(called party number value, {optional parameter name: value}) of an IAM."""
        if len(buf) < _IAM_FIXED_PART + 2:
            raise DecodeError("isup", "IAM truncated before its pointers")
        called_start = _IAM_FIXED_PART + buf[_IAM_FIXED_PART]
        if buf[_IAM_FIXED_PART] == 0 or called_start >= len(buf):
            raise DecodeError("isup", "IAM called party number pointer out of the message")
        called_length = buf[called_start]
        called = buf[called_start + 1 : called_start + 1 + called_length]
        if len(called) != called_length or called_length < 2:
            raise DecodeError("isup", "IAM called party number truncated")
        options: dict[int, bytes] = {}
        pointer = buf[_IAM_FIXED_PART + 1]
        offset = _IAM_FIXED_PART + 1 + pointer
        if pointer:
            if offset > len(buf):
                raise DecodeError("isup", "IAM optional part pointer out of the message")
            while True:
                if offset == len(buf):
                    # no end-of-optional-parameters octet after a whole last parameter: read as pycrate
                    # reads it (nothing the gateway needs is missing)
                    break
                name = buf[offset]
                if name == 0:  # end of optional parameters
                    break
                if offset + 2 > len(buf) or offset + 2 + buf[offset + 1] > len(buf):
                    raise DecodeError("isup", f"IAM optional parameter {name:#04x} truncated")
                # a parameter repeated (never valid in Q.763) counts by its last occurrence, as pycrate reads it
                options[name] = buf[offset + 2 : offset + 2 + buf[offset + 1]]
                offset += 2 + buf[offset + 1]
        return called, options

    @staticmethod
    def _parse(element: Any, raw: bytes, what: str) -> Any:
        try:
            element.from_bytes(raw)
        except Exception as exc:
            raise DecodeError("isup", f"{what}: {exc}") from exc
        return element

    def _number(self, element: Any, raw: bytes | None, what: str) -> IsupNumber | None:
        if raw is None:
            return None
        if len(raw) < 2:
            raise DecodeError("isup", f"{what} too short")
        self._parse(element, raw, what)
        digits = _digits(element)
        return IsupNumber(digits, element["NAI"].get_val()) if digits else None

    def decode_iam(self, buf: bytes, complete: bool = True) -> InitialAddress:
        """`complete=False` decodes only the number that identifies the subscriber (original called,
        else redirecting, else called number) and leaves the others None: what the hot path needs."""
        cic, message_type = self.peek(buf)
        if message_type != MSG_IAM:
            raise DecodeError("isup", f"not an IAM (type {message_type:#x})")
        called_value, options = self.split_iam(buf)
        try:
            return _fast_iam(cic, called_value, options, complete)
        except _NotDecimal:
            self.fallbacks += 1
            return self._decode_iam_with_pycrate(cic, called_value, options, complete)

    def decode_iam_with_pycrate(self, buf: bytes, complete: bool = True) -> InitialAddress:
        """The same split, each parameter decoded by pycrate: the fallback, and a reference for the tests."""
        cic, message_type = self.peek(buf)
        if message_type != MSG_IAM:
            raise DecodeError("isup", f"not an IAM (type {message_type:#x})")
        called_value, options = self.split_iam(buf)
        return self._decode_iam_with_pycrate(cic, called_value, options, complete)

    def _decode_iam_with_pycrate(
        self, cic: int, called_value: bytes, options: dict[int, bytes], complete: bool
    ) -> InitialAddress:
        called_raw, original_called_raw, redirecting_raw = _numbers_to_read(called_value, options, complete)
        called = self._number(self._called, called_raw, "called party number")
        calling = None
        presentation = PRESENTATION_UNAVAILABLE
        calling_raw = options.get(PARAM_CALLING_PARTY_NUMBER)
        if calling_raw is not None:
            if len(calling_raw) < 2:
                raise DecodeError("isup", "calling party number too short")
            element = self._parse(self._calling, calling_raw, "calling party number")
            presentation = element["AddrPresInd"].get_val()
            if presentation == 3:  # "restricted by the network": treat as restricted
                presentation = PRESENTATION_RESTRICTED
            digits = _digits(element)
            calling = IsupNumber(digits, element["NAI"].get_val(), presentation) if digits else None
            if calling is None and presentation == PRESENTATION_ALLOWED:
                presentation = PRESENTATION_UNAVAILABLE
        redirecting_reason = original_reason = None
        info_raw = options.get(PARAM_REDIRECTION_INFORMATION)
        if info_raw is not None:
            if len(info_raw) < 1:
                raise DecodeError("isup", "redirection information empty")
            info = self._parse(self._redirection_info, (info_raw + b"\x00")[:2], "redirection information")
            redirecting_reason = info["RedirectingReason"].get_val() if len(info_raw) >= 2 else None
            original_reason = info["OriginalRedirectReason"].get_val()
        return InitialAddress(
            cic=cic,
            called=called,
            calling=calling,
            calling_presentation=presentation,
            redirecting=self._number(self._redirecting, redirecting_raw, "redirecting number"),
            original_called=self._number(self._original_called, original_called_raw, "original called number"),
            redirecting_reason=redirecting_reason,
            original_redirect_reason=original_reason,
        )

    def decode_iam_reference(self, buf: bytes) -> InitialAddress:
        """Whole-message pycrate decode (a fresh InitialAddress, slow): the reference for the tests."""
        cic, message_type = self.peek(buf)
        if message_type != MSG_IAM:
            raise DecodeError("isup", f"not an IAM (type {message_type:#x})")
        iam = pi.InitialAddress()
        options = iam["Opt"]
        try:
            iam.from_bytes(buf)
        except Exception as exc:
            raise DecodeError("isup", f"IAM: {exc}") from exc
        by_code = {
            option[0].get_val(): option[2]
            for option in options._content
            if not option.get_trans() and len(option._content) == 3
        }
        names = {
            PARAM_CALLING_PARTY_NUMBER: "CallingPartyNum",
            PARAM_REDIRECTING_NUMBER: "RedirectingNum",
            PARAM_REDIRECTION_INFORMATION: "RedirectionInfo",
            PARAM_ORIGINAL_CALLED_NUMBER: "OriginalCalledNum",
        }
        present = {name: by_code[code] for code, name in names.items() if code in by_code}
        called_raw = iam["CalledPartyNum"][1]
        called = IsupNumber(_digits(called_raw), called_raw["NAI"].get_val())
        calling = None
        presentation = PRESENTATION_UNAVAILABLE
        if "CallingPartyNum" in present:
            raw = present["CallingPartyNum"]
            presentation = raw["AddrPresInd"].get_val()
            digits = _digits(raw)
            if presentation == 3:
                presentation = PRESENTATION_RESTRICTED
            calling = IsupNumber(digits, raw["NAI"].get_val(), presentation) if digits else None
            if calling is None and presentation == PRESENTATION_ALLOWED:
                presentation = PRESENTATION_UNAVAILABLE
        redirecting_reason = original_reason = None
        if "RedirectionInfo" in present:
            info = present["RedirectionInfo"]
            redirecting_reason = info["RedirectingReason"].get_val()
            original_reason = info["OriginalRedirectReason"].get_val()

        def number(raw: Any) -> IsupNumber | None:
            if raw is None:
                return None
            digits = _digits(raw)
            return IsupNumber(digits, raw["NAI"].get_val()) if digits else None

        return InitialAddress(
            cic=cic,
            called=called if called.digits else None,
            calling=calling,
            calling_presentation=presentation,
            redirecting=number(present.get("RedirectingNum")),
            original_called=number(present.get("OriginalCalledNum")),
            redirecting_reason=redirecting_reason,
            original_redirect_reason=original_reason,
        )


class _NotDecimal(Exception):
    """An address signal the fast path leaves to pycrate (a nibble A-E before the end of the number)."""


# each octet with its nibbles swapped: BCD octets (second digit in the high nibble) then read in order
# with bytes.hex()
_NIBBLES_SWAPPED = bytes(((octet & 0x0F) << 4) | (octet >> 4) for octet in range(256))


def _fast_digits(value: bytes) -> str:
    """Address signals of a Q.763 number parameter (octet 1: odd/even indicator and nature of address,
    octet 2: indicators, then BCD from octet 3), read as pycrate reads them: the digits end at the
    first F nibble, and at 2n - 1 (odd) or 2n (even) digits whatever the filler (0, or F in the field)."""
    signals = value[2:]
    digits = signals.translate(_NIBBLES_SWAPPED).hex()
    end = digits.find("f")
    if end >= 0:
        digits = digits[:end]
    digits = digits[: 2 * len(signals) - 1] if value[0] & 0x80 else digits
    if digits and not digits.isdigit():
        raise _NotDecimal
    return digits


def _fast_number(value: bytes | None, what: str) -> IsupNumber | None:
    if value is None:
        return None
    if len(value) < 2:
        raise DecodeError("isup", f"{what} too short")
    digits = _fast_digits(value)
    return IsupNumber(digits, value[0] & 0x7F) if digits else None


def _numbers_to_read(
    called_value: bytes, options: dict[int, bytes], complete: bool
) -> tuple[bytes | None, bytes | None, bytes | None]:
    """Called, original called and redirecting number octets, as both IAM decoders read them.

    `complete=False`: only the number that identifies the subscriber (original called, else
    redirecting, else called number); the others are None.
    """
    called_raw: bytes | None = called_value
    original_called_raw = options.get(PARAM_ORIGINAL_CALLED_NUMBER)
    redirecting_raw = options.get(PARAM_REDIRECTING_NUMBER)
    if not complete:
        if original_called_raw is not None:
            redirecting_raw = called_raw = None
        elif redirecting_raw is not None:
            called_raw = None
    return called_raw, original_called_raw, redirecting_raw


def _fast_iam(cic: int, called_value: bytes, options: dict[int, bytes], complete: bool) -> InitialAddress:
    """The fields of `InitialAddress` from the split IAM, read from the octets (see IsupDecoder)."""
    called_raw, original_called_raw, redirecting_raw = _numbers_to_read(called_value, options, complete)
    called = _fast_number(called_raw, "called party number")
    calling = None
    presentation = PRESENTATION_UNAVAILABLE
    calling_raw = options.get(PARAM_CALLING_PARTY_NUMBER)
    if calling_raw is not None:
        if len(calling_raw) < 2:
            raise DecodeError("isup", "calling party number too short")
        presentation = (calling_raw[1] >> 2) & 0x03  # address presentation restricted indicator
        if presentation == 3:  # "restricted by the network": treat as restricted
            presentation = PRESENTATION_RESTRICTED
        digits = _fast_digits(calling_raw)
        calling = IsupNumber(digits, calling_raw[0] & 0x7F, presentation) if digits else None
        if calling is None and presentation == PRESENTATION_ALLOWED:
            presentation = PRESENTATION_UNAVAILABLE
    redirecting_reason = original_reason = None
    info_raw = options.get(PARAM_REDIRECTION_INFORMATION)
    if info_raw is not None:
        if len(info_raw) < 1:
            raise DecodeError("isup", "redirection information empty")
        original_reason = info_raw[0] >> 4
        redirecting_reason = info_raw[1] >> 4 if len(info_raw) >= 2 else None
    return InitialAddress(
        cic=cic,
        called=called,
        calling=calling,
        calling_presentation=presentation,
        redirecting=_fast_number(redirecting_raw, "redirecting number"),
        original_called=_fast_number(original_called_raw, "original called number"),
        redirecting_reason=redirecting_reason,
        original_redirect_reason=original_reason,
    )


# --- answers: written directly ----------------------------------------------------------------------------
# REL and RLC have a fixed layout (Q.763 2.1): CIC (12 bits, least significant octet first, 4 spare
# bits), message type, pointers, then REL's cause indicators. Writing them costs ~1 us; pycrate's
# Release/ReleaseComplete objects (kept below as the reference the tests compare against) ~60-150 us.

_LOCATION_PUBLIC_LOCAL_USER = 2


def encode_rel(cic: int, cause: int = CAUSE_SUBSCRIBER_ABSENT) -> bytes:
    """REL with a cause indicator: ITU-T coding standard, location 'public network serving the local user',
    no optional part."""
    return struct.pack(
        "<HBBBBBB",
        cic & 0x0FFF,
        MSG_REL,
        2,  # pointer to the mandatory variable part (the cause indicators)
        0,  # no optional part
        2,  # length of the cause indicators
        0x80 | _LOCATION_PUBLIC_LOCAL_USER,  # ext=1 (no octet 3a), ITU-T coding standard
        0x80 | (cause & 0x7F),
    )


def encode_rlc(cic: int) -> bytes:
    """RLC with no optional part."""
    return struct.pack("<HBB", cic & 0x0FFF, MSG_RLC, 0)


def encode_rel_with_pycrate(cic: int, cause: int) -> bytes:
    """The same REL through pycrate's Release (the reference for the tests and the benchmark baseline)."""
    rel = pi.Release()
    rel["CIC"].set_val(cic & 0x0FFF)
    cause_ind = rel["CauseInd"][1]
    cause_ind[0].set_val(1)  # ext: no octet 3a follows (pycrate defaults to 0, which shifts the cause)
    cause_ind["CodingStd"].set_val(0)
    cause_ind["Location"].set_val(_LOCATION_PUBLIC_LOCAL_USER)
    cause_ind["Class"].set_val((cause & 0x7F) >> 4)
    cause_ind["Cause"].set_val(cause & 0x0F)
    encoded: bytes = rel.to_bytes()
    return encoded


def encode_rlc_with_pycrate(cic: int) -> bytes:
    rlc = pi.ReleaseComplete()
    rlc["CIC"].set_val(cic & 0x0FFF)
    encoded: bytes = rlc.to_bytes()
    return encoded


def decode_rel_cause(buf: bytes) -> int:
    """Cause value of a REL (used by tests and the scripted peer)."""
    message, error = pi.parse_ISUP(buf)
    if error or message is None:
        raise DecodeError("isup", "REL does not decode")
    cause = message["CauseInd"][1]
    value: int = (cause["Class"].get_val() << 4) | cause["Cause"].get_val()
    return value


# --- origination (flash calls): the messages of an outgoing call and of circuit maintenance --------------
# The gateway places short calls on a trunk toward an MSC (Q.764 2.1-2.10). Builders write the fixed layouts
# of Q.763 directly (like REL/RLC above); everything received is decoded by pycrate's message objects.

MSG_BLO = 0x13
MSG_UBL = 0x14
MSG_BLA = 0x15
MSG_UBA = 0x16
MSG_RSC = 0x12
MSG_GRS = 0x17
MSG_CGB = 0x18
MSG_CGU = 0x19
MSG_CGBA = 0x1A
MSG_CGUA = 0x1B
MSG_GRA = 0x29
MSG_CPG = 0x2C

MESSAGE_NAMES = {
    MSG_IAM: "IAM",
    MSG_ACM: "ACM",
    MSG_CON: "CON",
    MSG_ANM: "ANM",
    MSG_REL: "REL",
    MSG_RLC: "RLC",
    MSG_RSC: "RSC",
    MSG_BLO: "BLO",
    MSG_UBL: "UBL",
    MSG_BLA: "BLA",
    MSG_UBA: "UBA",
    MSG_GRS: "GRS",
    MSG_CGB: "CGB",
    MSG_CGU: "CGU",
    MSG_CGBA: "CGBA",
    MSG_CGUA: "CGUA",
    MSG_GRA: "GRA",
    MSG_CPG: "CPG",
}

NAI_NATIONAL = 3
CATEGORY_ORDINARY_SUBSCRIBER = 0x0A  # Q.763 3.11
SCREENING_NETWORK_PROVIDED = 3  # Q.763 3.10 f
EVENT_ALERTING = 1  # CPG event indicator (Q.763 3.21)
CALLED_PARTY_FREE = 1  # backward call indicators, called party's status (Q.763 3.5 DC)
CAUSE_RECOVERY_ON_TIMER_EXPIRY = 102
MAX_GROUP_RANGE = 31  # range field of GRS/CGB: range + 1 circuits, at most 32 (Q.763 3.43)


def _bcd(digits: str) -> tuple[bool, bytes]:
    """(odd number of digits, BCD octets with the first digit in the low nibble, filler 0)."""
    if not digits or not digits.isdigit():
        raise ValueError(f"not a digit string: {digits!r}")
    padded = digits + "0" if len(digits) % 2 else digits
    return len(digits) % 2 == 1, bytes(int(padded[i]) | (int(padded[i + 1]) << 4) for i in range(0, len(padded), 2))


def _header(cic: int, message_type: int) -> bytes:
    if not 0 <= cic <= 0x0FFF:
        raise ValueError(f"CIC {cic} out of range (12 bits)")
    return struct.pack("<HB", cic, message_type)


def encode_called_party_number(digits: str, nai: int) -> bytes:
    """Called party number value (Q.763 3.9): INN 0 (routing to an internal network number allowed), ISDN
    numbering plan, no ST digit (the number is complete: en-bloc)."""
    odd, bcd = _bcd(digits)
    return bytes([(0x80 if odd else 0) | (nai & 0x7F), 0x10]) + bcd


def encode_calling_party_number(digits: str, nai: int) -> bytes:
    """Calling party number value (Q.763 3.10): number complete, ISDN plan, presentation allowed, screening
    network provided (the platform asserts the number; the network must trust it, see the operator guide)."""
    odd, bcd = _bcd(digits)
    second = (0x1 << 4) | (PRESENTATION_ALLOWED << 2) | SCREENING_NETWORK_PROVIDED
    return bytes([(0x80 if odd else 0) | (nai & 0x7F), second]) + bcd


def encode_iam(cic: int, called: str, calling: str, nai: int = NAI_INTERNATIONAL) -> bytes:
    """IAM of a flash call (Q.763 table 32): no satellite, no continuity check, no echo control device;
    national call, ISUP used all the way and preferred, originating access non-ISDN; calling party's
    category ordinary subscriber; transmission medium speech; calling party number = A, presentation allowed."""
    called_value = encode_called_party_number(called, nai)
    calling_value = encode_calling_party_number(calling, nai)
    fixed = bytes([0x00, 0x20, 0x00, CATEGORY_ORDINARY_SUBSCRIBER, 0x00])
    # pointers: to the called party number (2 octets on, from itself), to the optional part (after it)
    pointers = bytes([2, 1 + len(called_value) + 1])
    optional = bytes([PARAM_CALLING_PARTY_NUMBER, len(calling_value)]) + calling_value + b"\x00"
    return _header(cic, MSG_IAM) + fixed + pointers + bytes([len(called_value)]) + called_value + optional


def encode_simple(cic: int, message_type: int) -> bytes:
    """Messages made of the message type alone (Q.763 table 39): RSC, BLO, UBL, BLA, UBA."""
    if message_type not in (MSG_RSC, MSG_BLO, MSG_UBL, MSG_BLA, MSG_UBA):
        raise ValueError(f"message type {message_type:#x} has parameters")
    return _header(cic, message_type)


def _range_and_status(circuits: int, status: bytes | None) -> bytes:
    if not 1 <= circuits <= MAX_GROUP_RANGE + 1:
        raise ValueError(f"a circuit group holds 1 to {MAX_GROUP_RANGE + 1} circuits, not {circuits}")
    value = bytes([circuits - 1]) + (status or b"")
    return bytes([1, len(value)]) + value  # pointer (the parameter follows at once), length, value


def status_bits(flags: list[bool]) -> bytes:
    """Status field of range and status: bit 0 of the first octet is the first circuit (Q.763 3.43)."""
    octets = bytearray((len(flags) + 7) // 8)
    for index, flag in enumerate(flags):
        if flag:
            octets[index // 8] |= 1 << (index % 8)
    return bytes(octets)


def encode_grs(cic: int, circuits: int) -> bytes:
    """Circuit group reset for `circuits` circuits from `cic` (range only, no status)."""
    return _header(cic, MSG_GRS) + _range_and_status(circuits, None)


def encode_gra(cic: int, circuits: int, locally_blocked: list[bool]) -> bytes:
    """Circuit group reset acknowledgement: a status bit set = blocked for maintenance at our end."""
    return _header(cic, MSG_GRA) + _range_and_status(circuits, status_bits(locally_blocked))


def encode_group_blocking(message_type: int, cic: int, group_type: int, affected: list[bool]) -> bytes:
    """CGB/CGU/CGBA/CGUA: supervision type indicator (0 maintenance, 1 hardware failure), range and status."""
    if message_type not in (MSG_CGB, MSG_CGU, MSG_CGBA, MSG_CGUA):
        raise ValueError(f"message type {message_type:#x} is no circuit group blocking message")
    return (
        _header(cic, message_type)
        + bytes([group_type & 0x03])
        + _range_and_status(len(affected), status_bits(affected))
    )


@dataclass(frozen=True, slots=True)
class CircuitMessage:
    """What the origination needs from a message received on one of its circuits."""

    cic: int
    message_type: int
    cause: int | None = None  # REL
    alerting: bool = False  # ACM/CON with called party free, CPG with event alerting
    event: int | None = None  # CPG event indicator
    circuits: int | None = None  # GRS/GRA/CGB/CGU/CGBA/CGUA: range + 1
    status: tuple[bool, ...] = ()  # GRA/CGB/CGU/...: one flag per circuit of the range
    group_type: int | None = None  # CGB/CGU: 0 maintenance, 1 hardware failure

    @property
    def name(self) -> str:
        return MESSAGE_NAMES.get(self.message_type, f"type{self.message_type:#04x}")


_PYCRATE_CLASSES: dict[int, Any] = {
    MSG_IAM: pi.InitialAddress,
    MSG_ACM: pi.AddressComplete,
    MSG_CON: pi.Connect,
    MSG_ANM: pi.Answer,
    MSG_REL: pi.Release,
    MSG_RLC: pi.ReleaseComplete,
    MSG_CPG: pi.CallProgress,
    MSG_RSC: pi.ResetCircuit,
    MSG_BLO: pi.Blocking,
    MSG_UBL: pi.Unblocking,
    MSG_BLA: pi.BlockingAck,
    MSG_UBA: pi.UnblockingAck,
    MSG_GRS: pi.CircuitGroupReset,
    MSG_GRA: pi.CircuitGroupResetAck,
    MSG_CGB: pi.CircuitGroupBlocking,
    MSG_CGU: pi.CircuitGroupUnblocking,
    MSG_CGBA: pi.CircuitGroupBlockingAck,
    MSG_CGUA: pi.CircuitGroupUnblockingAck,
}


class CircuitMessageDecoder:
    """Decodes the messages of the origination's circuits with pycrate. One prototype per message type is
    parsed into again and again (a fresh pycrate message costs ~25 ms, a parse ~0.3 ms); only mandatory
    parameters are read, so options left over from an earlier message do not matter. Not thread-safe."""

    def __init__(self) -> None:
        self._prototypes: dict[int, Any] = {}

    def decode(self, buf: bytes) -> CircuitMessage:
        cic, message_type = IsupDecoder.peek(buf)
        cls = _PYCRATE_CLASSES.get(message_type)
        if cls is None:
            return CircuitMessage(cic, message_type)
        message = self._prototypes.get(message_type)
        if message is None:
            message = self._prototypes[message_type] = cls()
        try:
            message.from_bytes(buf)
            return self._fields(cic, message_type, message)
        except DecodeError:
            raise
        except Exception as exc:  # pycrate raises many types on truncated or odd input
            raise DecodeError("isup", f"{MESSAGE_NAMES[message_type]}: {exc}") from exc

    @staticmethod
    def _fields(cic: int, message_type: int, message: Any) -> CircuitMessage:
        if message_type == MSG_REL:
            cause = message["CauseInd"][1]
            return CircuitMessage(cic, message_type, cause=(cause["Class"].get_val() << 4) | cause["Cause"].get_val())
        if message_type in (MSG_ACM, MSG_CON):
            called_status = message["BackwardCallInd"]["CalledPartyStatusInd"].get_val()
            return CircuitMessage(cic, message_type, alerting=called_status == CALLED_PARTY_FREE)
        if message_type == MSG_CPG:
            event = message["EventInfo"]["EventInd"].get_val()
            return CircuitMessage(cic, message_type, alerting=event == EVENT_ALERTING, event=event)
        if message_type in (MSG_GRS, MSG_GRA, MSG_CGB, MSG_CGU, MSG_CGBA, MSG_CGUA):
            value = message["RangeStatus"][1].to_bytes()
            if not value:
                raise DecodeError("isup", f"{MESSAGE_NAMES[message_type]} without range")
            circuits = value[0] + 1
            status: tuple[bool, ...] = ()
            if message_type != MSG_GRS:
                bits = value[1:]
                if len(bits) < (circuits + 7) // 8:
                    raise DecodeError("isup", f"{MESSAGE_NAMES[message_type]} status shorter than its range")
                status = tuple(bool(bits[i // 8] & (1 << (i % 8))) for i in range(circuits))
            group_type = None
            if message_type in (MSG_CGB, MSG_CGU, MSG_CGBA, MSG_CGUA):
                group_type = message["CircuitGroupSupervis"]["Value"].get_val()
            return CircuitMessage(cic, message_type, circuits=circuits, status=status, group_type=group_type)
        return CircuitMessage(cic, message_type)
