"""Integration fixtures: a real SMPP 3.4 SMSC (node-smpp) on loopback, and pools pointed at it."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from mcn_devkit.smsc import LocalSmsc
from mcn_smpp.config import SmppConfig
from mcn_smpp.pool import SmppPool

SYSTEM_ID = "mcn"
PASSWORD = "secret"


@pytest.fixture
def smsc() -> Iterator[LocalSmsc]:
    if shutil.which("node") is None:
        pytest.skip("node is not installed (run `make node`)")
    with LocalSmsc(system_id=SYSTEM_ID, password=PASSWORD) as local_smsc:
        yield local_smsc


@pytest.fixture
def make_pool(smsc: LocalSmsc) -> Iterator[Callable[..., SmppPool]]:
    pools: list[SmppPool] = []

    def build(**overrides: Any) -> SmppPool:
        values: dict[str, Any] = {
            "host": smsc.host,
            "port": smsc.port,
            "system_id": SYSTEM_ID,
            "password": PASSWORD,
            "source_addr": "MCN",
            "window": 10,
            "response_timeout_s": 5.0,
            "reconnect_backoff_initial_s": 0.05,
            "reconnect_backoff_max_s": 0.2,
        }
        values.update(overrides)
        pool = SmppPool(SmppConfig(**values))
        pools.append(pool)
        return pool

    yield build
    for pool in pools:
        pool.close()
