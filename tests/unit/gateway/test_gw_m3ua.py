"""M3UA codec: RFC 4666 encoding, the pycrate Network Appearance pitfall, stream framing."""

from __future__ import annotations

import struct

import pytest
from pycrate_mobile import M3UA as pycrate_m3ua

from mcn_gateway.protocol import DecodeError, m3ua
from mcn_gateway.protocol.m3ua import FrameReader, M3uaDecoder, ProtocolData

PAYLOAD = ProtocolData(opc=2001, dpc=1001, si=5, ni=2, mp=0, sls=7, data=b"\x01\x00\x01isup")


def test_data_with_network_appearance_keeps_protocol_data():
    encoded = m3ua.encode_data(PAYLOAD, routing_context=100, network_appearance=0x01020304)
    message = M3uaDecoder().decode(encoded)
    assert message.protocol_data == PAYLOAD
    assert message.uint32(0x0200) == 0x01020304  # 32-bit, as RFC 4666 3.3.1 says
    assert message.uint32(0x0006) == 100


def test_stock_pycrate_loses_protocol_data_after_network_appearance():
    """Documents the pitfall the gateway works around (pycrate 0.8.1 reads NA as 8 bits)."""
    encoded = m3ua.encode_data(PAYLOAD, routing_context=100, network_appearance=7)
    message, _error = pycrate_m3ua.parse_M3UA(encoded)
    tags = [param[0].get_val() for param in message[1]] if message is not None else []
    stock_ok = message is not None and pycrate_m3ua.M3UATag.ProtocolData in tags
    if stock_ok:
        data = message[1].get_prm_first(pycrate_m3ua.M3UATag.ProtocolData)
        stock_ok = not isinstance(data.get_val(), bytes) and data[6].get_val() == PAYLOAD.data
    if stock_ok:
        pytest.skip("this pycrate decodes Network Appearance correctly; the workaround is harmless")
    assert not stock_ok


def test_encoded_header_and_parameters_follow_rfc4666():
    encoded = m3ua.encode_data(PAYLOAD, routing_context=100)
    version, reserved, message_class, message_type, length = struct.unpack_from("!BBBBI", encoded)
    assert (version, reserved, message_class, message_type, length) == (1, 0, 1, 1, len(encoded))
    assert encoded[8:16] == bytes.fromhex("0006000800000064")  # RC tag, length 8, value 100
    assert encoded[16:20] == struct.pack("!HH", 0x0210, 16 + len(PAYLOAD.data))
    assert len(encoded) % 4 == 0


@pytest.mark.parametrize(
    ("encoded", "kind"),
    [
        (m3ua.encode_aspup(asp_id=5), m3ua.ASPSM_UP),
        (m3ua.encode_aspup_ack(5), m3ua.ASPSM_UP_ACK),
        (m3ua.encode_aspac(m3ua.TRAFFIC_MODE_LOADSHARE, [100, 200]), m3ua.ASPTM_ACTIVE),
        (m3ua.encode_aspac_ack(2, [100]), m3ua.ASPTM_ACTIVE_ACK),
        (m3ua.encode_beat(b"ping"), m3ua.ASPSM_BEAT),
        (m3ua.encode_beat_ack(b"ping"), m3ua.ASPSM_BEAT_ACK),
        (m3ua.encode_ntfy(1, 3, [100]), m3ua.MGMT_NTFY),
        (m3ua.encode_err(m3ua.ERR_UNSUPPORTED_MESSAGE_CLASS), m3ua.MGMT_ERR),
    ],
)
def test_management_messages_round_trip(encoded: bytes, kind: tuple[int, int]):
    message = M3uaDecoder().decode(encoded)
    assert message.kind == kind
    assert struct.unpack_from("!I", encoded, 4)[0] == len(encoded)


def test_aspac_carries_traffic_mode_and_routing_contexts():
    message = M3uaDecoder().decode(m3ua.encode_aspac(m3ua.TRAFFIC_MODE_OVERRIDE, [100, 200]))
    assert message.uint32(0x000B) == 1
    assert message.uint32_list(0x0006) == [100, 200]


def test_beat_ack_echoes_heartbeat_data():
    message = M3uaDecoder().decode(m3ua.encode_beat_ack(b"\x00\x01\x02"))
    assert message.first(0x0009) == b"\x00\x01\x02"


def test_decoder_rejects_bad_length_and_version():
    encoded = m3ua.encode_beat(b"x")
    with pytest.raises(DecodeError):
        M3uaDecoder().decode(encoded[:-4])
    with pytest.raises(DecodeError):
        M3uaDecoder().decode(b"\x02" + encoded[1:])
    with pytest.raises(DecodeError):
        M3uaDecoder().decode(b"\x01\x00")


def test_unknown_class_decodes_as_an_empty_message_for_err():
    message = M3uaDecoder().decode(bytes.fromhex("0100070100000008"))
    assert message.kind == (7, 1)
    assert message.params == {}


def test_frame_reader_splits_and_joins_chunks():
    stream = m3ua.encode_beat(b"one") + m3ua.encode_data(PAYLOAD) + m3ua.encode_beat(b"two")
    reader = FrameReader()
    frames = []
    for i in range(0, len(stream), 5):
        frames += reader.feed(stream[i : i + 5])
    decoder = M3uaDecoder()
    assert [decoder.decode(f).name for f in frames] == ["BEAT", "DATA", "BEAT"]
    assert decoder.decode(frames[1]).protocol_data == PAYLOAD


def test_frame_reader_resynchronises_after_garbage():
    reader = FrameReader()
    frames = reader.feed(b"\xde\xad\xbe\xef garbage \x01\x00\x99" + m3ua.encode_beat(b"after"))
    assert reader.framing_errors == 1
    assert [M3uaDecoder().decode(f).first(0x0009) for f in frames] == [b"after"]
