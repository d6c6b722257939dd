"""Issue 10 units: BCD digits with either filler (property-based), which IAMs are missed calls, association
settings, SCTP address packing, affected point codes, start-up checks."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pycrate_mobile import ISUP as pi
from pycrate_mobile import SCCP as ps
from pydantic import ValidationError

from mcn_devkit.sigtran.builders import (
    HLR_GT,
    MSC_PC,
    PLATFORM_GT,
    PLATFORM_PC,
    build_alert_service_centre,
    build_iam,
)
from mcn_devkit.sigtran.local import loopback_config
from mcn_gateway.association import _covers, affected_point_codes, pack_sockaddrs
from mcn_gateway.cli import startup_problems
from mcn_gateway.config import AssociationConfig, FirewallConfig, SignallingConfig
from mcn_gateway.metrics import Metrics
from mcn_gateway.processor import KIND_MISSED_CALL, SignallingProcessor
from mcn_gateway.protocol import isup, sccp, tcap
from mcn_gateway.protocol.m3ua import ProtocolData

digits_strategy = st.text(alphabet="0123456789", min_size=1, max_size=20)


def _gt_address(digits: str, filler: int, indicator: int) -> bytes:
    address = ps._SCCPAddr()
    address["AddrInd"]["RoutingInd"].set_val(0)
    address["AddrInd"]["GTInd"].set_val(indicator)
    address["AddrInd"]["SSNInd"].set_val(1)
    address["AddrInd"]["PCInd"].set_val(0)
    address["SSN"].set_val(6)
    gt = address["GT"].get_alt()
    if indicator == 4:
        gt["NumberingPlan"].set_val(1)
        gt["NAI"].set_val(4)
        gt.set_addr_bcd(digits)
    else:  # indicator 1: nature of address and odd/even
        gt["OE"].set_val(len(digits) % 2)
        gt["NAI"].set_val(4)
        gt["Addr"].encode(digits)
    raw = address.to_bytes()
    if len(digits) % 2:
        raw = raw[:-1] + bytes([(raw[-1] & 0x0F) | (filler << 4)])
    return raw


@given(digits=digits_strategy, filler=st.sampled_from([0x0, 0xF]), indicator=st.sampled_from([1, 4]))
def test_global_title_digits_survive_either_filler(digits: str, filler: int, indicator: int):
    raw = _gt_address(digits, filler, indicator)
    assert sccp.SccpDecoder()._address(raw).global_title == digits
    reference = sccp.ReferenceSccpDecoder()
    udt = sccp.encode_udt(raw, raw, b"\x00")
    decoded = reference.decode(udt)
    assert not isinstance(decoded, int) and decoded.calling.global_title == digits


def test_reference_capture_gt_with_f_filler():
    # the calling GT of the reference capture: 3306000077f7 is 33600000777 (11 digits, filler F)
    raw = bytes.fromhex("1206001104") + bytes.fromhex("3306000077f7")
    assert sccp.SccpDecoder()._address(raw).global_title == "33600000777"


@given(digits=digits_strategy, filler=st.sampled_from([0x0, 0xF]))
def test_isup_numbers_survive_either_filler(digits: str, filler: int):
    iam = bytearray(build_iam(5, subscriber=digits))
    decoded = isup.IsupDecoder().decode_iam(bytes(iam))
    assert decoded.original_called is not None and decoded.original_called.digits == digits
    if len(digits) % 2:
        # set the filler of the original called number (optional parameter 0x28) to F
        _called, options = isup.IsupDecoder.split_iam(bytes(iam))
        value = options[isup.PARAM_ORIGINAL_CALLED_NUMBER]
        start = bytes(iam).index(bytes([isup.PARAM_ORIGINAL_CALLED_NUMBER, len(value)]) + value) + 2
        iam[start + len(value) - 1] = (iam[start + len(value) - 1] & 0x0F) | (filler << 4)
        assert isup.IsupDecoder().decode_iam(bytes(iam)).original_called.digits == digits
        assert isup.IsupDecoder().decode_iam_reference(bytes(iam)).original_called.digits == digits


def test_pycrate_get_num_is_what_loses_the_digit():
    number = pi.CalledPartyNum()
    number.from_bytes(bytes([0x84, 0x10]) + bytes.fromhex("3306000000f1"))
    assert number.get_num() == "3360000000"  # pycrate 0.8.1: the last real digit is dropped
    assert isup._digits(number) == "33600000001"


# --- which IAMs are missed calls ----------------------------------------------------------------------


def _iam_data(payload: bytes, opc: int = MSC_PC, dpc: int = PLATFORM_PC) -> ProtocolData:
    return ProtocolData(opc=opc, dpc=dpc, si=5, ni=2, mp=0, sls=3, data=payload)


def _undiverted_iam(cic: int, called: str) -> bytes:
    message = pi.InitialAddress()
    message["CIC"].set_val(cic)
    message["CalledPartyNum"][1]["NAI"].set_val(4)
    message["CalledPartyNum"][1].set_num(called)
    message["Opt"]["EOO"].set_trans(False)
    return message.to_bytes()


def _processor(passive: bool = False, **signalling: object) -> SignallingProcessor:
    config = SignallingConfig(point_code=PLATFORM_PC, platform_gt=PLATFORM_GT, **signalling)
    return SignallingProcessor(config, FirewallConfig(), Metrics(), passive=passive)


def test_an_undiverted_call_is_released_with_the_configured_cause_and_counted():
    processor = _processor(not_diverted_release_cause=34)
    outcome = processor.handle(_iam_data(_undiverted_iam(7, "447911000001")), 1.0)
    assert outcome.events == []
    [rel] = outcome.replies
    assert isup.decode_rel_cause(rel.data) == 34
    assert processor.metrics.value("mcn_gateway_events_suppressed_total", {"reason": "not_diverted"}) == 1


def test_platform_number_prefix_carries_the_subscriber():
    processor = _processor(platform_numbers=["447700999"])
    outcome = processor.handle(_iam_data(_undiverted_iam(7, "447700999" + "447911000001")), 1.0)
    [event] = outcome.events
    assert event.body["subscriber"] == "+447911000001"
    assert isup.decode_rel_cause(outcome.replies[0].data) == 20
    bare = processor.handle(_iam_data(_undiverted_iam(8, "447700999")), 1.0)
    assert bare.events == []
    assert processor.metrics.value("mcn_gateway_events_suppressed_total", {"reason": "no_subscriber"}) == 1


def _anm(cic: int) -> bytes:
    message = pi.Answer()
    message["CIC"].set_val(cic)
    return message.to_bytes()


def test_passive_a_call_answered_later_is_no_missed_call():
    processor = _processor(passive=True)
    assert processor.handle(_iam_data(build_iam(3)), 1.0).events == []  # fate unknown yet
    # the ANM travels the other way on the same circuit
    assert processor.handle(_iam_data(_anm(3), opc=PLATFORM_PC, dpc=MSC_PC), 2.0).events == []
    assert processor.metrics.value("mcn_gateway_events_suppressed_total", {"reason": "answered"}) == 1
    assert processor.flush() == []

    processor.handle(_iam_data(build_iam(4)), 3.0)
    [missed] = processor.handle(_iam_data(isup.encode_rel(4, 16), opc=PLATFORM_PC, dpc=MSC_PC), 4.0).events
    assert missed.kind == KIND_MISSED_CALL and missed.body["call_time"].startswith("1970-01-01T00:00:03")
    processor.handle(_iam_data(build_iam(5)), 5.0)
    assert [e.body["call_ref"] for e in processor.flush()] == [f"{MSC_PC}-5-5000"]


# --- association settings, SCTP, destinations ---------------------------------------------------------


def test_local_address_settings_are_checked():
    AssociationConfig(name="a", role="client", local_host="10.0.0.2", local_port=2905)
    with pytest.raises(ValidationError, match="client associations"):
        AssociationConfig(name="a", role="server", local_port=2905)
    with pytest.raises(ValidationError, match="need SCTP"):
        AssociationConfig(name="a", role="client", transport="tcp", local_addresses=["10.0.0.3"])


def test_sctp_bindx_addresses_are_packed_sockaddr_in():
    packed = pack_sockaddrs(["10.0.0.2", "192.168.1.2"], 2905)
    assert len(packed) == 32
    family = int.from_bytes(packed[0:2], "little" if socket.htons(1) != 1 else "big")
    assert family == socket.AF_INET
    assert packed[2:4] == (2905).to_bytes(2, "big") and packed[4:8] == bytes([10, 0, 0, 2])
    assert packed[20:24] == bytes([192, 168, 1, 2])


def test_affected_point_codes_with_cluster_masks():
    entries = affected_point_codes(bytes([0, 0, 0x0F, 0xA1, 3, 0, 0x10, 0x00]))
    assert entries == [(0, 4001), (3, 4096)]
    assert _covers((0, 4001), 4001) and not _covers((0, 4001), 4002)
    assert _covers((3, 4096), 4103) and not _covers((3, 4096), 4104)


# --- start-up checks ----------------------------------------------------------------------------------


def test_startup_problems_find_unwritable_spool_and_targets(tmp_path: Path):
    assert startup_problems(loopback_config(tmp_path)) == []
    assert startup_problems(loopback_config(tmp_path / "not" / "yet" / "there")) == []  # created at start
    blocker = tmp_path / "file"
    blocker.write_text("")
    config = loopback_config(tmp_path, ingest_target=f"file:{blocker / 'x.jsonl'}")
    config = config.model_copy(
        update={"forwarding": config.forwarding.model_copy(update={"spool_path": "/proc/mcn-spool.sqlite3"})}
    )
    problems = startup_problems(config)
    assert len(problems) == 2
    assert problems[0].startswith("forwarding.spool_path /proc/mcn-spool.sqlite3 is not writable")
    assert problems[1].startswith("forwarding.ingest_target")


# --- answers: XUDT for XUDT; dialogues the gateway opened are answered from allowed origins only ----------


def _hlr_processor() -> SignallingProcessor:
    firewall = FirewallConfig(allowed_calling_gt_prefixes=[HLR_GT[:6]], allowed_opcodes=[64])
    return SignallingProcessor(SignallingConfig(point_code=PLATFORM_PC, platform_gt=PLATFORM_GT), firewall, Metrics())


def _sccp_data(payload: bytes) -> ProtocolData:
    return ProtocolData(opc=3001, dpc=PLATFORM_PC, si=3, ni=2, mp=0, sls=1, data=payload)


def test_an_xudt_is_answered_with_an_xudt_and_a_udt_with_a_udt():
    processor = _hlr_processor()
    udt = build_alert_service_centre(otid=0x31)
    unitdata = sccp.SccpDecoder().decode(udt)
    xudt = sccp.encode_xudt(unitdata.called.raw, unitdata.calling.raw, unitdata.data)
    [answer_to_udt] = processor.handle(_sccp_data(udt), 1.0).replies
    [answer_to_xudt] = processor.handle(_sccp_data(xudt), 2.0).replies
    assert answer_to_udt.data[0] == sccp.UDT
    assert answer_to_xudt.data[0] == sccp.XUDT
    decoded = sccp.ReferenceSccpDecoder().decode(answer_to_xudt.data)
    assert decoded.called.global_title == HLR_GT and decoded.calling.global_title == PLATFORM_GT
    assert tcap.TcapDecoder().decode(decoded.data).kind == tcap.TCAP_END


def test_an_answer_to_our_dialogue_from_a_gt_not_allowed_is_dropped():
    processor = _hlr_processor()
    seen: list[str | None] = []

    def handler(message: tcap.TcapMessage, gt: str | None) -> list[bytes]:
        seen.append(gt)
        return []

    otid = processor.transactions.open(handler)
    end = tcap.encode_end_result(otid, 1, None)
    platform = sccp.encode_gt_address(PLATFORM_GT, 8)
    forged = sccp.encode_udt(platform, sccp.encode_gt_address("33699999999", 6), end)
    processor.handle(_sccp_data(forged), 1.0)
    assert seen == []
    assert processor.metrics.value("mcn_gateway_firewall_rejects_total", {"reason": "answer_calling_gt"}) == 1
    genuine = sccp.encode_udt(platform, sccp.encode_gt_address(HLR_GT, 6), end)
    processor.handle(_sccp_data(genuine), 2.0)
    assert seen == [HLR_GT]
