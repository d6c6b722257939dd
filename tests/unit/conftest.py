"""Unit tests never talk to a running stack: an endpoint left in the environment by an earlier
integration or e2e test (the local Lambda runtime and stack fixtures set AWS_ENDPOINT_URL*) must not
send a `mock_aws` client to a stopped server."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True)
def _no_stack_endpoints(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [name for name in os.environ if name.startswith("AWS_ENDPOINT_URL")]:
        monkeypatch.delenv(name)
