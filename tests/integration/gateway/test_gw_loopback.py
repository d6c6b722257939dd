"""Over TCP on loopback: a scripted MSC/HLR/SG plays real M3UA against the gateway."""

from __future__ import annotations

import urllib.request
from pathlib import Path

import pytest

from mcn_core.models.events import AttachEvent, MissedCallEvent
from mcn_devkit.sigtran import ScriptedPeer, build_alert_service_centre, build_iam, m3ua_data, play_scenario
from mcn_devkit.sigtran.builders import HLR_PC, MSC_PC, PLATFORM_PC, ROUTING_CONTEXT, scenario_bytes
from mcn_devkit.sigtran.local import loopback_config, read_jsonl, wait_for
from mcn_gateway.app import GatewayThread
from mcn_gateway.protocol import isup, m3ua, sccp, tcap

pytestmark = pytest.mark.integration


def _peer(gateway: GatewayThread) -> ScriptedPeer:
    peer = ScriptedPeer.connect("127.0.0.1", gateway.association_port("msc"))
    peer.bring_up(routing_context=ROUTING_CONTEXT)
    return peer


def _tcap_of(message: m3ua.M3uaMessage) -> tcap.TcapMessage:
    assert message.protocol_data is not None
    unitdata = sccp.SccpDecoder().decode(message.protocol_data.data)
    assert not isinstance(unitdata, int)
    return tcap.TcapDecoder().decode(unitdata.data)


def test_asp_up_active_iam_with_cfnrc_and_clir(gateway: GatewayThread, tmp_path: Path):
    with _peer(gateway) as peer:
        assert any(m.kind == m3ua.ASPSM_UP_ACK for m in peer.received)
        iam = build_iam(21, caller="447400123458", caller_presentation=isup.PRESENTATION_RESTRICTED)
        peer.send(m3ua_data(5, iam, opc=MSC_PC, sls=4))
        answer = peer.expect(m3ua.TRANSFER_DATA)
        assert answer.uint32(0x0006) == ROUTING_CONTEXT
        rel = answer.protocol_data
        assert (rel.opc, rel.dpc, rel.si, rel.sls) == (PLATFORM_PC, MSC_PC, 5, 4)
        assert isup.IsupDecoder.peek(rel.data) == (21, isup.MSG_REL)
        assert isup.decode_rel_cause(rel.data) == isup.CAUSE_SUBSCRIBER_ABSENT
        peer.send(m3ua_data(5, isup.encode_rlc(21), opc=MSC_PC, sls=4))

    [event] = wait_for(lambda: read_jsonl(tmp_path / "missed_calls.jsonl"), "the missed-call event")
    MissedCallEvent.from_data(event)
    assert event["caller"] is None
    assert event["presentation"] == "restricted"
    assert event["subscriber"] == "+447911123456"
    assert "447400123458" not in (tmp_path / "missed_calls.jsonl").read_text()
    # the RLC was the peer's last word: the gateway may still be reading it
    wait_for(
        lambda: gateway.metrics.value("mcn_gateway_messages_total", {"protocol": "isup", "type": "RLC"}) == 1,
        "the RLC to be handled",
    )


def test_alert_service_centre_gives_attach_and_tcap_end(gateway: GatewayThread, tmp_path: Path):
    with _peer(gateway) as peer:
        peer.send(m3ua_data(3, build_alert_service_centre(otid=0x55, invoke_id=2), opc=HLR_PC))
        end = _tcap_of(peer.expect(m3ua.TRANSFER_DATA))
    assert end.kind == tcap.TCAP_END
    assert end.dtid == (0x55).to_bytes(4, "big")
    assert [(c.kind, c.invoke_id) for c in end.components] == [(tcap.COMPONENT_RETURN_RESULT_LAST, 2)]
    [event] = wait_for(lambda: read_jsonl(tmp_path / "attach.jsonl"), "the attach event")
    assert AttachEvent.from_data(event).subscriber == "+447911123456"


def test_beat_answered_disallowed_gt_rejected_garbage_survived(gateway: GatewayThread, tmp_path: Path):
    with _peer(gateway) as peer:
        peer.send(m3ua.encode_beat(b"heartbeat-1"))
        assert peer.expect(m3ua.ASPSM_BEAT_ACK).first(0x0009) == b"heartbeat-1"

        peer.send(m3ua_data(3, build_alert_service_centre(calling_gt="33612345678", otid=9), opc=HLR_PC))
        assert _tcap_of(peer.expect(m3ua.TRANSFER_DATA)).kind == tcap.TCAP_ABORT

        peer.send(b"\x00garbage\xff" * 7)  # not M3UA at all
        peer.send(m3ua_data(3, b"\x09\x00\x03\x05\x07\x02", opc=HLR_PC))  # truncated SCCP in a valid DATA
        peer.send(bytes.fromhex("0100070100000008"))  # unknown message class
        assert peer.expect(m3ua.MGMT_ERR).uint32(0x000C) == m3ua.ERR_UNSUPPORTED_MESSAGE_CLASS

        peer.send(m3ua.encode_beat(b"still-there"))
        assert peer.expect(m3ua.ASPSM_BEAT_ACK).first(0x0009) == b"still-there"
        peer.send(m3ua_data(5, build_iam(3), opc=MSC_PC))
        assert isup.IsupDecoder.peek(peer.expect(m3ua.TRANSFER_DATA).protocol_data.data)[1] == isup.MSG_REL

    assert gateway.metrics.value("mcn_gateway_firewall_rejects_total", {"reason": "calling_gt"}) == 1
    assert gateway.metrics.value("mcn_gateway_decode_errors_total", {"layer": "m3ua-framing"}) >= 1
    assert gateway.metrics.value("mcn_gateway_decode_errors_total", {"layer": "sccp"}) == 1
    wait_for(lambda: read_jsonl(tmp_path / "missed_calls.jsonl"), "the IAM sent after the garbage")


def test_daud_is_answered_with_dava(gateway: GatewayThread):
    with _peer(gateway) as peer:
        peer.send(m3ua.encode_daud(PLATFORM_PC))
        dava = peer.expect(m3ua.SSNM_DAVA)
    assert dava.uint32(0x0012) == PLATFORM_PC


def test_data_before_aspac_is_refused_with_err(gateway: GatewayThread):
    with ScriptedPeer.connect("127.0.0.1", gateway.association_port("msc")) as peer:
        peer.send(m3ua_data(5, build_iam(1), opc=MSC_PC))
        assert peer.expect(m3ua.MGMT_ERR).uint32(0x000C) == m3ua.ERR_UNEXPECTED_MESSAGE
        peer.send(m3ua.encode_aspup(1))
        peer.expect(m3ua.ASPSM_UP_ACK)
        peer.send(m3ua.encode_aspac(2, [999]))  # a routing context the gateway does not serve
        assert peer.expect(m3ua.MGMT_ERR).uint32(0x000C) == m3ua.ERR_INVALID_ROUTING_CONTEXT


def test_the_demo_scenario_stream(gateway: GatewayThread, tmp_path: Path):
    with ScriptedPeer.connect("127.0.0.1", gateway.association_port("msc")) as peer:
        peer.send(scenario_bytes())
        answers = [peer.expect(m3ua.TRANSFER_DATA) for _ in range(5)]
    assert sum(a.protocol_data.si == 5 for a in answers) == 4  # one REL per attempt
    calls = wait_for(
        lambda: (c := read_jsonl(tmp_path / "missed_calls.jsonl")) and len(c) == 4 and c, "four missed calls"
    )
    assert [c["caller"] for c in calls] == ["+447400123457", "+447400123457", None, "+447400123459"]
    assert len({c["call_ref"] for c in calls}) == 4
    wait_for(lambda: read_jsonl(tmp_path / "attach.jsonl"), "the attach event")


def test_play_scenario_helper_for_the_demo(gateway: GatewayThread, tmp_path: Path):
    result = play_scenario("127.0.0.1", gateway.association_port("msc"))
    assert (result.releases, result.tcap_ends) == (4, 1)
    wait_for(lambda: len(read_jsonl(tmp_path / "missed_calls.jsonl")) == 4, "four missed calls")


def test_metrics_and_healthz_over_http(gateway: GatewayThread):
    with _peer(gateway):
        base = f"http://127.0.0.1:{gateway.http_port}"
        health = urllib.request.urlopen(f"{base}/healthz", timeout=10).read().decode()
        assert '"status": "ok"' in health
        assert '"active"' in health
        metrics = urllib.request.urlopen(f"{base}/metrics", timeout=10).read().decode()
    assert 'mcn_gateway_association_state{association="msc#1"} 2.0' in metrics
    assert "mcn_gateway_spool_depth" in metrics


def test_gateway_as_asp_client_reconnects_to_the_sg(tmp_path: Path):
    sg = ScriptedPeer.listen()
    config = loopback_config(
        tmp_path,
        extra_associations=[
            {
                "name": "stp",
                "role": "client",
                "host": "127.0.0.1",
                "port": sg.port,
                "transport": "tcp",
                "routing_contexts": [ROUTING_CONTEXT],
                "traffic_mode": "override",
                "asp_id": 7,
                "reconnect_initial_s": 0.05,
                "reconnect_max_s": 0.2,
            }
        ],
    )
    with sg, GatewayThread(config) as gateway:
        sg.accept()
        assert sg.serve_asp_handshake() == [ROUTING_CONTEXT]
        assert sg.received[-1].uint32(0x000B) == m3ua.TRAFFIC_MODE_OVERRIDE
        sg.send(m3ua_data(5, build_iam(30), opc=MSC_PC))
        assert isup.IsupDecoder.peek(sg.expect(m3ua.TRANSFER_DATA).protocol_data.data) == (30, isup.MSG_REL)

        sg.drop()  # the SG drops the association: the gateway reconnects by itself
        sg.accept()
        sg.serve_asp_handshake()
        sg.send(m3ua.encode_beat(b"back"))
        assert sg.expect(m3ua.ASPSM_BEAT_ACK).first(0x0009) == b"back"
        wait_for(lambda: gateway.gateway.associations.states().get("stp") == "active", "stp active")


def test_several_associations_at_once(gateway: GatewayThread, tmp_path: Path):
    with _peer(gateway) as msc_a, _peer(gateway) as msc_b:
        msc_a.send(m3ua_data(5, build_iam(101), opc=MSC_PC))
        msc_b.send(m3ua_data(5, build_iam(202), opc=MSC_PC + 1))
        assert isup.IsupDecoder.peek(msc_b.expect(m3ua.TRANSFER_DATA).protocol_data.data) == (202, isup.MSG_REL)
        assert isup.IsupDecoder.peek(msc_a.expect(m3ua.TRANSFER_DATA).protocol_data.data) == (101, isup.MSG_REL)
        states = gateway.gateway.associations.states()
        assert sorted(states.values()) == ["active", "active"]
    calls = wait_for(lambda: (c := read_jsonl(tmp_path / "missed_calls.jsonl")) and len(c) == 2 and c, "two calls")
    assert {c["msc"] for c in calls} == {f"pc:{MSC_PC}", f"pc:{MSC_PC + 1}"}
