"""Tracing follows the stack's Tracing parameter: off costs nothing, on sends real X-Ray subsegments.

Each case runs in a fresh interpreter (the X-Ray SDK and Powertools' Tracer keep process-wide state,
and patching boto3 must not leak into other tests). "On" is checked end to end: a UDP socket stands
in for the X-Ray daemon and receives what the SDK sends.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap

from mcn_devkit.template import PROJECT_ROOT

HANDLER_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from mcn_core.observability import traced

    @traced
    def lambda_handler(event, context):
        return {"ok": True}

    print(json.dumps({
        "result": lambda_handler({}, None),
        "wrapped": lambda_handler.__name__ != "lambda_handler" or hasattr(lambda_handler, "__wrapped__"),
        "xray_imported": "aws_xray_sdk.core" in sys.modules,
    }))
    """
)


def run_handler(extra_env: dict[str, str]) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POWERTOOLS_", "AWS_XRAY", "_X_AMZN"))}
    env.update({"PYTHONPATH": str(PROJECT_ROOT / "layers" / "core"), **extra_env})
    done = subprocess.run(
        [sys.executable, "-c", HANDLER_SCRIPT], env=env, capture_output=True, text=True, timeout=120, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_tracing_off_imports_no_xray_sdk() -> None:
    outcome = run_handler({"POWERTOOLS_TRACE_DISABLED": "true", "POWERTOOLS_SERVICE_NAME": "mcn-test"})
    assert outcome == {"result": {"ok": True}, "wrapped": False, "xray_imported": False}


def test_tracing_on_sends_the_handler_subsegment_to_the_daemon() -> None:
    daemon = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    daemon.bind(("127.0.0.1", 0))
    daemon.settimeout(30)
    port = daemon.getsockname()[1]
    try:
        outcome = run_handler(
            {
                "POWERTOOLS_TRACE_DISABLED": "false",
                "POWERTOOLS_SERVICE_NAME": "mcn-test",
                "LAMBDA_TASK_ROOT": str(PROJECT_ROOT),  # what Lambda sets: the Tracer is on only in Lambda
                "AWS_XRAY_DAEMON_ADDRESS": f"127.0.0.1:{port}",
                "_X_AMZN_TRACE_ID": "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
            }
        )
        assert outcome["result"] == {"ok": True} and outcome["xray_imported"] is True
        datagram = daemon.recv(65536).decode()
    finally:
        daemon.close()
    header, _, body = datagram.partition("\n")
    assert json.loads(header) == {"format": "json", "version": 1}
    segment = json.loads(body)
    assert segment["name"] == "## lambda_handler"
    assert segment["trace_id"] == "1-5759e988-bd862e3fe1be46a994272793"
    assert segment["annotations"]["Service"] == "mcn-test"
