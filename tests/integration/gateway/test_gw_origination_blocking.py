"""Local blocking of the flash-call trunk, end to end: the operator's `mcn-gateway circuits` command against the
running gateway's control endpoint, the BLO/CGB/UBL/CGU an MSC written directly on pycrate (pycrate_msc.py)
receives and acknowledges through the strict pycrate STP, calls that avoid blocked circuits, resets that keep
the block, and the trunk reset again when the route to the MSC returns."""

from __future__ import annotations

import argparse
import io
import json
import time

import pycrate_msc as msc
import pycrate_stp as stp
import pytest
from test_gw_origination import MSC_PC, Rig, rig_factory  # noqa: F401 (the fixture)

from mcn_devkit.sigtran.local import wait_for
from mcn_gateway.circuit_cli import run_circuits

pytestmark = pytest.mark.integration


def circuits(rig: Rig, action: str, cic: str | None = None, wait: float = 0.0) -> tuple[int, list[dict]]:
    """`mcn-gateway circuits ACTION --cic CIC --json` against the rig's running gateway."""
    config = rig.config.model_copy(update={"http": rig.config.http.model_copy(update={"port": rig.gateway.http_port})})
    out = io.StringIO()
    status = run_circuits(argparse.Namespace(action=action, cic=cic, wait=wait, json=True), config, out)
    return status, json.loads(out.getvalue()) if status == 0 else []


def state_count(rig: Rig, state: str) -> float:
    return rig.gateway.metrics.value("mcn_gateway_circuits", {"state": state})


def place_and_release(rig: Rig, n: int) -> int:
    """One flash call, busy at once: the CIC it was placed on."""
    request_id = rig.request(n)
    iam = rig.msc.expect(msc.IAM)
    rig.msc.send(msc.rel(iam.cic, 17))
    rig.msc.expect(msc.RLC, cic=iam.cic)
    rig.outcome(request_id)
    return iam.cic


def test_a_blocked_cic_gets_blo_takes_no_call_and_returns_to_service_with_ubl(rig_factory):  # noqa: F811
    rig = rig_factory().start()
    status, shown = circuits(rig, "block", "1")
    assert status == 0 and shown[0]["cic"] == 1 and shown[0]["locally_blocked"]
    blo = rig.msc.expect(msc.BLO)
    assert (blo.opc, blo.dpc, blo.cic) == (1001, MSC_PC, 1)  # the CIC the operator named, to the MSC
    rig.msc.acknowledge(blo)
    wait_for(lambda: circuits(rig, "show", "1")[1][0]["awaiting"] is None, "BLA taken")
    assert state_count(rig, "locally_blocked") == 1
    assert rig.gateway.metrics.value("mcn_gateway_circuit_blocking_unacknowledged") == 0
    used = [place_and_release(rig, n) for n in range(1, 4)]
    assert 1 not in used and used[0] == 3  # the next circuit the gateway controls

    status, _ = circuits(rig, "unblock", "1")
    assert status == 0
    ubl = rig.msc.expect(msc.UBL, cic=1)
    rig.msc.acknowledge(ubl)
    wait_for(lambda: state_count(rig, "idle") == 4, "unblocked")
    assert place_and_release(rig, 4) == 1  # in service again


def test_an_unacknowledged_blo_is_repeated_at_t12_and_alerted_at_t13(rig_factory):  # noqa: F811
    rig = rig_factory(t12_s=0.5, t13_s=2.5).start()
    asked = time.monotonic()
    circuits(rig, "block", "2")
    rig.msc.expect(msc.BLO, cic=2)
    again = rig.msc.expect(msc.BLO, cic=2)  # the MSC stays silent
    assert again.at - asked >= 0.5  # not before T12
    wait_for(
        lambda: rig.gateway.metrics.value("mcn_gateway_circuit_maintenance_alerts_total", {"timer": "t13"}) == 1,
        "T13 alert",
    )
    assert rig.gateway.metrics.value("mcn_gateway_circuit_blocking_unacknowledged") == 1
    assert circuits(rig, "show", "2")[1][0]["awaiting"] == "BLA"
    blo = rig.msc.expect(msc.BLO, cic=2)  # still repeated, now every T13
    rig.msc.acknowledge(blo)
    wait_for(lambda: rig.gateway.metrics.value("mcn_gateway_circuit_blocking_unacknowledged") == 0, "BLA")


def test_a_range_block_is_one_cgb_with_its_bitmap_and_gra_then_carries_the_blocks(rig_factory):  # noqa: F811
    rig = rig_factory().start()
    status, shown = circuits(rig, "block", "2-4")
    assert status == 0 and [c["cic"] for c in shown] == [2, 3, 4]
    cgb = rig.msc.expect(msc.CGB)
    assert cgb.cic == 2 and rig.msc.group_flags(cgb) == [True, True, True]
    assert cgb.raw[3:] == bytes([0x00, 0x01, 0x02, 0x02, 0x07])  # maintenance; range 2, status 0000 0111
    rig.msc.acknowledge(cgb)
    wait_for(lambda: state_count(rig, "locally_blocked") == 3, "blocked")
    wait_for(lambda: rig.gateway.metrics.value("mcn_gateway_circuit_blocking_unacknowledged") == 0, "CGBA")
    assert place_and_release(rig, 1) == 1  # the only circuit left

    rig.msc.send(msc.grs(1, 4))  # the MSC resets the range: the GRA tells it what the gateway blocks
    gra = rig.msc.expect(msc.GRA, cic=1)
    assert rig.msc.group_flags(gra) == [False, True, True, True]
    assert state_count(rig, "locally_blocked") == 3  # a reset does not clear local blocking
    status, _ = circuits(rig, "unblock", "2-4")
    cgu = rig.msc.expect(msc.CGU, cic=2)
    assert rig.msc.group_flags(cgu) == [True, True, True]
    rig.msc.acknowledge(cgu)
    wait_for(lambda: state_count(rig, "idle") == 4, "unblocked")


def test_rsc_on_a_blocked_cic_is_answered_with_blo_and_rlc(rig_factory):  # noqa: F811
    rig = rig_factory().start()
    circuits(rig, "block", "3")
    rig.msc.acknowledge(rig.msc.expect(msc.BLO, cic=3))
    wait_for(lambda: rig.gateway.metrics.value("mcn_gateway_circuit_blocking_unacknowledged") == 0, "BLA")
    seen = len(rig.msc.received)
    rig.msc.send(msc.simple(msc.RSC, 3))
    rig.msc.expect(msc.RLC, cic=3)
    answers = [(m.type, m.cic) for m in rig.msc.received[seen:]]
    assert answers == [(msc.BLO, 3), (msc.RLC, 3)]  # Q.764 2.9.3.1 iii: the block first, then the RLC
    rig.msc.send(msc.simple(msc.BLA, 3))
    wait_for(lambda: rig.gateway.metrics.value("mcn_gateway_circuit_blocking_unacknowledged") == 0, "BLA")
    assert state_count(rig, "locally_blocked") == 1


def test_with_every_circuit_blocked_requests_wait_on_the_queue(rig_factory):  # noqa: F811
    rig = rig_factory(cic_first=1, cic_last=2).start()
    circuits(rig, "block", "1-2")
    rig.msc.acknowledge(rig.msc.expect(msc.CGB, cic=1))
    wait_for(lambda: state_count(rig, "locally_blocked") == 2, "blocked")
    origination = rig.gateway.gateway.origination
    assert origination is not None
    wait_for(lambda: not origination.polling, "the long poll begun before the block over")
    polls = origination.polls
    request_id = rig.request(1)
    rig.msc.expect_nothing(msc.IAM, within=2.0)
    assert origination.polls == polls  # no long poll without a free circuit: the request stays on the queue
    assert not rig.queue_empty() and rig.outcomes() == []
    circuits(rig, "unblock", "2")
    rig.msc.acknowledge(rig.msc.expect(msc.UBL, cic=2))
    iam = rig.msc.expect(msc.IAM)
    assert iam.cic == 2
    rig.msc.send(msc.rel(2, 17))
    assert rig.outcome(request_id)["outcome"] == "busy"


def test_operator_errors_are_clear(rig_factory, capsys):  # noqa: F811
    rig = rig_factory().start()
    assert circuits(rig, "block", "7")[0] == 2
    assert "outside the trunk's range 1-4" in capsys.readouterr().err
    assert circuits(rig, "block", "3-x")[0] == 2
    assert "expected a circuit number" in capsys.readouterr().err
    assert circuits(rig, "block")[0] == 2
    rig.msc.expect_nothing(msc.BLO, within=0.5)


def test_the_route_to_the_msc_lost_and_back_resets_the_range_and_holds_calls_until_gra(rig_factory):  # noqa: F811
    rig = rig_factory().start()
    circuits(rig, "block", "4")
    rig.msc.acknowledge(rig.msc.expect(msc.BLO, cic=4))
    rig.stp.send(stp.duna([MSC_PC]))  # the STP: the MSC is unreachable
    wait_for(lambda: not rig.gateway.gateway.origination.describe()["trunk_reachable"], "route lost")
    rig.stp.send(stp.dava([MSC_PC]))
    grs = rig.msc.expect(msc.GRS)
    assert (grs.cic, grs.range_status()[0]) == (1, 4)
    request_id = rig.request(1)
    rig.msc.expect_nothing(msc.IAM, within=1.5)  # held until the GRA
    rig.msc.send(msc.gra(1, 4))
    blo = rig.msc.expect(msc.BLO, cic=4)  # the reset cleared the block at the MSC: told again
    rig.msc.acknowledge(blo)
    iam = rig.msc.expect(msc.IAM)
    assert iam.cic != 4
    rig.msc.send(msc.rel(iam.cic, 17))
    assert rig.outcome(request_id)["outcome"] == "busy"

    rig.stp.drop()  # the association itself goes, and comes back (the gateway reconnects)
    for _ in range(3):  # the end of the dropped connection may come first
        try:
            rig.stp.wait_active(timeout=60)
            break
        except ConnectionError:
            continue
    grs = rig.msc.expect(msc.GRS)
    assert (grs.cic, grs.range_status()[0]) == (1, 4)
    rig.msc.send(msc.gra(1, 4))
    rig.msc.expect(msc.BLO, cic=4)
