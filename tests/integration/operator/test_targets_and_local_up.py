"""Where commands run: `mcn local up`'s state file, a deployed stack's Outputs, and clear errors otherwise."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mcn_devkit.embedded import EmbeddedStack
from mcn_devkit.ports import free_port
from mcn_devkit.template import PROJECT_ROOT

pytestmark = pytest.mark.integration

COMMANDS_WITH_HELP = [
    ["local"],
    ["local", "up"],
    ["fees"],
    ["fees", "report"],
    ["subscriber"],
    ["subscriber", "show"],
    ["subscriber", "set"],
    ["calls"],
    ["config"],
    ["config", "get"],
    ["config", "set"],
    ["config", "validate"],
]


@pytest.mark.parametrize("command", COMMANDS_WITH_HELP, ids=" ".join)
def test_every_command_has_help(mcn: Callable[..., Any], command: list[str]) -> None:
    result = mcn(*command, "--help")
    assert result.code == 0
    assert result.out.startswith("usage: ")


def test_without_a_target_the_error_says_what_to_do(mcn: Callable[..., Any], tmp_path: Path) -> None:
    result = mcn("config", "get", "--local-state", str(tmp_path / "none.json"))
    assert result.code == 1
    assert "no embedded AWS running" in result.err and "mcn local up" in result.err and "--stack" in result.err


def test_a_stopped_embedded_aws_is_reported(mcn: Callable[..., Any], local_state: Path, tmp_path: Path) -> None:
    stale = json.loads(local_state.read_text()) | {"endpoint": f"http://127.0.0.1:{free_port()}"}
    path = tmp_path / "stack.json"
    path.write_text(json.dumps(stale))
    result = mcn("fees", "report", "--period", "2026-11", "--local-state", str(path))
    assert result.code == 1 and "is not answering" in result.err


def test_a_corrupt_state_file_is_reported(mcn: Callable[..., Any], tmp_path: Path) -> None:
    path = tmp_path / "stack.json"
    path.write_text('{"endpoint": "http://127.0.0.1:1"}')
    result = mcn("subscriber", "show", "+447912000123", "--local-state", str(path))
    assert result.code == 1 and "not a `mcn local up` state file" in result.err


def test_profile_without_stack_is_refused(mcn: Callable[..., Any]) -> None:
    result = mcn("fees", "report", "--period", "2026-11", "--profile", "finance")
    assert result.code == 1 and "add --stack NAME" in result.err


# ---------------------------------------------------------------- a deployed stack (CloudFormation Outputs)
@pytest.fixture
def aws_environment(stack: EmbeddedStack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """As on an operator's machine: SDK settings from the environment (here: the embedded AWS)."""
    for name, value in stack.env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture
def deployed_stack(stack: EmbeddedStack, local_state: Path, aws_environment: None) -> str:
    """A CloudFormation stack whose Outputs name the embedded AWS's resources (what `sam deploy` leaves)."""
    outputs = json.loads(local_state.read_text())["outputs"]
    name = f"{stack.stack_name}-deployed"
    marker = {"Type": "AWS::SSM::Parameter", "Properties": {"Name": f"/{name}/marker", "Type": "String", "Value": "1"}}
    template = {"Resources": {"Marker": marker}, "Outputs": {key: {"Value": value} for key, value in outputs.items()}}
    stack.client("cloudformation").create_stack(StackName=name, TemplateBody=json.dumps(template))
    return name


def test_stack_outputs_select_the_deployment(
    mcn: Callable[..., Any], deployed_stack: str, stack: EmbeddedStack
) -> None:
    result = mcn("config", "get", "--stack", deployed_stack, "--region", stack.region)
    assert result.code == 0, result.err
    assert "templates" in json.loads(result.out)
    report = mcn("fees", "report", "--period", "2026-11", "--format", "json", "--stack", deployed_stack)
    assert report.code == 0, report.err
    calls = mcn("calls", "+447912000123", "--stack", deployed_stack, "--aws-region", stack.region)
    assert calls.code == 0, calls.err


def test_unknown_stack_is_a_clear_error(mcn: Callable[..., Any], aws_environment: None, stack: EmbeddedStack) -> None:
    result = mcn("config", "get", "--stack", "no-such-stack", "--region", stack.region)
    assert result.code == 1 and "cannot read stack 'no-such-stack'" in result.err


def test_unknown_profile_is_a_clear_error(mcn: Callable[..., Any], aws_environment: None) -> None:
    result = mcn("config", "get", "--stack", "mcn", "--profile", "no-such-profile")
    assert result.code == 1 and "AWS profile 'no-such-profile' not found" in result.err


# ---------------------------------------------------------------- `mcn local up` as a real process
def _wait_for(path: Path, process: subprocess.Popen[str], deadline_s: float = 120) -> None:
    """Until `mcn local up` has written its state file (a readiness wait, not a timing assertion)."""
    deadline = time.monotonic() + deadline_s
    while not path.exists():
        if process.poll() is not None:
            pytest.fail(f"mcn local up exited early: {process.communicate()}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail("mcn local up did not write its state file")
        time.sleep(0.1)


@pytest.mark.e2e
def test_local_up_serves_commands_and_stops_cleanly_on_ctrl_c(
    mcn: Callable[..., Any], subprocess_runner: str, tmp_path: Path
) -> None:
    state = tmp_path / "local" / "stack.json"
    process = subprocess.Popen(
        [sys.executable, "-c", subprocess_runner, "local", "up", "--port", "0", "--local-state", str(state)],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
    )
    try:
        _wait_for(state, process)
        document = json.loads(state.read_text())
        assert document["stack_name"] == "mcn-local"
        assert {"FeesTableName", "SubscribersTableName", "NotifyConfigParameterName"} <= set(document["outputs"])

        assert mcn("subscriber", "set", "+447912000123", "--notify-me", "on", "--local-state", str(state)).code == 0
        shown = mcn("subscriber", "show", "+447912000123", "--json", "--local-state", str(state))
        assert shown.code == 0 and json.loads(shown.out)["notify_me"] is True
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert "embedded AWS up: http://127.0.0.1:" in out and "embedded AWS stopped." in out
    assert not state.exists()
    assert mcn("config", "get", "--local-state", str(state)).code == 1  # and commands say so


def test_local_up_on_a_busy_port_is_a_clear_error(mcn: Callable[..., Any], tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = mcn("local", "up", "--port", str(port), "--local-state", str(tmp_path / "stack.json"))
    assert result.code == 1 and f"port {port} is in use" in result.err
    assert not (tmp_path / "stack.json").exists()
