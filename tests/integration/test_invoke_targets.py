"""`mcn invoke` on a running `mcn local up` (state kept: the samples in sequence tell the story) and on a
fresh stack; function names as logical ids, short names and aliases; every notify sample as shipped."""

from __future__ import annotations

import argparse
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mcn_cli.target import write_state
from mcn_devkit.embedded import EmbeddedStack
from mcn_devkit.invoke import (
    LOCAL_SMSC_PASSWORD,
    InvokeError,
    function_logical_id,
    run_invoke,
    set_smsc_password,
)
from mcn_devkit.local_cmd import state_document
from mcn_devkit.smsc import LocalSmsc
from mcn_devkit.template import PROJECT_ROOT, ResolvedTemplate, load_template

pytestmark = pytest.mark.integration
FUNCTIONS = list(ResolvedTemplate(load_template(), "names").resources_of_type("AWS::Serverless::Function"))


def invoke(function: str, event: str, *, state: Path | None = None, fresh: bool = False) -> tuple[int, Any, str]:
    args = argparse.Namespace(
        function=function,
        event=str(PROJECT_ROOT / event),
        local=state is not None,
        fresh=fresh,
        local_state=str(state) if state else "/nonexistent/stack.json",
        keep_times=False,
        parameter=None,
    )
    out, err = io.StringIO(), io.StringIO()
    code = run_invoke(args, out, err)
    return code, json.loads(out.getvalue()) if out.getvalue() else None, err.getvalue()


@pytest.mark.parametrize(
    ("name", "logical_id"),
    [
        ("IngestFunction", "IngestFunction"),
        ("ingest", "IngestFunction"),
        ("notify_me", "NotifyMeFunction"),
        ("notify-me", "NotifyMeFunction"),
        ("NotifyMe", "NotifyMeFunction"),
        ("receipt", "ReceiptsFunction"),
        ("receipts", "ReceiptsFunction"),
        ("resume", "ResumeFunction"),
    ],
)
def test_function_names(name: str, logical_id: str) -> None:
    assert function_logical_id(FUNCTIONS, name) == logical_id


def test_unknown_function_lists_the_short_names() -> None:
    with pytest.raises(InvokeError, match=r"unknown function 'nosuch'.*notify_me.*receipts"):
        function_logical_id(FUNCTIONS, "nosuch")


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, LocalSmsc]]:
    """What `mcn local up` runs: the stack with a local SMSC, and its state file."""
    with LocalSmsc(system_id="mcn", password=LOCAL_SMSC_PASSWORD) as smsc:
        parameters = {"SmscHost": "127.0.0.1", "SmscPort": str(smsc.port)}
        with EmbeddedStack(stack_name="mcn-local", parameters=parameters) as stack:
            set_smsc_password(stack, LOCAL_SMSC_PASSWORD)
            state = tmp_path_factory.mktemp("local") / "stack.json"
            write_state(state, state_document(stack))
            yield state, smsc


def test_samples_in_sequence_tell_the_story_on_a_running_stack(running: tuple[Path, LocalSmsc]) -> None:
    state, smsc = running
    code, ingested, err = invoke("ingest", "events/ingest/single.json", state=state)
    assert code == 0 and ingested["results"][0]["outcome"] == "accepted", err
    assert "local stack mcn-local" in err

    code, notice, _ = invoke("ComposeFunction", "events/notify/compose.json", state=state)
    assert code == 0 and notice["action"] == "send"
    assert notice["call_refs"] == ["msc1-0412-20261129T081502Z"]  # the call the first invoke stored

    code, sent, _ = invoke("send", "events/notify/send.json", state=state)
    assert code == 0 and sent["messages"][0]["outcome"] == "accepted"
    assert smsc.wait_for_submits(1)[0].destination_addr == "447911123456"

    code, recorded, _ = invoke("record", "events/notify/record.json", state=state)
    assert code == 0 and recorded["recorded_now"] and recorded["smsc_message_ids"] == ["0000000001"]

    code, receipt, _ = invoke("receipt", "events/receipts/receipt_single.json", state=state)
    assert code == 0, receipt
    assert receipt["results"][0]["notification_id"] == "20261129T100211Z-5a1c0f3e00000001", receipt


def test_local_without_a_running_stack_is_a_clear_error(tmp_path: Path) -> None:
    code, _, err = invoke("ingest", "events/ingest/single.json", state=tmp_path / "stack.json")
    assert code == 2 and "no embedded AWS running" in err


@pytest.mark.parametrize("sample", ["notify_me", "resume"])
def test_notify_samples_work_as_shipped_on_a_fresh_stack(sample: str) -> None:
    code, response, err = invoke(sample, f"events/notify/{sample}.json", fresh=True)
    assert code == 0, (response, err)
    assert isinstance(response, dict) and response
