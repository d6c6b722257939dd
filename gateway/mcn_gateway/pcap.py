"""A small reader for classic pcap files carrying SIGTRAN over SCTP (M3UA, M2PA).

No third-party dependency: the pcap container, Ethernet/VLAN/Linux cooked capture,
IPv4/IPv6 and SCTP DATA chunks are simple fixed layouts. Only the signalling payload
is handed to pycrate; everything above is plain framing.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

SCTP_PPID_M3UA = 3
SCTP_PPID_M2PA = 5
_IP_PROTO_SCTP = 132
_LINKTYPE_ETHERNET = 1
_LINKTYPE_RAW = 101
_LINKTYPE_LINUX_SLL = 113
_LINKTYPE_IPV4 = 228


class PcapError(ValueError):
    """The file is not a pcap capture this reader understands."""


@dataclass(frozen=True, slots=True)
class SctpPayload:
    """One SCTP DATA chunk's user data, with where and when it was seen."""

    frame: int
    timestamp: float
    src: str
    dst: str
    ppid: int
    stream: int
    data: bytes


def _read_records(raw: bytes) -> tuple[int, Iterator[tuple[int, float, bytes]]]:
    if len(raw) < 24:
        raise PcapError("file too short for a pcap header")
    magic = raw[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        endian = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        endian = ">"
    elif magic == b"\x0a\x0d\x0d\x0a":
        raise PcapError("pcapng is not supported: convert with `editcap -F pcap`")
    else:
        raise PcapError("not a pcap file (bad magic number)")
    nanosecond = magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
    linktype = struct.unpack(endian + "I", raw[20:24])[0] & 0x0FFFFFFF
    header = struct.Struct(endian + "IIII")

    def records() -> Iterator[tuple[int, float, bytes]]:
        offset, frame = 24, 0
        while offset + 16 <= len(raw):
            seconds, fraction, captured, _original = header.unpack_from(raw, offset)
            offset += 16
            frame += 1
            packet = raw[offset : offset + captured]
            offset += captured
            yield frame, seconds + fraction / (1e9 if nanosecond else 1e6), packet

    return linktype, records()


def _network_layer(linktype: int, packet: bytes) -> bytes | None:
    if linktype == _LINKTYPE_ETHERNET:
        offset, ethertype = 14, struct.unpack_from("!H", packet, 12)[0] if len(packet) >= 14 else 0
        while ethertype in (0x8100, 0x88A8) and len(packet) >= offset + 4:  # VLAN tags
            ethertype = struct.unpack_from("!H", packet, offset + 2)[0]
            offset += 4
        return packet[offset:] if ethertype in (0x0800, 0x86DD) else None
    if linktype == _LINKTYPE_LINUX_SLL:
        return packet[16:] if len(packet) >= 16 else None
    if linktype in (_LINKTYPE_RAW, _LINKTYPE_IPV4):
        return packet
    return None


def _sctp_segment(ip_packet: bytes) -> tuple[str, str, bytes] | None:
    if not ip_packet:
        return None
    version = ip_packet[0] >> 4
    if version == 4 and len(ip_packet) >= 20:
        header_length = (ip_packet[0] & 0x0F) * 4
        total_length = struct.unpack_from("!H", ip_packet, 2)[0]
        if ip_packet[9] != _IP_PROTO_SCTP:
            return None
        src = ".".join(str(b) for b in ip_packet[12:16])
        dst = ".".join(str(b) for b in ip_packet[16:20])
        return src, dst, ip_packet[header_length:total_length]
    if version == 6 and len(ip_packet) >= 40:
        if ip_packet[6] != _IP_PROTO_SCTP:  # extension headers are not expected on signalling links
            return None
        payload_length = struct.unpack_from("!H", ip_packet, 4)[0]
        return ip_packet[8:24].hex(), ip_packet[24:40].hex(), ip_packet[40 : 40 + payload_length]
    return None


def iter_sctp_data(path: str | Path) -> Iterator[SctpPayload]:
    """Yield every SCTP DATA chunk's payload in capture order (no reassembly of fragments)."""
    linktype, records = _read_records(Path(path).read_bytes())
    for frame, timestamp, packet in records:
        ip_packet = _network_layer(linktype, packet)
        segment = _sctp_segment(ip_packet) if ip_packet else None
        if segment is None:
            continue
        src, dst, sctp = segment
        offset = 12  # common header: ports, verification tag, checksum
        while offset + 4 <= len(sctp):
            chunk_type, _flags, chunk_length = struct.unpack_from("!BBH", sctp, offset)
            if chunk_length < 4:
                break
            if chunk_type == 0 and chunk_length >= 16:  # DATA
                stream, _ssn, ppid = struct.unpack_from("!HHI", sctp, offset + 8)
                data = sctp[offset + 16 : offset + chunk_length]
                yield SctpPayload(frame, timestamp, src, dst, ppid, stream, data)
            offset += (chunk_length + 3) & ~3
