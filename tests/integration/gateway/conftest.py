"""Fixtures: a gateway running in-process on loopback TCP, forwarding to JSON-lines files; an SQS endpoint
(moto's server) for the flash-call origination queue."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mcn_devkit.sigtran.local import loopback_config
from mcn_gateway.app import GatewayThread

SQS_REGION = "eu-west-1"


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[GatewayThread]:
    with GatewayThread(loopback_config(tmp_path)) as running:
        yield running


@pytest.fixture(scope="module")
def sqs_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def sqs(sqs_endpoint: str, monkeypatch: pytest.MonkeyPatch):
    """An SQS client on moto's server; the credentials are in the environment for the gateway too."""
    import boto3

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    return boto3.client("sqs", region_name=SQS_REGION, endpoint_url=sqs_endpoint)
