"""Real traffic: every M3UA DATA message of the public MAP capture decodes; the ISUP capture's IAM decodes."""

from __future__ import annotations

from pathlib import Path

from mcn_gateway.config import FirewallConfig, SignallingConfig
from mcn_gateway.metrics import Metrics
from mcn_gateway.pcap import SCTP_PPID_M3UA, iter_sctp_data
from mcn_gateway.processor import SignallingProcessor
from mcn_gateway.protocol import isup, m3ua, sccp, tcap
from mcn_gateway.protocol import map as map_codec
from mcn_gateway.replay import M2paDecoder, ReplayStats, iter_protocol_data, replay_capture


def _m3ua_payloads(path: Path) -> list[bytes]:
    return [p.data for p in iter_sctp_data(path) if p.ppid == SCTP_PPID_M3UA]


def test_every_m3ua_data_message_decodes_with_protocol_data(map_capture: Path):
    payloads = _m3ua_payloads(map_capture)
    assert len(payloads) == 53
    decoder = m3ua.M3uaDecoder()
    with_network_appearance = 0
    for payload in payloads:
        message = decoder.decode(payload)
        assert message.kind == m3ua.TRANSFER_DATA
        assert message.protocol_data is not None
        assert message.protocol_data.si == m3ua.SI_SCCP
        assert message.protocol_data.data[0] in (sccp.UDT, sccp.XUDT, sccp.UDTS, sccp.XUDTS)
        with_network_appearance += 0x0200 in message.params
    assert with_network_appearance == 17  # the messages stock pycrate 0.8.1 loses


def test_every_unsegmented_map_message_decodes_to_tcap(map_capture: Path):
    sccp_decoder, tcap_decoder = sccp.SccpDecoder(), tcap.TcapDecoder()
    opcodes = set()
    decoded = segmented = management = returned = 0
    for protocol_data, _ in iter_protocol_data(map_capture, Metrics(), ReplayStats()):
        if protocol_data.si != m3ua.SI_SCCP:
            continue
        unitdata = sccp_decoder.decode(protocol_data.data)
        assert not isinstance(unitdata, int)
        if unitdata.return_cause is not None:
            returned += 1
            continue
        if unitdata.management:
            management += 1
            continue
        if unitdata.segmented:
            segmented += 1
            continue
        message = tcap_decoder.decode(unitdata.data)
        decoded += 1
        opcodes |= {c.opcode for c in message.components if c.opcode is not None}
        # the independent full decode agrees on the transaction ids
        kind, value = tcap.decode_full(unitdata.data)
        assert kind == message.name
        assert value.get("otid") == message.otid
        assert value.get("dtid") == message.dtid
    assert decoded >= 50
    assert management == 10
    assert {map_codec.OP_UPDATE_LOCATION, 56, map_codec.OP_SEND_ROUTING_INFO_FOR_SM} <= opcodes


def test_relaxed_bounds_decode_real_messages_strict_pycrate_rejects(map_capture: Path):
    sccp_decoder = sccp.SccpDecoder()
    strict_failures = relaxed_ok = 0
    for protocol_data, _ in iter_protocol_data(map_capture, Metrics(), ReplayStats()):
        if protocol_data.si != m3ua.SI_SCCP:
            continue
        unitdata = sccp_decoder.decode(protocol_data.data)
        if unitdata.management or unitdata.segmented or unitdata.return_cause is not None:
            continue
        try:
            tcap.TCAP_MAP_MESSAGE.from_ber(unitdata.data)
        except Exception:
            strict_failures += 1
            tcap.decode_full(unitdata.data)  # must not raise
            relaxed_ok += 1
    assert strict_failures > 0
    assert relaxed_ok == strict_failures


def test_isup_capture_iam_decodes(isup_capture: Path):
    decoder = M2paDecoder()
    iams = []
    for payload in iter_sctp_data(isup_capture):
        protocol_data = decoder.decode(payload.data)
        if protocol_data is not None and protocol_data.si == m3ua.SI_ISUP and protocol_data.data[2] == isup.MSG_IAM:
            iams.append((protocol_data, isup.IsupDecoder().decode_iam(protocol_data.data)))
    assert len(iams) == 1
    protocol_data, iam = iams[0]
    assert iam.cic == 15
    # 9084200112 then ST (end of pulsing, nibble F), filler 0: pycrate's get_num() would drop the final 2
    assert iam.called is not None and iam.called.digits == "9084200112"
    assert iam.calling is not None and iam.calling.digits == "4996810319"
    assert iam.calling_presentation == isup.PRESENTATION_ALLOWED
    assert protocol_data.opc == 3684


def test_replay_emits_the_same_events_without_answering(isup_capture: Path, map_capture: Path):
    processor = SignallingProcessor(
        SignallingConfig(point_code=1, platform_gt="1"), FirewallConfig(), Metrics(), passive=True
    )
    # the capture's call is neither diverted nor to a platform number, and it is answered (ANM): no missed call
    stats = replay_capture(isup_capture, processor)
    assert stats.events == []
    assert processor.metrics.value("mcn_gateway_events_suppressed_total", {"reason": "not_diverted"}) == 1

    # had it reached a platform number (prefix routing), the ANM would still make it no missed call
    platform = SignallingProcessor(
        SignallingConfig(point_code=1, platform_gt="1", platform_numbers=["90842"]),
        FirewallConfig(),
        Metrics(),
        passive=True,
    )
    assert replay_capture(isup_capture, platform).events == []
    assert platform.metrics.value("mcn_gateway_events_suppressed_total", {"reason": "answered"}) == 1

    stats = replay_capture(map_capture, processor)
    sources = {e.body["source"] for e in stats.events}
    assert sources == {"updateLocation"}
    assert stats.decode_errors == 0  # including the segmented XUDTs, reassembled


def test_segmented_xudts_reassemble_into_decodable_tcap(map_capture: Path):
    sccp_decoder, tcap_decoder = sccp.SccpDecoder(), tcap.TcapDecoder()
    reassembler = sccp.SegmentReassembler()
    segments = 0
    complete: list[bytes] = []
    for protocol_data, timestamp in iter_protocol_data(map_capture, Metrics(), ReplayStats()):
        if protocol_data.si != m3ua.SI_SCCP:
            continue
        unitdata = sccp_decoder.decode(protocol_data.data)
        if isinstance(unitdata, int) or not unitdata.segmented:
            continue
        segments += 1
        data = reassembler.add(unitdata, timestamp)
        if data is not None:
            complete.append(data)
    assert segments == 21
    assert len(complete) == 9  # 3 three-segment and 6 two-segment messages (some captured out of order)
    for data in complete:
        message = tcap_decoder.decode(data)
        kind, value = tcap.decode_full(data)
        assert kind == message.name
        assert value.get("otid") == message.otid
    assert any(c.opcode == 46 for d in complete for c in tcap_decoder.decode(d).components)  # mo-forwardSM
