"""Fuzzing the decoders with mutated real messages: errors are counted, never raised."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mcn_devkit.sigtran.builders import build_alert_service_centre, build_iam, build_ready_for_sm, m3ua_data
from mcn_gateway.config import FirewallConfig, SignallingConfig
from mcn_gateway.metrics import Metrics
from mcn_gateway.pcap import iter_sctp_data
from mcn_gateway.processor import SignallingProcessor
from mcn_gateway.protocol import DecodeError, m3ua
from mcn_gateway.protocol.m3ua import FrameReader, M3uaDecoder, ProtocolData

CAPTURE = Path(__file__).resolve().parent / "captures" / "pycrate_pcapr_tcapmap.pcap"


def _corpus() -> list[bytes]:
    corpus = [
        m3ua_data(5, build_iam(3), opc=1),
        m3ua_data(3, build_alert_service_centre(), opc=2),
        m3ua_data(3, build_ready_for_sm(), opc=2),
    ]
    if CAPTURE.is_file():
        corpus += [p.data for p in iter_sctp_data(CAPTURE) if p.ppid == 3][:25]
    return corpus


CORPUS = _corpus()
PROCESSOR = SignallingProcessor(
    SignallingConfig(point_code=1, platform_gt="447700900000", ready_for_sm=True), FirewallConfig(), Metrics()
)
PASSIVE = SignallingProcessor(
    SignallingConfig(point_code=1, platform_gt="447700900000"), FirewallConfig(), Metrics(), passive=True
)
DECODER = M3uaDecoder()


@st.composite
def mutated(draw) -> bytes:
    data = bytearray(draw(st.sampled_from(CORPUS)))
    for _ in range(draw(st.integers(1, 6))):
        action = draw(st.sampled_from(["flip", "truncate", "insert", "delete"]))
        position = draw(st.integers(0, max(0, len(data) - 1)))
        if action == "flip" and data:
            data[position] ^= 1 << draw(st.integers(0, 7))
        elif action == "truncate":
            del data[position:]
        elif action == "insert":
            data[position:position] = draw(st.binary(min_size=1, max_size=4))
        elif action == "delete" and data:
            del data[position]
    return bytes(data)


FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(mutated())
def test_m3ua_decoder_raises_only_decode_error(data: bytes):
    try:
        message = DECODER.decode(data)
    except DecodeError:
        return
    if message.protocol_data is not None:
        PROCESSOR.handle(message.protocol_data, 0.0)
        PASSIVE.handle(message.protocol_data, 0.0)


@FUZZ
@given(mutated(), st.sampled_from([3, 5]))
def test_user_part_payload_mutations_never_raise(data: bytes, si: int):
    # mutate the user part directly (behind an intact M3UA header) to reach ISUP/SCCP/TCAP/MAP
    payload = data[24:] if len(data) > 24 else data
    outcome = PROCESSOR.handle(ProtocolData(1, 2, si, 2, 0, 0, payload), 0.0)
    for reply in outcome.replies:
        assert m3ua.encode_data(reply)  # whatever we answer is encodable


@FUZZ
@given(st.lists(st.one_of(mutated(), st.binary(max_size=40)), max_size=6), st.integers(1, 64))
def test_frame_reader_never_raises_and_frames_are_plausible(chunks: list[bytes], step: int):
    reader = FrameReader()
    stream = b"".join(chunks) + m3ua.encode_beat(b"end")
    frames = []
    for i in range(0, len(stream), step):
        frames += reader.feed(stream[i : i + step])
    for frame in frames:
        assert frame[0] == 1
        assert int.from_bytes(frame[4:8], "big") == len(frame)
