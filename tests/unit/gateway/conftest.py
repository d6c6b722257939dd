"""Fixtures for the gateway's unit tests: configs, a processor, the real captures."""

from __future__ import annotations

from pathlib import Path

import pytest

from mcn_devkit.sigtran.builders import HLR_GT, PLATFORM_GT, PLATFORM_PC
from mcn_gateway.config import FirewallConfig, SignallingConfig
from mcn_gateway.metrics import Metrics
from mcn_gateway.processor import SignallingProcessor

# copies of ../shared/captures (public pcapr.net traces) live next to the tests so a fresh clone runs them
CAPTURES = Path(__file__).resolve().parent / "captures"
MAP_CAPTURE = CAPTURES / "pycrate_pcapr_tcapmap.pcap"
ISUP_CAPTURE = CAPTURES / "kancom_xdr_tester_isup.pcap"


def _capture(path: Path) -> Path:
    if not path.is_file():
        pytest.skip(f"capture not available: {path}")
    return path


@pytest.fixture
def map_capture() -> Path:
    return _capture(MAP_CAPTURE)


@pytest.fixture
def isup_capture() -> Path:
    return _capture(ISUP_CAPTURE)


@pytest.fixture
def signalling_config() -> SignallingConfig:
    return SignallingConfig(point_code=PLATFORM_PC, platform_gt=PLATFORM_GT)


@pytest.fixture
def firewall_config() -> FirewallConfig:
    return FirewallConfig(allowed_calling_gt_prefixes=[HLR_GT[:4]], allowed_opcodes=[64, 49, 66])


@pytest.fixture
def processor(signalling_config: SignallingConfig, firewall_config: FirewallConfig) -> SignallingProcessor:
    return SignallingProcessor(signalling_config, firewall_config, Metrics())
