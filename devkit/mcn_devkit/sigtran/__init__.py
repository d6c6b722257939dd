"""SIGTRAN test kit: builders of real SIGTRAN byte streams, a scripted SG/MSC/HLR peer, loopback
helpers (tests, demo, benchmarks; never in the gateway image)."""

from .builders import (
    build_alert_service_centre,
    build_iam,
    build_ready_for_sm,
    m3ua_data,
    scenario_bytes,
    scenario_messages,
)
from .local import loopback_config, read_jsonl, wait_for
from .peer import ScenarioResult, ScriptedPeer, play_scenario

__all__ = [
    "ScenarioResult",
    "ScriptedPeer",
    "build_alert_service_centre",
    "build_iam",
    "build_ready_for_sm",
    "loopback_config",
    "m3ua_data",
    "play_scenario",
    "read_jsonl",
    "scenario_bytes",
    "scenario_messages",
    "wait_for",
]
