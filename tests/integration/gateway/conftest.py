"""Fixtures: a gateway running in-process on loopback TCP, forwarding to JSON-lines files."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mcn_devkit.sigtran.local import loopback_config
from mcn_gateway.app import GatewayThread


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[GatewayThread]:
    with GatewayThread(loopback_config(tmp_path)) as running:
        yield running
