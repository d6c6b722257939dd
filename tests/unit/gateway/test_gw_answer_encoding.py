"""The answers the gateway writes directly (ISUP REL/RLC, TCAP End/Abort, SCCP UDT/XUDT, M3UA) are
byte for byte what pycrate encodes for the same field values."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mcn_gateway.protocol import isup, m3ua, sccp, tcap
from mcn_gateway.protocol.m3ua import ProtocolData

cics = st.integers(min_value=0, max_value=0x0FFF)
causes = st.integers(min_value=0, max_value=0x7F)
transaction_ids = st.binary(min_size=1, max_size=4)
invoke_ids = st.one_of(st.none(), st.integers(min_value=-128, max_value=127), st.integers(-(2**15), 2**15))
# application contexts as MAP uses them (0.4.0.0.1.0.x.v) plus arbitrary OIDs with multi-octet arcs
application_contexts = st.one_of(
    st.none(),
    st.tuples(st.integers(1, 60), st.integers(1, 3)).map(lambda ac: (0, 4, 0, 0, 1, 0, *ac)),
    st.tuples(st.integers(0, 2), st.integers(0, 39), st.lists(st.integers(0, 2**21), min_size=1, max_size=6)).map(
        lambda oid: (oid[0], oid[1], *oid[2])
    ),
)
# party addresses as networks send them: route on GT (odd and even digit counts, several SSNs),
# and route on point code + SSN
addresses = st.sampled_from(
    [sccp.encode_gt_address("4477009" + "0123456789"[:n], ssn) for n in range(1, 10) for ssn in (6, 7, 8, 149)]
    + [bytes((0x43, pc & 0xFF, pc >> 8, ssn)) for pc in (1, 2001, 0x3FFF) for ssn in (6, 8)]
)


def _pycrate(value: tcap.TcapValue) -> bytes:
    return tcap._encode(value)


@settings(max_examples=100)
@given(cics, causes)
def test_rel_matches_pycrate(cic, cause):
    encoded = isup.encode_rel(cic, cause)
    assert encoded == isup.encode_rel_with_pycrate(cic, cause)
    assert isup.decode_rel_cause(encoded) == cause


@given(cics)
def test_rlc_matches_pycrate(cic):
    assert isup.encode_rlc(cic) == isup.encode_rlc_with_pycrate(cic)


@settings(max_examples=60, deadline=None)
@given(transaction_ids, invoke_ids, application_contexts)
def test_end_result_matches_pycrate(dtid, invoke_id, application_context):
    assert tcap.encode_end_result(dtid, invoke_id, application_context) == _pycrate(
        tcap.end_result_value(dtid, invoke_id, application_context)
    )


@settings(max_examples=60, deadline=None)
@given(transaction_ids, invoke_ids, application_contexts, st.integers(0, 5))
def test_end_reject_matches_pycrate(dtid, invoke_id, application_context, problem):
    assert tcap.encode_end_reject(dtid, invoke_id, application_context, problem) == _pycrate(
        tcap.end_reject_value(dtid, invoke_id, application_context, problem)
    )


@settings(deadline=None)
@given(transaction_ids, st.integers(0, 7))
def test_p_abort_matches_pycrate(dtid, cause):
    assert tcap.encode_p_abort(dtid, cause) == _pycrate(tcap.p_abort_value(dtid, cause))


def test_p_abort_for_an_unknown_transaction_says_so():
    decoded = tcap.decode_full(tcap.encode_p_abort(b"\x01\x02", tcap.P_ABORT_UNRECOGNIZED_TRANSACTION_ID))
    assert decoded == ("abort", {"dtid": b"\x01\x02", "reason": ("p-abortCause", 1)})  # unrecognizedTransactionID


def test_a_long_end_uses_the_long_length_form():
    application_context = (1, 2, *range(200, 260))
    encoded = tcap.encode_end_result(b"\x01\x02\x03\x04", 1, application_context)
    assert encoded[1] == 0x81  # more than 127 octets of content
    assert encoded == _pycrate(tcap.end_result_value(b"\x01\x02\x03\x04", 1, application_context))


unitdata_fields = st.tuples(addresses, addresses, st.binary(max_size=200)).filter(
    lambda fields: sum(map(len, fields)) <= 249
)


@settings(max_examples=60, deadline=None)
@given(unitdata_fields, st.integers(0, 1), st.booleans())
def test_udt_matches_pycrate(fields, protocol_class, return_on_error):
    called, calling, data = fields
    encoded = sccp.encode_udt(called, calling, data, protocol_class, return_on_error)
    assert encoded == sccp.encode_udt_with_pycrate(called, calling, data, protocol_class, return_on_error)


@settings(max_examples=60, deadline=None)
@given(unitdata_fields, st.integers(0, 1), st.booleans(), st.integers(1, 15))
def test_xudt_matches_pycrate(fields, protocol_class, return_on_error, hop_counter):
    called, calling, data = fields
    encoded = sccp.encode_xudt(called, calling, data, protocol_class, return_on_error, hop_counter)
    assert encoded == sccp.encode_xudt_with_pycrate(called, calling, data, protocol_class, return_on_error, hop_counter)


def test_xudt_answer_decodes_with_its_fields():
    called, calling = sccp.encode_gt_address("447700900123", 6), sccp.encode_gt_address("447700900001", 8)
    decoded = sccp.SccpDecoder().decode(sccp.encode_xudt(called, calling, b"\x64\x03\x49\x01\x01", 1))
    assert decoded.message_type == sccp.XUDT
    assert (decoded.called.global_title, decoded.calling.global_title) == ("447700900123", "447700900001")
    assert (decoded.protocol_class, decoded.data) == (1, b"\x64\x03\x49\x01\x01")


def test_a_payload_too_large_for_one_unitdata_is_refused():
    with pytest.raises(ValueError, match="too large"):
        sccp.encode_udt(b"\x12" * 10, b"\x43" * 10, b"x" * 240)


m3ua_kinds = st.sampled_from(
    [m3ua.TRANSFER_DATA, m3ua.ASPSM_UP, m3ua.ASPSM_UP_ACK, m3ua.ASPTM_ACTIVE_ACK, m3ua.ASPSM_BEAT_ACK, m3ua.MGMT_ERR]
)
m3ua_parameters = st.lists(
    st.tuples(st.sampled_from([0x0006, 0x0011, 0x0009, 0x000C, 0x0210, 0x0004]), st.binary(max_size=300)), max_size=4
)


@settings(max_examples=80, deadline=None)
@given(m3ua_kinds, m3ua_parameters)
def test_m3ua_messages_match_pycrate(kind, parameters):
    assert m3ua._encode(kind, parameters) == m3ua.encode_with_pycrate(kind, parameters)


@settings(max_examples=60, deadline=None)
@given(
    st.integers(0, 2**24 - 1),
    st.integers(0, 2**24 - 1),
    st.sampled_from([3, 5]),
    st.integers(0, 3),
    st.integers(0, 15),
    st.binary(max_size=272),
    st.one_of(st.none(), st.integers(0, 2**32 - 1)),
)
def test_data_answers_decode_to_what_was_encoded(opc, dpc, si, ni, sls, payload, routing_context):
    data = ProtocolData(opc=opc, dpc=dpc, si=si, ni=ni, mp=0, sls=sls, data=payload)
    message = m3ua.M3uaDecoder().decode(m3ua.encode_data(data, routing_context=routing_context))
    assert message.protocol_data == data
    assert message.uint32(0x0006) == routing_context


def test_a_begin_in_an_xudt_is_answered_in_an_xudt(processor):
    from mcn_devkit.sigtran.builders import HLR_GT, HLR_PC, PLATFORM_PC, build_alert_service_centre

    udt = sccp.SccpDecoder().decode(build_alert_service_centre(otid=0x77))
    xudt = sccp.encode_xudt(udt.called.raw, udt.calling.raw, udt.data, udt.protocol_class)
    request = ProtocolData(opc=HLR_PC, dpc=PLATFORM_PC, si=3, ni=2, mp=0, sls=1, data=xudt)
    [reply] = processor.handle(request, 0.0).replies
    answer = sccp.SccpDecoder().decode(reply.data)
    assert answer.message_type == sccp.XUDT
    assert answer.called.global_title == HLR_GT
    assert tcap.TcapDecoder().decode(answer.data).kind == tcap.TCAP_END
