"""MWD registration at the HLR, over TCP on loopback, with the registrations in the embedded AWS.

The gateway serves two M3UA associations: "msc" (the MSC's IAMs, the HLR's alert) and "hlr" (the path
toward the STP/HLR that carries the dialogues the gateway opens). A scripted HLR on the "hlr" association
decodes what the gateway sends with pycrate's reference decoders (whole SCCP message, full
TCAP-MAP-Message) and answers with real TCAP/MAP bytes. The registration table is the template's
MwdRegistrationsTable deployed on moto's server.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pycrate_mobile.TS29002_MAPIE import AddressString

from mcn_devkit.embedded import EmbeddedStack
from mcn_devkit.sigtran import ScriptedPeer, build_alert_service_centre, build_iam, m3ua_data
from mcn_devkit.sigtran.builders import HLR_PC, MSC_PC, PLATFORM_GT, PLATFORM_PC, ROUTING_CONTEXT, SUBSCRIBER
from mcn_devkit.sigtran.hlr import ScriptedHlr
from mcn_devkit.sigtran.local import loopback_config, read_jsonl, wait_for
from mcn_gateway.app import GatewayThread
from mcn_gateway.protocol import isup, m3ua, sccp, tcap
from mcn_gateway.protocol import map as map_codec
from mcn_gateway.registrations import DynamoRegistrationStore

pytestmark = pytest.mark.integration

STP_PC = 4001
SHORT_MSG_GATEWAY_V3 = (0, 4, 0, 0, 1, 0, 20, 3)


@pytest.fixture(scope="module")
def stack() -> Iterator[EmbeddedStack]:
    with EmbeddedStack() as running, pytest.MonkeyPatch.context() as patch:
        for key, value in running.env.items():
            patch.setenv(key, value)
        yield running


def _registration(stack: EmbeddedStack, **overrides: object) -> dict:
    return {
        "enabled": True,
        "dpc": STP_PC,
        "associations": ["hlr"],
        "table_name": stack.resource_name("MwdRegistrationsTable"),
        "region": stack.region,
        "endpoint_url": stack.aws_endpoint,
        "dialogue_timeout_s": 3.0,  # generous: a loaded CI machine must not turn answers into timeouts
        "retry_initial_s": 0.1,
        "max_attempts": 2,
        "local_cache_s": 0,  # every call asks the shared table
        **overrides,
    }


def _hlr_association() -> dict:
    return {
        "name": "hlr",
        "role": "server",
        "host": "127.0.0.1",
        "port": 0,
        "transport": "tcp",
        "routing_contexts": [ROUTING_CONTEXT],
    }


def _up(port: int) -> ScriptedPeer:
    peer = ScriptedPeer.connect("127.0.0.1", port)
    peer.bring_up(routing_context=ROUTING_CONTEXT)
    return peer


def _item(stack: EmbeddedStack, subscriber: str) -> dict | None:
    return DynamoRegistrationStore(
        stack.resource_name("MwdRegistrationsTable"), stack.region, client=stack.client("dynamodb")
    ).get(subscriber)


def _number(raw: bytes) -> str:
    value = AddressString()
    value.from_bytes(raw)
    assert (value["NumType"].get_val(), value["NumPlan"].get_val()) == (1, 1)  # international, E.164
    return value["Num"].get_alt().decode()


def _call(msc: ScriptedPeer, cic: int, subscriber: str) -> None:
    msc.send(m3ua_data(5, build_iam(cic, subscriber=subscriber), opc=MSC_PC, sls=cic & 0x0F))
    rel = msc.expect(m3ua.TRANSFER_DATA)
    assert isup.IsupDecoder.peek(rel.protocol_data.data) == (cic, isup.MSG_REL)


def _calls(tmp_path: Path, count: int) -> list[dict]:
    return wait_for(
        lambda: (c := read_jsonl(tmp_path / "missed_calls.jsonl")) and len(c) >= count and c, f"{count} missed calls"
    )


@pytest.fixture
def subscriber() -> str:
    # one subscriber per test: the table is shared by the module
    return "4479111" + str(time.monotonic_ns())[-5:]


def test_first_call_registers_second_does_not_alert_clears(stack: EmbeddedStack, tmp_path: Path):
    config = loopback_config(tmp_path, [_hlr_association()], registration=_registration(stack))
    with (
        GatewayThread(config) as gateway,
        _up(gateway.association_port("msc")) as msc,
        _up(gateway.association_port("hlr")) as hlr_link,
        ScriptedHlr(hlr_link) as hlr,
    ):
        _call(msc, 1, SUBSCRIBER)
        metrics = gateway.metrics
        wait_for(lambda: metrics.value("mcn_gateway_mwd_registrations_confirmed_total") == 1, "the registration")
        assert hlr.errors == []
        sri, report = hlr.received()

        # sendRoutingInfoForSM, as decoded by pycrate from the bytes on the wire
        assert (sri.protocol_data.opc, sri.protocol_data.dpc, sri.protocol_data.si) == (PLATFORM_PC, STP_PC, 3)
        assert sri.routing_context == ROUTING_CONTEXT
        assert (sri.sccp.called.global_title, sri.sccp.called.ssn) == (SUBSCRIBER, sccp.SSN_HLR)
        assert (sri.sccp.calling.global_title, sri.sccp.calling.ssn) == (PLATFORM_GT, sccp.SSN_MSC)
        assert sri.sccp.called.route_on_gt and sri.sccp.calling.route_on_gt
        assert sri.application_context == SHORT_MSG_GATEWAY_V3
        assert sri.opcode == map_codec.OP_SEND_ROUTING_INFO_FOR_SM
        assert _number(sri.argument["msisdn"]) == SUBSCRIBER
        assert _number(sri.argument["serviceCentreAddress"]) == PLATFORM_GT

        # the HLR answered absentSubscriberSM: reportSM-DeliveryStatus with the platform's GT
        assert report.opcode == map_codec.OP_REPORT_SM_DELIVERY_STATUS
        assert report.application_context == SHORT_MSG_GATEWAY_V3
        assert report.argument["sm-DeliveryOutcome"] == "absentSubscriber"
        assert _number(report.argument["serviceCentreAddress"]) == PLATFORM_GT
        assert _number(report.argument["msisdn"]) == SUBSCRIBER
        assert report.sccp.called.global_title == SUBSCRIBER

        item = _item(stack, "+" + SUBSCRIBER)
        assert item["state"] == "registered" and item["hlr"] == "447700000001"
        assert item["expires_at"] > time.time() + 3600

        # a second call in the same absence: forwarded, no new dialogue
        _call(msc, 2, SUBSCRIBER)
        wait_for(
            lambda: metrics.value("mcn_gateway_mwd_registrations_skipped_total", {"reason": "registered"}) == 1,
            "the second call seen by the registrar",
        )
        assert len(hlr.received()) == 2
        assert [c["subscriber"] for c in _calls(tmp_path, 2)] == ["+" + SUBSCRIBER] * 2

        # the subscriber attaches: the HLR alerts the platform's GT -> attach event, registration cleared
        msc.send(m3ua_data(3, build_alert_service_centre(otid=0x77), opc=HLR_PC))
        end = msc.expect(m3ua.TRANSFER_DATA)
        unitdata = sccp.ReferenceSccpDecoder().decode(end.protocol_data.data)
        assert tcap.decode_full(unitdata.data)[0] == "end"
        [attach] = wait_for(lambda: read_jsonl(tmp_path / "attach.jsonl"), "the attach event")
        assert attach["subscriber"] == "+" + SUBSCRIBER
        wait_for(lambda: _item(stack, "+" + SUBSCRIBER) is None, "the registration cleared")
        assert metrics.value("mcn_gateway_mwd_registrations_cleared_total") == 1

        # the next absence registers again
        _call(msc, 3, SUBSCRIBER)
        wait_for(lambda: metrics.value("mcn_gateway_mwd_registrations_confirmed_total") == 2, "a new registration")
        assert len(hlr.received()) == 4

        text = gateway.gateway.metrics.render().decode()
        for name in ("sent", "confirmed", "failed", "skipped", "cleared"):
            assert f"mcn_gateway_mwd_registrations_{name}" in text
        assert "mcn_gateway_mwd_timeouts_total" in text


def test_abort_and_silence_are_retried_then_failed_the_calls_still_forwarded(
    stack: EmbeddedStack, tmp_path: Path, subscriber: str
):
    aborting, silent = subscriber, subscriber[:-1] + str((int(subscriber[-1]) + 1) % 10)
    config = loopback_config(tmp_path, [_hlr_association()], registration=_registration(stack, dialogue_timeout_s=0.4))
    with (
        GatewayThread(config) as gateway,
        _up(gateway.association_port("msc")) as msc,
        _up(gateway.association_port("hlr")) as hlr_link,
        ScriptedHlr(hlr_link, behaviour={aborting: "abort", silent: "silent"}) as hlr,
    ):
        _call(msc, 11, aborting)
        _call(msc, 12, silent)
        metrics = gateway.metrics
        wait_for(
            lambda: (
                metrics.value("mcn_gateway_mwd_registrations_failed_total", {"reason": "abort"}) == 1
                and metrics.value("mcn_gateway_mwd_registrations_failed_total", {"reason": "timeout"}) == 1
            ),
            "both registrations given up",
        )
        # each: max_attempts (2) sendRoutingInfoForSM Begins with fresh transaction ids, nothing more
        for number in (aborting, silent):
            begins = [d for d in hlr.received() if d.sccp.called.global_title == number]
            assert [d.opcode for d in begins] == [45, 45]
            assert begins[0].otid != begins[1].otid
        assert metrics.value("mcn_gateway_mwd_timeouts_total", {"operation": "sendRoutingInfoForSM"}) == 2
        assert metrics.value("mcn_gateway_mwd_registrations_confirmed_total") == 0
        assert _item(stack, "+" + aborting)["state"] == "failed"
        assert _item(stack, "+" + silent)["reason"] == "timeout"
        # the missed calls were forwarded regardless
        assert {c["subscriber"] for c in _calls(tmp_path, 2)} == {"+" + aborting, "+" + silent}
        assert gateway.gateway.registrar.in_progress == 0
        assert len(gateway.gateway.transactions) == 0


def test_reachable_subscriber_no_registration(stack: EmbeddedStack, tmp_path: Path, subscriber: str):
    config = loopback_config(tmp_path, [_hlr_association()], registration=_registration(stack))
    with (
        GatewayThread(config) as gateway,
        _up(gateway.association_port("msc")) as msc,
        _up(gateway.association_port("hlr")) as hlr_link,
        ScriptedHlr(hlr_link, default="reachable") as hlr,
    ):
        _call(msc, 21, subscriber)
        wait_for(lambda: gateway.metrics.value("mcn_gateway_mwd_registrations_not_needed_total") == 1, "SRI-SM result")
        assert [d.opcode for d in hlr.received()] == [45]
        assert _item(stack, "+" + subscriber)["state"] == "reachable"
        _calls(tmp_path, 1)


def test_gateway_as_asp_of_the_stp_falls_back_to_v2(stack: EmbeddedStack, tmp_path: Path, subscriber: str):
    """The usual deployment: the gateway is an ASP of the STP; the HLR behind it only knows v2."""
    stp = ScriptedPeer.listen()
    association = {
        "name": "stp",
        "role": "client",
        "host": "127.0.0.1",
        "port": stp.port,
        "transport": "tcp",
        "routing_contexts": [ROUTING_CONTEXT],
        "reconnect_initial_s": 0.05,
    }
    config = loopback_config(tmp_path, [association], registration=_registration(stack, associations=[]))
    with stp, GatewayThread(config) as gateway, _up(gateway.association_port("msc")) as msc:
        stp.accept()
        stp.serve_asp_handshake()
        wait_for(lambda: gateway.gateway.associations.states().get("stp") == "active", "the STP association")
        with ScriptedHlr(stp, default="v2_only") as hlr:
            _call(msc, 31, subscriber)
            wait_for(lambda: gateway.metrics.value("mcn_gateway_mwd_registrations_confirmed_total") == 1, "confirmed")
        assert [(d.opcode, d.application_context[-1]) for d in hlr.received()] == [(45, 3), (45, 2), (47, 2)]
        assert _item(stack, "+" + subscriber)["ac_version"] == "2"


def test_two_instances_register_one_absence_once(stack: EmbeddedStack, tmp_path: Path, subscriber: str):
    configs = [
        loopback_config(tmp_path / name, [_hlr_association()], registration=_registration(stack)) for name in ("a", "b")
    ]
    with (
        GatewayThread(configs[0]) as gateway_a,
        GatewayThread(configs[1]) as gateway_b,
        _up(gateway_a.association_port("msc")) as msc_a,
        _up(gateway_b.association_port("msc")) as msc_b,
        _up(gateway_a.association_port("hlr")) as link_a,
        _up(gateway_b.association_port("hlr")) as link_b,
        ScriptedHlr(link_a, default="silent") as hlr_a,  # keeps the first claim pending
        ScriptedHlr(link_b, default="silent") as hlr_b,
    ):
        msc_a.send(m3ua_data(5, build_iam(41, subscriber=subscriber), opc=MSC_PC))
        msc_b.send(m3ua_data(5, build_iam(42, subscriber=subscriber), opc=MSC_PC))
        msc_a.expect(m3ua.TRANSFER_DATA)
        msc_b.expect(m3ua.TRANSFER_DATA)
        skipped = "mcn_gateway_mwd_registrations_skipped_total"
        wait_for(
            lambda: sum(g.metrics.value(skipped, {"reason": "in_progress"}) for g in (gateway_a, gateway_b)) == 1,
            "one instance losing the claim",
        )
        sent = sum(g.metrics.value("mcn_gateway_mwd_registrations_sent_total") for g in (gateway_a, gateway_b))
        assert sent == 1
        # every dialogue toward the HLR came from the instance that won the claim (its Begin may
        # still be on the way when the counters settle: wait for it, not for a fixed time)
        wait_for(lambda: (hlr_a.received() == []) != (hlr_b.received() == []), "the winner's dialogue at the HLR")
        assert sum(g.metrics.value("mcn_gateway_mwd_registrations_sent_total") for g in (gateway_a, gateway_b)) == 1
        _calls(tmp_path / "a", 1)
        _calls(tmp_path / "b", 1)


def test_dynamodb_store_claims_are_exclusive_and_owned(stack: EmbeddedStack, subscriber: str):
    table = stack.resource_name("MwdRegistrationsTable")
    store_a = DynamoRegistrationStore(table, stack.region, stack.aws_endpoint)
    store_b = DynamoRegistrationStore(table, stack.region, stack.aws_endpoint)
    key, now = "+" + subscriber, int(time.time())
    assert store_a.claim(key, "a", now, now + 300).won
    lost = store_b.claim(key, "b", now, now + 300)
    assert (lost.won, lost.state, lost.expires_at) == (False, "pending", now + 300)
    assert not store_b.transition(key, "b", "registered", now, now + 3600)  # not b's
    assert store_a.transition(key, "a", "registered", now, now + 3600, hlr="447700000001")
    assert store_a.get(key)["state"] == "registered"
    # expired but not yet deleted by DynamoDB's TTL sweeper: claimable again
    assert store_b.claim(key, "b", now + 3601, now + 3901).won
    assert not store_a.transition(key, "a", "failed", now, now + 60)  # taken over: a cannot write any more
    assert store_a.clear(key) is True
    assert store_a.clear(key) is False
    assert store_a.get(key) is None
    # the table's TTL attribute is the one the store writes
    ttl = stack.client("dynamodb").describe_time_to_live(TableName=table)["TimeToLiveDescription"]
    assert ttl["AttributeName"] == "expires_at"
