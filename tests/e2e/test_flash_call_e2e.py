"""Issue 15 end to end: missed calls (ISUP IAMs from an MSC written on pycrate, through a strict STP)
-> the gateway -> ingest -> the HLR's alertServiceCentre -> attach -> the notify flow from the deployed
ASL -> an SMS at the SMSC (node-smpp) for the withheld caller and one flash call per presentable caller
on the wire at the MSC -> the MSC answers ACM, the gateway releases after the ring time -> outcomes
through the gateway's spool to FlashCallOutcomesFunction -> on the fee record, once, and in the report.

Everything is the real thing on loopback: moto's server with template.yaml deployed (its SQS queue
too), the gateway's SQS long-poll consumer and ISUP origination, the pycrate MSC of
tests/integration/gateway (independent of the gateway's builders).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from notify_stack import SMSC_PASSWORD, NotifyStack, eventually

from mcn_devkit.ports import free_port
from mcn_devkit.sigtran.builders import HLR_PC, build_alert_service_centre, build_iam
from mcn_devkit.smsc import LocalSmsc
from mcn_gateway.protocol.isup import PRESENTATION_ALLOWED, PRESENTATION_RESTRICTED

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration" / "gateway"))
import pycrate_msc as msc
import pycrate_stp as stp

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

RC = 100
GATEWAY_PC, MSC_PC = 1001, 2001
SUBSCRIBER = "447911123456"
ALICE, BOB = "447400123457", "447400123459"  # the MSC's digits (international)
PER_CALL = 4


@pytest.fixture
def rig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[NotifyStack, msc.PycrateMsc, object]]:
    from mcn_gateway.app import GatewayThread
    from mcn_gateway.config import GatewayConfig

    with LocalSmsc(system_id="mcn", password=SMSC_PASSWORD) as smsc:
        stack, flow = NotifyStack.start(smsc)
        try:
            config = flow.set_config()
            flow.set_config(on_behalf="call", tariff={**config["tariff"], "fee_minor_per_call": PER_CALL})
            for name, value in stack.env.items():  # the gateway's SDK clients talk to the embedded AWS
                monkeypatch.setenv(name, value)
            local_port = free_port()
            with stp.PycrateStp(asp_address=("127.0.0.1", local_port)) as peer:
                gateway_config = GatewayConfig.model_validate(
                    {
                        "signalling": {"point_code": GATEWAY_PC, "platform_gt": "447700900000"},
                        "firewall": {"allowed_opcodes": [64, 49], "allowed_calling_gt_prefixes": ["447700"]},
                        "associations": [
                            {
                                "name": "stp",
                                "role": "client",
                                "host": "127.0.0.1",
                                "port": peer.port,
                                "transport": "tcp",
                                "local_host": "127.0.0.1",
                                "local_port": local_port,
                                "routing_contexts": [RC],
                                "reconnect_initial_s": 0.05,
                            }
                        ],
                        "forwarding": {
                            "ingest_target": f"lambda:{stack.function_name('IngestFunction')}",
                            "attach_target": f"lambda:{stack.function_name('AttachFunction')}",
                            "outcome_target": f"lambda:{stack.function_name('FlashCallOutcomesFunction')}",
                            "endpoint_url": stack.lambda_endpoint,
                            "region": stack.region,
                            "spool_path": str(tmp_path / "spool.sqlite3"),
                            "batch_max_wait_s": 0.05,
                            "retry_initial_s": 0.05,
                        },
                        "http": {"host": "127.0.0.1", "port": 0},
                        "origination": {
                            "queue_url": stack.resource_name("OriginationQueue"),  # the template's queue
                            "endpoint_url": stack.aws_endpoint,
                            "region": stack.region,
                            "dpc": MSC_PC,
                            "cic_first": 101,
                            "cic_last": 104,
                            "ring_time_s": 0.5,
                            "t7_s": 20,
                            "wait_time_s": 1,
                        },
                    }
                )
                gateway = GatewayThread(gateway_config).start()
                try:
                    peer.wait_active(timeout=60)
                    the_msc = msc.PycrateMsc(peer, MSC_PC, GATEWAY_PC, RC)
                    grs = the_msc.expect(msc.GRS)
                    the_msc.send(msc.gra(grs.cic, grs.range_status()[0]))
                    yield flow, the_msc, gateway
                finally:
                    gateway.stop()
        finally:
            stack.stop()


def test_missed_calls_to_sms_and_flash_calls_on_the_wire_to_outcomes_on_the_fee_record(rig) -> None:
    flow, the_msc, gateway = rig
    subscriber = "+" + SUBSCRIBER
    # The subscriber is switched off: the MSC forwards three calls (Alice twice, one withheld, Bob).
    calls = [(1, ALICE), (2, None), (3, ALICE), (4, BOB)]
    for cic, caller in calls:
        presentation = PRESENTATION_ALLOWED if caller else PRESENTATION_RESTRICTED
        iam = build_iam(cic, subscriber=SUBSCRIBER, caller=caller or "447400123458", caller_presentation=presentation)
        the_msc.send(iam, sls=cic)
        assert the_msc.expect(msc.REL, cic=cic).cause() == 20  # released: subscriber absent
        the_msc.send(msc.rlc(cic))
    eventually(lambda: len(flow.pending(subscriber)) == 4, timeout=60)

    # The subscriber attaches: the HLR's alertServiceCentre, through the STP.
    the_msc.peer.send(stp.data(HLR_PC, GATEWAY_PC, 3, build_alert_service_centre(subscriber=SUBSCRIBER), RC))

    # One flash call per presentable caller reaches the MSC: IAM with A presented to B.
    placed = {}
    for _ in range(2):
        iam = the_msc.expect(msc.IAM, timeout=120)  # the whole notify flow runs first
        assert 101 <= iam.cic <= 104
        calling = iam.message["Opt"]["CallingPartyNum"][2]
        called = iam.message["CalledPartyNum"][1]
        assert calling["AddrPresInd"].get_val() == 0  # presentation allowed
        assert calling["ScreeningInd"].get_val() == 3  # network provided
        assert called.get_num() == SUBSCRIBER
        placed[calling.get_num()] = iam
    assert set(placed) == {ALICE, BOB}  # never the withheld caller
    # Alice's phone rings (ACM, subscriber free): released after the ring time with cause 16.
    # Bob's exchange says busy.
    the_msc.send(msc.acm(placed[ALICE].cic))
    assert the_msc.expect(msc.REL, cic=placed[ALICE].cic).cause() == 16
    the_msc.send(msc.rlc(placed[ALICE].cic))
    the_msc.send(msc.rel(placed[BOB].cic, 17))
    the_msc.expect(msc.RLC, cic=placed[BOB].cic)

    # The SMS lists the withheld caller only; the outcomes land on the notice's one fee record.
    def settled() -> dict | None:
        fees = flow.fees(subscriber)
        return fees[0] if len(fees) == 1 and fees[0].get("calls_placed", {}).get("N") == "2" else None

    fee = eventually(settled, timeout=60)
    (sms,) = flow.sms_to(subscriber)
    assert "Private number" in sms.text and ALICE not in sms.text
    assert (fee["calls_requested"]["N"], fee["calls_alerted"]["N"], fee["call_fee_minor"]["N"]) == ("2", "1", "4")
    outcomes = {entry.split(" ")[1] for entry in fee["flash_call_outcomes"]["SS"]}
    assert outcomes == {"alerted_released", "busy"}
    assert flow.pending(subscriber) == []
    # Nothing left on the queue; no second call on the wire.
    the_msc.expect_nothing(msc.IAM, within=2)
    assert gateway.metrics.value("mcn_gateway_flash_calls_total", {"outcome": "alerted_released"}) == 1
