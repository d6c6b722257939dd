"""The MWD registrar (MAP client side) driven step by step: a fake clock, an in-memory table, a sender
that captures what would go on the wire, and HLR answers built by the scripted HLR with pycrate.

What the gateway sends is read back with the reference decoders (pycrate's whole SCCP message parse and
the full TCAP-MAP-Message decode), not with the gateway's fast paths.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pycrate_mobile.TS29002_MAPIE import AddressString

from mcn_devkit.sigtran.builders import HLR_GT, HLR_PC, PLATFORM_GT, PLATFORM_PC, SUBSCRIBER
from mcn_devkit.sigtran.hlr import ReceivedDialogue, ScriptedHlr
from mcn_gateway.config import FirewallConfig, RegistrationConfig, SignallingConfig
from mcn_gateway.metrics import Metrics
from mcn_gateway.mwd import MwdRegistrar
from mcn_gateway.processor import SignallingProcessor
from mcn_gateway.protocol import dialogues, m3ua, sccp, tcap
from mcn_gateway.protocol.m3ua import ProtocolData
from mcn_gateway.registrations import MemoryRegistrationStore, StoreError

STP_PC = 4001
SUB = "+" + SUBSCRIBER


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _address(raw: bytes) -> str:
    value = AddressString()
    value.from_bytes(raw)
    assert value["NumType"].get_val() == 1  # international
    assert value["NumPlan"].get_val() == 1  # E.164
    return value["Num"].get_alt().decode()


class Harness:
    def __init__(self, **overrides: object) -> None:
        settings = {
            "enabled": True,
            "dpc": STP_PC,
            "dialogue_timeout_s": 10,
            "max_attempts": 3,
            "retry_initial_s": 1,
            "country_code": "44",
            **overrides,
        }
        self.config = RegistrationConfig(**settings)
        self.clock = Clock()
        self.wall = Clock()
        self.wall.now = 1_800_000_000.0
        self.metrics = Metrics()
        self.store = MemoryRegistrationStore()
        self.transactions = dialogues.TransactionRegistry()
        self.sent: list[ProtocolData] = []
        self.route = True
        self.registrar = MwdRegistrar(
            self.config,
            PLATFORM_GT,
            PLATFORM_PC,
            self.transactions,
            self._send,
            self.store,
            self.metrics,
            clock=self.clock,
            wall=self.wall,
        )
        self.hlr = ScriptedHlr(peer=None)  # only its answer builder is used here

    def _send(self, data: ProtocolData) -> bool:
        if self.route:
            self.sent.append(data)
        return self.route

    def dialogue(self, index: int = -1) -> ReceivedDialogue:
        data = self.sent[index]
        unitdata = sccp.ReferenceSccpDecoder().decode(data.data)
        return ReceivedDialogue(data, None, unitdata, tcap.decode_full(unitdata.data), unitdata.data)

    def answer(self, behaviour: str, index: int = -1) -> None:
        """The HLR answers the dialogue sent at `index` (through the processor's hook, as on the wire)."""
        raw = self.hlr.answer(self.dialogue(index), behaviour)
        assert raw is not None
        self.deliver(raw)

    def deliver(self, raw: bytes) -> None:
        message = tcap.TcapDecoder().decode(raw)
        handler = self.transactions.handler_for(message.dtid)
        if handler is not None:
            assert handler(message, HLR_GT) == []
        self.registrar.pump()

    def call(self, subscriber: str = SUB) -> None:
        self.registrar.missed_call(subscriber)
        self.registrar.pump()

    def advance(self, seconds: float) -> None:
        self.clock.now += seconds
        self.wall.now += seconds
        self.registrar.pump()

    def value(self, name: str, labels: dict | None = None) -> float:
        return self.metrics.value(name, labels)


@pytest.fixture
def h() -> Harness:
    return Harness()


def test_first_call_sri_sm_absent_then_report_sm_delivery_status(h: Harness):
    h.call()
    assert len(h.sent) == 1
    sri = h.dialogue()
    # MTP3 / SCCP routing: toward the STP, called GT = the MSISDN at SSN 6, calling GT = the platform at SSN 8
    assert (sri.protocol_data.opc, sri.protocol_data.dpc, sri.protocol_data.si) == (PLATFORM_PC, STP_PC, 3)
    assert (sri.sccp.called.global_title, sri.sccp.called.ssn, sri.sccp.called.route_on_gt) == (SUBSCRIBER, 6, True)
    assert (sri.sccp.calling.global_title, sri.sccp.calling.ssn) == (PLATFORM_GT, 8)
    assert sri.sccp.return_on_error
    # TCAP Begin, shortMsgGatewayContext v3, sendRoutingInfoForSM
    assert sri.tcap[0] == "begin"
    assert sri.application_context == (0, 4, 0, 0, 1, 0, 20, 3)
    assert sri.opcode == 45
    assert _address(sri.argument["msisdn"]) == SUBSCRIBER
    assert _address(sri.argument["serviceCentreAddress"]) == PLATFORM_GT
    assert sri.argument["sm-RP-PRI"] is False
    assert h.store.get(SUB)["state"] == "pending"

    h.answer("absent")  # informServiceCentre (MNRF) + absentSubscriberSM
    assert len(h.sent) == 2
    report = h.dialogue()
    assert report.otid != sri.otid
    assert report.application_context == (0, 4, 0, 0, 1, 0, 20, 3)
    assert report.opcode == 47
    assert report.argument["sm-DeliveryOutcome"] == "absentSubscriber"
    assert _address(report.argument["serviceCentreAddress"]) == PLATFORM_GT
    assert _address(report.argument["msisdn"]) == SUBSCRIBER
    assert report.sccp.called.global_title == SUBSCRIBER

    h.answer("absent")  # reportSM-DeliveryStatus result
    item = h.store.get(SUB)
    assert item["state"] == "registered"
    assert item["hlr"] == HLR_GT
    assert item["expires_at"] == int(h.wall.now) + h.config.registration_ttl_s
    assert h.value("mcn_gateway_mwd_registrations_sent_total") == 1
    assert h.value("mcn_gateway_mwd_registrations_confirmed_total") == 1
    assert len(h.transactions) == 0
    assert h.registrar.in_progress == 0

    h.call()  # the same absence: no new dialogue (local knowledge)
    h.advance(h.config.local_cache_s + 1)
    h.call()  # ... nor after the local cache expired (the table says registered)
    assert len(h.sent) == 2
    assert h.value("mcn_gateway_mwd_registrations_skipped_total", {"reason": "registered"}) == 2


def test_absent_subscriber_sm_error_alone_is_enough(h: Harness):
    h.call()
    h.answer("absent_error_only")
    assert h.dialogue().opcode == 47


def test_reachable_subscriber_is_not_registered(h: Harness):
    h.call()
    h.answer("reachable")
    assert len(h.sent) == 1
    assert h.value("mcn_gateway_mwd_registrations_not_needed_total") == 1
    assert h.store.get(SUB)["state"] == "reachable"
    h.call()
    assert len(h.sent) == 1  # hold-off: no SRI-SM per call while the HLR thinks the subscriber is there
    h.advance(h.config.reachable_holdoff_s + 1)
    h.call()
    assert len(h.sent) == 2


def test_timeouts_are_retried_with_backoff_then_counted_failed(h: Harness):
    h.call()
    h.advance(10)  # dialogue timer
    assert len(h.sent) == 1 and len(h.transactions) == 0
    h.advance(1)  # retry after 1 s
    assert len(h.sent) == 2
    h.advance(10)
    h.advance(1.5)
    assert len(h.sent) == 2  # backoff doubles: 2 s
    h.advance(0.5)
    assert len(h.sent) == 3
    assert len({h.dialogue(i).otid for i in range(3)}) == 3
    h.advance(10)
    assert h.value("mcn_gateway_mwd_timeouts_total", {"operation": "sendRoutingInfoForSM"}) == 3
    assert h.value("mcn_gateway_mwd_registrations_failed_total", {"reason": "timeout"}) == 1
    assert h.value("mcn_gateway_mwd_retries_total") == 2
    assert h.store.get(SUB)["state"] == "failed"
    h.call()
    assert len(h.sent) == 3  # hold-off after a failure
    assert h.value("mcn_gateway_mwd_registrations_skipped_total", {"reason": "holdoff"}) == 1


def test_abort_is_retried_then_failed_and_late_answers_are_ignored(h: Harness):
    h.call()
    for attempt in range(3):
        h.answer("abort")
        if attempt < 2:
            h.advance(2**attempt)
    assert len(h.sent) == 3
    assert h.value("mcn_gateway_mwd_registrations_failed_total", {"reason": "abort"}) == 1
    h.answer("absent", index=0)  # an answer to a closed dialogue changes nothing
    assert len(h.sent) == 3
    assert h.value("mcn_gateway_mwd_registrations_confirmed_total") == 0


def test_v3_refused_falls_back_to_v2_for_both_operations(h: Harness):
    h.call()
    h.answer("v2_only")
    assert [h.dialogue(i).application_context[-1] for i in range(len(h.sent))] == [3, 2]
    h.answer("v2_only")  # absent on v2
    h.answer("v2_only")  # reportSM on v2
    assert [(d.opcode, d.application_context[-1]) for d in map(h.dialogue, range(len(h.sent)))] == [
        (45, 3),
        (45, 2),
        (47, 2),
    ]
    assert h.value("mcn_gateway_mwd_registrations_confirmed_total") == 1
    assert h.value("mcn_gateway_mwd_dialogues_total", {"operation": "sendRoutingInfoForSM", "outcome": "ac_refused"})
    assert h.store.get(SUB)["ac_version"] == "2"
    # a v2 HLR parses the arguments with the v2 syntax (MAPv2-SM-DataTypes): they must decode there too
    v2 = tcap.ASN1_MODULES["MAPv2-SM-DataTypes"]
    for index, name in ((1, "RoutingInfoForSM-Arg"), (2, "ReportSM-DeliveryStatusArg")):
        dialogue = h.dialogue(index)
        v2_type = v2[name]
        v2_type.set_val(dialogue.argument)
        raw = v2_type.to_ber()
        assert raw in dialogue.raw_tcap  # the same bytes the gateway sent
        v2_type.from_ber(raw)
        assert _address(v2_type.get_val()["serviceCentreAddress"]) == PLATFORM_GT


def test_an_hlr_that_refused_v3_is_asked_in_v2_next_time():
    h = Harness(hlr_version_memory_s=3600)
    h.call()
    h.answer("v2_only")  # v3 refused by the subscriber's HLR (HLR_GT): fallback, remembered for that HLR
    h.answer("v2_only")
    h.answer("v2_only")
    h.registrar.attached(SUB)  # the absence ends
    h.registrar.pump()
    h.call()  # the next absence: its HLR is known to speak v2, no refused v3 dialogue first
    assert [h.dialogue(i).application_context[-1] for i in range(len(h.sent))] == [3, 2, 2, 2]
    other = "+447911999888"  # a subscriber whose HLR is not known yet: v3 first
    h.call(other)
    assert h.dialogue().application_context[-1] == 3
    h.advance(3601)  # the memory expires: the HLR may have been upgraded
    h.registrar.attached(SUB)
    h.registrar.pump()
    h.call()
    assert h.dialogue().application_context[-1] == 3


def test_permanent_map_error_fails_without_retry(h: Harness):
    h.call()
    h.answer("unknown")
    h.advance(60)
    assert len(h.sent) == 1
    assert h.value("mcn_gateway_mwd_registrations_failed_total", {"reason": "map_unknownSubscriber"}) == 1


def test_no_active_association_is_retried_then_failed():
    h = Harness(max_attempts=2)
    h.route = False
    h.call()
    h.advance(1)
    assert h.value("mcn_gateway_mwd_registrations_failed_total", {"reason": "no_route"}) == 1
    assert h.value("mcn_gateway_mwd_dialogues_total", {"operation": "sendRoutingInfoForSM", "outcome": "no_route"}) == 2


def test_attach_clears_the_registration_and_cancels_a_dialogue_in_flight(h: Harness):
    h.call()
    h.answer("absent")
    h.answer("absent")
    assert h.store.get(SUB)["state"] == "registered"
    h.registrar.attached(SUB)
    h.registrar.pump()
    assert h.store.get(SUB) is None
    assert h.value("mcn_gateway_mwd_registrations_cleared_total") == 1

    h.call()  # a new absence: a new registration
    assert len(h.sent) == 3
    h.registrar.attached(SUB)  # the subscriber came back while the SRI-SM was under way
    h.registrar.pump()
    h.answer("absent")  # too late: ignored
    assert len(h.sent) == 3
    assert h.store.get(SUB) is None
    assert h.registrar.in_progress == 0


def test_national_numbers_need_the_country_code():
    h = Harness()
    h.call("07911123456")
    assert h.dialogue().sccp.called.global_title == SUBSCRIBER
    bare = Harness(country_code=None)
    bare.call("07911123456")
    assert bare.sent == []
    assert bare.value("mcn_gateway_mwd_registrations_skipped_total", {"reason": "not_e164"}) == 1


def test_table_down_still_registers_unshared(h: Harness):
    def broken(*args: object, **kwargs: object) -> None:
        raise StoreError("put_item: timeout")

    h.store.claim = broken  # type: ignore[method-assign]
    h.call()
    h.answer("absent")
    h.answer("absent")
    assert h.value("mcn_gateway_mwd_registrations_confirmed_total") == 1
    assert h.value("mcn_gateway_mwd_store_errors_total", {"operation": "claim"}) == 1
    h.call()  # this instance remembers it for local_cache_s
    assert len(h.sent) == 2


def test_processor_routes_answers_and_sccp_returns_to_the_registrar(h: Harness):
    processor = SignallingProcessor(
        SignallingConfig(point_code=PLATFORM_PC, platform_gt=PLATFORM_GT),
        FirewallConfig(),
        h.metrics,
        transactions=h.transactions,
    )
    h.call()
    begin = h.sent[-1]
    unitdata = sccp.SccpDecoder().decode(begin.data)
    # the STP cannot translate the GT: it returns the UDT as a UDTS carrying our Begin
    ours, theirs = unitdata.calling.raw, unitdata.called.raw  # a UDTS goes back to the sender
    udts = bytes([sccp.UDTS, 1, 3, 3 + len(ours), 3 + len(ours) + len(theirs)])  # cause 1: no translation
    udts += bytes([len(ours)]) + ours + bytes([len(theirs)]) + theirs + bytes([len(unitdata.data)]) + unitdata.data
    returned = ProtocolData(opc=HLR_PC, dpc=PLATFORM_PC, si=m3ua.SI_SCCP, ni=2, mp=0, sls=0, data=udts)
    assert processor.handle(returned, 0.0).replies == []
    h.registrar.pump()
    assert (
        h.value("mcn_gateway_mwd_dialogues_total", {"operation": "sendRoutingInfoForSM", "outcome": "sccp_returned"})
        == 1
    )
    h.advance(1)
    assert len(h.sent) == 2  # retried

    # the HLR's End goes through the processor to the registrar
    answer = h.hlr.answer(h.dialogue(), "absent")
    udt = sccp.encode_udt(unitdata.calling.raw, sccp.encode_gt_address(HLR_GT, 6), answer)
    outcome = processor.handle(ProtocolData(opc=HLR_PC, dpc=PLATFORM_PC, si=3, ni=2, mp=0, sls=0, data=udt), 0.0)
    assert outcome.replies == [] and outcome.events == []
    h.registrar.pump()
    assert h.dialogue().opcode == 47


def test_continue_then_end_and_a_continue_carrying_the_answer(h: Harness):
    h.call()
    sri = h.dialogue()
    hlr_otid = b"\x99\x00\x00\x01"
    accepted = tcap.dialogue_response(sri.application_context)
    inform = {"storedMSISDN": sri.argument["msisdn"], "mw-Status": (0b010000, 6)}
    inform_component = (
        "basicROS",
        (
            "invoke",
            {
                "invokeId": ("present", 5),
                "opcode": ("local", 63),
                "argument": (("MAP-SM-DataTypes", "InformServiceCentreArg"), inform),
            },
        ),
    )
    # the HLR continues with informServiceCentre only: the gateway keeps waiting
    h.deliver(
        tcap.encode_message(
            (
                "continue",
                {"otid": hlr_otid, "dtid": sri.otid, "dialoguePortion": accepted, "components": [inform_component]},
            )
        )
    )
    assert len(h.sent) == 1 and len(h.transactions) == 1
    # ... then answers with a result in a Continue (MNRF was set: absent all the same); the gateway ends it
    result = (
        "basicROS",
        (
            "returnResult",
            {
                "invokeId": ("present", 1),
                "result": {
                    "opcode": ("local", 45),
                    "result": (
                        ("MAP-SM-DataTypes", "RoutingInfoForSM-Res"),
                        {
                            "imsi": bytes.fromhex("32140510999999f9"),
                            "locationInfoWithLMSI": {"networkNode-Number": b"\x91\x44\x77"},
                        },
                    ),
                },
            },
        ),
    )
    h.deliver(tcap.encode_message(("continue", {"otid": hlr_otid, "dtid": sri.otid, "components": [result]})))
    end, report = h.dialogue(1), h.dialogue(2)
    assert end.tcap == ("end", {"dtid": hlr_otid})
    assert end.sccp.called.global_title == HLR_GT  # to the HLR that continued, not re-translated on the MSISDN
    assert report.opcode == 47


def test_registration_config_is_validated():
    with pytest.raises(ValueError, match="dpc"):
        RegistrationConfig(enabled=True)
    from mcn_devkit.sigtran.local import loopback_config

    with pytest.raises(ValueError, match="unknown associations"):
        loopback_config(Path("/tmp"), registration={"enabled": True, "dpc": 1, "associations": ["nope"]})
