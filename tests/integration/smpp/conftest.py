"""Integration fixtures: real SMPP 3.4 SMSCs on loopback, and pools pointed at them.

Every test taking ``smsc`` runs against two independent SMSC implementations: node-smpp
(npm, JavaScript codec) and smpp34 (PyPI, Rust codec). A test that needs something only
node-smpp can be scripted to do (bind refusal, generic_nack, dropping a connection,
enquire_link events) is marked ``@pytest.mark.smsc_only("node-smpp")``.
"""

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
SMSC_KINDS = ("node-smpp", "smpp34")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "smsc_only(*kinds): run only against these test SMSCs")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "smsc" in metafunc.fixturenames:
        marker = metafunc.definition.get_closest_marker("smsc_only")
        kinds = list(marker.args) if marker else list(SMSC_KINDS)
        metafunc.parametrize("smsc", kinds, indirect=True)


@pytest.fixture
def smsc(request: pytest.FixtureRequest) -> Iterator[Any]:
    if request.param == "smpp34":
        from smpp34_smsc import Smpp34Smsc

        with Smpp34Smsc() as second_smsc:
            yield second_smsc
        return
    if shutil.which("node") is None:
        pytest.skip("node is not installed (run `make node`)")
    with LocalSmsc(system_id=SYSTEM_ID, password=PASSWORD) as local_smsc:
        local_smsc.name = "node-smpp"  # type: ignore[attr-defined]
        yield local_smsc


@pytest.fixture
def make_pool(smsc: Any) -> Iterator[Callable[..., SmppPool]]:
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
        pool = SmppPool(SmppConfig.build(**values))
        pools.append(pool)
        return pool

    yield build
    for pool in pools:
        pool.close()
