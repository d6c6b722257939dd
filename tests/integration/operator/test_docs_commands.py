"""Every command the docs show, run as a user would (a new process): exit codes, and never a traceback.

The commands are read from the fenced bash blocks of README.md and docs/*.md; each documented
command's `--help` runs, the safe ones run against an embedded AWS, and the user errors named in
issue 14 get a clear message and their exit code.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tomllib
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mcn_cli.main import build_parser
from mcn_devkit.embedded import EmbeddedStack
from mcn_devkit.template import PROJECT_ROOT

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SCRIPTS = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]["scripts"]
_FENCE = re.compile(r"^```(?:bash|sh|shell)\n(.*?)^```", re.MULTILINE | re.DOTALL)
_INLINE = re.compile(r"`([^`\n]+)`")
_WORD = re.compile(r"^[a-z][a-z-]*$")


def documented_commands() -> list[list[str]]:
    sources = [PROJECT_ROOT / "README.md", *sorted((PROJECT_ROOT / "docs").glob("*.md"))]
    commands = []
    for source in sources:
        text = source.read_text()
        lines = [line for block in _FENCE.findall(text) for line in block.splitlines()]
        lines += _INLINE.findall(_FENCE.sub("", text))  # `mcn-gateway replay FILE.pcap` in running text
        for line in lines:
            words = line.split("#", 1)[0].replace("&", " ").split()
            if words and words[0].removeprefix(".venv/bin/") in SCRIPTS:
                commands.append([words[0].removeprefix(".venv/bin/"), *words[1:]])
    return commands


def command_path(words: list[str]) -> tuple[str, ...]:
    """The program and its subcommands (`mcn invoke ingest EVENT` is `mcn invoke`): one `--help` each."""
    path = [words[0]]
    parser = build_parser() if words[0] == "mcn" else None
    for word in words[1:]:
        if not _WORD.match(word):
            break
        if parser is not None:
            choices = next((a.choices for a in parser._actions if isinstance(a, argparse._SubParsersAction)), {})
            if word not in choices:
                break
            parser = choices[word]
        path.append(word)
    return tuple(path)


def run(program: str, *argv: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    module, function = SCRIPTS[program].split(":")
    code = f"import sys; from {module} import {function}; sys.exit({function}())"
    return subprocess.run(
        [sys.executable, "-c", code, *argv],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        timeout=300,
        **kwargs,  # type: ignore[call-overload]
    )


def assert_clean(result: subprocess.CompletedProcess[str], code: int) -> None:
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)


DOCUMENTED = sorted({command_path(words) for words in documented_commands()})


def test_the_docs_show_commands() -> None:
    programs = {path[0] for path in DOCUMENTED}
    assert set(SCRIPTS) <= programs, DOCUMENTED
    assert ("mcn", "fees", "report") in DOCUMENTED and ("mcn", "invoke") in DOCUMENTED


@pytest.mark.parametrize("path", DOCUMENTED, ids=" ".join)
def test_every_documented_command_has_help(path: tuple[str, ...]) -> None:
    result = run(path[0], *path[1:], "--help")
    assert_clean(result, 0)
    assert "usage:" in result.stdout


# ---------------------------------------------------------------- user errors: a message, no traceback
SMS = ["mcn", "sms", "send", "--text", "hi", "--smsc", "127.0.0.1:9", "--system-id", "x"]
NO_STATE = ["--local-state", "/nonexistent/stack.json"]


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["mcn", "preview", "--subscriber", "07911123456", "--at", "yesterday"], 2, "not an ISO 8601 time"),
        (["mcn-gateway", "replay", "no-such-capture.pcap", "--print"], 2, "No such file"),
        (["mcn-gateway", "replay", "README.md", "--print"], 2, "not a pcap file"),
        (
            [
                "mcn",
                "sms",
                "send",
                "--to",
                "+447700900123",
                "--text",
                "hi",
                "--smsc",
                "127.0.0.1:9",
                "--system-id",
                "x",
            ],
            2,
            "configuration: no bind password",
        ),
        (
            ["mcn", "sms", "send", "--to", "notanumber", "--text", "hi", "--smsc", "127.0.0.1:9", "--system-id", "x"],
            2,
            "is not a phone number",
        ),
        (["mcn", "invoke", "nosuch", "events/ingest/single.json", "--fresh"], 2, "unknown function 'nosuch'"),
        (["mcn", "fees", "report", "--period", "2026-13"], 2, "error:"),
        (
            ["mcn", "fees", "report", "--period", "2026-11", "--local-state", "/nonexistent/stack.json"],
            1,
            "mcn local up",
        ),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, list) else str(value),
)
def test_user_errors_are_clear(argv: list[str], code: int, message: str, monkeypatch: pytest.MonkeyPatch) -> None:
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("SMPP_")}
    if argv[1] == "sms":
        env.pop("SMPP_PASSWORD", None)
        if "notanumber" in argv:
            env["SMPP_PASSWORD"] = "x"
    result = run(argv[0], *argv[1:], env=env)
    assert_clean(result, code)
    assert message in result.stderr


# ---------------------------------------------------------------- the safe ones, against an embedded AWS
@pytest.fixture(scope="module")
def state(stack: EmbeddedStack, local_state: Path) -> str:
    return str(local_state)


PERIOD = f"{datetime.now(UTC):%Y-%m}"


@pytest.mark.parametrize(
    ("argv", "code"),
    [
        (["fees", "report", "--period", PERIOD], 0),
        (["fees", "report", "--period", PERIOD, "--by", "notice", "--format", "csv"], 0),
        (["subscriber", "show", "07912", "000123"], 1),  # unknown subscriber: a message, exit 1
        (["calls", "+447912000123"], 0),
        (["preview", "--subscriber", "07911123456"], 0),
        (["config", "get"], 0),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, list) else str(value),
)
def test_safe_commands_against_the_embedded_aws(state: str, argv: list[str], code: int) -> None:
    result = run("mcn", *argv, "--local-state", state)
    assert_clean(result, code)
    if argv[1:2] == ["show"]:
        assert "unknown subscriber +44*******123" in result.stderr  # the spaced number was read as one


def test_subscriber_set_lists_every_invalid_setting(state: str) -> None:
    result = run(
        "mcn",
        *["subscriber", "set", "+447912000123", "--time-zone", "Mars/Olympus", "--quiet-hours", "25:00-07:00"],
        *["--local-state", state],
    )
    assert_clean(result, 2)
    assert "unknown time zone 'Mars/Olympus'" in result.stderr and "quiet hours must look like" in result.stderr
    assert "nothing was changed" in result.stderr


def test_config_validate_of_the_deployed_configuration(state: str, tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    assert_clean(run("mcn", "config", "get", "--output", str(path), "--local-state", state), 0)
    assert_clean(run("mcn", "config", "validate", str(path)), 0)
    path.write_text(json.dumps({"templates": "not a mapping"}))
    assert_clean(run("mcn", "config", "validate", str(path)), 2)


def test_a_reader_that_leaves_early_is_no_error(state: str) -> None:
    """`mcn fees report | head`: stdout closes before the report is written."""
    module, function = SCRIPTS["mcn"].split(":")
    code = f"import sys; from {module} import {function}; sys.exit({function}())"
    process = subprocess.Popen(
        [sys.executable, "-c", code, "fees", "report", "--period", PERIOD, "--local-state", state],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=PROJECT_ROOT,
    )
    assert process.stdout is not None
    process.stdout.close()  # the reader is gone before the first line
    _, err = process.communicate(timeout=300)
    assert "Traceback" not in err and "Broken pipe" not in err and "Exception ignored" not in err, err
    assert process.returncode in (0, 141), (process.returncode, err)
