"""Property-based tests for the layer's own PDU codec (against smpplib's) and the receipt parsers."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mcn_smpp import pdu as wire
from mcn_smpp.connection import make_pdu, parse_pdu
from mcn_smpp.gsm0338 import _planned_bodies, encode_message
from mcn_smpp.receipts import (
    MESSAGE_STATES,
    DeliveryReceipt,
    InboundMessage,
    classify_deliver,
    from_deliver_sm,
    looks_like_receipt_text,
    parse_receipt_text,
)

addresses = st.text(alphabet="0123456789+ABCDEFGHIJKLMNOPQRSTUVWXYZ", max_size=20)
octet = st.integers(min_value=0, max_value=255)
ton = st.integers(min_value=0, max_value=6)


@settings(max_examples=300, deadline=None)
@given(
    sequence=st.integers(min_value=1, max_value=0x7FFFFFFF),
    source_addr=addresses,
    destination_addr=addresses,
    source_ton=ton,
    source_npi=octet,
    dest_ton=ton,
    dest_npi=octet,
    esm_class=octet,
    registered_delivery=st.integers(min_value=0, max_value=3),
    data_coding=octet,
    short_message=st.binary(max_size=254),
    message_payload=st.none() | st.binary(min_size=1, max_size=2000),
)
def test_submit_sm_is_byte_for_byte_smpplibs(
    sequence: int,
    source_addr: str,
    destination_addr: str,
    source_ton: int,
    source_npi: int,
    dest_ton: int,
    dest_npi: int,
    esm_class: int,
    registered_delivery: int,
    data_coding: int,
    short_message: bytes,
    message_payload: bytes | None,
) -> None:
    fields = {
        "source_addr": source_addr,
        "source_addr_ton": source_ton,
        "source_addr_npi": source_npi,
        "destination_addr": destination_addr,
        "dest_addr_ton": dest_ton,
        "dest_addr_npi": dest_npi,
        "esm_class": esm_class,
        "registered_delivery": registered_delivery,
        "data_coding": data_coding,
        "short_message": b"" if message_payload is not None else short_message,
    }
    ours = wire.encode_submit_sm(sequence, message_payload=message_payload, **fields)
    extra = {"message_payload": message_payload} if message_payload is not None else {}
    theirs = make_pdu("submit_sm", sequence, service_type="", **fields, **extra).generate()
    assert ours == theirs
    decoded = wire.decode_short_message_pdu(ours)
    assert (decoded.sequence, decoded.source_addr, decoded.destination_addr) == (
        sequence,
        source_addr,
        destination_addr,
    )
    assert (decoded.esm_class, decoded.data_coding) == (esm_class, data_coding)
    assert decoded.message_payload == message_payload


def test_submit_sm_refuses_an_oversized_short_message() -> None:
    with pytest.raises(wire.PduError, match="254"):
        wire.encode_submit_sm(
            1,
            source_addr="",
            source_addr_ton=0,
            source_addr_npi=0,
            destination_addr="1",
            dest_addr_ton=1,
            dest_addr_npi=1,
            esm_class=0,
            registered_delivery=0,
            data_coding=0,
            short_message=b"x" * 255,
        )


@settings(max_examples=300, deadline=None)
@given(
    sequence=st.integers(min_value=1, max_value=0x7FFFFFFF),
    source_addr=addresses,
    destination_addr=addresses,
    esm_class=octet,
    data_coding=octet,
    short_message=st.binary(max_size=254),
    receipted_message_id=st.none() | st.text(alphabet="0123456789abcdefABCDEF-", min_size=1, max_size=64),
    message_state=st.none() | st.integers(min_value=0, max_value=9),
    vendor_tlv=st.none() | st.binary(max_size=30),
)
def test_deliver_sm_from_smpplibs_encoder_decodes_the_same(
    sequence: int,
    source_addr: str,
    destination_addr: str,
    esm_class: int,
    data_coding: int,
    short_message: bytes,
    receipted_message_id: str | None,
    message_state: int | None,
    vendor_tlv: bytes | None,
) -> None:
    fields: dict[str, object] = {
        "source_addr": source_addr,
        "destination_addr": destination_addr,
        "esm_class": esm_class,
        "data_coding": data_coding,
        "short_message": short_message,
    }
    if receipted_message_id is not None:
        fields["receipted_message_id"] = receipted_message_id
    if message_state is not None:
        fields["message_state"] = message_state
    frame = make_pdu("deliver_sm", sequence, **fields).generate()
    if vendor_tlv is not None:  # a tag smpplib does not know: must be carried, not fatal
        tlv = (0x1501).to_bytes(2, "big") + len(vendor_tlv).to_bytes(2, "big") + vendor_tlv
        frame = (len(frame) + len(tlv)).to_bytes(4, "big") + frame[4:] + tlv
    decoded = wire.decode_short_message_pdu(frame)
    reference = parse_pdu(frame)
    assert decoded.command_id == wire.DELIVER_SM and decoded.sequence == sequence
    assert decoded.source_addr == source_addr and decoded.destination_addr == destination_addr
    assert (decoded.esm_class, decoded.data_coding) == (esm_class, data_coding)
    assert decoded.short_message == (reference.short_message or b"")
    assert decoded.receipted_message_id == receipted_message_id
    assert decoded.message_state == message_state
    if vendor_tlv is not None:
        assert decoded.tlvs[0x1501] == vendor_tlv
    # The same event whichever decoder produced the fields.
    assert from_deliver_sm(decoded) == from_deliver_sm(reference)


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=300))
def test_decoders_never_fail_other_than_with_pdu_error(data: bytes) -> None:
    framed = (len(data) + 16).to_bytes(4, "big") + wire.DELIVER_SM.to_bytes(4, "big") + bytes(8) + data
    for decode in (wire.decode_short_message_pdu, wire.decode_submit_sm_resp, wire.decode_header):
        for candidate in (data, framed):
            with contextlib.suppress(wire.PduError):
                decode(candidate)
    try:
        tlvs = wire.decode_tlvs(data)
    except wire.PduError:
        return
    assert sum(4 + len(value) for value in tlvs.values()) <= len(data)


@given(st.text(alphabet="0123456789abcdef", min_size=1, max_size=64))
def test_submit_sm_resp_message_id(message_id: str) -> None:
    frame = wire.header(wire.SUBMIT_SM_RESP, 0, 9, message_id.encode() + b"\x00")
    assert wire.decode_submit_sm_resp(frame) == message_id
    assert parse_pdu(frame).message_id.decode() == message_id
    assert wire.decode_submit_sm_resp(wire.header(wire.SUBMIT_SM_RESP, 0x58, 9)) is None


receipt_values = st.text(alphabet="0123456789ABCDEFabcdef-_", min_size=1, max_size=20)
states = st.sampled_from(sorted(set(MESSAGE_STATES.values())))


@settings(max_examples=300, deadline=None)
@given(
    message_id=receipt_values,
    stat=states,
    err=st.text(alphabet="0123456789", min_size=3, max_size=3),
    text=st.text(alphabet="abcdefghij ,.!", max_size=20),
    separator=st.sampled_from([" ", "  ", "\t"]),
)
def test_receipt_text_fields_round_trip(message_id: str, stat: str, err: str, text: str, separator: str) -> None:
    body = separator.join(
        [
            f"id:{message_id}",
            "sub:001",
            "dlvrd:001",
            "submit date:2611291200",
            "done date:2611291201",
            f"stat:{stat}",
            f"err:{err}",
            f"text:{text}",
        ]
    )
    fields = parse_receipt_text(body)
    assert (fields["id"], fields["stat"], fields["err"], fields["done_date"]) == (message_id, stat, err, "2611291201")
    assert fields["text"] == text.strip()
    assert looks_like_receipt_text(body)
    event = classify_deliver(
        esm_class=0,
        data_coding=0,
        short_message=body.encode("latin-1"),
        message_payload=None,
        source_addr="447700900123",
        destination_addr="MCN",
        receipted_message_id=None,
        message_state=None,
    )
    assert isinstance(event, DeliveryReceipt)
    assert (event.message_id, event.state, event.from_text) == (message_id, stat, True)


@settings(max_examples=500, deadline=None)
@given(
    esm_class=octet,
    data_coding=octet,
    body=st.binary(max_size=160),
    receipted_message_id=st.none() | st.text(max_size=10),
    message_state=st.none() | octet,
)
def test_classify_deliver_never_crashes_and_flags_win(
    esm_class: int, data_coding: int, body: bytes, receipted_message_id: str | None, message_state: int | None
) -> None:
    event = classify_deliver(
        esm_class=esm_class,
        data_coding=data_coding,
        short_message=body,
        message_payload=None,
        source_addr="1",
        destination_addr="2",
        receipted_message_id=receipted_message_id,
        message_state=message_state,
    )
    flagged = (esm_class & 0x3C) == 0x04 or bool(receipted_message_id) or message_state is not None
    if flagged:
        assert isinstance(event, DeliveryReceipt)
    if isinstance(event, DeliveryReceipt):
        assert event.from_text is not flagged  # known by its text alone: the function checks its sender
    if isinstance(event, InboundMessage):
        assert not flagged


@given(st.text(max_size=200))
def test_receipt_text_parser_takes_any_text(text: str) -> None:
    fields = parse_receipt_text(text)
    assert all(isinstance(value, str) for value in fields.values())
    if not text.lstrip().lower().startswith("id:"):
        assert not looks_like_receipt_text(text)


def test_mo_texts_are_not_receipts() -> None:
    for text in ("STOP", "id: please call me", "id:42 is my stat:unclear", "Hi, id:1 stat:DELIVRD"):
        assert not looks_like_receipt_text(text), text


def test_text_receipts_can_be_turned_off() -> None:
    fields = {
        "esm_class": 0,
        "data_coding": 0,
        "short_message": b"id:77 stat:DELIVRD",
        "message_payload": None,
        "source_addr": "447700900123",
        "destination_addr": "MCN",
        "receipted_message_id": None,
        "message_state": None,
    }
    assert isinstance(classify_deliver(**fields), DeliveryReceipt)  # type: ignore[arg-type]
    assert isinstance(classify_deliver(**fields, text_receipts=False), InboundMessage)  # type: ignore[arg-type]
    flagged = {**fields, "esm_class": 0x04}
    assert isinstance(classify_deliver(**flagged, text_receipts=False), DeliveryReceipt)  # type: ignore[arg-type]


@settings(max_examples=100, deadline=None)
@given(text=st.text(max_size=400), reference=st.integers(min_value=0, max_value=255))
def test_cached_encoding_equals_a_fresh_one(text: str, reference: int) -> None:
    first = encode_message(text, reference=reference)
    _planned_bodies.cache_clear()
    fresh = encode_message(text, reference=reference)
    again = encode_message(text, reference=reference)
    assert first == fresh == again
