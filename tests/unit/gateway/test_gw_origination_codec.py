"""The origination's ISUP builders and circuit-message parser: builders read back by pycrate (an independent
implementation), the parser against messages pycrate builds, and hypothesis on both."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pycrate_mobile import ISUP as pi

from mcn_gateway.protocol import DecodeError, isup

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
digits = st.text(alphabet="0123456789", min_size=1, max_size=15)
cics = st.integers(0, 0x0FFF)


_PROTOTYPES: dict[int, object] = {}  # a fresh pycrate message costs ~25 ms: parse into one per type


def parsed(raw: bytes):
    if raw[2] not in _PROTOTYPES:
        message, error = pi.parse_ISUP(raw)
        assert message is not None and not error, raw.hex()
        _PROTOTYPES[raw[2]] = message
    message = _PROTOTYPES[raw[2]]
    message.from_bytes(raw)
    assert message.to_bytes() == raw
    return message


ACM, CPG = pi.AddressComplete(), pi.CallProgress()


@FUZZ
@given(cic=cics, called=digits, calling=digits, nai=st.sampled_from([isup.NAI_INTERNATIONAL, isup.NAI_NATIONAL]))
def test_iam_is_what_pycrate_reads(cic, called, calling, nai):
    message = parsed(isup.encode_iam(cic, called, calling, nai))
    assert message["CIC"].get_val() == cic
    number = message["CalledPartyNum"][1]
    assert (number["NAI"].get_val(), number["OE"].get_val()) == (nai, len(called) % 2)
    assert number["Num"].decode()[: len(called)] == called
    calling_number = message["Opt"]["CallingPartyNum"][2]
    assert calling_number["Num"].decode()[: len(calling)] == calling
    assert (calling_number["AddrPresInd"].get_val(), calling_number["ScreeningInd"].get_val()) == (0, 3)
    # and our own fast IAM decoder (the missed-call path) agrees
    iam = isup.IsupDecoder().decode_iam(isup.encode_iam(cic, called, calling, nai))
    assert iam.called is not None and iam.called.digits == called
    assert iam.calling is not None and iam.calling.digits == calling
    assert iam.calling_presentation == isup.PRESENTATION_ALLOWED


@FUZZ
@given(cic=cics, flags=st.lists(st.booleans(), min_size=1, max_size=32))
def test_group_messages_round_trip_through_pycrate(cic, flags):
    decoder = isup.CircuitMessageDecoder()
    for kind in (isup.MSG_CGB, isup.MSG_CGU, isup.MSG_CGBA, isup.MSG_CGUA):
        raw = isup.encode_group_blocking(kind, cic, 1, flags)
        message = parsed(raw)
        assert message["RangeStatus"][1]["Range"].get_val() == len(flags) - 1
        decoded = decoder.decode(raw)
        assert (decoded.cic, decoded.circuits, decoded.status, decoded.group_type) == (cic, len(flags), tuple(flags), 1)
    raw = isup.encode_gra(cic, len(flags), flags)
    assert decoder.decode(raw).status == tuple(flags)
    parsed(raw)
    grs = decoder.decode(isup.encode_grs(cic, len(flags)))
    assert (grs.message_type, grs.circuits) == (isup.MSG_GRS, len(flags))


@pytest.mark.parametrize("kind", [isup.MSG_RSC, isup.MSG_BLO, isup.MSG_UBL, isup.MSG_BLA, isup.MSG_UBA])
def test_simple_messages_are_what_pycrate_reads(kind):
    message = parsed(isup.encode_simple(77, kind))
    assert (message["CIC"].get_val(), message["Type"].get_val()) == (77, kind)


def test_builders_refuse_what_q763_does_not_allow():
    with pytest.raises(ValueError):
        isup.encode_iam(0x1000, "1", "2")
    with pytest.raises(ValueError):
        isup.encode_iam(1, "12a", "2")
    with pytest.raises(ValueError):
        isup.encode_grs(1, 33)
    with pytest.raises(ValueError):
        isup.encode_simple(1, isup.MSG_REL)


@FUZZ
@given(
    cic=cics,
    status=st.integers(0, 3),
    event=st.integers(0, 127),
    cause=st.integers(0, 127),
)
def test_backward_messages_built_by_pycrate_decode(cic, status, event, cause):
    decoder = isup.CircuitMessageDecoder()
    acm = ACM
    acm["CIC"].set_val(cic)
    acm["BackwardCallInd"]["CalledPartyStatusInd"].set_val(status)
    decoded = decoder.decode(acm.to_bytes())
    assert (decoded.cic, decoded.name, decoded.alerting) == (cic, "ACM", status == 1)
    cpg = CPG
    cpg["CIC"].set_val(cic)
    cpg["EventInfo"]["EventInd"].set_val(event)
    decoded = decoder.decode(cpg.to_bytes())
    assert (decoded.event, decoded.alerting) == (event, event == 1)
    assert decoder.decode(isup.encode_rel(cic, cause)).cause == cause


@FUZZ
@given(st.binary(max_size=40), st.sampled_from(sorted(isup.MESSAGE_NAMES)))
def test_the_circuit_parser_never_raises_anything_but_decode_error(tail, kind):
    decoder = isup.CircuitMessageDecoder()
    for raw in (bytes([1, 0, kind]) + tail, tail):
        try:
            message = decoder.decode(raw)
        except DecodeError:
            continue
        assert message.cic == raw[0] | ((raw[1] & 0x0F) << 8)
        if message.status:
            assert message.circuits is not None and len(message.status) == message.circuits
