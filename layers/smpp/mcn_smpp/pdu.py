"""The PDUs on the hot path, encoded and decoded with struct (no generic field machinery).

smpplib's generic PDU classes walk every optional parameter by reflection for each PDU
(~100 µs per submit_sm); a submit is a fixed layout, so it is built in one pass here.
Byte-for-byte equality with smpplib's encoder is checked by a property-based test.
Everything here is pure: bytes in, values out; a malformed PDU raises PduError.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

HEADER = struct.Struct(">LLLL")
HEADER_LENGTH = HEADER.size

BIND_TRANSMITTER = 0x00000002
BIND_TRANSCEIVER = 0x00000009
SUBMIT_SM = 0x00000004
SUBMIT_SM_RESP = 0x80000004
DELIVER_SM = 0x00000005
DELIVER_SM_RESP = 0x80000005
UNBIND = 0x00000006
UNBIND_RESP = 0x80000006
ENQUIRE_LINK = 0x00000015
ENQUIRE_LINK_RESP = 0x80000015
GENERIC_NACK = 0x80000000
RESPONSE_BIT = 0x80000000

TAG_RECEIPTED_MESSAGE_ID = 0x001E
TAG_MESSAGE_PAYLOAD = 0x0424
TAG_MESSAGE_STATE = 0x0427
TAG_NETWORK_ERROR_CODE = 0x0423

_U8x2 = struct.Struct(">BB")
_SUBMIT_MIDDLE = struct.Struct(">BBB")  # esm_class, protocol_id, priority_flag
# registered_delivery, replace_if_present_flag, data_coding, sm_default_msg_id, sm_length
_SUBMIT_TAIL = struct.Struct(">BBBBB")
_TLV_HEADER = struct.Struct(">HH")


class PduError(ValueError):
    """A PDU that does not follow the SMPP 3.4 layout."""


def header(command_id: int, status: int, sequence: int, body: bytes = b"") -> bytes:
    """A whole PDU: the 16-byte header and ``body``."""
    return HEADER.pack(HEADER_LENGTH + len(body), command_id, status, sequence) + body


def _c_string(value: str) -> bytes:
    return value.encode("ascii") + b"\x00"


def encode_submit_sm(
    sequence: int,
    *,
    source_addr: str,
    source_addr_ton: int,
    source_addr_npi: int,
    destination_addr: str,
    dest_addr_ton: int,
    dest_addr_npi: int,
    esm_class: int,
    registered_delivery: int,
    data_coding: int,
    short_message: bytes,
    message_payload: bytes | None = None,
    service_type: str = "",
) -> bytes:
    """submit_sm with protocol_id, priority, schedule/validity, replace and default msg id all 0/empty."""
    if len(short_message) > 254:
        raise PduError(f"short_message is {len(short_message)} octets (at most 254; use message_payload)")
    body = b"".join(
        (
            _c_string(service_type),
            _U8x2.pack(source_addr_ton, source_addr_npi),
            _c_string(source_addr),
            _U8x2.pack(dest_addr_ton, dest_addr_npi),
            _c_string(destination_addr),
            _SUBMIT_MIDDLE.pack(esm_class, 0, 0),
            b"\x00\x00",  # schedule_delivery_time, validity_period: empty C-strings
            _SUBMIT_TAIL.pack(registered_delivery, 0, data_coding, 0, len(short_message)),
            short_message,
            b"" if message_payload is None else _TLV_HEADER.pack(TAG_MESSAGE_PAYLOAD, len(message_payload)),
            b"" if message_payload is None else message_payload,
        )
    )
    return HEADER.pack(HEADER_LENGTH + len(body), SUBMIT_SM, 0, sequence) + body


def decode_header(frame: bytes) -> tuple[int, int, int, int]:
    """(command_length, command_id, command_status, sequence_number)."""
    if len(frame) < HEADER_LENGTH:
        raise PduError(f"PDU shorter than its header ({len(frame)} octets)")
    length, command_id, status, sequence = HEADER.unpack_from(frame)
    if length != len(frame):
        raise PduError(f"command_length {length} but {len(frame)} octets")
    return length, command_id, status, sequence


def _read_c_string(frame: bytes, offset: int, limit: int, name: str) -> tuple[str, int]:
    end = frame.find(b"\x00", offset, min(len(frame), offset + limit))
    if end < 0:
        raise PduError(f"{name}: no NUL terminator within {limit} octets")
    return frame[offset:end].decode("latin-1"), end + 1


def decode_submit_sm_resp(frame: bytes) -> str | None:
    """message_id of a submit_sm_resp (None when absent: error responses may have no body)."""
    if len(frame) <= HEADER_LENGTH:
        return None
    message_id, _ = _read_c_string(frame, HEADER_LENGTH, 65, "message_id")
    return message_id or None


def decode_tlvs(data: bytes, offset: int = 0) -> dict[int, bytes]:
    """Optional parameters from ``offset`` to the end: tag -> value (the last one wins)."""
    tlvs: dict[int, bytes] = {}
    end = len(data)
    while offset < end:
        if end - offset < _TLV_HEADER.size:
            raise PduError(f"truncated TLV header at offset {offset}")
        tag, length = _TLV_HEADER.unpack_from(data, offset)
        offset += _TLV_HEADER.size
        if end - offset < length:
            raise PduError(f"TLV 0x{tag:04X} says {length} octets, {end - offset} left")
        tlvs[tag] = bytes(data[offset : offset + length])
        offset += length
    return tlvs


@dataclass(frozen=True)
class ShortMessagePdu:
    """The mandatory fields of a deliver_sm / submit_sm (same layout) and its TLVs."""

    command_id: int
    sequence: int
    service_type: str
    source_addr_ton: int
    source_addr_npi: int
    source_addr: str
    dest_addr_ton: int
    dest_addr_npi: int
    destination_addr: str
    esm_class: int
    protocol_id: int
    priority_flag: int
    schedule_delivery_time: str
    validity_period: str
    registered_delivery: int
    replace_if_present_flag: int
    data_coding: int
    sm_default_msg_id: int
    short_message: bytes
    tlvs: dict[int, bytes] = field(default_factory=dict)

    @property
    def message_payload(self) -> bytes | None:
        return self.tlvs.get(TAG_MESSAGE_PAYLOAD)

    @property
    def receipted_message_id(self) -> str | None:
        value = self.tlvs.get(TAG_RECEIPTED_MESSAGE_ID)
        if value is None:
            return None
        return value.split(b"\x00", 1)[0].decode("latin-1")

    @property
    def message_state(self) -> int | None:
        value = self.tlvs.get(TAG_MESSAGE_STATE)
        if not value:
            return None
        return value[0]


def decode_short_message_pdu(frame: bytes) -> ShortMessagePdu:
    """A deliver_sm (or submit_sm) PDU; any layout error raises PduError."""
    _, command_id, _, sequence = decode_header(frame)
    offset = HEADER_LENGTH
    try:
        service_type, offset = _read_c_string(frame, offset, 6, "service_type")
        source_ton, source_npi = _U8x2.unpack_from(frame, offset)
        source_addr, offset = _read_c_string(frame, offset + 2, 65, "source_addr")
        dest_ton, dest_npi = _U8x2.unpack_from(frame, offset)
        destination_addr, offset = _read_c_string(frame, offset + 2, 65, "destination_addr")
        esm_class, protocol_id, priority_flag = _SUBMIT_MIDDLE.unpack_from(frame, offset)
        schedule, offset = _read_c_string(frame, offset + 3, 17, "schedule_delivery_time")
        validity, offset = _read_c_string(frame, offset, 17, "validity_period")
        registered, replace, data_coding, default_id, sm_length = _SUBMIT_TAIL.unpack_from(frame, offset)
    except struct.error as error:
        raise PduError(f"truncated PDU body: {error}") from None
    offset += _SUBMIT_TAIL.size
    if offset + sm_length > len(frame):
        raise PduError(f"sm_length {sm_length} runs past the end of the PDU")
    short_message = bytes(frame[offset : offset + sm_length])
    tlvs = decode_tlvs(frame, offset + sm_length)
    return ShortMessagePdu(
        command_id=command_id,
        sequence=sequence,
        service_type=service_type,
        source_addr_ton=source_ton,
        source_addr_npi=source_npi,
        source_addr=source_addr,
        dest_addr_ton=dest_ton,
        dest_addr_npi=dest_npi,
        destination_addr=destination_addr,
        esm_class=esm_class,
        protocol_id=protocol_id,
        priority_flag=priority_flag,
        schedule_delivery_time=schedule,
        validity_period=validity,
        registered_delivery=registered,
        replace_if_present_flag=replace,
        data_coding=data_coding,
        sm_default_msg_id=default_id,
        short_message=short_message,
        tlvs=tlvs,
    )
