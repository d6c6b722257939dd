"""Nothing is lost: the gateway is SIGKILLed while its target is unreachable, restarted with the target
back, and every event it accepted (answered with REL) arrives."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from mcn_devkit.ports import free_port
from mcn_devkit.sigtran import ScriptedPeer, build_iam, m3ua_data
from mcn_devkit.sigtran.builders import MSC_PC, ROUTING_CONTEXT
from mcn_devkit.sigtran.local import loopback_config, read_jsonl, wait_for
from mcn_gateway.protocol import isup, m3ua

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CALLS = 12


def _start_gateway(config_path: Path, env: dict[str, str], log_path: Path) -> subprocess.Popen:
    log = log_path.open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "mcn_gateway.cli", "--config", str(config_path), "run"],
        env={**os.environ, **env},
        stdout=log,
        stderr=log,
    )


def _connect(port: int) -> ScriptedPeer:
    def attempt() -> ScriptedPeer | None:
        try:
            return ScriptedPeer.connect("127.0.0.1", port)
        except OSError:
            return None

    peer = wait_for(attempt, "the gateway subprocess to listen")
    peer.bring_up(routing_context=ROUTING_CONTEXT)
    return peer


def _send_calls_and_kill(
    config_path: Path, env: dict[str, str], tmp_path: Path, port: int, once_up: Callable[[], None] | None = None
) -> list[str]:
    """Send CALLS IAMs; each REL means the event is committed to the spool. Then SIGKILL."""
    process = _start_gateway(config_path, env, tmp_path / "gateway.log")
    try:
        with _connect(port) as peer:
            if once_up is not None:
                once_up()
            for cic in range(1, CALLS + 1):
                peer.send(m3ua_data(5, build_iam(cic), opc=MSC_PC))
                rel = peer.expect(m3ua.TRANSFER_DATA).protocol_data
                assert isup.IsupDecoder.peek(rel.data) == (cic, isup.MSG_REL)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    return [f"{MSC_PC}-{cic}-" for cic in range(1, CALLS + 1)]


def _write_config(tmp_path: Path, port: int, **targets: str) -> Path:
    config = loopback_config(tmp_path, server_port=port, **targets)
    path = tmp_path / "gateway.json"
    path.write_text(config.model_dump_json())
    return path


def test_sigkill_with_file_target_unreachable_then_restart(tmp_path: Path):
    port = free_port()
    blocked = tmp_path / "blocked"
    blocked.mkdir()  # writable at start (an unwritable target is refused at start-up, exit 2)

    def block() -> None:  # then it breaks: a file where the directory was
        blocked.rmdir()
        blocked.write_text("a file where a directory should be: the target cannot be written")

    config_path = _write_config(tmp_path, port, ingest_target=f"file:{blocked / 'calls.jsonl'}")
    prefixes = _send_calls_and_kill(config_path, {}, tmp_path, port, once_up=block)
    assert blocked.is_file()

    delivered = tmp_path / "delivered.jsonl"
    process = _start_gateway(
        config_path, {"MCN_GATEWAY__FORWARDING__INGEST_TARGET": f"file:{delivered}"}, tmp_path / "gateway.log"
    )
    try:
        events = wait_for(lambda: (e := read_jsonl(delivered)) and len(e) >= CALLS and e, "every spooled event")
    finally:
        process.terminate()
        process.wait(timeout=30)
    refs = [e["call_ref"] for e in events]
    assert len(refs) == CALLS  # each exactly once here (duplicates would be harmless for ingest)
    assert [r.rsplit("-", 1)[0] + "-" for r in refs] == prefixes  # in order


def test_sigkill_with_lambda_unreachable_then_restart_on_the_embedded_aws(tmp_path: Path):
    embedded = pytest.importorskip("mcn_devkit.embedded")
    with embedded.EmbeddedStack() as stack:
        port = free_port()
        dead_endpoint = f"http://127.0.0.1:{free_port()}"
        try:
            attach_target = f"lambda:{stack.function_name('AttachFunction')}"
        except Exception:  # the attach function may not be in the template yet; only calls matter here
            attach_target = f"file:{tmp_path / 'attach.jsonl'}"
        config_path = _write_config(
            tmp_path,
            port,
            ingest_target=f"lambda:{stack.function_name('IngestFunction')}",
            attach_target=attach_target,
            endpoint_url=dead_endpoint,
        )
        env = dict(stack.env)
        _send_calls_and_kill(config_path, env, tmp_path, port)

        env["MCN_GATEWAY__FORWARDING__ENDPOINT_URL"] = stack.lambda_endpoint
        process = _start_gateway(config_path, env, tmp_path / "gateway.log")
        table = stack.resource_name("MissedCallsTable")
        dynamodb = stack.client("dynamodb")
        try:
            items = wait_for(
                lambda: (i := dynamodb.scan(TableName=table)["Items"]) and len(i) >= CALLS and i,
                "every call in DynamoDB",
                timeout_s=90,
            )
        finally:
            process.terminate()
            process.wait(timeout=30)
        stored = json.dumps(items)
        for cic in range(1, CALLS + 1):
            assert f'"{MSC_PC}-{cic}-' in stored
