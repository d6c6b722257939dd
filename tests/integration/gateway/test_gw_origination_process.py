"""The real `mcn-gateway run` process places flash calls from moto's SQS server: one call per request, the
outcome in the file target, the message deleted; killed during a call, it reports that call as interrupted
after the restart and never places it again, even when the queue delivers the request once more."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pycrate_msc as msc
import pycrate_stp as stp
import pytest
from test_gw_origination import CALLER, GATEWAY_PC, MSC_PC, RC, REGION, SUBSCRIBER
from test_gw_process import GATEWAY, _http, gateway_process, metric, stop

from mcn_devkit.ports import free_port
from mcn_devkit.sigtran.local import read_jsonl, wait_for

pytestmark = pytest.mark.integration


def _config(tmp_path: Path, stp_port: int, local_port: int, queue_url: str, endpoint: str) -> tuple[Path, int]:
    http_port = free_port()
    config = {
        "signalling": {"point_code": GATEWAY_PC, "platform_gt": "447700900000"},
        "associations": [
            {
                "name": "stp",
                "role": "client",
                "host": "127.0.0.1",
                "port": stp_port,
                "transport": "tcp",
                "local_host": "127.0.0.1",
                "local_port": local_port,
                "routing_contexts": [RC],
                "reconnect_initial_s": 0.1,
            }
        ],
        "forwarding": {
            "ingest_target": f"file:{tmp_path / 'missed_calls.jsonl'}",
            "attach_target": f"file:{tmp_path / 'attach.jsonl'}",
            "outcome_target": f"file:{tmp_path / 'outcomes.jsonl'}",
            "spool_path": str(tmp_path / "spool.sqlite3"),
            "batch_max_wait_s": 0.05,
            "retry_initial_s": 0.1,
        },
        "http": {"host": "127.0.0.1", "port": http_port},
        "origination": {
            "queue_url": queue_url,
            "endpoint_url": endpoint,
            "region": REGION,
            "dpc": MSC_PC,
            "cic_first": 11,
            "cic_last": 12,
            "ring_time_s": 0.5,
            "t7_s": 1,
            "wait_time_s": 1,
            "visibility_timeout_s": 8,  # just above the worst case: 2 × t7_s + ring_time_s + 5
        },
    }
    path = tmp_path / "gateway.json"
    path.write_text(json.dumps(config))
    return path, http_port


def _request(client, queue_url: str, n: int) -> str:
    now = datetime.now(UTC)
    body = {
        "request_id": f"notice-{n}#1",
        "notification_id": f"notice-{n}",
        "subscriber": SUBSCRIBER,
        "caller": CALLER,
        "requested_at": now.isoformat(),
        "not_after": (now + timedelta(minutes=5)).isoformat(),
    }
    client.send_message(QueueUrl=queue_url, MessageBody=json.dumps(body))
    return body["request_id"]


def test_the_gateway_process_places_calls_from_sqs_and_survives_a_kill_without_calling_twice(
    tmp_path: Path, sqs, sqs_endpoint: str, monkeypatch: pytest.MonkeyPatch
):
    queue_url = sqs.create_queue(QueueName=f"origination-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    outcomes = tmp_path / "outcomes.jsonl"
    local_port = free_port()
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    assert os.environ["AWS_ACCESS_KEY_ID"] == "testing"  # the process inherits moto's credentials
    with stp.PycrateStp(asp_address=("127.0.0.1", local_port)) as peer:
        mscp = msc.PycrateMsc(peer, MSC_PC, GATEWAY_PC, RC)
        config, http_port = _config(tmp_path, peer.port, local_port, queue_url, sqs_endpoint)
        with gateway_process(config, http_port) as process:
            peer.wait_active(timeout=60)
            grs = mscp.expect(msc.GRS)
            assert (grs.cic, grs.range_status()[0]) == (11, 2)
            mscp.send(msc.gra(11, 2))
            wait_for(lambda: metric(http_port, 'mcn_gateway_circuits{state="idle"}') == 2, "circuits idle")
            status, body = _http(http_port, "/healthz") or (0, "{}")
            assert status == 200
            assert json.loads(body)["origination"]["circuits"]["idle"] == 2

            first = _request(sqs, queue_url, 1)
            iam = mscp.expect(msc.IAM)
            assert iam.cic == 11  # odd: the gateway controls it (its point code is the lower one)
            mscp.send(msc.acm(iam.cic))
            assert mscp.expect(msc.REL, cic=iam.cic).cause() == 16
            mscp.send(msc.rlc(iam.cic))
            wait_for(lambda: [o["outcome"] for o in read_jsonl(outcomes)] == ["alerted_released"], "first outcome")
            assert metric(http_port, 'mcn_gateway_flash_calls_total{outcome="alerted_released"}') == 1

            second = _request(sqs, queue_url, 2)
            mscp.expect(msc.IAM)
            process.send_signal(signal.SIGKILL)  # mid-call: the IAM is out, nothing came back yet
            process.wait(timeout=30)
        log = config.with_suffix(".log").read_text()
        assert "+447911123456" not in log and "447911123456" not in log  # numbers are masked in logs

        with gateway_process(config, http_port) as process:
            for _ in range(3):  # the end of the killed process's connection may come first
                with contextlib.suppress(ConnectionError):
                    peer.wait_active(timeout=60)
                    break
            mscp.send(msc.gra(mscp.expect(msc.GRS).cic, 2))
            # the interrupted call is reported once, as failed; its message comes back after the visibility
            # timeout and is recognised and deleted, with no second IAM
            recorded = wait_for(lambda: [o for o in read_jsonl(outcomes) if o["request_id"] == second], "interrupted")
            assert recorded[0]["outcome"] == "failed" and "interrupted" in recorded[0]["reason"]

            def queue_empty() -> bool:
                attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
                return (
                    attributes["ApproximateNumberOfMessages"]
                    == attributes["ApproximateNumberOfMessagesNotVisible"]
                    == "0"
                )

            wait_for(queue_empty, "the redelivered request deleted", 60)
            wait_for(
                lambda: metric(http_port, 'mcn_gateway_origination_requests_rejected_total{reason="duplicate"}') >= 1,
                "the redelivery recognised",
            )
            mscp.expect_nothing(msc.IAM, within=1.0)

            # SIGTERM during a call: no new request is taken, the call runs to its REL, then the process exits
            third = _request(sqs, queue_url, 3)
            iam = mscp.expect(msc.IAM)
            process.send_signal(signal.SIGTERM)
            mscp.send(msc.acm(iam.cic))
            assert mscp.expect(msc.REL, cic=iam.cic).cause() == 16
            mscp.send(msc.rlc(iam.cic))
            assert process.wait(timeout=60) == 0
    assert sorted(o["request_id"] for o in read_jsonl(outcomes)) == sorted([first, second, third])
    assert [o["outcome"] for o in read_jsonl(outcomes) if o["request_id"] == third] == ["alerted_released"]


def _circuits(config: Path, *args: str) -> subprocess.CompletedProcess:
    """The operator's command, the real console script, against the running process."""
    return subprocess.run(
        [GATEWAY, "--config", str(config), "circuits", *args], capture_output=True, text=True, timeout=60
    )


def test_a_block_made_with_the_circuits_command_survives_a_restart_of_the_process(
    tmp_path: Path, sqs, sqs_endpoint: str, monkeypatch: pytest.MonkeyPatch
):
    queue_url = sqs.create_queue(QueueName=f"origination-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    local_port = free_port()
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with stp.PycrateStp(asp_address=("127.0.0.1", local_port)) as peer:
        mscp = msc.PycrateMsc(peer, MSC_PC, GATEWAY_PC, RC)
        config, http_port = _config(tmp_path, peer.port, local_port, queue_url, sqs_endpoint)
        not_running = _circuits(config, "show")
        assert not_running.returncode == 1 and "the gateway is not running" in not_running.stderr
        with gateway_process(config, http_port) as process:
            peer.wait_active(timeout=60)
            mscp.send(msc.gra(mscp.expect(msc.GRS).cic, 2))
            wait_for(lambda: metric(http_port, 'mcn_gateway_circuits{state="idle"}') == 2, "circuits idle")
            outside = _circuits(config, "block", "--cic", "13")
            assert outside.returncode == 2 and "outside the trunk's range 11-12" in outside.stderr
            blocked = _circuits(config, "block", "--cic", "11", "--wait", "0")
            assert blocked.returncode == 0, blocked.stderr
            assert blocked.stdout.startswith("cic 11\tlocally_blocked\tlocal blocked")
            mscp.acknowledge(mscp.expect(msc.BLO, cic=11))
            wait_for(lambda: "acknowledged" in _circuits(config, "show", "--cic", "11").stdout, "BLA shown")
            stop(process, config)
        log = config.with_suffix(".log").read_text()
        assert "operator blocks cic 11" in log and "cic 11: locally blocked, awaiting BLA" in log

        with gateway_process(config, http_port):
            for _ in range(3):  # the end of the stopped process's connection may come first
                with contextlib.suppress(ConnectionError):
                    peer.wait_active(timeout=60)
                    break
            grs = mscp.expect(msc.GRS)
            mscp.send(msc.gra(grs.cic, 2))
            blo = mscp.expect(msc.BLO, cic=11)  # the block, kept in the spool, told again after the reset
            mscp.acknowledge(blo)
            shown = json.loads(_circuits(config, "show", "--json").stdout)
            assert [(c["cic"], c["locally_blocked"]) for c in shown] == [(11, True), (12, False)]
            request_id = _request(sqs, queue_url, 1)
            iam = mscp.expect(msc.IAM)
            assert iam.cic == 12  # never the blocked circuit
            mscp.send(msc.rel(12, 17))
            mscp.expect(msc.RLC, cic=12)
            wait_for(lambda: [o["request_id"] for o in read_jsonl(tmp_path / "outcomes.jsonl")] == [request_id], "out")
    log = config.with_suffix(".log").read_text()
    assert SUBSCRIBER[1:] not in log and CALLER[1:] not in log  # numbers are masked in logs
