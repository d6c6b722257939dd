"""Sample events: load them, and shift their fixed timestamps to now for local runs.

The files in events/ carry fixed timestamps (so `sam local invoke -e` is reproducible);
ingest rejects calls older than the retention period, so local runs move every
timestamp by the same offset, keeping their spacing, so the latest one is "now".
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

TIME_FIELDS = ("call_time", "attach_time", "time")


def load_event(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise SystemExit(f"event file not found: {path}") from None
    except json.JSONDecodeError as exc:
        raise SystemExit(f"{path} is not valid JSON: {exc}") from None


def _times(node: Any) -> list[datetime]:
    found: list[datetime] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key in TIME_FIELDS and isinstance(value, str):
                try:
                    parsed = datetime.fromisoformat(value)
                except ValueError:
                    continue
                if parsed.tzinfo is not None:
                    found.append(parsed)
            else:
                found.extend(_times(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(_times(item))
    return found


def _shift(node: Any, offset: timedelta) -> Any:
    if isinstance(node, dict):
        shifted = {}
        for key, value in node.items():
            if key in TIME_FIELDS and isinstance(value, str):
                try:
                    parsed = datetime.fromisoformat(value)
                except ValueError:
                    shifted[key] = value
                    continue
                shifted[key] = (parsed + offset).isoformat() if parsed.tzinfo is not None else value
            else:
                shifted[key] = _shift(value, offset)
        return shifted
    if isinstance(node, list):
        return [_shift(item, offset) for item in node]
    return node


def rebase_times(event: Any, now: datetime | None = None) -> Any:
    """Move all aware timestamps so that the latest becomes `now` (default: the current time)."""
    times = _times(event)
    if not times:
        return event
    target = (now or datetime.now(UTC)).replace(microsecond=0)
    return _shift(event, target - max(times))


def delivered_receipt(message_id: str) -> dict[str, Any]:
    """A final DELIVRD receipt for `message_id`, as mcn-receiver forwards it to the receipts function."""
    done = datetime.now(UTC)
    return {
        "kind": "receipt",
        "message_id": message_id,
        "state": "DELIVRD",
        "final": True,
        "error_code": "000",
        "message_state": 2,
        "submit_date": done.strftime("%y%m%d%H%M"),
        "done_date": done.strftime("%y%m%d%H%M"),
        "done_at": done.isoformat(),
        "received_at": done.isoformat(),
    }
