"""SCCP: UDT answers, XUDT segment reassembly."""

from __future__ import annotations

import dataclasses

from mcn_devkit.sigtran.builders import HLR_GT, PLATFORM_GT
from mcn_gateway.protocol import sccp


def _segment(data: bytes, first: bool, remaining: int, reference: bytes = b"\x00\x00\x07") -> sccp.SccpUnitdata:
    address = sccp.SccpDecoder()._address(sccp.encode_gt_address(HLR_GT, 6))
    return sccp.SccpUnitdata(
        message_type=sccp.XUDT,
        protocol_class=1,
        return_on_error=False,
        called=address,
        calling=address,
        data=data,
        segmented=True,
        segmentation=bytes([(0x80 if first else 0) | remaining]) + reference,
    )


def test_udt_answer_round_trips():
    called, calling = sccp.encode_gt_address(HLR_GT, 6), sccp.encode_gt_address(PLATFORM_GT, 8)
    first = sccp.encode_udt(called, calling, b"\x64\x03\x49\x01\x01")
    second = sccp.encode_udt(called, calling, b"\x64\x03\x49\x01\x02")
    assert first[:-1] == second[:-1]
    assert second == sccp.encode_udt_with_pycrate(called, calling, b"\x64\x03\x49\x01\x02", 0)
    decoded = sccp.SccpDecoder().decode(second)
    assert (decoded.called.global_title, decoded.calling.global_title) == (HLR_GT, PLATFORM_GT)
    assert decoded.data == b"\x64\x03\x49\x01\x02"


def test_reassembly_in_and_out_of_order():
    reassembler = sccp.SegmentReassembler()
    assert reassembler.add(_segment(b"C", False, 0), 0.0) is None
    assert reassembler.add(_segment(b"A", True, 2), 0.0) is None
    assert reassembler.add(_segment(b"B", False, 1), 0.0) == b"ABC"


def test_incomplete_messages_expire_and_references_do_not_mix():
    reassembler = sccp.SegmentReassembler(timeout_s=5)
    assert reassembler.add(_segment(b"A", True, 1), 0.0) is None
    assert reassembler.add(_segment(b"x", True, 1, reference=b"\x00\x00\x08"), 0.0) is None
    assert reassembler.add(_segment(b"B", False, 0), 10.0) is None  # the first part expired meanwhile
    assert reassembler.expired == 2
    late = dataclasses.replace(_segment(b"Z", False, 0), segmentation=b"\x00\x00\x00\x09")
    assert reassembler.add(late, 10.0) is None
