"""Helpers to run the gateway on loopback (tests, the demo): configs, JSON-lines reading, waiting."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from mcn_gateway.config import GatewayConfig

from .builders import HLR_GT, PLATFORM_GT, PLATFORM_PC, ROUTING_CONTEXT

T = TypeVar("T")


def loopback_config(
    workdir: Path,
    extra_associations: list[dict] | None = None,
    ingest_target: str | None = None,
    attach_target: str | None = None,
    endpoint_url: str | None = None,
    server_port: int = 0,
    http_port: int = 0,
    registration: dict | None = None,
    outcome_target: str | None = None,
    origination: dict | None = None,
) -> GatewayConfig:
    """A gateway serving M3UA on 127.0.0.1 (port 0 = any free port), forwarding to files in `workdir`
    unless Lambda targets are given (then `endpoint_url` points at the local Lambda endpoint).
    `registration`: the [registration] section (MWD registration at the HLR; off when not given);
    `origination` (with `outcome_target`): the [origination] section (flash calls; off when not given)."""
    return GatewayConfig.model_validate(
        {
            "signalling": {"point_code": PLATFORM_PC, "platform_gt": PLATFORM_GT},
            "firewall": {"allowed_opcodes": [64, 49], "allowed_calling_gt_prefixes": [HLR_GT[:6]]},
            "associations": [
                {
                    "name": "msc",
                    "role": "server",
                    "host": "127.0.0.1",
                    "port": server_port,
                    "transport": "tcp",
                    "routing_contexts": [ROUTING_CONTEXT],
                },
                *(extra_associations or []),
            ],
            "forwarding": {
                "ingest_target": ingest_target or f"file:{workdir / 'missed_calls.jsonl'}",
                "attach_target": attach_target or f"file:{workdir / 'attach.jsonl'}",
                "endpoint_url": endpoint_url,
                "spool_path": str(workdir / "spool.sqlite3"),
                "batch_size": 10,
                "batch_max_wait_s": 0.05,
                "retry_initial_s": 0.05,
                "retry_max_s": 1.0,
                **({"outcome_target": outcome_target} if outcome_target else {}),
            },
            "http": {"host": "127.0.0.1", "port": http_port},
            "registration": registration or {},
            **({"origination": origination} if origination else {}),
        }
    )


def read_jsonl(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def wait_for(condition: Callable[[], T], what: str, timeout_s: float = 30.0) -> T:
    """Poll until `condition()` is truthy; a generous bound, not a timing assertion."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")
