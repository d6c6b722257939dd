"""Exact GSM 03.38 (3GPP TS 23.038) encoding, segment counting and SMS concatenation.

Pure functions, no I/O and no smpplib import, so compose can count segments cheaply.

Why not smpplib's ``gsm.make_parts``: it maps a backtick to 0x5F (that code is ``§``; a
backtick is not in the GSM alphabet at all), cannot encode ``§``, and splits the encoded
bytes at fixed offsets, which can cut an escape pair (``ESC`` + ``€``) or a UTF-16
surrogate pair in half. Here parts are cut on character boundaries only.

Wire format for GSM-7: one septet per octet (unpacked), data_coding 0x00; the SMSC packs
septets and inserts fill bits after the UDH, so a part's budget is counted in septets
after the UDH's own septet-rounded length (153 with an 8-bit concatenation header).
"""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass
from typing import Literal

Encoding = Literal["gsm7", "gsm7-turkish", "ucs2"]
ConcatMode = Literal["udh8", "udh16", "payload"]
NationalShift = Literal["turkish"]

DATA_CODING_GSM7 = 0x00
DATA_CODING_UCS2 = 0x08
ESM_CLASS_UDHI = 0x40

ESCAPE = 0x1B
MAX_PARTS = 255

# TS 23.038 6.2.1: the default alphabet, indexed by septet value.
GSM7_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
assert len(GSM7_BASIC) == 128

# TS 23.038 6.2.1.1: default alphabet extension table (reached with ESC, costs 2 septets).
GSM7_EXTENSION: dict[str, int] = {
    "\f": 0x0A,
    "^": 0x14,
    "{": 0x28,
    "}": 0x29,
    "\\": 0x2F,
    "[": 0x3C,
    "~": 0x3D,
    "]": 0x3E,
    "|": 0x40,
    "€": 0x65,
}

# TS 23.038 A.2.1: Turkish national language single shift table (replaces the extension table).
TURKISH_SINGLE_SHIFT: dict[str, int] = {
    "\f": 0x0A,
    "^": 0x14,
    "{": 0x28,
    "}": 0x29,
    "\\": 0x2F,
    "[": 0x3C,
    "~": 0x3D,
    "]": 0x3E,
    "|": 0x40,
    "Ğ": 0x47,
    "İ": 0x49,
    "Ş": 0x53,
    "ç": 0x63,
    "€": 0x65,
    "ğ": 0x67,
    "ı": 0x69,
    "ş": 0x73,
}

# TS 23.038 6.2.1.2 national language identifiers, for the UDH shift IEs (TS 23.040 9.2.3.24.15).
NATIONAL_LANGUAGE_ID: dict[str, int] = {"turkish": 0x01}
IE_CONCAT_8BIT = 0x00
IE_CONCAT_16BIT = 0x08
IE_NATIONAL_SINGLE_SHIFT = 0x24

_BASIC_INDEX: dict[str, int] = {char: code for code, char in enumerate(GSM7_BASIC) if code != ESCAPE}
_SHIFT_TABLES: dict[str | None, dict[str, int]] = {None: GSM7_EXTENSION, "turkish": TURKISH_SINGLE_SHIFT}

SMS_OCTETS = 140
SMS_SEPTETS = 160


class MessageTooLong(ValueError):
    """The text needs more than 255 concatenated parts."""


@dataclass(frozen=True)
class SegmentPlan:
    """How a text goes on air: its encoding and the text of each segment (SMS)."""

    encoding: Encoding
    texts: tuple[str, ...]
    #: septets (GSM-7) or UTF-16 code units (UCS-2) used by each segment's text
    units: tuple[int, ...]
    concat: ConcatMode
    national_shift: str | None = None

    @property
    def count(self) -> int:
        """Number of SMS the subscriber receives (what is billed)."""
        return len(self.texts)

    @property
    def data_coding(self) -> int:
        return DATA_CODING_UCS2 if self.encoding == "ucs2" else DATA_CODING_GSM7


# Kept as an alias: compose only needs ``.count``/``.encoding``.
SegmentCount = SegmentPlan


@dataclass(frozen=True)
class WirePart:
    """One submit_sm's worth of message bytes."""

    short_message: bytes
    #: set instead of short_message in concat="payload" mode
    message_payload: bytes | None
    esm_class: int
    data_coding: int
    udh: bytes
    part_number: int
    part_total: int
    text: str


@dataclass(frozen=True)
class EncodedMessage:
    plan: SegmentPlan
    parts: tuple[WirePart, ...]
    #: concatenation reference number, None for a single part / payload mode
    reference: int | None


def _gsm7_cost(char: str, shift_table: dict[str, int]) -> int | None:
    if char in _BASIC_INDEX:
        return 1
    if char in shift_table:
        return 2
    return None


def gsm7_costs(text: str, national_shift: str | None = None) -> list[int] | None:
    """Septets per character, or None when a character is not representable."""
    shift_table = _shift_table(national_shift)
    costs: list[int] = []
    for char in text:
        cost = _gsm7_cost(char, shift_table)
        if cost is None:
            return None
        costs.append(cost)
    return costs


def _shift_table(national_shift: str | None) -> dict[str, int]:
    try:
        return _SHIFT_TABLES[national_shift]
    except KeyError:
        raise ValueError(
            f"unsupported national_shift {national_shift!r}; supported: {sorted(NATIONAL_LANGUAGE_ID)}"
        ) from None


def _ucs2_costs(text: str) -> list[int]:
    # Characters outside the BMP take a surrogate pair: two UTF-16 code units.
    return [2 if ord(char) > 0xFFFF else 1 for char in text]


def _septets_for_octets(octets: int) -> int:
    return (octets * 8 + 6) // 7


def udh_length(concat: ConcatMode, multipart: bool, national_shift: str | None) -> int:
    """Octets of the UDH (including its UDHL byte) a segment carries; 0 when none."""
    info_elements = 0
    if multipart and concat == "udh8":
        info_elements += 5
    elif multipart and concat == "udh16":
        info_elements += 6
    if national_shift is not None:
        info_elements += 3
    return info_elements + 1 if info_elements else 0


def _capacity(encoding: Encoding, concat: ConcatMode, multipart: bool, national_shift: str | None) -> int:
    header = udh_length(concat, multipart, national_shift if encoding == "gsm7-turkish" else None)
    if encoding == "ucs2":
        return (SMS_OCTETS - header) // 2
    return SMS_SEPTETS - _septets_for_octets(header)


def _split(text: str, costs: list[int], single_limit: int, part_limit: int) -> tuple[list[str], list[int]]:
    total = sum(costs)
    if total <= single_limit:
        return [text], [total]
    texts: list[str] = []
    units: list[int] = []
    start = 0
    used = 0
    for index, cost in enumerate(costs):
        # Greedy on whole characters: an escape pair or surrogate pair is one char here.
        if used + cost > part_limit:
            texts.append(text[start:index])
            units.append(used)
            start, used = index, 0
        used += cost
    texts.append(text[start:])
    units.append(used)
    return texts, units


def _plan(text: str, encoding: Encoding, costs: list[int], concat: ConcatMode, shift: str | None) -> SegmentPlan:
    single = _capacity(encoding, concat, False, shift)
    # message_payload: the SMSC splits it on air like an 8-bit UDH split, so count with that.
    per_part = _capacity(encoding, "udh8" if concat == "payload" else concat, True, shift)
    texts, units = _split(text, costs, single, per_part)
    return SegmentPlan(
        encoding=encoding,
        texts=tuple(texts),
        units=tuple(units),
        concat=concat,
        national_shift=shift if encoding == "gsm7-turkish" else None,
    )


def segments(text: str, *, national_shift: str | None = None, concat: ConcatMode = "udh8") -> SegmentPlan:
    """Exact on-air segmentation of ``text``.

    GSM-7 default alphabet when every character fits; else, if ``national_shift`` is given,
    GSM-7 with that national single shift table; else (or when that needs more segments)
    UCS-2. Raises MessageTooLong beyond 255 segments.
    """
    if concat not in ("udh8", "udh16", "payload"):
        raise ValueError(f"unsupported concat mode {concat!r}; use 'udh8', 'udh16' or 'payload'")
    _shift_table(national_shift)  # validates the name early
    if text == "":
        return SegmentPlan("gsm7", ("",), (0,), concat)

    candidates: list[SegmentPlan] = []
    default_costs = gsm7_costs(text)
    if default_costs is not None:
        candidates.append(_plan(text, "gsm7", default_costs, concat, None))
    else:
        if national_shift is not None:
            shifted_costs = gsm7_costs(text, national_shift)
            if shifted_costs is not None:
                candidates.append(_plan(text, "gsm7-turkish", shifted_costs, concat, national_shift))
        candidates.append(_plan(text, "ucs2", _ucs2_costs(text), concat, None))
    # Fewest segments wins; on a tie the earlier (GSM-7) candidate is kept by min().
    best = min(candidates, key=lambda plan: plan.count)
    if best.count > MAX_PARTS:
        raise MessageTooLong(f"text needs {best.count} segments, the limit is {MAX_PARTS}")
    return best


def gsm7_encode(text: str, national_shift: str | None = None) -> bytes:
    """Unpacked septets (one per octet). Raises UnicodeEncodeError for unmappable text."""
    shift_table = _shift_table(national_shift)
    out = bytearray()
    for position, char in enumerate(text):
        code = _BASIC_INDEX.get(char)
        if code is not None:
            out.append(code)
        elif char in shift_table:
            out += bytes((ESCAPE, shift_table[char]))
        else:
            raise UnicodeEncodeError("gsm0338", text, position, position + 1, "not in the GSM 03.38 alphabet")
    return bytes(out)


def gsm7_decode(septets: bytes, national_shift: str | None = None) -> str:
    """Inverse of gsm7_encode (unpacked septets). Unknown escapes decode as a space, per TS 23.038."""
    reverse_shift = {code: char for char, code in _shift_table(national_shift).items()}
    chars: list[str] = []
    index = 0
    while index < len(septets):
        code = septets[index]
        if code == ESCAPE and index + 1 < len(septets):
            chars.append(reverse_shift.get(septets[index + 1], " "))
            index += 2
            continue
        chars.append(GSM7_BASIC[code & 0x7F])
        index += 1
    return "".join(chars)


def gsm7_pack(septets: bytes) -> bytes:
    """Pack septets 8-into-7 octets (for SMSCs that want packed GSM; not used on the default path)."""
    out = bytearray()
    accumulator = 0
    bits = 0
    for septet in septets:
        accumulator |= (septet & 0x7F) << bits
        bits += 7
        while bits >= 8:
            out.append(accumulator & 0xFF)
            accumulator >>= 8
            bits -= 8
    if bits:
        out.append(accumulator & 0xFF)
    return bytes(out)


def _encode_text(text: str, plan: SegmentPlan) -> bytes:
    if plan.encoding == "ucs2":
        return text.encode("utf-16-be")
    return gsm7_encode(text, plan.national_shift)


def _udh(plan: SegmentPlan, reference: int | None, part_number: int) -> bytes:
    elements = bytearray()
    if reference is not None and plan.concat == "udh8":
        elements += bytes((IE_CONCAT_8BIT, 3, reference & 0xFF, plan.count, part_number))
    elif reference is not None and plan.concat == "udh16":
        elements += bytes((IE_CONCAT_16BIT, 4, (reference >> 8) & 0xFF, reference & 0xFF, plan.count, part_number))
    if plan.national_shift is not None:
        elements += bytes((IE_NATIONAL_SINGLE_SHIFT, 1, NATIONAL_LANGUAGE_ID[plan.national_shift]))
    return bytes((len(elements),)) + bytes(elements) if elements else b""


@functools.lru_cache(maxsize=256)
def _planned_bodies(text: str, national_shift: str | None, concat: ConcatMode) -> tuple[SegmentPlan, tuple[bytes, ...]]:
    """Segmentation and encoded bodies (no UDH) of a text; cached, as a notice text repeats
    (the reference, and so the UDH, is per message and added by the caller)."""
    plan = segments(text, national_shift=national_shift, concat=concat)
    if concat == "payload":
        return plan, (_encode_text(text, plan),)
    return plan, tuple(_encode_text(part_text, plan) for part_text in plan.texts)


def encode_message(
    text: str,
    *,
    national_shift: str | None = None,
    concat: ConcatMode = "udh8",
    reference: int | None = None,
    rng: random.Random | None = None,
) -> EncodedMessage:
    """Wire parts for ``text``: one per segment (UDH modes) or one message_payload PDU."""
    plan, bodies = _planned_bodies(text, national_shift, concat)
    if concat == "payload":
        udh = _udh(plan, None, 1)
        body = udh + bodies[0]
        part = WirePart(
            short_message=b"",
            message_payload=body,
            esm_class=ESM_CLASS_UDHI if udh else 0,
            data_coding=plan.data_coding,
            udh=udh,
            part_number=1,
            part_total=1,
            text=text,
        )
        return EncodedMessage(plan, (part,), None)

    if plan.count > 1 and reference is None:
        limit = 0xFF if concat == "udh8" else 0xFFFF
        reference = (rng or random).randint(0, limit)
    if plan.count == 1:
        reference = None
    parts: list[WirePart] = []
    for number, (part_text, part_body) in enumerate(zip(plan.texts, bodies, strict=True), start=1):
        udh = _udh(plan, reference, number)
        parts.append(
            WirePart(
                short_message=udh + part_body,
                message_payload=None,
                esm_class=ESM_CLASS_UDHI if udh else 0,
                data_coding=plan.data_coding,
                udh=udh,
                part_number=number,
                part_total=plan.count,
                text=part_text,
            )
        )
    return EncodedMessage(plan, tuple(parts), reference)


def split_udh(short_message: bytes, esm_class: int) -> tuple[bytes, bytes]:
    """(udh, body) of a received short_message; udh is empty when UDHI is not set."""
    if not esm_class & ESM_CLASS_UDHI or not short_message:
        return b"", short_message
    length = short_message[0] + 1
    return short_message[:length], short_message[length:]


def decode_body(body: bytes, data_coding: int, udh: bytes = b"") -> str:
    """Text of a received message body, honouring a national single shift IE in its UDH."""
    if data_coding == DATA_CODING_UCS2:
        return body.decode("utf-16-be", errors="replace")
    if data_coding == DATA_CODING_GSM7:
        return gsm7_decode(body, _national_shift_from_udh(udh))
    return body.decode("latin-1")


def _national_shift_from_udh(udh: bytes) -> str | None:
    index = 1
    while index + 1 < len(udh):
        element, length = udh[index], udh[index + 1]
        if element == IE_NATIONAL_SINGLE_SHIFT and length == 1 and index + 2 < len(udh):
            for name, language in NATIONAL_LANGUAGE_ID.items():
                if language == udh[index + 2]:
                    return name
        index += 2 + length
    return None
