"""Flash calls end to end at the edge: requests on an SQS queue (moto's server), the gateway's ISUP on a real
M3UA association through a strict STP, and an MSC written directly on pycrate (pycrate_msc.py) that checks
the IAM byte by byte and plays each answer; outcomes land in a file target, one per request."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pycrate_msc as msc
import pycrate_stp as stp
import pytest

from mcn_devkit.ports import free_port
from mcn_devkit.sigtran.local import read_jsonl, wait_for
from mcn_gateway.app import GatewayThread
from mcn_gateway.config import GatewayConfig

pytestmark = pytest.mark.integration

RC = 100
GATEWAY_PC = 1001
MSC_PC = 2001  # higher than the gateway's: the MSC controls the even CICs, the gateway the odd ones
CALLER = "+447700900123"
SUBSCRIBER = "+447911123456"
REGION = "eu-west-1"  # as the sqs fixture (conftest.py)


class Rig:
    def __init__(self, tmp_path: Path, sqs, sqs_endpoint: str, **origination: object) -> None:
        self.tmp_path = tmp_path
        self.sqs = sqs
        self.queue_url = sqs.create_queue(QueueName=f"origination-{uuid.uuid4().hex[:8]}")["QueueUrl"]
        self.outcomes_path = tmp_path / "outcomes.jsonl"
        local_port = free_port()
        self.stp = stp.PycrateStp(asp_address=("127.0.0.1", local_port))
        self.msc = msc.PycrateMsc(self.stp, MSC_PC, GATEWAY_PC, RC)
        settings = {
            "queue_url": self.queue_url,
            "endpoint_url": sqs_endpoint,
            "region": REGION,
            "dpc": MSC_PC,
            "cic_first": 1,
            "cic_last": 4,
            "ring_time_s": 0.5,
            "t7_s": 3,
            "t1_s": 1,
            "t5_s": 30,
            "t22_s": 2,
            "wait_time_s": 1,
            **origination,
        }
        self.config = GatewayConfig.model_validate(
            {
                "signalling": {"point_code": GATEWAY_PC, "platform_gt": "447700900000", "platform_numbers": []},
                "associations": [
                    {
                        "name": "stp",
                        "role": "client",
                        "host": "127.0.0.1",
                        "port": self.stp.port,
                        "transport": "tcp",
                        "local_host": "127.0.0.1",
                        "local_port": local_port,
                        "routing_contexts": [RC],
                        "heartbeat_interval_s": 5,
                        "reconnect_initial_s": 0.05,
                        "reconnect_max_s": 0.4,
                    }
                ],
                "forwarding": {
                    "ingest_target": f"file:{tmp_path / 'missed_calls.jsonl'}",
                    "attach_target": f"file:{tmp_path / 'attach.jsonl'}",
                    "outcome_target": f"file:{self.outcomes_path}",
                    "spool_path": str(tmp_path / "spool.sqlite3"),
                    "batch_max_wait_s": 0.05,
                    "retry_initial_s": 0.05,
                },
                "http": {"host": "127.0.0.1", "port": 0},
                "origination": settings,
            }
        )
        self.gateway = GatewayThread(self.config)

    def start(self, answer_grs: bool = True) -> Rig:
        self.gateway.start()
        self.stp.wait_active(timeout=60)
        if answer_grs:
            origination = self.config.origination
            assert origination is not None
            count = origination.cic_last - origination.cic_first + 1
            grs = self.msc.expect(msc.GRS)
            assert (grs.cic, grs.range_status()[0]) == (origination.cic_first, count)  # the whole range, at start
            self.msc.send(msc.gra(grs.cic, count))
            wait_for(
                lambda: self.gateway.metrics.value("mcn_gateway_circuits", {"state": "idle"}) == count, "circuits idle"
            )
        return self

    def close(self) -> None:
        self.gateway.stop()
        self.stp.close()

    def request(self, n: int = 1, caller: str = CALLER, subscriber: str = SUBSCRIBER, **fields: object) -> str:
        now = datetime.now(UTC)
        body = {
            "request_id": f"notice-{n}#1",
            "notification_id": f"notice-{n}",
            "subscriber": subscriber,
            "caller": caller,
            "requested_at": now.isoformat(),
            "not_after": (now + timedelta(minutes=10)).isoformat(),
            **fields,
        }
        self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=json.dumps(body))
        return str(body["request_id"])

    def outcomes(self) -> list[dict]:
        return read_jsonl(self.outcomes_path)

    def outcome(self, request_id: str) -> dict:
        return wait_for(
            lambda: next((o for o in self.outcomes() if o["request_id"] == request_id), None), f"outcome {request_id}"
        )

    def queue_empty(self) -> bool:
        attributes = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["All"])["Attributes"]
        return (
            attributes["ApproximateNumberOfMessages"] == "0"
            and attributes["ApproximateNumberOfMessagesNotVisible"] == "0"
        )


@pytest.fixture
def rig_factory(tmp_path: Path, sqs, sqs_endpoint: str) -> Iterator:
    rigs: list[Rig] = []

    def make(**origination: object) -> Rig:
        rig = Rig(tmp_path, sqs, sqs_endpoint, **origination)
        rigs.append(rig)
        return rig

    yield make
    for rig in rigs:
        rig.close()


def test_iam_fields_byte_level_then_alerting_ring_time_and_rel_16(rig_factory):
    rig = rig_factory().start()
    request_id = rig.request()
    iam = rig.msc.expect(msc.IAM)
    assert (iam.opc, iam.dpc, iam.cic) == (GATEWAY_PC, MSC_PC, 1)  # an odd CIC: the gateway controls it
    message = iam.message
    assert message["NatureConnectionInd"].to_bytes() == b"\x00"  # no satellite, no continuity check, no echo
    forward = message["ForwardCallInd"]
    assert forward["ISDNUserPartInd"].get_val() == 1 and forward["InternatCallInd"].get_val() == 0
    assert message["CallingPartyCat"].get_val() == 10  # ordinary calling subscriber
    assert message["TransmissionMediumReq"].get_val() == 0  # speech
    called = message["CalledPartyNum"][1]
    assert (called["NAI"].get_val(), called["NumPlan"].get_val(), called["Num"].decode()) == (4, 1, SUBSCRIBER[1:])
    calling = message["Opt"]["CallingPartyNum"]
    assert not calling.get_trans()
    calling = calling[2]
    assert calling["Num"].decode().rstrip("0") == CALLER[1:].rstrip("0")  # odd length: filler 0
    assert calling["OE"].get_val() == len(CALLER[1:]) % 2
    assert (calling["NAI"].get_val(), calling["NumPlan"].get_val(), calling["NI"].get_val()) == (4, 1, 0)
    assert calling["AddrPresInd"].get_val() == 0  # presentation allowed
    assert calling["ScreeningInd"].get_val() == 3  # network provided
    # the raw bytes, as Q.763 lays them out
    assert iam.raw[:8] == bytes([1, 0, 0x01, 0x00, 0x20, 0x00, 0x0A, 0x00])
    sent = time.monotonic()
    rig.msc.send(msc.acm(1, subscriber_free=True))
    rel = rig.msc.expect(msc.REL, cic=1)
    assert rel.cause() == 16
    assert rel.at - sent >= 0.5 * 0.9  # not before the ring time (the clock is the STP's receive time)
    rig.msc.send(msc.rlc(1))
    outcome = rig.outcome(request_id)
    assert outcome["outcome"] == "alerted_released" and outcome["cic"] == 1 and outcome["cause"] == 16
    assert outcome["alerted_at"] and outcome["placed_at"] and outcome["notification_id"] == "notice-1"
    wait_for(rig.queue_empty, "the request deleted from the queue")
    wait_for(lambda: rig.gateway.metrics.value("mcn_gateway_circuits", {"state": "idle"}) == 4, "circuit idle again")
    assert rig.gateway.metrics.value("mcn_gateway_flash_calls_total", {"outcome": "alerted_released"}) == 1


def test_cpg_alerting_after_acm_without_it(rig_factory):
    rig = rig_factory().start()
    request_id = rig.request()
    iam = rig.msc.expect(msc.IAM)
    rig.msc.send(msc.acm(iam.cic, subscriber_free=False))
    rig.msc.send(msc.cpg(iam.cic, event=1))
    assert rig.msc.expect(msc.REL, cic=iam.cic).cause() == 16
    rig.msc.send(msc.rlc(iam.cic))
    assert rig.outcome(request_id)["outcome"] == "alerted_released"


def test_answer_is_released_at_once(rig_factory):
    rig = rig_factory(ring_time_s=25, t7_s=25).start()
    request_id = rig.request()
    iam = rig.msc.expect(msc.IAM)
    rig.msc.send(msc.acm(iam.cic))
    rig.msc.send(msc.anm(iam.cic))
    rel = rig.msc.expect(msc.REL, cic=iam.cic, timeout=20)  # long before the 25 s ring time: it is the ANM
    assert rel.cause() == 16
    rig.msc.send(msc.rlc(iam.cic))
    assert rig.outcome(request_id)["outcome"] == "answered_released"


def test_silence_is_released_at_t7_and_an_unanswered_rel_is_repeated(rig_factory):
    rig = rig_factory(t7_s=1.5, t1_s=0.5).start()
    request_id = rig.request()
    iam = rig.msc.expect(msc.IAM)
    first = rig.msc.expect(msc.REL, cic=iam.cic)
    assert first.cause() == 102  # recovery on timer expiry
    assert first.at - iam.at >= 1.5 * 0.9
    assert rig.outcome(request_id)["outcome"] == "no_answer"
    again = rig.msc.expect(msc.REL, cic=iam.cic)  # T1: no RLC yet, REL again
    assert again.cause() == 102
    rig.msc.send(msc.rlc(iam.cic))
    wait_for(lambda: rig.gateway.metrics.value("mcn_gateway_circuits", {"state": "idle"}) == 4, "circuit idle again")


@pytest.mark.parametrize(("cause", "outcome"), [(17, "busy"), (20, "absent")])
def test_release_by_the_exchange_is_confirmed_and_its_cause_recorded(rig_factory, cause, outcome):
    rig = rig_factory().start()
    request_id = rig.request()
    iam = rig.msc.expect(msc.IAM)
    rig.msc.send(msc.rel(iam.cic, cause))
    rig.msc.expect(msc.RLC, cic=iam.cic)
    recorded = rig.outcome(request_id)
    assert (recorded["outcome"], recorded["cause"], recorded["alerted_at"]) == (outcome, cause, None)
    wait_for(rig.queue_empty, "the request deleted from the queue")


def test_two_calls_in_parallel_on_different_cics(rig_factory):
    rig = rig_factory(ring_time_s=1).start()
    first, second = rig.request(1), rig.request(2, subscriber="+447911654321")
    iams = [rig.msc.expect(msc.IAM), rig.msc.expect(msc.IAM)]
    assert sorted(i.cic for i in iams) == [1, 3]  # both circuits the gateway controls
    for iam in iams:
        rig.msc.send(msc.acm(iam.cic))
    for iam in iams:
        rig.msc.expect(msc.REL, cic=iam.cic)
        rig.msc.send(msc.rlc(iam.cic))
    assert {rig.outcome(first)["cic"], rig.outcome(second)["cic"]} == {1, 3}


def test_circuit_reset_and_blocking_from_the_exchange(rig_factory):
    rig = rig_factory().start()
    rig.msc.send(msc.simple(msc.RSC, 2))
    rig.msc.expect(msc.RLC, cic=2)
    rig.msc.send(msc.grs(1, 4))
    gra = rig.msc.expect(msc.GRA, cic=1)
    assert gra.range_status() == (4, b"\x00")  # nothing blocked at the gateway's end
    rig.msc.send(msc.simple(msc.BLO, 1))
    rig.msc.expect(msc.BLA, cic=1)
    rig.msc.send(msc.group_blocking(msc.CGB, 2, [True, True]))  # 2 and 3
    cgba = rig.msc.expect(msc.CGBA, cic=2)
    assert cgba.range_status() == (2, b"\x03")
    wait_for(lambda: rig.gateway.metrics.value("mcn_gateway_circuits", {"state": "remotely_blocked"}) == 3, "blocked")
    request_id = rig.request()
    iam = rig.msc.expect(msc.IAM)
    assert iam.cic == 4  # the only circuit not blocked
    rig.msc.send(msc.rel(iam.cic, 17))
    rig.msc.expect(msc.RLC, cic=4)
    rig.outcome(request_id)
    rig.msc.send(msc.simple(msc.UBL, 1))
    rig.msc.expect(msc.UBA, cic=1)
    rig.msc.send(msc.group_blocking(msc.CGU, 2, [True, True]))
    rig.msc.expect(msc.CGUA, cic=2)
    wait_for(lambda: rig.gateway.metrics.value("mcn_gateway_circuits", {"state": "idle"}) == 4, "unblocked")


def test_a_call_under_way_ends_when_the_exchange_resets_its_circuit(rig_factory):
    rig = rig_factory(ring_time_s=20).start()
    request_id = rig.request()
    iam = rig.msc.expect(msc.IAM)
    rig.msc.send(msc.simple(msc.RSC, iam.cic))
    rig.msc.expect(msc.RLC, cic=iam.cic)
    recorded = rig.outcome(request_id)
    assert recorded["outcome"] == "failed" and "reset" in recorded["reason"]


def test_dual_seizure_on_a_circuit_the_gateway_controls(rig_factory):
    rig = rig_factory(cic_first=1, cic_last=1).start()
    request_id = rig.request()
    iam = rig.msc.expect(msc.IAM)
    assert iam.cic == 1  # odd: the gateway's
    rig.msc.send(stp.iam(1, "447700999000"))  # the MSC seizes the same circuit for a call of its own
    rig.msc.expect_nothing(msc.REL, within=1.0)  # the gateway ignores it: the MSC must back off
    rig.msc.send(msc.acm(1))
    assert rig.msc.expect(msc.REL, cic=1).cause() == 16
    rig.msc.send(msc.rlc(1))
    assert rig.outcome(request_id)["outcome"] == "alerted_released"


def test_dual_seizure_on_a_circuit_the_exchange_controls(rig_factory):
    rig = rig_factory(cic_first=2, cic_last=3).start()
    first = rig.request(1)
    assert rig.msc.expect(msc.IAM).cic == 3  # odd first
    second = rig.request(2)
    iam = rig.msc.expect(msc.IAM)
    assert iam.cic == 2  # even: the MSC's
    rig.msc.send(stp.iam(2, "447700999000"))  # dual seizure: the MSC controls cic 2
    # the gateway backs off: it treats the MSC's IAM as an incoming call (released, cause 31: not diverted)
    rel = rig.msc.expect(msc.REL, cic=2)
    assert rel.cause() == 31
    recorded = rig.outcome(second)  # no circuit left for the repeat attempt
    assert recorded["outcome"] == "failed" and "dual seizure" in recorded["reason"]
    rig.msc.send(msc.rlc(2))
    rig.msc.send(msc.rel(3, 17))
    rig.msc.expect(msc.RLC, cic=3)
    assert rig.outcome(first)["outcome"] == "busy"


def test_duplicates_place_one_call_and_a_stale_request_none(rig_factory):
    rig = rig_factory(ring_time_s=1).start()
    request_id = rig.request(1)
    rig.request(1)  # the same request delivered twice
    iam = rig.msc.expect(msc.IAM)
    rig.msc.send(msc.acm(iam.cic))
    rig.msc.expect(msc.REL, cic=iam.cic)
    rig.msc.send(msc.rlc(iam.cic))
    rig.outcome(request_id)
    stale = rig.request(2, not_after=(datetime.now(UTC) - timedelta(seconds=1)).isoformat())
    assert rig.outcome(stale)["outcome"] == "expired"
    withheld = rig.request(3, caller="withheld")
    recorded = rig.outcome(withheld)
    assert recorded["outcome"] == "failed" and "withheld" in recorded["reason"]
    rig.request(1)  # again, after its outcome
    wait_for(rig.queue_empty, "every message deleted")
    rig.msc.expect_nothing(msc.IAM, within=1.0)
    assert [o["request_id"] for o in rig.outcomes()].count(request_id) == 1
    assert rig.gateway.metrics.value("mcn_gateway_origination_requests_rejected_total", {"reason": "duplicate"}) == 2


def test_the_devkit_msc_on_a_server_association_sees_each_flash_call(tmp_path: Path, sqs, sqs_endpoint: str):
    """The demo's shape: the MSC connects to the gateway (server association "msc"); the gateway places its
    calls on that association; `mcn_devkit.sigtran.msc.ScriptedMsc` answers per called number."""
    from mcn_devkit.sigtran import ScriptedPeer
    from mcn_devkit.sigtran.builders import MSC_PC as DEVKIT_MSC_PC
    from mcn_devkit.sigtran.builders import ROUTING_CONTEXT
    from mcn_devkit.sigtran.local import loopback_config
    from mcn_devkit.sigtran.msc import ScriptedMsc

    queue_url = sqs.create_queue(QueueName=f"origination-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    outcomes_path = tmp_path / "outcomes.jsonl"
    base = loopback_config(tmp_path).model_dump()
    config = GatewayConfig.model_validate(
        {
            **base,
            "forwarding": {**base["forwarding"], "outcome_target": f"file:{outcomes_path}"},
            "origination": {
                "queue_url": queue_url,
                "endpoint_url": sqs_endpoint,
                "region": REGION,
                "dpc": DEVKIT_MSC_PC,
                "cic_first": 100,
                "cic_last": 101,
                "ring_time_s": 0.3,
                "wait_time_s": 1,
            },
        }
    )
    with GatewayThread(config) as gateway:
        peer = ScriptedPeer.connect("127.0.0.1", gateway.association_port("msc"))
        peer.bring_up(routing_context=ROUTING_CONTEXT)
        with ScriptedMsc(peer, behaviour={"447911000002": "busy"}, point_code=DEVKIT_MSC_PC) as scripted:
            wait_for(lambda: gateway.metrics.value("mcn_gateway_circuits", {"state": "idle"}) == 2, "GRS answered")
            now = datetime.now(UTC)
            for n, subscriber in enumerate(["+447911000001", "+447911000002"], start=1):
                body = {
                    "request_id": f"demo-{n}#1",
                    "notification_id": f"demo-{n}",
                    "subscriber": subscriber,
                    "caller": CALLER,
                    "requested_at": now.isoformat(),
                    "not_after": (now + timedelta(minutes=5)).isoformat(),
                }
                sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(body))
            wait_for(lambda: len(read_jsonl(outcomes_path)) == 2, "two outcomes")
            wait_for(lambda: len(scripted.released()) == 2, "both calls released")
            assert scripted.errors == []
        peer.close()
    by_number = {call.called: call for call in scripted.calls}
    alerted = by_number["447911000001"]
    assert (alerted.calling, alerted.presentation, alerted.screening) == (CALLER[1:], 0, 3)
    assert (alerted.released_by, alerted.release_cause) == ("gateway", 16)
    assert (by_number["447911000002"].released_by, by_number["447911000002"].release_cause) == ("msc", 17)
    assert "calling 447700900123 (presentation allowed, screening network provided)" in alerted.describe()
    outcomes = {o["request_id"]: o["outcome"] for o in read_jsonl(outcomes_path)}
    assert outcomes == {"demo-1#1": "alerted_released", "demo-2#1": "busy"}


def test_the_missed_call_path_keeps_its_own_cics_during_a_flash_call(rig_factory):
    rig = rig_factory(ring_time_s=20).start()
    request_id = rig.request()
    iam = rig.msc.expect(msc.IAM)
    # a call forwarded to the platform on a CIC outside the trunk's range, from the same MSC
    rig.msc.send(stp.iam(50, "447700999000", original_called="447911999888", redirecting_reason=6))
    assert rig.msc.expect(msc.REL, cic=50).cause() == 20  # released as a missed call, never answered
    missed = wait_for(lambda: read_jsonl(rig.tmp_path / "missed_calls.jsonl"), "the missed call forwarded")
    assert [m["subscriber"] for m in missed] == ["+447911999888"]
    rig.msc.send(msc.rlc(50))
    rig.msc.send(msc.anm(iam.cic))  # the flash call, untouched meanwhile
    rig.msc.expect(msc.REL, cic=iam.cic)
    assert rig.outcome(request_id)["outcome"] == "answered_released"


@pytest.mark.parametrize("blocking", ["BLO", "CGB"])
def test_a_circuit_blocked_before_the_acm_repeats_the_attempt_on_another(rig_factory, blocking):
    """Q.764 2.8.2.1: the MSC blocks the circuit of our IAM before any backward message: BLA (CGBA), the attempt
    released there and repeated on another circuit, where the call goes on as any other."""
    rig = rig_factory(ring_time_s=1).start()
    request_id = rig.request()
    first = rig.msc.expect(msc.IAM)
    if blocking == "BLO":
        rig.msc.send(msc.simple(msc.BLO, first.cic))
        rig.msc.expect(msc.BLA, cic=first.cic)
    else:
        rig.msc.send(msc.group_blocking(msc.CGB, first.cic, [True]))
        rig.msc.expect(msc.CGBA, cic=first.cic)
    assert rig.msc.expect(msc.REL, cic=first.cic).cause() == 41
    repeat = rig.msc.expect(msc.IAM)
    assert repeat.cic != first.cic
    rig.msc.send(msc.rlc(first.cic))
    rig.msc.send(msc.acm(repeat.cic))
    assert rig.msc.expect(msc.REL, cic=repeat.cic).cause() == 16  # rang for the ring time
    rig.msc.send(msc.rlc(repeat.cic))
    recorded = rig.outcome(request_id)
    assert (recorded["outcome"], recorded["cic"]) == ("alerted_released", repeat.cic)
    wait_for(lambda: rig.gateway.metrics.value("mcn_gateway_circuits", {"state": "remotely_blocked"}) == 1, "held")


def test_a_circuit_blocked_after_the_acm_keeps_its_call(rig_factory):
    rig = rig_factory(ring_time_s=1).start()
    request_id = rig.request()
    iam = rig.msc.expect(msc.IAM)
    rig.msc.send(msc.acm(iam.cic))
    rig.msc.send(msc.simple(msc.BLO, iam.cic))
    rig.msc.expect(msc.BLA, cic=iam.cic)
    assert rig.msc.expect(msc.REL, cic=iam.cic).cause() == 16  # the call went on to its ring time
    rig.msc.send(msc.rlc(iam.cic))
    assert rig.outcome(request_id)["outcome"] == "alerted_released"
    rig.msc.expect_nothing(msc.IAM, within=1.0)  # no second attempt
