"""What the receiver tests share: the SMSC credentials, a receiver config writing to a file, waits."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from mcn_receiver.config import ReceiverConfig

PASSWORD = "secret1"
T = TypeVar("T")


def wait_for(predicate: Callable[[], T], timeout: float = 20.0) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def receiver_config(tmp_path: Path, **extra: Any) -> ReceiverConfig:
    """Forwarding to tmp_path/out.jsonl, spool in tmp_path, short waits so tests run fast."""
    values = {
        "target": f"file:{tmp_path / 'out.jsonl'}",
        "spool_path": str(tmp_path / "spool.sqlite3"),
        "batch_max_wait_s": 0.05,
        "retry_initial_s": 0.05,
        "retry_max_s": 0.2,
        "rebind_initial_s": 0.05,
        **extra,
    }
    return ReceiverConfig.model_validate(values)


def forwarded(path: Path) -> list[dict[str, Any]]:
    """The events a file target got, in order ([] before the first)."""
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
