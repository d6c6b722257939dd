"""Every file in events/ is a valid input for its function and runs through it here.

Folders name the function (events/ingest -> IngestFunction); in events/notify/ the file name
names the state machine's task (compose.json -> ComposeFunction). Samples that reference a
deployed resource use the stack name "mcn-dev" (samconfig.toml's default stack).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from mcn_devkit.embedded import EmbeddedStack
from mcn_devkit.events import load_event, rebase_times
from mcn_devkit.smsc import LocalSmsc
from mcn_devkit.template import PROJECT_ROOT

pytestmark = pytest.mark.integration
EVENTS = PROJECT_ROOT / "events"
EVENT_FILES = sorted(EVENTS.rglob("*.json"))
FUNCTION_OF_FOLDER = {
    "ingest": "IngestFunction",
    "attach": "AttachFunction",
    "receipts": "ReceiptsFunction",
    # the one submitting function's other tasks: NotifyMe and a keyword reply
    "send": "SendFunction",
    # every submitting instance busy: the quiet-hours wait, for the SMSC
    "defer": "DeferFunction",
    # the gateway's reports of missed calls placed on behalf
    "flash_call_outcomes": "FlashCallOutcomesFunction",
}
FUNCTION_OF_NOTIFY_STEP = {
    "compose": "ComposeFunction",
    "send": "SendFunction",
    "record": "RecordFunction",
    "release": "ReleaseFunction",
    "defer": "DeferFunction",
    "resume": "ResumeFunction",
}


def function_for(path: Path) -> str:
    folder = path.relative_to(EVENTS).parts[0]
    if folder == "notify":
        return FUNCTION_OF_NOTIFY_STEP[path.stem]
    return FUNCTION_OF_FOLDER[folder]


@pytest.fixture(scope="module")
def sample_stack() -> Iterator[EmbeddedStack]:
    with LocalSmsc(system_id="mcn", password="secret1") as smsc:
        parameters = {"SmscHost": "127.0.0.1", "SmscPort": str(smsc.port), "ConfigCacheSeconds": "0"}
        with EmbeddedStack(stack_name="mcn-dev", parameters=parameters) as stack:
            stack.client("secretsmanager").put_secret_value(
                SecretId=stack.resource_name("SmscCredentials"),
                SecretString=json.dumps({"username": "mcn", "password": "secret1"}),
            )
            yield stack


def test_every_sample_names_a_function_of_the_template() -> None:
    from mcn_devkit.template import ResolvedTemplate, load_template

    functions = ResolvedTemplate(load_template(), "x").resources_of_type("AWS::Serverless::Function")
    for path in EVENT_FILES:
        assert function_for(path) in functions, path
    # and every notify task has a sample
    assert {p.stem for p in (EVENTS / "notify").glob("*.json")} == set(FUNCTION_OF_NOTIFY_STEP)


@pytest.mark.parametrize("path", EVENT_FILES, ids=lambda p: str(p.relative_to(EVENTS)))
def test_sample_event_runs_through_its_function(sample_stack: EmbeddedStack, path: Path) -> None:
    response = sample_stack.invoke(function_for(path), rebase_times(load_event(path)))
    assert isinstance(response, dict) and response, response
    if "results" in response:  # batch functions: per-event outcomes
        rejected = [r for r in response["results"] if r["outcome"] == "rejected"]
        assert bool(rejected) == (path.stem == "malformed"), response
