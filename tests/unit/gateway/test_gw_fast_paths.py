"""The hot-path decoders agree with whole-message pycrate decoding (the reference) on real and built
messages, and on mutated ones (hypothesis): same fields, or both refuse."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mcn_devkit.sigtran.builders import build_alert_service_centre, build_iam, build_ready_for_sm, m3ua_data
from mcn_gateway.pcap import iter_sctp_data
from mcn_gateway.protocol import DecodeError, isup, m3ua, sccp
from mcn_gateway.protocol import map as map_codec
from mcn_gateway.replay import M2paDecoder

CAPTURES = Path(__file__).resolve().parent / "captures"


def _capture_m3ua() -> list[bytes]:
    path = CAPTURES / "pycrate_pcapr_tcapmap.pcap"
    return [p.data for p in iter_sctp_data(path) if p.ppid == 3] if path.is_file() else []


def _capture_sccp() -> list[bytes]:
    decoder, m2pa = m3ua.M3uaDecoder(), M2paDecoder()
    messages = [decoder.decode(data).protocol_data.data for data in _capture_m3ua()]
    path = CAPTURES / "pycrate_pcapr_tcapmap.pcap"
    if path.is_file():
        for payload in iter_sctp_data(path):
            if payload.ppid == 5 and (data := m2pa.decode(payload.data)) is not None and data.si == 3:
                messages.append(data.data)
    return messages


def _iams() -> list[bytes]:
    iams = [
        build_iam(1),
        build_iam(2, caller=None),
        build_iam(3, caller_presentation=isup.PRESENTATION_RESTRICTED),
        build_iam(4, subscriber="7911123456", international=False, redirecting_reason=2),
    ]
    path = CAPTURES / "kancom_xdr_tester_isup.pcap"
    if path.is_file():
        for payload in iter_sctp_data(path):
            data = M2paDecoder().decode(payload.data)
            if data is not None and data.si == 5 and data.data[2] == isup.MSG_IAM:
                iams.append(data.data)
    return iams


M3UA_MESSAGES = [
    *_capture_m3ua(),
    m3ua_data(5, build_iam(9), opc=1),
    m3ua.encode_data(m3ua.ProtocolData(1, 2, 3, 2, 0, 5, b"payload"), routing_context=7, network_appearance=3),
]
SCCP_MESSAGES = [*_capture_sccp(), build_alert_service_centre(), build_ready_for_sm()]
IAMS = _iams()


def _m3ua_outcome(decode, data: bytes):
    try:
        message = decode(data)
    except DecodeError:
        return "refused"
    return (message.kind, message.protocol_data, message.params.get(0x0006), message.params.get(0x0200))


def _sccp_outcome(decoder, data: bytes):
    try:
        result = decoder.decode(data)
    except DecodeError:
        return "refused"
    if isinstance(result, int):
        return result
    return (
        result.message_type,
        result.called.raw,
        result.called.global_title,
        result.called.ssn,
        result.calling.raw,
        result.calling.global_title,
        result.calling.ssn,
        result.data,
        result.segmented,
        result.return_cause,
    )


def _iam_outcome(decode, data: bytes):
    try:
        return decode(data)
    except DecodeError:
        return "refused"


def _pycrate_reframes_optional_part(data: bytes) -> bool:
    """pycrate reads a fixed-size optional parameter (e.g. redirection information) by its size, not
    by its length octet, so an over-long one makes it read the next parameter from inside it; the
    fast path follows the length octets (Q.764: extra octets of a known parameter are ignored)."""
    import pycrate_mobile.ISUP as pi

    try:
        _called, framed = isup.IsupDecoder.split_iam(data)
        iam = pi.InitialAddress()
        iam.from_bytes(data)
    except Exception:
        return False
    seen = [option[0].get_val() for option in iam["Opt"]._content if not option.get_trans()]
    return {code for code in seen if code} != set(framed)


def test_m3ua_fast_path_matches_pycrate():
    decoder = m3ua.M3uaDecoder()
    assert len(M3UA_MESSAGES) > 50
    for data in M3UA_MESSAGES:
        assert _m3ua_outcome(decoder.decode, data) == _m3ua_outcome(decoder.decode_with_pycrate, data)


def test_sccp_fast_path_matches_pycrate():
    fast, reference = sccp.SccpDecoder(), sccp.ReferenceSccpDecoder()
    assert len(SCCP_MESSAGES) > 80
    for data in SCCP_MESSAGES:
        assert _sccp_outcome(fast, data) == _sccp_outcome(reference, data)


def test_isup_fast_path_matches_pycrate():
    decoder = isup.IsupDecoder()
    for data in IAMS:
        fast = _iam_outcome(decoder.decode_iam, data)
        assert fast != "refused"
        assert fast == _iam_outcome(decoder.decode_iam_reference, data)


def test_address_string_matches_pycrate():
    for raw in (b"\x91\x44\x97\x11\x32\x54\xf6", b"\xa1\x97\x11\x32\x54", b"\x81\x21\x43"):
        assert map_codec.decode_address_string(raw) == map_codec.decode_address_string_reference(raw)


@st.composite
def mutation(draw, corpus: list[bytes]) -> bytes:
    data = bytearray(draw(st.sampled_from(corpus)))
    for _ in range(draw(st.integers(1, 4))):
        if not data:
            break
        position = draw(st.integers(0, len(data) - 1))
        if draw(st.booleans()):
            data[position] = draw(st.integers(0, 255))
        else:
            del data[position:]
    return bytes(data)


DIFFERENTIAL = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
_SCCP_FAST, _SCCP_REFERENCE, _ISUP = sccp.SccpDecoder(), sccp.ReferenceSccpDecoder(), isup.IsupDecoder()


@DIFFERENTIAL
@given(mutation(IAMS))
def test_mutated_iams_fast_path_never_accepts_what_pycrate_refuses(data: bytes):
    fast = _iam_outcome(_ISUP.decode_iam, data)
    reference = _iam_outcome(_ISUP.decode_iam_reference, data)
    if fast != "refused" and reference != "refused" and not _pycrate_reframes_optional_part(data):
        # both decoded: the fields the events are made of agree
        assert (fast.cic, fast.calling_presentation) == (reference.cic, reference.calling_presentation)
        assert fast.subscriber == reference.subscriber


@DIFFERENTIAL
@given(mutation(SCCP_MESSAGES))
def test_mutated_sccp_fast_path_agrees_when_both_decode(data: bytes):
    fast = _sccp_outcome(_SCCP_FAST, data)
    reference = _sccp_outcome(_SCCP_REFERENCE, data)
    if isinstance(fast, tuple) and isinstance(reference, tuple):
        # raw address bytes may differ: the fast path keeps the wire bytes, pycrate re-encodes what it understood
        decoded_fields = (0, 2, 3, 5, 6, 7)
        assert [fast[i] for i in decoded_fields] == [reference[i] for i in decoded_fields]


@pytest.mark.parametrize(
    "data",
    [
        # found by the differential test: a mutated IAM whose optional part repeats a parameter
        b"\x04\x00\x01\x00 \x00\n\x00\x02\n\x08\x03\x10Dw\x00\x99\t\x00\n\x08\x03\x13DG\x00!Cu\x0b\x07\x03\x10\x97"
        b"\x11!Ce\x13\x0b\x03!(\x07\x00\x10\x97\x11!Ce\x00",
        b"\x01\x00\x01\x00 \x00\n\x00\x02\n\x08\x04\x10Dw\x00\x99\t\x00\n\x08\x04\x13DG\x00!Cu\x0b\x08\x04\x10D\x97"
        b"\x11!Ce\n\x02\x03a(\x08\x04\x10D\x97\x11!Ce\x00",
    ],
)
def test_a_repeated_optional_parameter_counts_by_its_last_occurrence_on_both_paths(data: bytes):
    fast = _iam_outcome(_ISUP.decode_iam, data)
    reference = _iam_outcome(_ISUP.decode_iam_reference, data)
    if fast != "refused" and reference != "refused" and not _pycrate_reframes_optional_part(data):
        assert (fast.cic, fast.calling_presentation) == (reference.cic, reference.calling_presentation)
        assert fast.subscriber == reference.subscriber


# --- the session's DATA path (decode_data) and the answers' writer (encode_data) ---------------------------

_TLV = st.tuples(
    st.sampled_from([0x0006, 0x0200, 0x0210, 0x0013, 0x0004, 0x7777]),
    st.binary(max_size=40),
)


def _data_message(params: list[tuple[int, bytes]], truncate: int) -> bytes:
    body = b"".join(
        tag.to_bytes(2, "big") + (4 + len(value)).to_bytes(2, "big") + value + b"\0" * (-len(value) % 4)
        for tag, value in params
    )
    message = bytes([1, 0, 1, 1]) + (8 + len(body)).to_bytes(4, "big") + body
    return message[: len(message) - truncate] if truncate else message


def _data_outcome(decoder: m3ua.M3uaDecoder, data: bytes):
    try:
        message = decoder.decode(data)
    except DecodeError:
        return "refused"
    return message.protocol_data, message.uint32(0x0006)


def _fast_data_outcome(decoder: m3ua.M3uaDecoder, data: bytes):
    try:
        return decoder.decode_data(data)
    except DecodeError:
        return "refused"


def test_session_data_path_matches_the_decoder_on_known_messages():
    decoder = m3ua.M3uaDecoder()
    for data in M3UA_MESSAGES:
        if data[2:4] == b"\x01\x01":
            assert _fast_data_outcome(decoder, data) == _data_outcome(decoder, data)


@settings(max_examples=400, deadline=None)
@given(st.lists(_TLV, max_size=6), st.integers(0, 6))
def test_session_data_path_reads_and_refuses_as_the_decoder(params, truncate):
    """Repeated, short and unknown parameters, truncated messages: the same fields or both refuse (and
    the decoder's DATA path is itself checked against pycrate above)."""
    decoder = m3ua.M3uaDecoder()
    data = _data_message(params, truncate)
    if len(data) >= 8:
        data = data[:4] + len(data).to_bytes(4, "big") + data[8:]  # framing gives whole messages
    assert _fast_data_outcome(decoder, data) == _data_outcome(decoder, data)


@settings(max_examples=200, deadline=None)
@given(
    st.builds(
        m3ua.ProtocolData,
        st.integers(0, 2**24 - 1),
        st.integers(0, 2**24 - 1),
        st.sampled_from([3, 5]),
        st.integers(0, 3),
        st.integers(0, 3),
        st.integers(0, 15),
        st.binary(max_size=300),
    ),
    st.one_of(st.none(), st.integers(0, 2**32 - 1)),
    st.one_of(st.none(), st.integers(0, 2**32 - 1)),
)
def test_data_answers_are_written_octet_for_octet_as_pycrate_writes_them(data, routing_context, appearance):
    fast = m3ua.encode_data(data, routing_context=routing_context, network_appearance=appearance)
    assert fast == m3ua.encode_data_with_params(data, routing_context=routing_context, network_appearance=appearance)
    params = [(0x0200, appearance.to_bytes(4, "big"))] if appearance is not None else []
    params += [(0x0006, routing_context.to_bytes(4, "big"))] if routing_context is not None else []
    label = b"".join(v.to_bytes(4, "big") for v in (data.opc, data.dpc)) + bytes([data.si, data.ni, data.mp, data.sls])
    params.append((0x0210, label + data.data))
    assert fast == m3ua.encode_with_pycrate(m3ua.TRANSFER_DATA, params)
