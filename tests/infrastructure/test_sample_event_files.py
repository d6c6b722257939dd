"""events/: each file is one event payload, exactly what its function receives, for both ways to run it.

`mcn invoke FUNCTION FILE` (embedded stack) and `sam local invoke FUNCTION -e FILE` (where Docker
exists) both hand the file's JSON to the handler as the event, unwrapped. So each file must be a
single UTF-8 JSON document (not JSON Lines, not a list of cases), within the payload limits, and
name a function of the template by where it lies: events/<function>/*.json, or for a folder with
several functions (events/notify/), events/<folder>/<function>.json. Running every file through its
function's handler is tests/integration/test_sample_events.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mcn_devkit.sam_build import PROJECT_ROOT, load_source_template

EVENTS = PROJECT_ROOT / "events"
EVENT_FILES = sorted(EVENTS.rglob("*.json"))
FUNCTIONS = sorted(
    k for k, v in load_source_template()["Resources"].items() if v["Type"] == "AWS::Serverless::Function"
)
# Step Functions passes at most 256 KiB between states (the notify tasks' inputs); Lambda's own limit is larger.
MAX_PAYLOAD_BYTES = 256 * 1024


def short_name(logical_id: str) -> str:
    return logical_id.removesuffix("Function").lower()


def function_for(path: Path) -> str | None:
    folder = path.relative_to(EVENTS).parts[0]
    by_name = {short_name(f): f for f in FUNCTIONS}
    return by_name.get(folder.replace("_", "")) or by_name.get(path.stem.replace("_", ""))


def test_there_are_sample_events() -> None:
    assert EVENT_FILES


@pytest.mark.parametrize("path", EVENT_FILES, ids=lambda p: str(p.relative_to(EVENTS)))
def test_event_file_is_one_payload_for_one_function(path: Path) -> None:
    raw = path.read_bytes()
    assert len(raw) <= MAX_PAYLOAD_BYTES
    json.loads(raw.decode("utf-8"))  # one document: json.loads refuses anything after it
    assert function_for(path), f"{path.relative_to(PROJECT_ROOT)} names no function of the template"


def test_every_function_has_a_sample_event() -> None:
    covered = {function_for(path) for path in EVENT_FILES}
    assert sorted(set(FUNCTIONS) - covered) == []
