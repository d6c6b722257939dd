"""Signalling -> events and answers: IAM (CFNRc, CLIR) -> missed call + REL; alertServiceCentre -> attach + End."""

from __future__ import annotations

import logging

import pytest

from mcn_core.models.events import AttachEvent, MissedCallEvent
from mcn_devkit.sigtran.builders import (
    HLR_GT,
    HLR_PC,
    MSC_PC,
    PLATFORM_GT,
    PLATFORM_PC,
    build_alert_service_centre,
    build_iam,
    build_ready_for_sm,
)
from mcn_gateway.config import FirewallConfig, SignallingConfig
from mcn_gateway.metrics import Metrics
from mcn_gateway.processor import KIND_ATTACH, KIND_MISSED_CALL, SignallingProcessor
from mcn_gateway.protocol import isup, sccp, tcap
from mcn_gateway.protocol import map as map_codec
from mcn_gateway.protocol.m3ua import ProtocolData

CALL_TIME = 1_795_000_000.25  # a fixed receive time: call_ref depends on it


def _isup(payload: bytes) -> ProtocolData:
    return ProtocolData(opc=MSC_PC, dpc=PLATFORM_PC, si=5, ni=2, mp=0, sls=3, data=payload)


def _sccp(payload: bytes, opc: int = HLR_PC) -> ProtocolData:
    return ProtocolData(opc=opc, dpc=PLATFORM_PC, si=3, ni=2, mp=0, sls=1, data=payload)


def _answer_tcap(reply: ProtocolData) -> tuple[sccp.SccpUnitdata, tcap.TcapMessage, tuple]:
    unitdata = sccp.SccpDecoder().decode(reply.data)
    assert not isinstance(unitdata, int)
    return unitdata, tcap.TcapDecoder().decode(unitdata.data), tcap.decode_full(unitdata.data)


def test_cfnrc_iam_with_clir_gives_a_withheld_missed_call_and_rel(processor: SignallingProcessor, caplog):
    caplog.set_level(logging.DEBUG)
    iam = build_iam(
        42, subscriber="447911123456", caller="447400123458", caller_presentation=isup.PRESENTATION_RESTRICTED
    )
    outcome = processor.handle(_isup(iam), CALL_TIME)

    assert [e.kind for e in outcome.events] == [KIND_MISSED_CALL]
    event = MissedCallEvent.from_data(outcome.events[0].body)
    assert event.subscriber == "+447911123456"
    assert event.caller is None
    assert event.presentation == "restricted"
    assert event.reason == "not_reachable"
    assert event.call_ref == f"{MSC_PC}-42-{round(CALL_TIME * 1000)}"
    assert event.msc == f"pc:{MSC_PC}"
    assert event.call_time.timestamp() == pytest.approx(CALL_TIME)

    [rel] = outcome.replies
    assert (rel.opc, rel.dpc, rel.si, rel.sls) == (PLATFORM_PC, MSC_PC, 5, 3)
    assert isup.IsupDecoder.peek(rel.data) == (42, isup.MSG_REL)
    assert isup.decode_rel_cause(rel.data) == 20
    assert rel.data == bytes.fromhex("2a000c0200028294")  # CIC 42, REL, cause: ITU, public local, #20

    assert "447400123458" not in caplog.text  # a withheld number never reaches the logs
    assert "447911123456" not in caplog.text  # subscribers are masked


def test_allowed_caller_is_reported_and_masked_in_logs(processor: SignallingProcessor, caplog):
    caplog.set_level(logging.INFO)
    outcome = processor.handle(_isup(build_iam(7, caller="447400123457")), CALL_TIME)
    assert outcome.events[0].body["caller"] == "+447400123457"
    assert outcome.events[0].body["presentation"] == "allowed"
    assert "447400123457" not in caplog.text
    assert "+44*******457" in caplog.text


@pytest.mark.parametrize(
    ("reason_code", "reason"), [(1, "busy"), (2, "no_reply"), (3, "unconditional"), (6, "not_reachable")]
)
def test_redirecting_reason_maps_to_forwarding_reason(processor, reason_code, reason):
    outcome = processor.handle(_isup(build_iam(1, redirecting_reason=reason_code)), CALL_TIME)
    assert outcome.events[0].body["reason"] == reason


def test_national_numbers_have_no_plus(processor):
    outcome = processor.handle(_isup(build_iam(1, subscriber="7700900123", international=False)), CALL_TIME)
    assert outcome.events[0].body["subscriber"] == "7700900123"


def test_reused_iam_prototype_does_not_leak_options_between_messages(processor):
    processor.handle(_isup(build_iam(1, caller="447400123457")), CALL_TIME)
    outcome = processor.handle(_isup(build_iam(2, caller=None)), CALL_TIME)
    assert outcome.events[0].body["caller"] is None
    assert outcome.events[0].body["presentation"] == "unavailable"


def test_call_ref_is_stable_for_the_same_message_and_time(processor):
    first = processor.handle(_isup(build_iam(9)), CALL_TIME).events[0].body
    again = processor.handle(_isup(build_iam(9)), CALL_TIME).events[0].body
    assert first == again


def test_clir_drop_policy_emits_nothing_but_still_releases(firewall_config):
    processor = SignallingProcessor(
        SignallingConfig(point_code=PLATFORM_PC, platform_gt=PLATFORM_GT, clir_policy="drop"),
        firewall_config,
        Metrics(),
    )
    outcome = processor.handle(_isup(build_iam(5, caller_presentation=isup.PRESENTATION_RESTRICTED)), CALL_TIME)
    assert outcome.events == []
    assert isup.IsupDecoder.peek(outcome.replies[0].data) == (5, isup.MSG_REL)
    assert processor.metrics.value("mcn_gateway_events_suppressed_total", {"reason": "clir"}) == 1


def test_rel_from_the_exchange_is_confirmed_with_rlc_and_rlc_is_silent(processor):
    outcome = processor.handle(_isup(isup.encode_rel(11, 16)), CALL_TIME)
    assert [r.data for r in outcome.replies] == [isup.encode_rlc(11)]
    assert processor.handle(_isup(isup.encode_rlc(11)), CALL_TIME).replies == []


@pytest.mark.parametrize("version", [2, 3])
def test_alert_service_centre_gives_attach_and_tcap_end(processor, version):
    outcome = processor.handle(_sccp(build_alert_service_centre(otid=0xABCD, version=version, invoke_id=3)), CALL_TIME)
    [event] = outcome.events
    assert event.kind == KIND_ATTACH
    attach = AttachEvent.from_data(event.body)
    assert attach.subscriber == "+447911123456"
    assert attach.source == "alertServiceCentre"
    assert attach.hlr == HLR_GT
    assert attach.event_ref == f"0000abcd@{HLR_GT}"

    [reply] = outcome.replies
    assert (reply.opc, reply.dpc, reply.si) == (PLATFORM_PC, HLR_PC, 3)
    unitdata, message, full = _answer_tcap(reply)
    assert unitdata.called.global_title == HLR_GT  # addresses swapped
    assert unitdata.calling.global_title == PLATFORM_GT
    assert message.kind == tcap.TCAP_END
    assert message.dtid == (0xABCD).to_bytes(4, "big")
    assert message.dialogue_pdu == 1  # AARE: dialogue response
    assert message.application_context == (*map_codec.AC_SHORT_MSG_ALERT, version)
    [component] = message.components
    assert (component.kind, component.invoke_id) == (tcap.COMPONENT_RETURN_RESULT_LAST, 3)
    kind, value = full
    dialogue = value["dialoguePortion"]["encoding"][1][1]
    assert kind == "end"
    assert dialogue[0] == "dialogueResponse"
    assert dialogue[1]["result"] in (0, "accepted")


def test_v1_alert_is_closed_without_result(processor):
    outcome = processor.handle(_sccp(build_alert_service_centre(version=1, otid=5)), CALL_TIME)
    assert outcome.events[0].body["source"] == "alertServiceCentre"
    _, message, _ = _answer_tcap(outcome.replies[0])
    assert message.kind == tcap.TCAP_END
    assert message.components == []
    assert message.application_context is None


def test_disallowed_calling_gt_is_aborted_and_counted(processor):
    outcome = processor.handle(_sccp(build_alert_service_centre(calling_gt="33612345678", otid=77)), CALL_TIME)
    assert outcome.events == []
    _, message, _ = _answer_tcap(outcome.replies[0])
    assert message.kind == tcap.TCAP_ABORT
    assert message.dtid == (77).to_bytes(4, "big")
    assert processor.metrics.value("mcn_gateway_firewall_rejects_total", {"reason": "calling_gt"}) == 1


def test_disallowed_opc_is_aborted(signalling_config):
    processor = SignallingProcessor(signalling_config, FirewallConfig(allowed_opcs=[HLR_PC + 1]), Metrics())
    outcome = processor.handle(_sccp(build_alert_service_centre()), CALL_TIME)
    assert outcome.events == []
    assert _answer_tcap(outcome.replies[0])[1].kind == tcap.TCAP_ABORT
    assert processor.metrics.value("mcn_gateway_firewall_rejects_total", {"reason": "opc"}) == 1


def test_opcode_not_handled_is_rejected_with_unrecognized_operation(processor):
    # readyForSM is off by default: the firewall rejects it
    outcome = processor.handle(_sccp(build_ready_for_sm(otid=9)), CALL_TIME)
    assert outcome.events == []
    _, message, full = _answer_tcap(outcome.replies[0])
    assert message.kind == tcap.TCAP_END
    assert message.components[0].kind == tcap.COMPONENT_REJECT
    assert full[1]["components"][0][1][1]["problem"] in (("invoke", 1), ("invoke", "unrecognizedOperation"))
    assert processor.metrics.value("mcn_gateway_firewall_rejects_total", {"reason": "opcode"}) == 1


def test_ready_for_sm_when_enabled(firewall_config):
    processor = SignallingProcessor(
        SignallingConfig(point_code=PLATFORM_PC, platform_gt=PLATFORM_GT, ready_for_sm=True),
        firewall_config,
        Metrics(),
    )
    outcome = processor.handle(_sccp(build_ready_for_sm(imsi="234150999999999")), CALL_TIME)
    assert outcome.events[0].body["source"] == "readyForSM"
    assert outcome.events[0].body["subscriber"] == "234150999999999"
    assert _answer_tcap(outcome.replies[0])[1].kind == tcap.TCAP_END


def test_continue_for_an_unknown_transaction_is_aborted(processor):
    begin = map_codec.encode_begin(b"\x00\x00\x00\x01", None, 64, None)
    continue_message = b"\x65" + begin[1:]  # same body, Continue tag, but no dtid -> malformed
    outcome = processor.handle(
        _sccp(
            sccp.encode_udt(sccp.encode_gt_address(PLATFORM_GT, 8), sccp.encode_gt_address(HLR_GT, 6), continue_message)
        ),
        CALL_TIME,
    )
    assert outcome.replies == []
    assert processor.metrics.value("mcn_gateway_decode_errors_total", {"layer": "tcap"}) == 1


@pytest.mark.parametrize(
    "payload",
    [b"", b"\x01", b"\x01\x00\x01", build_iam(1)[:9], b"\x09\x00\x03\x05\x07\x02\x42\x00", b"\x09" + b"\xff" * 30],
)
def test_malformed_messages_are_counted_never_raised(processor, payload):
    for si in (3, 5):
        outcome = processor.handle(ProtocolData(1, 2, si, 2, 0, 0, payload), CALL_TIME)
        assert outcome.events == []
    errors = sum(
        s.value for m in processor.metrics.decode_errors.collect() for s in m.samples if s.name.endswith("_total")
    )
    assert errors >= 1
